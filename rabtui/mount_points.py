"""Which file system holds a path, and whether the disk once mounted where it was is away: its
mount point is there but nothing is mounted on it (unmounted: it comes back), or the mount point is
removed (the operator's way to say that disk is gone for good)."""

from __future__ import annotations

import os
import re


def mount_point(path: str) -> str:
    """The mount point of the file system that holds `path` (its symlinks followed), or would hold
    it once made."""
    p = os.path.realpath(path)
    while not os.path.exists(p):
        p = os.path.dirname(p)
    while not os.path.ismount(p):
        p = os.path.dirname(p)
    return p


def unmounted(mount: str) -> bool:
    """Whether the disk that was mounted at `mount` is not mounted now and may come back: the
    directory is there, no mount point."""
    return os.path.isdir(mount) and not os.path.ismount(mount)


def mount_id(fd: int) -> int | None:
    """The mount an open file is reached through (/proc/self/fdinfo: a bind mount of a directory of
    the same file system is a mount of its own); None where /proc does not say."""
    try:
        with open(f"/proc/self/fdinfo/{fd}", "rb") as f:
            for line in f:
                if line.startswith(b"mnt_id:"):
                    return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return None


def fs_type(path: str | bytes) -> str | None:
    """The type of the file system that holds `path` (not followed, if a symlink), as
    /proc/self/mountinfo names it (ext4, exfat, fuseblk, fuse.fusefat); None where that cannot be read."""
    fields = _mount_of(path)
    try:
        return os.fsdecode(fields[fields.index(b"-") + 1]) if fields else None
    except (ValueError, IndexError):
        return None


def _mount_of(path: str | bytes) -> list[bytes] | None:
    """The fields of /proc/self/mountinfo's line of the mount that holds `path` (not followed, if a
    symlink); None where that cannot be read."""
    try:
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        mid = mount_id(fd)
    finally:
        os.close(fd)
    if mid is None:
        return None
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                fields = line.rstrip(b"\n").split(b" ")
                if int(fields[0]) == mid:
                    return fields
    except (OSError, ValueError, IndexError):
        pass
    return None


def mounts_below(path: bytes) -> bool:
    """Whether something is mounted below the directory `path` (its symlinks followed), as
    /proc/self/mountinfo lists them; True where that cannot be read."""
    top = os.path.realpath(path).rstrip(b"/") + b"/"
    mounts = table()
    return not mounts or any(point.startswith(top) for *_, point in mounts)   # none read: / is always one


def mountinfo_name(field: bytes) -> bytes:
    """A mount point as /proc/self/mountinfo writes it (a space, tab, newline and backslash in it as
    \\040 \\011 \\012 \\134) as the path it is."""
    return re.sub(rb"\\([0-7]{3})", lambda m: bytes([int(m.group(1), 8)]), field)


def table() -> list[tuple[int, int, bytes, bytes]]:
    """(mount id, device, the directory of its file system it shows, mount point) of each mount, as
    /proc/self/mountinfo lists them ([] where it cannot be read). The device is mountinfo's, the
    same for every mount of a file system; a file's st_dev may differ from it (btrfs)."""
    out = []
    try:
        with open("/proc/self/mountinfo", "rb") as f:
            for line in f:
                fields = line.split(b" ")
                major, minor = fields[2].split(b":")
                out.append((int(fields[0]), os.makedev(int(major), int(minor)), mountinfo_name(fields[3]),
                            mountinfo_name(fields[4])))
    except (OSError, ValueError, IndexError):
        return []
    return out


def _within(a: bytes, b: bytes) -> bool:
    return a == b or a.startswith(b.rstrip(b"/") + b"/")


def showing_below(path: bytes, place: str | os.PathLike, mounts: list[tuple[int, int, bytes, bytes]]) -> bytes | None:
    """A mount point below `path` (of `mounts`, see table) that shows the directory `place`, a
    directory in it or one holding it (a bind mount of the medium, of a backup on it); None."""
    try:
        real = os.fsencode(os.path.realpath(place))
        fd = os.open(real, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        mid, dev = mount_id(fd), os.fstat(fd).st_dev
    finally:
        os.close(fd)
    # the mount `place` is reached through, by its id: on btrfs, st_dev is none of mountinfo's devices
    holding = [m for m in mounts if m[0] == mid] or [m for m in mounts if m[1] == dev and _within(real, m[3])]
    if not holding:
        return None
    _mid, dev, root, point = max(holding, key=lambda m: len(m[3]))
    inner = os.path.normpath(os.path.join(root, os.path.relpath(real, point)))    # its path in its file system
    top = os.fsencode(os.path.realpath(path)).rstrip(b"/") + b"/"
    return next((p for _i, d, r, p in mounts
                 if d == dev and p.startswith(top) and (_within(r, inner) or _within(inner, r))), None)


def read_only_device(path: str | bytes) -> tuple[bytes, int] | None:
    """(the block device node, its device number) of the local file system holding `path` (not
    followed, if a symlink) when that file system is read-only itself, not only at this mount (its
    super block's options, which every mount of it shares: a read-only bind mount of a writable one
    shows its files writable elsewhere); None otherwise, or where mountinfo cannot say (a network or
    FUSE file system's, whose files its server may change, names no block device)."""
    fields = _mount_of(path)
    if fields is None:
        return None
    try:
        rest = fields[fields.index(b"-") + 1:]
        source, options = mountinfo_name(rest[1]), rest[2].split(b",")
        major, minor = fields[2].split(b":")
        if b"ro" in options and source.startswith(b"/"):
            return source, os.makedev(int(major), int(minor))
    except (ValueError, IndexError):
        pass
    return None
