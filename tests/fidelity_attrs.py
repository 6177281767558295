"""Attributes on every kind of entry, past tests/fidelity.py and fidelity_more.py: directories with
xattrs, an access and a default ACL (and trusted./security. ones as root), an empty directory with
an xattr, a directory of mode 0300 and one of 0000 holding another, files of mode 0000 and 07777, a
setuid and setgid file of a foreign owner, times before 1970, in 2040 and in 2299 (to the
nanosecond), a directory and a file with 100 and 60 xattrs, xattr names holding a newline, a space,
`=` and bytes not UTF-8 (values with newlines and a NUL first), a FIFO with an ACL, and as root a
FIFO, a device node and a symlink to a directory with trusted.* xattrs, a hard-linked file with an
ACL and xattrs in two directories, a hard-linked empty file, a file beginning with a hole."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from tests import fidelity

TIMES = {"old": -1_000_000_000_123_456_788, "y2040": 2_240_000_000_500_000_000, "y2299": 10_400_000_000_000_000_001,
         "epoch": 0}
DIR_MTIME = -2_000_000_000_987_654_321


def build(root: Path) -> None:
    """Fill `root` (root-only parts where root); ACLs where the file system takes them."""
    root = Path(root)
    rb = os.fsencode(root)
    for d in ("d/xdir/in", "d/emptyx", "d/d0300", "d/d0000/sub", "f", "t/olddir", "x", "l/target"):
        (root / d).mkdir(parents=True, exist_ok=True)
    os.setxattr(root / "d/xdir", "user.dir", b"on a directory")
    os.setxattr(root / "d/emptyx", "user.empty-dir", b"x" * 300)
    os.setxattr(root / "d/xdir", "system.posix_acl_access", fidelity.ACCESS_ACL)
    os.setxattr(root / "d/xdir", "system.posix_acl_default", fidelity.DEFAULT_ACL)
    (root / "d/d0300/inside").write_text("in a 0300 directory")
    (root / "d/d0000/sub/deep").write_text("in a 0000 directory")
    (root / "f/mode000").write_text("mode 0000")
    os.chmod(root / "f/mode000", 0)
    (root / "f/m7777").write_text("every bit")
    os.chmod(root / "f/m7777", 0o7777)
    for name, ns in TIMES.items():
        (root / "t" / name).write_text(name)
        os.utime(root / "t" / name, ns=(ns, ns))
    for i in range(100):
        os.setxattr(root / "x", f"user.k{i:03d}", b"v%d" % i)
    (root / "x/many").write_text("many xattrs")
    for i in range(60):
        os.setxattr(root / "x/many", f"user.m{i:03d}", b"w%d" % i)
    (root / "x/odd").write_text("odd xattr names")
    os.setxattr(rb + b"/x/odd", b"user.new\nline", b"value\nwith\nnewlines")
    os.setxattr(rb + b"/x/odd", b"user.\xff\xfe", b"\x00a NUL first")
    os.setxattr(rb + b"/x/odd", b"user.sp ace=eq", b"=")
    os.mkfifo(root / "x/fifo-acl", 0o640)
    os.setxattr(root / "x/fifo-acl", "system.posix_acl_access", fidelity.ACCESS_ACL)
    os.symlink("target", root / "l/to-dir")
    os.symlink("/", root / "l/abs-root")
    (root / "l/hl").write_text("linked, with an ACL")
    os.setxattr(root / "l/hl", "system.posix_acl_access", fidelity.ACCESS_ACL)
    os.setxattr(root / "l/hl", "user.hl", b"on both names")
    os.link(root / "l/hl", root / "l/target/hl2")
    (root / "l/empty-linked").write_bytes(b"")
    os.link(root / "l/empty-linked", root / "l/target/empty2")
    with open(root / "f/hole-first", "wb") as f:
        f.truncate(3 << 19)
        f.seek(1 << 20)
        f.write(b"after a hole")
    os.setxattr(root / "f/hole-first", "user.sparse", b"yes")
    if fidelity.is_root():
        os.setxattr(root / "d/xdir", "security.dirlabel", b"security on a directory")
        os.setxattr(root / "d/xdir", "trusted.dirtrust", b"trusted on a directory")
        os.setxattr(root / "x/fifo-acl", "trusted.onfifo", b"fifo", follow_symlinks=False)
        os.mknod(root / "x/dev", stat.S_IFCHR | 0o600, os.makedev(1, 7))
        os.setxattr(root / "x/dev", "trusted.ondev", b"dev", follow_symlinks=False)
        os.setxattr(root / "l/to-dir", "trusted.onlink", b"link", follow_symlinks=False)
        (root / "f/setuid-foreign").write_text("setuid, another owner")
        os.chown(root / "f/setuid-foreign", 4321, 4321)
        os.chmod(root / "f/setuid-foreign", 0o6750)
        os.chown(root / "d/emptyx", 777, 888)
        os.lchown(root / "l/to-dir", 555, 666)
    for dirpath, dirs, _ in os.walk(root, topdown=False):
        for d in dirs:
            os.utime(os.path.join(dirpath, d), ns=(123_456_789, DIR_MTIME), follow_symlinks=False)
    os.chmod(root / "d/d0300", 0o300)
    os.chmod(root / "d/d0000", 0)
