"""Which processes hold an flock on a file, from the kernel's table of locks (/proc/locks): read
without taking the lock (state/locks.py)."""

from __future__ import annotations

import os
from pathlib import Path

TABLE_READS = 3     # reads of the kernel's table of locks, of many pages, before a lock none shows is free


def holders(path: str | Path) -> set[int] | None:
    """The processes that hold a lock on `path` now (a line each in the kernel's table of locks,
    shared holders too); None when there is no such table to read."""
    try:
        st = os.stat(path)
    except (FileNotFoundError, NotADirectoryError):     # (a file in the place of locks/: none there)
        return set()
    held = f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino}"
    pids: set[int] = set()
    try:
        for _ in range(TABLE_READS):
            table, whole = _lock_table()
            # "1: FLOCK  ADVISORY  WRITE 4242 00:2f:1234 0 EOF"; a waiter's line has "->" second
            pids |= {int(f[4]) for f in map(str.split, table.splitlines())
                     if len(f) > 5 and f[1] == "FLOCK" and f[5] == held and f[4].lstrip("-").isdigit()}
            if pids or whole:
                return pids
    except OSError:
        return None
    return pids


def _lock_table() -> tuple[str, bool]:
    """The kernel's table of locks, and whether it came whole in one read. The kernel gives it a
    page (4 KiB) at a time, each from where the last ended by count of lines: when locks before
    that point go in between, a line at a page's edge is skipped (a lock held all along not seen:
    a busy machine, its databases' locks coming and going, has tables of many pages)."""
    pages = []
    with open("/proc/locks", "rb", buffering=0) as table:
        while page := table.read(1 << 16):
            pages.append(page)
    return b"".join(pages).decode("ascii"), len(pages) <= 1
