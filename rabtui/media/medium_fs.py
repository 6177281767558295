"""What a medium's file system can hold of what a backup keeps (xattrs, ACLs, holes, special
files, links, times to the nanosecond), tried once with a probe directory in the medium's root and
remembered in its label as `"holds": {"xattrs": true, ...}`. A file system that cannot hold
something (vfat, exfat, some network mounts) gets a warning in `check` and in the backup's log
instead of a silent loss.
"""

from __future__ import annotations

import errno
import os
import stat
import struct
import time
from pathlib import Path

from rabtui import faults, mount_points, temp_dirs

PROBE_PREFIX = ".rabtui-probe-"
# What each probe stands for, in the words of a warning. None in `holds`: not tried (root only).
WHAT = {
    "xattrs": "extended attributes (user.*)",
    "system_xattrs": "trusted.* and security.* attributes (file capabilities)",
    "acls": "POSIX ACLs",
    "sparse": "sparse files (they take their full size)",
    "fifos": "FIFOs",
    "devices": "device nodes",
    "symlinks": "symbolic links",
    "hardlinks": "hard links (every backup takes a full copy)",
    "nanoseconds": "times finer than a second (a file rewritten within the second a backup read it,"
                   " its size unchanged, is missed until it changes again)",
    "cased_names": "names that differ only in case in one directory (one of each such set is kept, the others"
                   " named as not written on the medium)",
}
# what link(2) fails with on a file system without hard links (vfat, exfat)
NO_HARD_LINKS = frozenset({errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})
# an mtime whose nanoseconds a file system that keeps them gives back exactly
_PROBE_MTIME_NS = 1_700_000_000_123_456_789
# the fraction of a second of the time a label file is given (stamp): one a copy kept with the times
STAMP_NS = _PROBE_MTIME_NS % 1_000_000_000
SPARSE_PROBE_BYTES = 1 << 20
# user::rw- user:<uid>:r-- group::r-- mask::r-- other::--- in the kernel's system.posix_acl_access form
_ACL = struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, uid) for tag, perm, uid in (
    (0x01, 6, 0xFFFFFFFF), (0x02, 4, 0), (0x04, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF), (0x20, 0, 0xFFFFFFFF)))


def probe(medium_path: str | os.PathLike, tries=None) -> dict[str, bool | None]:
    """Try each kind in a new `<medium>/.rabtui-probe-<pid>-<n>-<ticks>-<boot>/`, removed afterwards
    (one a killed run left goes with the next probe: temp_dirs.py). Its own directory: the backups of one run
    check the same medium at once, from threads of one process. `tries(attempt)`: what an attempt
    tells (by default, True, else False when it raises OSError)."""
    tried = tries or _tried
    with temp_dirs.private(medium_path, PROBE_PREFIX, marked=True) as folder:
        root = Path(os.fsdecode(folder))
        f = root / "file"
        f.write_bytes(b"probe")
        faults.point("medium.probing")
        root_user = os.geteuid() == 0
        return {
            "xattrs": tried(lambda: _xattr_round_trip(f, "user.rabtui")),
            "system_xattrs": tried(lambda: _xattr_round_trip(f, "trusted.rabtui")) if root_user else None,
            "acls": tried(lambda: os.setxattr(f, "system.posix_acl_access", _ACL)),
            "sparse": tried(lambda: _sparse(root / "sparse")),
            "fifos": tried(lambda: os.mkfifo(root / "fifo")),
            "devices": tried(lambda: os.mknod(root / "device", stat.S_IFCHR | 0o600, os.makedev(1, 3)))
            if root_user else None,
            "symlinks": tried(lambda: os.symlink("file", root / "link")),
            "hardlinks": tried(lambda: os.link(f, root / "hardlink")),
            "nanoseconds": tried(lambda: _nanoseconds(f)),
            "cased_names": tried(lambda: not os.path.lexists(root / "FILE")),
        }


def _tried(attempt) -> bool:
    try:
        return attempt() is not False
    except OSError:
        return False


def _xattr_round_trip(path: Path, name: str) -> bool:
    os.setxattr(path, name, b"1")
    return os.getxattr(path, name) == b"1"


def _nanoseconds(path: Path) -> bool:
    os.utime(path, ns=(_PROBE_MTIME_NS, _PROBE_MTIME_NS))
    return os.stat(path).st_mtime_ns == _PROBE_MTIME_NS


