"""Archive directories: the union tree on each medium (`<medium>/<source>/.archive/<dir>/`).

rsync runs with `--compare-dest=<union>`, so it copies only what the medium lacks (path, size,
mtime); the new items are then hard-linked into the union, which is the archive's merged view
(for browsing and checkpoints) and costs directory entries only. Only the new items of the
itemized stream are visited, never the tree.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path
from typing import Iterable, Iterator

from rabtui.errors import WorkFailed


def link_into_union(data_dir: Path, union: Path, rel_paths: Iterable[bytes]) -> int:
    """Hard-link each new item (path relative to the directory, bytes) of a backup into the union.

    A file already in the union under that path (an older version) is replaced atomically; the
    older backup that holds it keeps its own link. Nothing is linked through a symlink of the union
    (see _union_dir).
    """
    from rabtui.media.medium import symlink_on_the_way

    data_b = os.fsencode(data_dir)
    union_b = os.fsencode(union)
    tmp_suffix = b".rabtui-link-%d" % os.getpid()
    last_parent = None
    count = 0
    for rel in rel_paths:
        rel = rel.rstrip(b"/")
        if not rel:
            continue
        src = os.path.join(data_b, rel)
        dst = os.path.join(union_b, rel)
        parent = os.path.dirname(dst)
        try:
            if parent != last_parent:
                if symlink_on_the_way(data_b, rel) is not None:
                    raise OSError(errno.ELOOP, "a directory on the way is a symlink in the backup")
                _union_dir(union_b, os.path.dirname(rel))
                last_parent = parent
            if os.path.isdir(dst) and not os.path.islink(dst):
                continue  # a directory became a file on the source: keep the older tree
            tmp = dst + tmp_suffix
            os.link(src, tmp, follow_symlinks=False)
            os.replace(tmp, dst)
        except OSError as exc:
            raise WorkFailed(
                f"cannot link {os.fsdecode(src)} into the archive {union}: {exc.strerror}"
            ) from None
        count += 1
    return count


def _union_dir(union: bytes, rel: bytes) -> None:
    """Make `rel` (relative to the union) a directory, each part of it a directory of the union. A
    part that is a symlink there (the source had a symlink where it has a directory now) becomes a
    directory: the symlink came from the source and may point anywhere, and a file linked through
    it would land there, outside the medium too (the older backup keeps its own copy of the
    symlink). A part that is some other file raises FileExistsError."""
    path = union
    for part in rel.split(b"/"):
        if not part:
            continue
        path = path + b"/" + part
        try:
            mode = os.lstat(path).st_mode
        except FileNotFoundError:
            os.mkdir(path)
            continue
        if stat.S_ISLNK(mode):
            os.unlink(path)
            os.mkdir(path)
        elif not stat.S_ISDIR(mode):
            raise FileExistsError(errno.EEXIST, os.strerror(errno.EEXIST), os.fsdecode(path))


def same_in_union(data_dir: Path, union: Path) -> Iterator[tuple[bytes, bytes, tuple[int, int]]]:
    """(union path, path relative to the directory, (dev, inode)) of each file of a backup's directory whose
    union-tree entry is the same inode (the version the union shows is this backup's)."""
    data_b, union_b = os.fsencode(data_dir), os.fsencode(union)
    for dirpath, _dirnames, filenames in os.walk(data_b):
        rel_dir = os.path.relpath(dirpath, data_b)
        for name in filenames:
            rel = os.path.normpath(os.path.join(rel_dir, name))
            theirs = os.path.join(union_b, rel)
            try:
                a = os.lstat(os.path.join(dirpath, name))
                b = os.lstat(theirs)
            except OSError:
                continue
            if (a.st_dev, a.st_ino) == (b.st_dev, b.st_ino):
                yield theirs, rel, (a.st_dev, a.st_ino)


def unlink_from_union(medium_path, source_id: str, backup_path: Path, dir_path: str, older: list[Path]) -> int:
    """Undo `link_new_files` for a backup that goes (deleted, or killed in step 7): each union entry
    that is one of its files goes, and the same path in the newest of the `older` complete backups
    (newest first) takes its place again, as it was before. Returns how many entries were undone."""
    from rabtui.media import medium as media

    union = media.archive_root(medium_path, source_id, dir_path)
    data = media.backup_data_path(backup_path, dir_path)
    if not data.is_dir() or not union.is_dir():
        return 0
    undone = 0
    for theirs, rel, _ in list(same_in_union(data, union)):
        try:
            os.unlink(theirs)
        except OSError as exc:
            raise WorkFailed(f"cannot remove {os.fsdecode(theirs)} from the archive {union}: {exc.strerror}") from None
        undone += 1
        for base in older:
            base_data = os.fsencode(media.backup_data_path(base, dir_path))
            if media.symlink_on_the_way(base_data, rel) is None and os.path.lexists(os.path.join(base_data, rel)):
                link_into_union(base_data, union, [rel])
                break
    return undone


def link_new_files(medium_path, source_id: str, backup_path: Path, dir_path: str, spool) -> int:
    """After a complete backup: link the items it wrote for an archive directory into the union."""
    from rabtui.media import medium as media
    from rabtui.backup.catalog_update import dir_prefix

    media.archive_base(medium_path, source_id)
    union = media.archive_root(medium_path, source_id, dir_path)
    union.mkdir(parents=True, exist_ok=True)
    cut = len(dir_prefix(dir_path))
    data = media.backup_data_path(backup_path, dir_path)
    for rel in spool.were_symlinks.get(dir_path, ()):
        try:
            _union_dir(os.fsencode(union), rel)
        except OSError as exc:
            raise WorkFailed(f"cannot make {os.fsdecode(rel)} a directory in the archive {union}: {exc.strerror}") from None
    return link_into_union(data, union, (path[cut:] for path, _ in spool.new_items(dir_path)))
