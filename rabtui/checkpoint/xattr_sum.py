"""A digest of an entry's xattrs as the plan read them (`disc_files.xattr_sum`), compared before
its disc is written: one set, changed or removed on the medium after the plan would go onto the
disc, whose verification compares xattrs with the medium as it is, and so passes holding xattrs
the backup never had. 16 bytes an entry (one row per xattr would take some 240).

What it sums is what every user reads alike and a disc holds as it is, the access ACL among them
(system.posix_acl_access, which a disc's listing gives byte for byte as the kernel does: one
changed with the mode kept, its mask the same, is found so); not a default ACL (a directory's,
compared by dir_attrs.py), not isofs.* (a disc's own), not trusted.* (root's alone: a plan made
as root, burnt as another user, would differ on them; summed apart, trusted_of, and compared only
by root), not those with an empty value (kept off
the discs and compared apart: kept_off.py). An entry of a file system that holds no xattrs
(exFAT, vfat) sums as one with none, and so does one whose ACL is only the mode's (the kernel
keeps no xattr for it)."""

from __future__ import annotations

import errno
import hashlib
import os
from typing import Iterable

from rabtui.media import below

NONE = b""      # the sum of an entry with no xattrs summed (most of them): no digest stored


def _summed(name: bytes) -> bool:
    return not name.startswith((b"system.posix_acl_default", b"trusted.", b"isofs."))


def _trusted(name: bytes) -> bool:
    return name.startswith(b"trusted.")


def of(attrs: Iterable[tuple[bytes, bytes]], summed=_summed) -> bytes:
    """The sum of an entry's xattrs, (name, value) pairs as the kernel gives them."""
    pairs = sorted((n, v) for n, v in attrs if v and summed(n))
    if not pairs:
        return NONE
    h = hashlib.blake2b(digest_size=16)
    for n, v in pairs:
        h.update(len(n).to_bytes(4, "little") + n + len(v).to_bytes(8, "little") + v)
    return h.digest()


def trusted_of(attrs: Iterable[tuple[bytes, bytes]]) -> bytes:
    """The sum of an entry's trusted.* xattrs alone (`disc_files.trusted_sum`), which `of` leaves
    out: only root reads them, and only a disc written by root holds them. Recorded by a plan made
    as root, compared by a burn and a verification as root (as_root); NONE where there are none."""
    return of(attrs, _trusted)


def as_root() -> bool:
    """Does this process read trusted.* xattrs (and xorriso, run by it, write them onto a disc)?"""
    return os.geteuid() == 0


def trusted_changed(recorded: bytes | None, attrs: list[tuple[bytes, bytes]] | None) -> bool:
    """Are the trusted.* xattrs of `attrs` not those summed as `recorded`? False where either is not
    known (a plan made before they were summed, or not as root), or this process is not root."""
    return recorded is not None and attrs is not None and as_root() and trusted_of(attrs) != bytes(recorded)


def read(path: bytes) -> list[tuple[bytes, bytes]] | None:
    """The xattrs of `path` (a symlink's own), [] where its file system holds none; None where they
    cannot be read (gone, no permission)."""
    return _held(lambda: [(os.fsencode(n), os.getxattr(path, n, follow_symlinks=False))
                          for n in os.listxattr(path, follow_symlinks=False)])


def read_below(root: bytes, rel: bytes) -> list[tuple[bytes, bytes]] | None:
    """`read` of `root/rel`, however long its path (below.xattrs)."""
    return _held(lambda: list(below.xattrs(root, rel).items()))


def _held(listed) -> list[tuple[bytes, bytes]] | None:
    try:
        return listed()
    except OSError as exc:
        return [] if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) else None


def users_refused(path: bytes) -> bool:
    """Does the file system of the file or directory `path` refuse to read user.* xattrs (ext4
    mounted nouser_xattr, a file system that holds none)? Where it takes them, one not there is
    ENODATA (as for any entry of another kind)."""
    try:
        os.getxattr(path, "user.rabtui-held", follow_symlinks=False)
    except OSError as exc:
        return exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP)
    return False


def changed(recorded: bytes | None, attrs: list[tuple[bytes, bytes]] | None) -> bool:
    """Are these xattrs not those summed as `recorded`? False where either is not known (a plan
    recorded before sums were kept: NULL)."""
    return recorded is not None and attrs is not None and of(attrs) != bytes(recorded)
