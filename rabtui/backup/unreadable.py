"""The paths a backup could not read on its source: rsync could not open a file, list a directory
or stat an entry there (rsync_stderr.unreadable_path; its exit 23), or read a file whole (redone.py).
They are not in the backup, yet not deleted on the source: older backups keep them, and `diff`,
Browse and `find` say they could not be read instead of calling them removed.

Named per directory in `DirSizes.unreadable` (below the directory), by what they stand for: a
name alone, a regular file rsync could not read, itself only (what a directory of that name held
before was deleted); "NAME/." a directory it could not list, what it holds only (a file of that
name before was deleted); "NAME/" an entry it could not look at, of any kind: itself and what is
below it; "." the directory itself not listed,
as backup.json carries them, so that rebuild-state has them back (with `unmade`: those of them
rsync read on the source and could not create on the medium, not_created.py); the first of them only, their
names at most NAMES_KEPT bytes in all (the final backup.json fits the room kept for it,
records.ROOM), the others counted in `unreadable_unnamed`. In the database, `unreadable` holds the
paths (relative to /) and `backup_dirs.unreadable` how many there were in each directory. Only
rsync's error lines are looked at: nothing per file."""

from __future__ import annotations

import json
import os
import sqlite3

from rabtui import rsync_stderr
from rabtui.backup.catalog_update import dir_prefix
from rabtui.backup.sizes import DirSizes

NAMES_KEPT = 8 << 10
TOP = "."        # the directory itself could not be listed
_MARK = {rsync_stderr.UNREAD_FILE: "", rsync_stderr.UNREAD_DIR: "/.", rsync_stderr.UNREAD_ENTRY: "/"}
# `unreadable.file` of each: 1 itself only, 0 what is below only, NULL both
_FILE = {rsync_stderr.UNREAD_FILE: 1, rsync_stderr.UNREAD_DIR: 0, rsync_stderr.UNREAD_ENTRY: None}


def note(sizes: DirSizes, line: bytes) -> None:
    """One of rsync's error lines for the directory of `sizes`: a path it could not read on the
    source, below the directory, named (or counted) there."""
    found = rsync_stderr.unreadable_entry(line)
    if found is None:
        return
    path, kind = found
    top = os.fsencode(sizes.path).rstrip(b"/")
    path = os.path.normpath(path)
    if path == top or (not top and path == b"/"):
        rel = TOP
    elif path.startswith(top + b"/"):
        rel = os.fsdecode(path[len(top) + 1:]) + _MARK[kind]
    else:
        return      # not named below the directory: nothing to say of a path of it
    add(sizes, rel)


def add(sizes: DirSizes, rel: str) -> None:
    """A path below the directory of `sizes` (TOP for itself) that was not read, named (or counted)."""
    if sizes.unreadable_unnamed or _written_size([*sizes.unreadable, rel]) > NAMES_KEPT:
        sizes.unreadable_unnamed += 1     # (the list full: the names after are counted only)
    elif rel not in sizes.unreadable:
        sizes.unreadable.append(rel)


def _written_size(names: list[str]) -> int:
    """The bytes `names` take in backup.json, as json writes them (a byte that is no UTF-8 or a
    character past ASCII escaped: up to 12 bytes each), each on a line of its own, indented."""
    return len(json.dumps(names)) + 6 * len(names)


def count(sizes: DirSizes) -> int:
    """How many paths of the directory could not be read, named or not."""
    return len(sizes.unreadable) + sizes.unreadable_unnamed


def from_record(info: dict) -> tuple[list[str], int, list[str]]:
    """The names, the count of those unnamed, and the names of those the medium could not hold
    (`unmade`, among the names), that one directory's entry of a backup.json holds (as rabtui
    writes it; anything else is left out)."""
    names = info.get("unreadable")
    names = [n for n in names if isinstance(n, str) and n] if isinstance(names, list) else []
    unnamed = info.get("unreadable_unnamed")
    unmade = info.get("unmade")
    unmade = [n for n in unmade if n in names] if isinstance(unmade, list) else []
    return names, unnamed if type(unnamed) is int and unnamed > 0 else 0, unmade


def record(conn: sqlite3.Connection, backup_id: int, dir_path: str, names: list[str], unmade: list[str]) -> None:
    """The named paths of one directory into `unreadable` (in the caller's transaction), with what
    each stands for (`file`: 1 itself only, 0 what is below it only, NULL both), and whether the
    medium could not hold it (`unmade`: 1) rather than the source not read."""
    prefix = dir_prefix(dir_path)
    unmade_set = set(unmade)
    rows = []
    for name in names:
        if name == TOP:
            rows.append((backup_id, prefix.rstrip(b"/"), 0, None))
            continue
        kind = (rsync_stderr.UNREAD_DIR if name.endswith("/.") else rsync_stderr.UNREAD_ENTRY if name.endswith("/")
                else rsync_stderr.UNREAD_FILE)
        rel = name[:-len(_MARK[kind])] if _MARK[kind] else name
        rows.append((backup_id, prefix + os.fsencode(rel), _FILE[kind], 1 if name in unmade_set else None))
    conn.executemany("INSERT OR IGNORE INTO unreadable(backup_id, path, file, unmade) VALUES (?, ?, ?, ?)", rows)
