"""Archive directories: which entries of the union tree on a medium
(`<medium>/<source>/.archive/<dir>/`) are a backup's, and the undoing of its links there when it
goes, the older versions and shapes put back (union_link.py makes the links).
"""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Callable, Iterable, Iterator

from rabtui import faults, fmt
from rabtui.backup.union_link import TEMPORARY, clear_staging, link_into_union
from rabtui.errors import WorkFailed
from rabtui.media import below
from rabtui.state.locks import marking, still

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
    """The temporary names (union_link._link_beside) a run of an earlier version, which linked there, killed
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
        candidates = [(name, st) for name, st in theirs if TEMPORARY.match(name) and name not in names]
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
    # a symlink the backup saved at its copy of the directory (or on the way below a directory it
    # saved: the config names one inside it since) holds nothing of it
    if medium_layout.symlink_to_copy(backup_path, dir_path) is not None or not data.is_dir() \
            or medium_layout.no_union_there(medium_path, source_id, dir_path) or not union.is_dir():
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
    _empty_dirs_gone(union_b, tree, [*older_b, *newer_b])
    return undone


def _empty_dirs_gone(union: bytes, tree: list[tuple[bytes, list]], staying: list[bytes]) -> None:
    """The directories of the backup's `tree` that are empty in the union and that none of the
    `staying` backups holds, removed, the deepest first: the links that made them went (a kept run's
    a/b/new left a/ and a/b/ there, which a checkpoint then took for directories of a complete backup)."""
    for rel_dir, items in reversed(tree):
        names = [name for name, st in items if stat.S_ISDIR(st.st_mode)]
        if not names:
            continue
        try:
            fd = below.open_dir(union, rel_dir)
        except OSError:
            continue
        try:
            for name in names:
                if _empty(fd, name) and _holder(staying, _joined(rel_dir, name)) is None:
                    with contextlib.suppress(OSError):     # filled meanwhile: it stays
                        os.rmdir(name, dir_fd=fd)
        finally:
            os.close(fd)


def _empty(fd: int, name: bytes) -> bool:
    """Is `name` in the directory `fd` a directory (no symlink) that holds nothing? One entry read at most."""
    try:
        sub = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return False
    try:
        with os.scandir(sub) as it:
            return next(it, None) is None
    finally:
        os.close(sub)


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
    try:
        with os.scandir(fd) as it:      # (reads a duplicate of fd: fd itself stays open)
            dirs = []
            for entry in it:
                if not entry.is_dir(follow_symlinks=False):
                    return False
                dirs.append(entry.name)
    finally:
        os.close(fd)
    return all(_only_empty_dirs(union, _joined(rel, os.fsencode(d))) for d in dirs)


def _put_back(union: Path, rel: bytes, older_b: list[bytes], staging: Path, newer_b: list[bytes] = ()) -> None:
    """What the `older` backups (newest first) show at `rel`, put back into the union where it
    holds nothing or only empty directories: the newest one's file, or the entries of the
    directories they hold there, each from the newest backup that holds it, down to the first
    older one whose shape there is other. The union's own entries stay, and so does a directory
    where the newest of the `newer` backups holding `rel` has one (an empty one, say, whose
    place an older file would take): the older directories' entries go into it."""
    union_b = os.fsencode(union)
    there = _union_kind(union_b, rel)
    if there is False or (there is not None and not stat.S_ISDIR(there.st_mode)):
        return
    since = _holder(newer_b, rel)
    # a directory there since takes no older file, but the entries of older directories there
    # (a FIFO that stood between them gone with its backup)
    since_dir = since is not None and stat.S_ISDIR(below.lstat(since, rel).st_mode)
    held_dir = False
    for i, base in enumerate(older_b):
        if below.symlink_on_the_way(base, rel) is not None or not below.exists(base, rel):
            continue
        if not stat.S_ISDIR(below.lstat(base, rel).st_mode):
            if not since_dir and not held_dir and (there is None or _only_empty_dirs(union_b, rel)):
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
