"""Archive directories: the union tree on each medium (`<medium>/<source>/.archive/<dir>/`).

rsync runs with `--compare-dest=<union>`, so it copies only what the medium lacks (path, size,
mtime); the new items are then hard-linked into the union, which is the archive's merged view
(for browsing and checkpoints) and costs directory entries only. Only the new items of the
itemized stream are visited, never the tree.
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
from typing import Callable, Iterable, Iterator

from rabtui import faults, fmt, privacy
from rabtui.errors import WorkFailed
from rabtui.media import below, opened_dirs
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
            if _TEMPORARY.match(name_b) and not stat.S_ISDIR(os.stat(name_b, dir_fd=fd, follow_symlinks=False).st_mode):
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


_TEMPORARY = re.compile(rb"\.rabtui-link-[0-9a-f]{16}\Z")


def _link_beside(name: bytes, src_fd: int, dst_fd: int) -> bytes:
    """A new hard link to `name` (in src_fd) under a free temporary name in dst_fd, returned. The
    name is short (the item's own may be 255 bytes) and random. (Runs of earlier versions made it
    in the union's directory itself: _left_beside finds what they left there.)"""
    for _ in range(100):
        tmp = b".rabtui-link-" + secrets.token_hex(8).encode()
        try:
            os.link(name, tmp, src_dir_fd=src_fd, dst_dir_fd=dst_fd, follow_symlinks=False)
            return tmp
        except FileExistsError:
            continue
    raise FileExistsError(errno.EEXIST, "no free temporary name", name)


def _close(fds: tuple[int, int] | None) -> None:
    for fd in fds or ():
        os.close(fd)


def _joined(rel_dir: bytes, name: bytes) -> bytes:
    return rel_dir + b"/" + name if rel_dir else name


def same_in_union(data_dir: Path, union: Path) -> Iterator[tuple[bytes, tuple[int, int]]]:
    """(path relative to the directory, (dev, inode)) of each entry of a backup's directory whose
    union-tree entry is the same inode (the version the union shows is this backup's)."""
    return _same_in(below.walk(os.fsencode(data_dir)), os.fsencode(union))


def _same_in(tree: Iterable[tuple[bytes, list]], union_b: bytes,
             moved: Callable[[], None] = still) -> Iterator[tuple[bytes, tuple[int, int]]]:
    for rel_dir, items in tree:
        for name, st in marking(items, moved):
            if stat.S_ISDIR(st.st_mode):
                continue
            rel = _joined(rel_dir, name)
            try:
                theirs = below.lstat(union_b, rel)
            except OSError:
                continue
            if (st.st_dev, st.st_ino) == (theirs.st_dev, theirs.st_ino):
                yield rel, (st.st_dev, st.st_ino)


def _left_beside(tree: list[tuple[bytes, list]], union_b: bytes, older: list[bytes]) -> Iterator[bytes]:
    """The temporary names (_link_beside) a run of an earlier version, which linked there, killed
    between a link and its rename left in the union: each a link, under a name of that form the backup does not have, to a file of the same
    directory in the backup (its linking) or in one of the `older` backups' trees (the undoing that
    put an older version back, a file of the backup's or an entry where it has a directory:
    _put_back), under another name there: a source's own file of such a name is never
    taken for one. `tree`: the backup's (below.walk)."""
    for rel_dir, items in tree:
        names = {name for name, _ in items}
        if not items:
            continue
        try:
            theirs = below.entries(union_b, rel_dir)
        except OSError:
            continue
        candidates = [(name, st) for name, st in theirs if _TEMPORARY.match(name) and name not in names]
        if not candidates:
            continue
        trees = [items]
        for base in older:
            try:
                trees.append(below.entries(base, rel_dir))
            except OSError:
                pass
        for name, st in candidates:
            if any(other != name and not stat.S_ISDIR(o.st_mode) and (o.st_dev, o.st_ino) == (st.st_dev, st.st_ino)
                   for tree in trees for other, o in tree):
                yield _joined(rel_dir, name)


def unlink_from_union(medium_path, source_id: str, backup_path: Path, dir_path: str, older: list[Path],
                      newer: list[Path] = (), moved: Callable[[], None] = still) -> int:
    """Undo `link_new_files` for a backup that goes (deleted, or killed in step 7): each union entry
    that is one of its files goes, and the same path in the newest of the `older` complete backups
    (newest first) takes its place again, as it was before. An older shape comes back only where
    the newest of the `newer` backups that stay (newest first, kept ones too) holding the path has
    no directory there: the source's shape since. Returns how many entries were undone.

    The older version replaces the entry in one rename: a run killed there leaves the entry as it
    was, found and undone again by the next (the entry removed first, then linked, left the union
    without it for good). `moved()` is called at each entry looked at (link_into_union)."""
    from rabtui.media import medium_layout

    union = medium_layout.archive_root(medium_path, source_id, dir_path)
    data = medium_layout.backup_data_path(backup_path, dir_path)
    staging = medium_layout.linking_dir(medium_path, source_id)
    clear_staging(staging)
    if not data.is_dir() or not union.is_dir():
        return 0
    union_b = os.fsencode(union)
    older_b = [os.fsencode(medium_layout.backup_data_path(base, dir_path)) for base in older]
    newer_b = [os.fsencode(medium_layout.backup_data_path(base, dir_path)) for base in newer]
    tree = list(marking(below.walk(os.fsencode(data)), moved))    # walked once: the undoing changes the union only
    for rel in list(_left_beside(tree, union_b, older_b)):
        _remove(union, rel)
    undone = 0
    for rel, _ in list(_same_in(tree, union_b, moved)):
        moved()
        undone += 1
        base = _holder(older_b, rel)
        if base is None or stat.S_ISDIR(below.lstat(base, rel).st_mode):
            _remove(union, rel)     # a directory (empty there: the union had none) is no version to link
        else:
            link_into_union(base, union, [rel], staging=staging)
        if undone == 1:
            faults.point("union.undoing")
        faults.point("union.undone")
    # where the backup's shape took the place of an older one (a file where it has a directory, a
    # directory where it has a file), the older shape comes back: after its own links went, or
    # half-way, where a run was killed as it replaced one by the other
    for rel_dir, items in marking(tree, moved):
        for name, st in items:
            rel = _joined(rel_dir, name)
            if _older_shape_lost(union_b, rel, stat.S_ISDIR(st.st_mode)):
                _put_back(union, rel, older_b, staging, newer_b)
    return undone


def _holder(older_b: list[bytes], rel: bytes) -> bytes | None:
    """The newest of the `older` trees that holds `rel` (no symlink on the way there)."""
    return next((b for b in older_b if below.symlink_on_the_way(b, rel) is None and below.exists(b, rel)), None)


def _union_kind(union: bytes, rel: bytes) -> os.stat_result | None | bool:
    """The union's entry at `rel` (lstat), None where it has none (nor, perhaps, the directories on
    the way there), False where something on the way there is no directory of the union."""
    if below.symlink_on_the_way(union, rel) is not None:
        return False
    try:
        return below.lstat(union, rel)
    except FileNotFoundError:
        up = os.path.dirname(rel)
        while up:
            try:
                return None if stat.S_ISDIR(below.lstat(union, up).st_mode) else False
            except FileNotFoundError:
                up = os.path.dirname(up)
            except OSError:
                return False
        return None
    except OSError:
        return False


def _older_shape_lost(union: bytes, rel: bytes, is_dir: bool) -> bool:
    """May an older shape of `rel` have given its place to this backup's? The union holds nothing
    there (its directory there), only empty directories, or a directory where this backup has a file."""
    there = _union_kind(union, rel)
    if there is None:
        return True
    if there is False or not stat.S_ISDIR(there.st_mode):
        return False
    return not is_dir or _only_empty_dirs(union, rel)


def _only_empty_dirs(union: bytes, rel: bytes) -> bool:
    """Does the union's directory `rel` hold nothing but directories that hold nothing? (Stops at
    the first other entry: a directory of files answers at once.)"""
    way = below.open_dir(union, rel)
    try:
        fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=way)
    finally:
        os.close(way)
    with os.scandir(fd) as it:
        dirs = []
        for entry in it:
            if not entry.is_dir(follow_symlinks=False):
                return False
            dirs.append(entry.name)
    return all(_only_empty_dirs(union, _joined(rel, os.fsencode(d))) for d in dirs)


