"""Reading backup trees for Browse: a directory listed once (names only), details stat'ed a page at a
time, each entry compared with the same path in the previous backup (same inode: a hard link to
an older copy; otherwise new in this backup). Nothing here holds more than one directory; the
diff against the previous backup comes from the catalog (`changes_below`), not from the trees."""

from __future__ import annotations

import bisect
import os
import stat
import threading
from dataclasses import dataclass, field
from pathlib import Path

from rabtui import fmt
from rabtui.errors import Cancelled

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
    return fmt.name(name)


def stop_if(cancel: threading.Event | None) -> None:
    """A superseded listing (the operator went elsewhere) stops here instead of reading on."""
    if cancel is not None and cancel.is_set():
        raise Cancelled("superseded")


def open_dir(root: bytes, rel: bytes) -> int:
    """A descriptor of the directory `rel` below `root`, opened one name at a time: a directory
    whose path in the backup is longer than the kernel takes in one call (PATH_MAX, 4,096 bytes:
    a source path of 4,000 bytes below the medium's) is reached too. The caller closes it."""
    fd = os.open(root, os.O_RDONLY | os.O_DIRECTORY)
    try:
        for name in rel.split(b"/") if rel else ():
            below = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW, dir_fd=fd)
            os.close(fd)
            fd = below
    except BaseException:
        os.close(fd)
        raise
    return fd


def list_names(root: bytes, rel: bytes, cancel: threading.Event | None = None) -> tuple[list[bytes], int]:
    """Every entry of the directory `rel` below `root`: the directories first, each part sorted by
    name; no stat (the type comes from d_type). Returns the names and how many are directories."""
    dirs: list[bytes] = []
    files: list[bytes] = []
    fd = open_dir(root, rel)
    try:
        with os.scandir(fd) as it:
            for i, e in enumerate(it):
                if not i % 1024:
                    stop_if(cancel)
                try:
                    is_dir = e.is_dir(follow_symlinks=False)
                except OSError:
                    is_dir = False
                (dirs if is_dir else files).append(os.fsencode(e.name))
    finally:
        os.close(fd)
    dirs.sort()
    files.sort()
    ndirs = len(dirs)
    dirs.extend(files)
    return dirs, ndirs


def with_extra(names: list[bytes], ndirs: int, extra: dict) -> tuple[list[bytes], int, dict]:
    """A listing of `list_names` with the entries of `extra` (name -> (is_dir, ...)) it lacks, in
    their places; and those entries (details takes them from there, the others from the tree)."""
    listed = set(names)
    more = {n: v for n, v in extra.items() if n not in listed}
    if not more:
        return names, ndirs, {}
    dirs = sorted(names[:ndirs] + [n for n, v in more.items() if v[0]])
    return dirs + sorted(names[ndirs:] + [n for n, v in more.items() if not v[0]]), len(dirs), more


def position(names: list[bytes], ndirs: int, name: bytes) -> int | None:
    """Where `name` is in a listing of `list_names` (directories first, each part sorted)."""
    for lo, hi in ((ndirs, len(names)), (0, ndirs)):
        i = bisect.bisect_left(names, name, lo, hi)
        if i < hi and names[i] == name:
            return i
    return None


def details(root: bytes, rel: bytes, prev_root: bytes | None, names: list[bytes], ndirs: int,
            compare: bool = True, cancel: threading.Event | None = None, extra: dict | None = None) -> list[Entry]:
    """Stat one page of entries of the directory `rel` below `root` (the first `ndirs` are
    directories) and compare each with the same directory below `prev_root`, the previous backup's
    (`compare=False`: a view with nothing to compare with, e.g. an archive union). `extra`: name ->
    (is_dir, size, mtime, state) of the entries listed that are not below `root` (with_extra)."""
    fd = open_dir(root, rel)
    try:
        prev_fd = open_dir(prev_root, rel) if prev_root is not None else None
    except OSError:    # not in the previous backup
        prev_fd = None
    try:
        return [Entry(name, *extra[name]) if extra and name in extra else
                _entry(fd, prev_fd, name, i < ndirs, compare, cancel if not i % 64 else None)
                for i, name in enumerate(names)]
    finally:
        os.close(fd)
        if prev_fd is not None:
            os.close(prev_fd)


