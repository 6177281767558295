"""ACLs a disc cannot hold for the names this system gives their ids. libisofs (xorriso 1.5.4) reads
a file's ACL as libacl writes it, by name, and leaves the whole ACL off the disc, silently, when a
named user or group has a space, tab, comma, colon or backslash in its name (`dom users` from
sssd or LDAP: libacl writes it `dom\\040users`); the same ACL naming an id with no name, or one
not ASCII, is written right. Such an entry is refused when its checkpoint is planned: the disc
would lack the ACL, and each verification and rewrite would fail it."""

from __future__ import annotations

import grp
import os
import pwd
import struct

ACL_NAMES = (b"system.posix_acl_access", b"system.posix_acl_default")
_USER, _GROUP = 0x02, 0x08                # named entries (linux/posix_acl_xattr.h)
_ESCAPED = frozenset(b" \t\n\r\v\f,:\\")   # what libacl writes as \ooo in a name


def _name(tag: int, ident: int) -> str | None:
    try:
        return pwd.getpwuid(ident).pw_name if tag == _USER else grp.getgrgid(ident).gr_name
    except KeyError:    # no name: written as the number, which libisofs takes
        return None


def refused(attrs: list[tuple[bytes, bytes]]) -> str | None:
    """Why no disc holds the ACL among an entry's xattrs (name, value pairs as the kernel gives
    them), None when one does."""
    for attr, value in attrs:
        if attr not in ACL_NAMES:
            continue
        for k in range(4, len(value) - 7, 8):
            tag, _, ident = struct.unpack_from("<HHI", value, k)
            if tag not in (_USER, _GROUP) or (name := _name(tag, ident)) is None:
                continue
            if _ESCAPED & set(os.fsencode(name)):
                kind = "user" if tag == _USER else "group"
                return (f"its ACL names the {kind} {name!r} ({ident}), a name with a space, tab, comma, colon or"
                        f" backslash in it, for which xorriso leaves the whole ACL off the disc")
    return None
