"""Directories that come off a disc closed to the user who restores them (not root): one of mode
0000 or 0555, or whose ACL gives its owner no right to search it (user::rw-). What is in them
could be neither checked nor read, nor written (cut parts joined, discs merged) in the staging
directory: each is given its owner's rwx there as soon as it is extracted (open_up), and its own
mode is kept aside, for the checks (as_extracted) and for the copy into the target (the
directories' modes are set there last, after what is in them)."""

from __future__ import annotations

import os
import stat

OWNER = stat.S_IRWXU


def open_up(top: bytes) -> dict[bytes, int]:
    """Each directory at or below `top` (a staged tree) that its owner cannot read, write and
    search given that; returns the st_mode each one had, by its path below `top` (b"": `top`)."""
    if os.geteuid() == 0:
        return {}     # root reads and writes every directory as it is
    was: dict[bytes, int] = {}
    st = os.lstat(top)
    if stat.S_ISDIR(st.st_mode) and st.st_mode & OWNER != OWNER:
        os.chmod(top, stat.S_IMODE(st.st_mode) | OWNER)
        was[b""] = st.st_mode
    if not stat.S_ISDIR(st.st_mode):
        return was
    for dirpath, dirnames, _files, fd in os.fwalk(top):    # by descriptor: any depth
        under = dirpath[len(top):].lstrip(b"/")
        for name in dirnames:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) and st.st_mode & OWNER != OWNER:
                os.chmod(name, stat.S_IMODE(st.st_mode) | OWNER, dir_fd=fd)
                was[os.path.join(under, name) if under else name] = st.st_mode
    return was


def as_extracted(st: os.stat_result, mode: int | None) -> os.stat_result:
    """`st` with the mode the directory came off the disc with (`mode`: None when it was not opened up)."""
    if mode is None:
        return st
    # the fields past the ten of the tuple (the times in ns among them) are passed by name
    rest = {k: getattr(st, k) for k in dir(st) if k.startswith("st_") and k not in _IN_TUPLE}
    return os.stat_result((mode, *st[1:]), rest)


_IN_TUPLE = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size")
