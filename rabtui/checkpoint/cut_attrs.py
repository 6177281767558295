"""The ACL and xattrs of a file cut into parts, for each part to carry on its disc: xorriso's
`-cut_out` gives a part the file's mode, owner and times but none of them (xorriso.py). They are
read from the file on the medium as the disc is staged and written into lists beside its command
file, which xorriso reads right after each part's `-cut_out`. So are those of an entry mapped bare,
for an xattr with an empty value (kept_off.py), which none of them holds, or a directory's that
`-map_single` leaves out (map_single_drops)."""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path
from typing import Sequence

from rabtui.checkpoint import kept_off, xorriso
from rabtui.checkpoint.backed_up_attrs import acl_text, mode_acl
from rabtui.checkpoint.xorriso import Entry
from rabtui.media import below

ACCESS_ACL = b"system.posix_acl_access"
DEFAULT_ACL = b"system.posix_acl_default"


def read(path: bytes) -> tuple[list[tuple[bytes, bytes]], str]:
    """The xattrs of the entry at `path` as the kernel gives them (as libisofs reads a whole
    file's), but those with an empty value (kept_off.py) and a directory's default ACL, and its
    ACL as `getfacl` writes it, the default one too ("" when it says no more than the mode)."""
    try:
        names = os.listxattr(path, follow_symlinks=False)
        attrs = [(os.fsencode(n), os.getxattr(path, n, follow_symlinks=False)) for n in names]
    except OSError as exc:
        if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP):
            return [], ""
        raise
    held = dict(attrs)
    acl = acl_text(held.get(ACCESS_ACL, b""), writable=True)
    default = acl_text(held.get(DEFAULT_ACL, b""), "default:", writable=True)
    if default and len(acl) <= 3:
        acl = mode_acl(os.lstat(path).st_mode)
    text = "\n".join(acl + default) if len(acl) > 3 or default else ""
    return [(n, v) for n, v in kept_off.carried(attrs) if n != DEFAULT_ACL], text


def map_single_drops(path: bytes) -> bool:
    """Does the directory at `path` hold an xattr that xorriso's `-map_single` leaves out
    (xorriso.map_single_drops)?"""
    try:
        names = os.listxattr(path, follow_symlinks=False)
    except OSError:     # none on this file system, or unreadable: xorriso says so
        return False
    return xorriso.map_single_drops(names)


def refused(root: bytes, rel: bytes) -> str | None:
    """Why the file `rel` of `root` (on the medium) cannot be cut into parts that carry its xattrs
    (xorriso.too_long), None when it can: said when the checkpoint is planned, before any disc."""
    try:
        return xorriso.too_long(below.xattrs(root, rel).items())
    except OSError:   # none to read (ENOTSUP), or gone: staging the disc reads them again
        return None


def prepare(entries: Sequence[Entry], folder: Path) -> None:
    """Give each cut entry the xattrs and ACL of the file it is cut from, and each bare one its own,
    and write the lists that set them on it into `folder` (made anew). ValueError, naming the file,
    for one that xorriso cannot be given (xorriso.attr_lists)."""
    if folder.is_symlink() or folder.exists():
        shutil.rmtree(folder)
    lists = []
    for k, e in enumerate(entries):
        if not (e.kind == "cut" or e.bare):
            continue
        e.attrs, e.acl = read(e.disk)
        if e.bare and e.kind == "dir":
            e.mode = os.lstat(e.disk).st_mode
        e.lists = os.path.join(os.fsencode(folder), b"%d" % k)
        try:
            lists += xorriso.attr_lists([e])
        except ValueError as exc:
            raise ValueError(f"{os.fsdecode(e.disk)}: {exc}") from None
    if lists:
        folder.mkdir(mode=0o700, parents=True)
    for path, text in lists:
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600), "wb") as f:
            f.write(text)