def keeps_nanoseconds(holds: dict | None) -> bool:
    """Whether rsync may compare times to the nanosecond on this medium (--modify-window=-1): only
    where the probe saw them kept, or every file would look changed at every backup."""
    return isinstance(holds, dict) and holds.get("nanoseconds") is True


def keeps_hard_links(holds: dict | None) -> bool:
    """Whether rsync may keep hard links on this medium (-H): not where the probe saw link(2) fail,
    where rsync would keep one name of each group and fail the others."""
    return not isinstance(holds, dict) or holds.get("hardlinks") is not False


def folds_case(holds: dict | None) -> bool:
    """Whether the probe saw the medium take one name for another differing in case (exFAT, vfat):
    only there are a backup's names compared per directory (case_folded.py); nothing per file elsewhere."""
    return isinstance(holds, dict) and holds.get("cased_names") is False


# file systems whose entries show the modes and owners of their mount (uid=, gid=, umask=): a
# chmod or chown does nothing there. fuseblk: exfat-fuse's (ntfs-3g's too, without `permissions`)
_MODES_OF_MOUNT = frozenset({"exfat", "vfat", "msdos", "fuseblk", "fuse.exfat", "fuse.fusefat"})


def modes_of_mount(path: str | bytes) -> bool:
    """Whether the file system holding `path` keeps no modes or owners of its own (exFAT, vfat),
    as /proc/self/mountinfo names it."""
    return mount_points.fs_type(path) in _MODES_OF_MOUNT


def stamp(path: str | os.PathLike) -> None:
    """The file at `path` dated the last moment before now whose fraction of a second is STAMP_NS;
    left as it is where its file system sets no times (its files' times are then not compared)."""
    now = time.time_ns()
    at = now - (now - STAMP_NS) % 1_000_000_000
    try:
        os.utime(path, ns=(at, at), follow_symlinks=False)
    except OSError:
        pass


def time_finer_than_second(path: str | os.PathLike, stamped: int | None = None) -> bool:
    """Whether the file at `path` has a modification time within a second as its writer set it:
    `stamped` that fraction (stamp), where the file system keeps it and a copy kept it with its
    times (cp -a, rsync -a); where it lost it (a file system of seconds, tar) or a copy took none
    (cp -r: a time of the copy's own) it has another. Without `stamped` (a file written before
    stamps), any fraction of a second. Reads only: for a medium that must not be written."""
    try:
        fraction = os.stat(path, follow_symlinks=False).st_mtime_ns % 1_000_000_000
    except OSError:
        return False
    return fraction != 0 if stamped is None else fraction == stamped


def nanoseconds_now(medium_path: str | os.PathLike) -> bool:
    """The nanoseconds probe alone, tried again at each use of a medium: a medium copied onto a file
    system that keeps only seconds, its label with it, must not go on comparing nanoseconds (every
    file would be copied again at every backup)."""
    with temp_dirs.private(medium_path, PROBE_PREFIX, marked=True) as folder:
        name = Path(os.fsdecode(folder)) / "file"
        name.write_bytes(b"")
        return _tried(lambda: _nanoseconds(name))


def _sparse(path: Path) -> bool:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.pwrite(fd, b"x", SPARSE_PROBE_BYTES - 1)
        os.fsync(fd)
        return os.fstat(fd).st_blocks * 512 < SPARSE_PROBE_BYTES // 2
    finally:
        os.close(fd)


def lacking(holds: dict | None, *, acls: bool = True, xattrs: bool = True) -> list[str]:
    """What the medium cannot hold, in words; `acls`/`xattrs` False leaves out what no source keeps."""
    if not holds:
        return []
    wanted = [k for k in WHAT if (acls or k != "acls") and (xattrs or k not in ("xattrs", "system_xattrs"))]
    return [WHAT[k] for k in wanted if holds.get(k) is False]


def warning(medium_id: str, holds: dict | None, *, acls: bool = True, xattrs: bool = True) -> str | None:
    missing = lacking(holds, acls=acls, xattrs=xattrs)
    if not missing:
        return None
    return (f"medium {medium_id}: its file system cannot hold {', '.join(missing)}: backups on it lose"
            f" them; use a Linux file system (ext4, xfs, btrfs)")
