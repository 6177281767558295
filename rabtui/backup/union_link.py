"""Linking a backup's new items into the union tree of each archive directory on its medium
(`<medium>/<source>/.archive/<dir>/`).

rsync runs with `--compare-dest=<union>`, so it copies only what the medium lacks (path, size,
mtime); the new items are then hard-linked into the union, which is the archive's merged view
(for browsing and checkpoints) and costs directory entries only. Only the new items of the
itemized stream are visited, never the tree. (archive.py undoes these links when a backup goes.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import stat
from pathlib import Path
from typing import Callable, Iterable

from rabtui import faults, fmt, privacy
from rabtui.errors import WorkFailed
from rabtui.media import below, medium_fs, opened_dirs
from rabtui.state.locks import marking, still

def link_into_union(data_dir: Path, union: Path, rel_paths: Iterable[bytes],
                    replaced: list[bytes] | None = None, *, staging: Path, moved: Callable[[], None] = still) -> int:
    """Hard-link each new item (path relative to the directory, bytes) of a backup into the union.

    Each link is made under a temporary name in `staging` (medium_layout.linking_dir, on the same
    file system) and renamed into place: a run killed between the two leaves it there, never in
    the union, where a checkpoint or a restore would take it for a file of the source (the next
    writer of the source's unions there removes it: clear_staging). A file already in the union
    under that path (an older version) is replaced atomically; the older backup that holds it
    keeps its own link. Nothing is linked from or through a symlink (below.py: each directory is
    opened part by part, so paths of any length work too). The newest backup's shape takes the
    place of an older one: a file, FIFO or symlink of the union where a directory is needed
    becomes a directory (_open_union_dir), and a directory of the union where the backup has a
    file gives its place to the file; the older backups keep theirs in their own trees, and each
    such path goes into `replaced`. `moved()` is called at each: it marks the progress of the
    holder of the union lock (locks.Lock.moved), which one waiting for the lock waits on for.
    """
    data_b = os.fsencode(data_dir)
    union_b = os.fsencode(union)
    replaced = [] if replaced is None else replaced
    last_parent = None
    fds: tuple[int, int] | None = None
    count = 0
    stage_fd = _open_staging(staging)
    try:
        for rel in marking(rel_paths, moved):
            rel = rel.rstrip(b"/")
            if not rel:
                continue
            parent, name = os.path.split(rel)
            try:
                if parent != last_parent:
                    _close(fds)
                    fds = None
                    src_fd = below.open_dir(data_b, parent)
                    try:
                        fds = (src_fd, _open_union_dir(union_b, parent, replaced))
                    except BaseException:
                        os.close(src_fd)
                        raise
                    last_parent = parent
                src_fd, dst_fd = fds
                tmp = _link_beside(name, src_fd, stage_fd)
                try:
                    if not count:
                        faults.point("backup.union_linking")
                    _replace_from(stage_fd, tmp, dst_fd, name, rel, replaced)
                except BaseException:
                    with contextlib.suppress(OSError):
                        os.unlink(tmp, dir_fd=stage_fd)
                    raise
            except OSError as exc:
                raise WorkFailed(
                    f"cannot link {fmt.name(rel)} of {fmt.name(data_b)} into the archive {union}: {exc.strerror}"
                ) from None
            count += 1
            faults.point("union.linked")
    finally:
        _close(fds)
        os.close(stage_fd)
    return count


def _replace_from(stage_fd: int, tmp: bytes, dst_fd: int, name: bytes, rel: bytes, replaced: list[bytes]) -> None:
    """The staged link `tmp` renamed to `name` in the union's directory `dst_fd`, in place of what is
    there; a directory there (the source made it a file since) is removed first (`rel` into
    `replaced`)."""
    try:
        if stat.S_ISDIR(os.stat(name, dir_fd=dst_fd, follow_symlinks=False).st_mode):
            faults.point("backup.union_reshaping")
            shutil.rmtree(name, dir_fd=dst_fd)
            replaced.append(rel)
    except FileNotFoundError:
        pass
    os.replace(tmp, name, src_dir_fd=stage_fd, dst_dir_fd=dst_fd)


def _open_staging(staging: Path) -> int:
    """The staging directory opened (made 0700 when missing; never through a symlink)."""
    try:
        privacy.private_dir(staging)
        return os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise WorkFailed(f"cannot use {staging} to link files into the archive: {exc.strerror}") from None


def clear_staging(staging: Path) -> int:
    """The links a killed run left in `staging` (link_into_union), removed: only entries of the
    temporary names it gives that are no directories. The caller holds the source's union lock
    (no other run stages links there meanwhile). Returns how many."""
    try:
        fd = os.open(staging, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    except OSError as exc:
        raise WorkFailed(f"cannot read {staging}: {exc.strerror}") from None
    removed = 0
    try:
        for name in os.listdir(fd):
            name_b = os.fsencode(name)
            if TEMPORARY.match(name_b) and not stat.S_ISDIR(os.stat(name_b, dir_fd=fd, follow_symlinks=False).st_mode):
                os.unlink(name_b, dir_fd=fd)
                removed += 1
    except OSError as exc:
        raise WorkFailed(f"cannot remove what a killed run left in {staging}: {exc.strerror}") from None
    finally:
        os.close(fd)
    return removed


def _open_union_dir(union: bytes, rel: bytes, replaced: list[bytes]) -> int:
    """below.open_dir(make=True) of `rel` in the union, where a part that is a file, a FIFO, ... or
    a symlink becomes a directory first: the source made it one since (its path goes into
    `replaced`). A symlink came from the source and may point anywhere: nothing is linked through it."""
    while True:
        try:
            return below.open_dir(union, rel, make=True)
        except OSError as exc:
            if exc.errno not in (errno.ENOTDIR, errno.ELOOP):
                raise
        parts = rel.split(b"/")
        for i in range(1, len(parts) + 1):
            part = b"/".join(parts[:i])
            if not stat.S_ISDIR(below.lstat(union, part).st_mode):
                break
        else:
            raise NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR), rel)
        up, name = os.path.split(part)
        fd = below.open_dir(union, up)
        try:
            os.unlink(name, dir_fd=fd)
            faults.point("backup.union_reshaping")
            os.mkdir(name, dir_fd=fd)
        finally:
            os.close(fd)
        replaced.append(part)


# the names of the links staged (_link_beside)
TEMPORARY = re.compile(rb"\.rabtui-link-[0-9a-f]{16}\Z")


def _link_beside(name: bytes, src_fd: int, dst_fd: int) -> bytes:
    """A new hard link to `name` (in src_fd) under a free temporary name in dst_fd, returned. The
    name is short (the item's own may be 255 bytes) and random. (Runs of earlier versions made it
    in the union's directory itself: archive._left_beside finds what they left there.)"""
    for _ in range(100):
        tmp = b".rabtui-link-" + secrets.token_hex(8).encode()
        try:
            os.link(name, tmp, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            if exc.errno not in medium_fs.NO_HARD_LINKS:
                raise
            raise OSError(exc.errno, f"{exc.strerror} (as on a file system that holds no hard links, such as vfat"
                                     " and exFAT: an archive directory's union is made of them; put this medium on"
                                     " a Linux file system: ext4, xfs, btrfs)") from None
    raise FileExistsError(errno.EEXIST, "no free temporary name", name)


def _close(fds: tuple[int, int] | None) -> None:
    for fd in fds or ():
        os.close(fd)


def link_new_files(medium_path, source_id: str, backup_path: Path, dir_path: str, spool,
                   replaced: list[bytes], state_dir=None, moved: Callable[[], None] = still) -> int:
    """After a complete backup: link the items it wrote for an archive directory into the union.
    The paths where an older shape gave its place to this backup's go into `replaced`. `state_dir`:
    where the directories opened meanwhile are written down (opened_dirs.opened_to_read); `moved()`
    marks the progress (link_into_union)."""
    from rabtui.media import medium_layout
    from rabtui.backup.catalog_update import dir_prefix

    medium_layout.archive_base(medium_path, source_id)
    union = medium_layout.archive_root(medium_path, source_id, dir_path)
    union.mkdir(parents=True, exist_ok=True)
    cut = len(dir_prefix(dir_path))
    data = medium_layout.backup_data_path(backup_path, dir_path)
    staging = medium_layout.linking_dir(medium_path, source_id)
    clear_staging(staging)
    # the directories the source has where the union holds a symlink (copied again, transfer.py)
    # or another file, with no new item below them perhaps (an empty directory)
    for rel in spool.became_dirs.get(dir_path, ()):
        try:
            os.close(_open_union_dir(os.fsencode(union), rel, replaced))
        except OSError as exc:
            raise WorkFailed(f"cannot make {fmt.name(rel)} a directory in the archive {union}: {exc.strerror}") from None
    # a user other than root cannot link from the backup's directories closed on the source
    with opened_dirs.opened_to_read(os.fsencode(data), state_dir):
        return link_into_union(data, union, (path[cut:] for path, _, _ in spool.new_items(dir_path)), replaced,
                               staging=staging, moved=moved)
