"""Telling an ACL set on an entry from a chmod of it: once an ACL names a user or group, the group
bits of the entry's mode are the ACL's mask (`setfacl -m u:bob:rwx` on a file of mode 0644 makes it
0674). A mode found other than recorded in those bits alone, where the entry's ACL gives its owning
group (group::) the bits the recorded mode gave it, is an ACL set since: the group bits moved with
the mask, not with a chmod."""

from __future__ import annotations

import os
import stat
import struct

from rabtui.media import below

ACCESS = b"system.posix_acl_access"
_GROUP_OBJ = 0x04     # the group:: entry (linux/posix_acl_xattr.h)


def set_since(recorded: int | None, st_mode: int, path: bytes) -> bool:
    """Is `st_mode` (of `path`) other than the `recorded` mode for an ACL set on it since, as
    above? False when that is not known (nothing recorded, the ACL not readable)."""
    if recorded is None or (recorded ^ st_mode) & ~stat.S_IRWXG or stat.S_ISLNK(st_mode):
        return False
    try:
        value = below.xattrs(*os.path.split(path)).get(ACCESS)
    except OSError:
        return False
    return value is not None and group_obj(value) == (recorded & stat.S_IRWXG) >> 3


def group_obj(value: bytes) -> int | None:
    """The rwx bits of the group:: entry of a system.posix_acl_access value; None without one."""
    for k in range(4, len(value) - 7, 8):
        tag, perm, _ident = struct.unpack_from("<HHI", value, k)
        if tag == _GROUP_OBJ:
            return perm
    return None
