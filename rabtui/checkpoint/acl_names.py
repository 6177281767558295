"""ACLs that name users and groups whose names xorriso 1.5.4 takes badly. libisofs reads a file's
ACL as libacl writes it, by name, and leaves the whole ACL off the disc, silently (a directory's
default one stops xorriso), when a named user or group has a space, tab, comma, colon or backslash
in its name (`dom users` from sssd or LDAP: libacl writes it `dom\\040users`); the same ACL naming
an id with no name, or a name not ASCII, is written right. So an entry whose ACL names one is
mapped bare and given its ACL from a list, as a part of a cut file is (cut_attrs.py), with the id
in place of such a name (`user:54321:r--`), which libisofs takes: the disc keeps the ACL as the
ids say, xorriso lists it by name, and an extraction sets it (its other xattrs come from lists
too, so one too long for a line is refused when planned: content.py). But not a name with a comma or a
colon, or a line break: xorriso cannot extract an ACL naming it (it splits its text there) on a
system that knows the name, so no disc would verify; such an entry is refused when its checkpoint
is planned."""

from __future__ import annotations

import grp
import os
import pwd
import struct
from typing import Iterable, Iterator

ACL_NAMES = (b"system.posix_acl_access", b"system.posix_acl_default")
_USER, _GROUP = 0x02, 0x08                      # named entries (linux/posix_acl_xattr.h)
_ESCAPED = frozenset(b" \t\v\f\n\r,:\\")       # what libacl writes as \ooo in a name
_SPLIT = frozenset(b"\n\r,:")                   # where xorriso splits an ACL's text


def unwritable(name: str) -> bool:
    """Is this a user's or group's name for which libisofs leaves an ACL naming it off the disc?"""
    return bool(_ESCAPED & set(os.fsencode(name)))


def _named(attrs: Iterable[tuple[bytes | str, bytes]]) -> Iterator[tuple[str, int, str]]:
    """(user or group, id, name) of each entry of the ACLs among these xattrs (name, value pairs as
    the kernel gives them) that names an id this system knows."""
    for attr, value in attrs:
        if os.fsencode(attr) not in ACL_NAMES:
            continue
        for k in range(4, len(value) - 7, 8):
            tag, _, ident = struct.unpack_from("<HHI", value, k)
            try:
                if tag == _USER:
                    yield "user", ident, pwd.getpwuid(ident).pw_name
                elif tag == _GROUP:
                    yield "group", ident, grp.getgrgid(ident).gr_name
            except KeyError:    # no name: written as the number, which libisofs takes
                pass


def refused(attrs: Iterable[tuple[bytes | str, bytes]]) -> str | None:
    """Why no disc holds the ACLs among an entry's xattrs as a disc that verifies, None when one does."""
    for kind, ident, name in _named(attrs):
        if _SPLIT & set(os.fsencode(name)):
            return (f"its ACL names the {kind} {name!r} ({ident}), a name with a comma, colon or line break in it,"
                    f" which xorriso cannot extract an ACL naming (nor verify the disc)")
    return None


def by_id(attrs: Iterable[tuple[bytes | str, bytes]]) -> bool:
    """Must the ACLs among an entry's xattrs be given to the disc with ids for some names?"""
    return any(unwritable(name) for _, _, name in _named(attrs))


def by_id_at(path: bytes) -> bool:
    """`by_id` for the entry at `path` (False when its ACLs cannot be read: xorriso says so)."""
    attrs = []
    for attr in ACL_NAMES:
        try:
            attrs.append((attr, os.getxattr(path, attr, follow_symlinks=False)))
        except OSError:
            pass
    return by_id(attrs)
