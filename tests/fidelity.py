"""A tree that holds everything a Linux file system can: xattrs (user., trusted., security.), a file
capability, POSIX ACLs, a FIFO, a socket, a device node, hard links across directories, a 40 MB
sparse file, setuid, foreign owners, old directory mtimes, absolute and relative symlinks; and the
independent comparison: rsync's own metadata comparison must print nothing."""

from __future__ import annotations

import os
import socket
import stat
import struct
import subprocess
from pathlib import Path

SPARSE_NAME = "sparse/disk.img"
SOCKET_NAME = "run/socket"
SPARSE_SIZE = 40 * 1024 * 1024
SPARSE_DATA = {0: b"head", 20 * 1024 * 1024: b"middle", SPARSE_SIZE - 4: b"tail"}
CAP_NET_RAW = 13
# struct vfs_cap_data, revision 2, effective: what `setcap cap_net_raw+ep FILE` writes
CAPABILITY = struct.pack("<IIIII", 0x02000001, 1 << CAP_NET_RAW, 0, 0, 0)
ACL_USER_OBJ, ACL_USER, ACL_GROUP_OBJ, ACL_GROUP, ACL_MASK, ACL_OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
UNDEFINED_ID = 0xFFFFFFFF


def posix_acl(entries: list[tuple[int, int, int]]) -> bytes:
    """The kernel's system.posix_acl_* value (what `setfacl` writes): version 2, then tag/perm/id."""
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in entries)


# user:1234:r-x, group:2345:rw-, as `setfacl -m u:1234:rx,g:2345:rw` would
ACCESS_ACL = posix_acl([(ACL_USER_OBJ, 6, UNDEFINED_ID), (ACL_USER, 5, 1234), (ACL_GROUP_OBJ, 4, UNDEFINED_ID),
                        (ACL_GROUP, 6, 2345), (ACL_MASK, 7, UNDEFINED_ID), (ACL_OTHER, 4, UNDEFINED_ID)])
DEFAULT_ACL = posix_acl([(ACL_USER_OBJ, 7, UNDEFINED_ID), (ACL_USER, 7, 1234), (ACL_GROUP_OBJ, 5, UNDEFINED_ID),
                         (ACL_MASK, 7, UNDEFINED_ID), (ACL_OTHER, 5, UNDEFINED_ID)])
OLD_MTIME = 946_684_800   # 2000-01-01


def is_root() -> bool:
    return os.geteuid() == 0


def unsummed_said() -> str:
    """What a verification without the backup at hand says it left of its entries' xattrs, before
    the rest it left (unchecked.py): their trusted.* ones unless this process, which made the plan,
    is root (xattr_sum.trusted_of)."""
    return "" if is_root() else "the trusted.* xattrs of its entries and "


def allocated(path: str | os.PathLike) -> int:
    return os.lstat(path).st_blocks * 512


def build(root: Path) -> dict[str, str]:
    """Fill `root`; returns what could not be made here (part -> reason), e.g. ACLs on a file
    system without them, or the root-only parts when not root."""
    skipped: dict[str, str] = {}
    root.mkdir(parents=True, exist_ok=True)
    for d in ("etc", "bin", "srv/a", "srv/b", "dev", "run", "sparse", "acl/inherit"):
        (root / d).mkdir(parents=True, exist_ok=True)

    (root / "etc/conf").write_text("setting = 1\n")
    os.setxattr(root / "etc/conf", "user.comment", b"kept by the backup")
    os.setxattr(root / "etc/conf", "user.binary", bytes(range(256)))
    os.setxattr(root / "srv/a", "user.on-a-directory", b"yes")

    (root / "bin/ping").write_bytes(b"\x7fELF pretend")
    os.chmod(root / "bin/ping", 0o755)
    (root / "bin/su").write_bytes(b"\x7fELF setuid")
    os.chmod(root / "bin/su", 0o4755)
    (root / "bin/wall").write_bytes(b"\x7fELF setgid")
    os.chmod(root / "bin/wall", 0o2755)

    (root / "srv/a/shared").write_bytes(b"one inode, three names\n")
    os.link(root / "srv/a/shared", root / "srv/b/shared-too")
    os.link(root / "srv/a/shared", root / "etc/shared-three")

    os.symlink("/etc/passwd", root / "etc/absolute-link")
    os.symlink("../srv/a/shared", root / "etc/relative-link")
    os.symlink("nowhere/at/all", root / "etc/dangling-link")

    os.mkfifo(root / "run/fifo", 0o640)
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(str(root / SOCKET_NAME))

    with open(root / SPARSE_NAME, "wb") as f:
        f.truncate(SPARSE_SIZE)
        for offset, data in SPARSE_DATA.items():
            f.seek(offset)
            f.write(data)

    try:
        (root / "acl/file").write_text("with an access ACL\n")
        os.setxattr(root / "acl/file", "system.posix_acl_access", ACCESS_ACL)
        os.setxattr(root / "acl/inherit", "system.posix_acl_default", DEFAULT_ACL)
    except OSError as exc:
        skipped["acl"] = f"the test file system takes no POSIX ACLs: {exc.strerror}"

    if is_root():
        os.setxattr(root / "bin/ping", "security.capability", CAPABILITY)
        os.setxattr(root / "etc/conf", "trusted.rabtui", b"trusted namespace")
        os.setxattr(root / "etc/conf", "security.rabtui", b"security namespace")
        os.mknod(root / "dev/null-like", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.mknod(root / "dev/block-like", stat.S_IFBLK | 0o660, os.makedev(7, 99))
        (root / "srv/b/foreign").write_text("owned by nobody known here\n")
        os.chown(root / "srv/b/foreign", 12345, 23456)
        os.chown(root / "srv/b", 12345, 23456)
        os.lchown(root / "etc/relative-link", 12345, 23456)
    else:
        skipped["root"] = "not root: no capability, trusted./security. xattrs, device nodes or foreign owners"

    for dirpath, dirs, _ in os.walk(root, topdown=False):
        for d in dirs:
            os.utime(os.path.join(dirpath, d), (OLD_MTIME, OLD_MTIME), follow_symlinks=False)
    os.utime(root, (OLD_MTIME, OLD_MTIME))
    return skipped


def differences(source: str | os.PathLike, copy: str | os.PathLike, *, acls: bool = True,
                xattrs: bool = True, sockets: bool = True) -> list[str]:
    """What rsync's own comparison (contents by checksum, hard links, ACLs, xattrs, owners, modes,
    times, specials) finds different between the trees: nothing when the copy is faithful.
    `sockets=False` leaves the socket out (discs do not hold sockets)."""
    flags = "-naHc" + ("A" if acls else "") + ("X" if xattrs else "")
    excludes = [] if sockets else [f"--exclude=/{SOCKET_NAME}"]
    out = subprocess.run(["rsync", flags, "--numeric-ids", "--itemize-changes", *excludes, f"{source}/", f"{copy}/"],
                         capture_output=True, check=True, env={**os.environ, "LC_ALL": "C"})
    return out.stdout.decode("utf-8", "backslashreplace").splitlines()


def sparse_content_ok(path: str | os.PathLike) -> bool:
    with open(path, "rb") as f:
        if os.fstat(f.fileno()).st_size != SPARSE_SIZE:
            return False
        for offset, data in SPARSE_DATA.items():
            f.seek(offset)
            if f.read(len(data)) != data:
                return False
    return True
