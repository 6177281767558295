"""Telling an ACL set or changed on an entry from a chmod of it: once an ACL names a user or group,
the group bits of the entry's mode are the ACL's mask (`setfacl -m u:bob:rwx` on a file of mode 0644
makes it 0674, `setfacl -m m::r` on it makes it 0644 again). A mode found other than recorded in
those bits alone, where the entry holds such an ACL now, is its ACL changed: one set since, or the
mask of one it had (which a chmod of those bits changes too)."""

from __future__ import annotations

import os
import stat
import struct

from rabtui.media import below

ACCESS = b"system.posix_acl_access"
_MASK = 0x10     # the mask:: entry (linux/posix_acl_xattr.h)


def changed_since(recorded: int | None, st_mode: int, path: bytes) -> bool:
    """Is `st_mode` (of `path`) other than the `recorded` mode for its ACL set or changed since, as
    above? False when that is not known (nothing recorded, the ACL not readable)."""
    if recorded is None or (recorded ^ st_mode) & ~stat.S_IRWXG or stat.S_ISLNK(st_mode):
        return False
    try:
        value = below.xattrs(*os.path.split(path)).get(ACCESS)
    except OSError:
        return False
    return value is not None and _entry(value, _MASK) is not None


def put_back(recorded: int) -> str:
    """How an entry whose ACL changed since the plan (changed_since) is given the `recorded` mode back."""
    g = (recorded & stat.S_IRWXG) >> 3
    bits = "".join(c if g & b else "-" for c, b in (("r", 4), ("w", 2), ("x", 1)))
    return f"`setfacl -b` removes an ACL set since; one it had takes its mask back with `setfacl -m m::{bits}`"


def _entry(value: bytes, tag: int) -> int | None:
    """The rwx bits of the `tag` entry of a system.posix_acl_access value; None without one."""
    for k in range(4, len(value) - 7, 8):
        found, perm, _ident = struct.unpack_from("<HHI", value, k)
        if found == tag:
            return perm
    return None
