"""Reading backup trees for Browse: a directory listed once (names only), details stat'ed a page at a
time, each entry compared with the same path in the previous backup (same inode: a hard link to
an older copy; otherwise new in this backup). Nothing here holds more than one directory."""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass

PAGE = 300


@dataclass
class Entry:
    name: bytes
    is_dir: bool
    size: int | None = None
    mtime: float | None = None
    state: str = ""        # "new" | "link" | "changed" | "" (directories)
    nlink: int = 0


def display(name: bytes) -> str:
    return name.decode("utf-8", "backslashreplace")


def list_names(path: bytes) -> tuple[list[bytes], int]:
    """Every entry of one directory: the directories first, each part sorted by name; no stat
    (the type comes from d_type). Returns the names and how many of them are directories."""
    dirs: list[bytes] = []
    files: list[bytes] = []
    with os.scandir(path) as it:
        for e in it:
            try:
                is_dir = e.is_dir(follow_symlinks=False)
            except OSError:
                is_dir = False
            (dirs if is_dir else files).append(e.name)
    dirs.sort()
    files.sort()
    ndirs = len(dirs)
    dirs.extend(files)
    return dirs, ndirs


def details(directory: bytes, prev_directory: bytes | None, names: list[bytes], ndirs: int,
            compare: bool = True) -> list[Entry]:
    """Stat one page of entries (the first `ndirs` are directories) and compare each with the
    previous backup (`compare=False`: a view with nothing to compare with, e.g. an archive union)."""
    out = []
    for i, name in enumerate(names):
        is_dir = i < ndirs
        e = Entry(name, is_dir)
        try:
            st = os.lstat(os.path.join(directory, name))
        except OSError:
            out.append(e)
            continue
        e.mtime, e.nlink = st.st_mtime, st.st_nlink
        if not is_dir:
            e.size = st.st_size
            e.state = "new" if compare else ""
            if prev_directory is not None:
                try:
                    pst = os.lstat(os.path.join(prev_directory, name))
                except OSError:
                    pst = None
                if pst is not None and stat.S_ISREG(pst.st_mode):
                    if (pst.st_ino, pst.st_dev) == (st.st_ino, st.st_dev):
                        e.state = "link"
                    else:
                        e.state = "changed"
        out.append(e)
    return out


@dataclass
class Change:
    path: bytes
    what: str                # added | removed | changed
    size: int | None


def diff_trees(new_root: bytes, old_root: bytes | None, limit: int = 2000) -> tuple[list[Change], int]:
    """Files added, removed or changed (other inode and other size or mtime) below two directories."""
    changes: list[Change] = []
    count = 0

    def walk(root: bytes) -> dict[bytes, os.stat_result]:
        files = {}
        if root is None or not os.path.isdir(root):
            return files
        for dirpath, dirnames, filenames in os.walk(root):
            rel = os.path.relpath(dirpath, root)
            for name in filenames:
                p = name if rel == b"." else os.path.join(rel, name)
                try:
                    files[p] = os.lstat(os.path.join(dirpath, name))
                except OSError:
                    pass
        return files

    new, old = walk(new_root), walk(old_root)
    for p in sorted(new.keys() | old.keys()):
        a, b = new.get(p), old.get(p)
        if b is None:
            what = "added"
        elif a is None:
            what = "removed"
        elif (a.st_ino, a.st_dev) != (b.st_ino, b.st_dev) and (a.st_size != b.st_size or int(a.st_mtime) != int(b.st_mtime)):
            what = "changed"
        else:
            continue
        count += 1
        if len(changes) < limit:
            changes.append(Change(p, what, (a or b).st_size))
    return changes, count