def _put_back(union: Path, rel: bytes, older_b: list[bytes], staging: Path, newer_b: list[bytes] = ()) -> None:
    """What the `older` backups (newest first) show at `rel`, put back into the union where it
    holds nothing or only empty directories: the newest one's file, or the entries of the
    directories they hold there, each from the newest backup that holds it, down to the first
    older one whose shape there is other. The union's own entries stay, and so does a directory
    where the newest of the `newer` backups holding `rel` has one (an empty one, say, whose
    place an older file would take)."""
    union_b = os.fsencode(union)
    there = _union_kind(union_b, rel)
    if there is False or (there is not None and not stat.S_ISDIR(there.st_mode)):
        return
    since = _holder(newer_b, rel)
    if since is not None and stat.S_ISDIR(below.lstat(since, rel).st_mode):
        return
    held_dir = False
    for i, base in enumerate(older_b):
        if below.symlink_on_the_way(base, rel) is not None or not below.exists(base, rel):
            continue
        if not stat.S_ISDIR(below.lstat(base, rel).st_mode):
            if not held_dir and (there is None or _only_empty_dirs(union_b, rel)):
                link_into_union(base, union, [rel], staging=staging)
            return
        held_dir = True
        for name, _ in below.entries(base, rel):
            _put_back(union, _joined(rel, name), older_b[i:], staging, newer_b)


def _remove(union: Path, rel: bytes) -> None:
    try:
        below.unlink(os.fsencode(union), rel)
    except OSError as exc:
        raise WorkFailed(f"cannot remove {fmt.name(rel)} from the archive {union}: {exc.strerror}") from None


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
        return link_into_union(data, union, (path[cut:] for path, _ in spool.new_items(dir_path)), replaced,
                               staging=staging, moved=moved)
