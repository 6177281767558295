"""The processes that hold a file open, as /proc tells (all of them as root, this user's otherwise):
a message about a file another process holds (the state database locked past SQLite's busy timeout)
names them for the operator to act on."""

from __future__ import annotations

import os


def openers(path: str | os.PathLike) -> list[int]:
    """The pids, other than this process's, with a descriptor open on the file at `path`; [] where
    /proc does not say. Their descriptors' links are read, never followed: a stat through one
    would wait for ever on a file system that stopped answering."""
    want = os.fsencode(os.path.realpath(path))
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            with os.scandir(f"/proc/{entry.name}/fd") as fds:
                if any(_link(fd.path) == want for fd in fds):
                    found.append(int(entry.name))
        except OSError:           # gone meanwhile, or not ours to read
            continue
    return sorted(found)


def _link(path: str) -> bytes | None:
    try:
        return os.readlink(os.fsencode(path))
    except OSError:
        return None
