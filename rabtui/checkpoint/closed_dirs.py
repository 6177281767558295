"""Directories that come off a disc closed to the user who restores them (not root): one of mode
0000 or 0555, or whose ACL gives its owner no right to search it (user::rw-). What is in them
could be neither checked nor read, nor written (cut parts joined, discs merged) in the staging
directory: each is given its owner's rwx there as soon as it is extracted (media/opened_dirs.py,
open_up), and its own mode is kept aside, for the checks (as_extracted) and for the copy into the
target (the directories' modes are set there last, after what is in them).

A backup that such a user made holds them too, as rsync wrote them: for a restore from a medium,
those of that user's are opened to be read for the time of it (media/opened_dirs.py) and closed
again as they were."""

from __future__ import annotations

import os


def as_extracted(st: os.stat_result, mode: int | None) -> os.stat_result:
    """`st` with the mode the directory came off the disc with (`mode`: None when it was not opened up)."""
    if mode is None:
        return st
    # the fields past the ten of the tuple (the times in ns among them) are passed by name
    rest = {k: getattr(st, k) for k in dir(st) if k.startswith("st_") and k not in _IN_TUPLE}
    return os.stat_result((mode, *st[1:]), rest)


_IN_TUPLE = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size")
