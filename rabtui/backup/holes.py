"""Sparse files in a backup's sizes: a file with holes is counted at what the medium holds of it
(its blocks), not at its listed size, so that the forecast of what the next backup needs
(history.expected_bytes, not_fitting) does not count holes: a 2 GiB sparse file that takes 44 KB
would refuse a small medium for good. rsync's statistics and itemized output give listed sizes only.

No walk of the tree: the written files are looked at only when the medium's free space fell by
less than rsync wrote (a hole, or space another freed meanwhile); the unchanged files only where
the base's record names holes (`DirSizes.holes`, in backup.json), by the same inode."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.backup.sizes import DirSizes
from rabtui.media import below
from rabtui.rsync import CHANGED, NEW

HOLE_MIN = 1 << 20      # holes smaller than this in a file are counted as data: few files, a small record
# the files with the most holes named per directory, their names at most NAMES_KEPT bytes in all;
# the others count as data: the final backup.json fits the room kept for it (records.ROOM)
NAMES_KEPT = 8 << 10


def free_bytes(path: Path) -> int | None:
    """The free space of the file system at `path` (None when it cannot be read)."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    return st.f_bavail * st.f_frsize


def recorded(info: dict | None, dir_path: str) -> dict[str, int] | None:
    """The files with holes that a backup's record (`info`, its backup.json) names for a directory;
    None when it does not say (a record made before they were recorded, or not as rabtui writes it)."""
    dirs = info.get("directories") if isinstance(info, dict) else None
    for d in dirs if isinstance(dirs, list) else []:
        if isinstance(d, dict) and d.get("path") == dir_path and isinstance(d.get("holes"), dict):
            return {k: v for k, v in d["holes"].items() if isinstance(k, str) and type(v) is int and v > 0}
    return None


def count_holes(dest: Path, sizes: DirSizes, spool: CatalogSpool, *, fell: int | None,
                base: Path | None, base_holes: dict[str, int] | None) -> None:
    """Take the holes of the directory's files out of its total and new bytes, and name them in
    `sizes.holes`: the unchanged files `base_holes` names in the base `base` (its copy of the
    directory), when this backup holds the same inode (all unchanged files of HOLE_MIN or more,
    once, when the base's record does not say: None); the written files when the medium's free
    space fell by `fell` bytes only, less than rsync wrote."""
    dest_b = os.fsencode(dest) + b"/"
    cut = len(dir_prefix(sizes.path))
    found: dict[bytes, tuple[int, bool]] = {}
    if base is not None:
        base_b = os.fsencode(base) + b"/"
        names = ((os.fsencode(rel) for rel in base_holes) if base_holes is not None
                 else (path[cut:] for path in spool.same_files(sizes.path, HOLE_MIN)))
        for rel_b in names:
            try:
                st, was = below.lstat(dest_b, rel_b), below.lstat(base_b, rel_b)
            except (OSError, ValueError):
                continue
            if stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) == (was.st_dev, was.st_ino):
                found[rel_b] = (_hole(st), False)
    if fell is not None and fell + HOLE_MIN < sizes.new_bytes:
        for path, state in spool.new_file_states(sizes.path):
            try:
                st = below.lstat(dest_b, path[cut:])
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):     # LINKED: another name of a file written, counted once in new
                found[path[cut:]] = (_hole(st), state in (NEW, CHANGED))
    kept, names = [], 0
    for hole, rel, written in sorted(((hole, rel, written) for rel, (hole, written) in found.items()
                                      if hole >= HOLE_MIN), reverse=True):
        names += len(rel) + 16
        if names > NAMES_KEPT:
            break
        kept.append((hole, rel, written))
    for hole, rel, written in kept:
        sizes.total_bytes -= hole
        if written:
            sizes.new_bytes -= hole
    sizes.holes = {os.fsdecode(rel): hole for hole, rel, _ in kept}


def _hole(st: os.stat_result) -> int:
    """What the file's listed size has beyond the blocks it takes."""
    return max(0, st.st_size - st.st_blocks * 512)