def _entry(fd: int, prev_fd: int | None, name: bytes, is_dir: bool, compare: bool,
           cancel: threading.Event | None) -> Entry:
    stop_if(cancel)
    e = Entry(name, is_dir)
    try:
        st = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return e
    e.mtime, e.nlink = st.st_mtime, st.st_nlink
    if not is_dir:
        e.size = st.st_size
        e.state = "new" if compare else ""
        if prev_fd is not None:
            try:
                pst = os.stat(name, dir_fd=prev_fd, follow_symlinks=False)
            except OSError:
                pst = None
            # a symlink or FIFO unchanged is hard-linked from the base as a file is
            if pst is not None and not stat.S_ISDIR(pst.st_mode):
                e.state = "link" if (pst.st_ino, pst.st_dev) == (st.st_ino, st.st_dev) else "changed"
    return e


@dataclass
class Listing:
    """One directory of the open backup as a worker read it, with what it was read against."""

    rel: bytes
    names: list[bytes]
    ndirs: int
    prev: dict | None      # the backup before it on its medium (None: the first, or the merged view)
    as_of: tuple | None    # an archive directory's listing as of the backup (actions.archive_view.listing)
    extra: dict | None = None   # the merged view's entries only kept data saved (archive_view.merged_extra)
    warnings: list[str] = field(default_factory=list)   # what it left out, and why (a symlink planted)
    unlisted: bool = False      # the backup could not list it (or a directory above it) on the source


def data_root(backup: dict | None) -> bytes | None:
    if backup is None:
        return None
    if backup.get("root"):
        return os.fsencode(backup["root"])
    return os.fsencode(Path(backup["path"]) / "data")


def as_of_page(as_of: tuple, names: list[bytes]) -> list[Entry]:
    return [Entry(n, *as_of[2][n]) for n in names]


@dataclass
class Change:
    path: bytes
    what: str                # added | removed | changed | unreadable (not in the backup, not deleted) | readable again
    size: int | None
    kind: str = "file"              # as find names it: "symlink", "special" (a FIFO, a device node)
    old_kind: str | None = None     # a changed path's kind before, when another (a file that became a symlink)

    def shown(self) -> str:
        """Its size column: a file's size, else its kind; a change of kind, the two."""
        if self.old_kind:
            return f"{self.old_kind} → {self.kind}"
        if self.size is None and self.kind == "file":
            return ""
        return fmt.size(self.size) if self.kind == "file" else self.kind


# a file the later backup read on the source and could not create on the medium (not unread there)
NOT_WRITTEN = "not on medium"


def changes_below(diff, rel: bytes, limit: int = 2000) -> tuple[list[Change], int]:
    """A catalog diff (`rabtui.state.backup_diff.Diff`, paths relative to /) as Browse shows it: the paths
    below the directory `rel`, relative to it, sorted; the first `limit` and how many in all."""
    cut = len(rel) + 1 if rel else 0
    changes = [Change(e.path[cut:], "added", e.size, e.kind) for e in diff.added]
    changes += [Change(e.path[cut:], "removed", e.size, e.kind) for e in diff.removed]
    changes += [Change(c.path[cut:], "changed", c.size, c.kind, c.old_kind if c.old_kind != c.kind else None)
                for c in diff.changed]
    # the open directory itself, when it is what could not be listed: "."
    changes += [Change(u.path[cut:] or b".", NOT_WRITTEN if u.unmade else "unreadable", u.size, u.kind)
                for u in diff.unreadable]
    changes += [Change(r.path[cut:], "readable again", r.size, r.kind) for r in diff.readable_again]
    changes.sort(key=lambda c: c.path)
    return changes[:limit], len(changes)
