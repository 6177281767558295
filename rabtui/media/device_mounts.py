"""Where a medium's device is mounted: the block devices it is (an image file's loop devices), a
mount of its whole file system that can be read, and whether the mount at the medium's path may be
a look's (media/look_mount.py), which rabtui's next user of the medium unmounts (mounting.py)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rabtui import mount_points
from rabtui.config import Medium


def devices_of(device: str) -> set[int]:
    """The block devices (st_rdev) that are `device`: itself, or the loop devices backed by it when
    it is an image file; none where it cannot be read."""
    try:
        st = os.stat(device)
    except OSError:
        return set()
    if stat.S_ISBLK(st.st_mode):
        return {st.st_rdev}
    return set(_loops_of(st).values()) if stat.S_ISREG(st.st_mode) else set()


def _loops_of(image: os.stat_result) -> dict[str, int]:
    """The loop devices backed by the file `image` is the stat of: name (loop3) -> st_rdev."""
    out = {}
    try:
        loops = [n for n in os.listdir("/sys/block") if n.startswith("loop")]
    except OSError:
        return out
    for name in loops:
        try:
            with open(f"/sys/block/{name}/loop/backing_file", "rb") as f:
                backing = f.read().removesuffix(b"\n")     # its own: a name may end in one too
            with open(f"/sys/block/{name}/dev") as f:
                major, minor = f.read().strip().split(":")
            held = os.stat(backing)
        except (OSError, ValueError):
            continue       # no backing file, or it is gone (" (deleted)")
        if (held.st_dev, held.st_ino) == (image.st_dev, image.st_ino):
            out[name] = os.makedev(int(major), int(minor))
    return out


def loops_being_released(device: str) -> list[str]:
    """The loop devices of the image file `device` that a mount set up (they detach themselves once
    closed) and that no mount uses now: an unmount left them bound as another process had them
    open (a mount of another image looking for its own), until it closes them. A mount of the image
    meanwhile uses one again as it is: read-only after a look's, or gone under it."""
    try:
        st = os.stat(device)
    except OSError:
        return []
    if not stat.S_ISREG(st.st_mode):
        return []
    used = {dev for _mid, dev, _root, _point in mount_points.table()}
    out = []
    for name, dev in _loops_of(st).items():
        try:
            with open(f"/sys/block/{name}/loop/autoclear") as f:
                autoclear = f.read().strip() == "1"
        except OSError:
            continue
        if autoclear and dev not in used:
            out.append(f"/dev/{name}")
    return sorted(out)


def mounted_elsewhere(device: str) -> Path | None:
    """A mount point showing the whole file system of `device` (devices_of) now, or None. One with
    another mount over it shows that one, not the medium: passed over."""
    devices = devices_of(device)
    for mid, dev, root, point in mount_points.table():
        if dev in devices and root == b"/" and mount_at(point) == mid:
            return Path(os.fsdecode(point))
    return None


# a look's mount: read-only, and its flags tell it from a read-only mount made by hand (is_a_looks)
LOOK_OPTIONS = "ro,nosuid,nodev,noexec"
_LOOK_FLAGS = os.ST_RDONLY | os.ST_NOSUID | os.ST_NODEV | os.ST_NOEXEC


def mount_at(path: str | Path) -> int | None:
    """The id of the mount `path` shows now (the topmost one there), or None."""
    try:
        fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        return mount_points.mount_id(fd)
    finally:
        os.close(fd)


def mounted_there_only(medium: Medium) -> bool:
    """Whether the medium's disk is mounted at its path alone (no mount elsewhere shares its file system)."""
    devices = devices_of(str(medium.device))
    here = os.fsencode(os.path.realpath(medium.path))
    return not any(dev in devices and point != here for _mid, dev, _root, point in mount_points.table())


def shows_its_disk(medium: Medium) -> bool:
    """Whether what is mounted at the medium's path now is a mount of its device's file system."""
    own = mount_at(medium.path)
    devices = devices_of(str(medium.device))
    return os.path.ismount(medium.path) and any(mid == own and dev in devices
                                                for mid, dev, _root, _point in mount_points.table())


def is_a_looks(medium: Medium) -> bool:
    """Whether what is mounted at the medium's path now may be a look's mount: its device's, with
    a look's flags (not a read-only mount of it made by hand, nor another file system)."""
    try:
        flags = os.statvfs(medium.path).f_flag
    except OSError:
        return False
    return flags & _LOOK_FLAGS == _LOOK_FLAGS and shows_its_disk(medium)
