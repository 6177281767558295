"""The notes in the state directory saying that rabtui mounted a medium's disk at its path and has
not unmounted it since: `.mounted` for its users (mounting.py), `.looked` for a look's read-only
mount (look_mount.py). A note holds the id of this boot and of the mount: one left by a run that
died before a reboot, or whose mount was unmounted and another made there since (by hand), proves
nothing, and the mount there is never rabtui's to unmount."""

from __future__ import annotations

import ctypes
import os
import stat
import sys
from pathlib import Path

from rabtui import privacy
from rabtui.config import Medium
from rabtui.media.device_mounts import mount_at, shows_its_disk

BOOT_ID = "/proc/sys/kernel/random/boot_id"
_STATX_MNT_ID_UNIQUE = 0x4000      # Linux 6.8: an id never given to another mount before a reboot
_AT_FDCWD = -100
_AT_SYMLINK_NOFOLLOW = 0x100
_libc = ctypes.CDLL(None, use_errno=True)


def unique_mount_id(path: str | os.PathLike) -> int | None:
    """The id, never reused before a reboot, of the mount `path` shows (statx); None where the kernel
    gives none (before Linux 6.8: the mount id alone, which is reused at once, then tells it)."""
    statx = getattr(_libc, "statx", None)
    if statx is None:
        return None
    buf = ctypes.create_string_buffer(256)
    if statx(_AT_FDCWD, os.fsencode(path), _AT_SYMLINK_NOFOLLOW, _STATX_MNT_ID_UNIQUE, buf) != 0:
        return None
    if not int.from_bytes(buf.raw[0:4], sys.byteorder) & _STATX_MNT_ID_UNIQUE:
        return None
    return int.from_bytes(buf.raw[0x90:0x98], sys.byteorder)     # struct statx's stx_mnt_id


def _boot() -> str:
    try:
        with open(BOOT_ID) as f:
            return f.read().strip() or "-"
    except OSError:
        return "-"


def write(note: Path, mounted: Medium | None = None) -> str | None:
    """Write `note`: of this boot, and of the mount at `mounted`'s path now (None: before mount runs,
    killed meanwhile, the mount then made there of its disk is proved rabtui's). One that cannot be
    written (a full state directory) proves nothing: the medium stays mounted after use, as one
    mounted by hand: why, returned (None: written)."""
    ids = "- -"
    if mounted is not None:
        ids = f"{mount_at(mounted.path) or '-'} {unique_mount_id(mounted.path) or '-'}"
    try:
        fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, privacy.FILE_MODE)
    except OSError as exc:
        return exc.strerror
    try:
        os.write(fd, f"{_boot()} {ids}\n".encode())
    except OSError as exc:
        return exc.strerror
    finally:
        os.close(fd)
    return None


def written(note: Path) -> bool:
    """Whether `note` is there, a note (a file: not something planted in its place)."""
    try:
        return stat.S_ISREG(os.lstat(note).st_mode)
    except OSError:
        return False


def remove(note: Path) -> None:
    try:
        os.unlink(note)
    except OSError:     # none, or something planted there (a directory): proves nothing either way
        pass


def proves(note: Path, medium: Medium) -> bool:
    """Whether `note` says rabtui made the mount at the medium's path now: written in this boot, for
    that very mount (written before mount ran: a mount of the medium's disk is)."""
    try:
        fd = os.open(note, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC | os.O_NONBLOCK)
    except OSError:
        return False
    try:
        fields = os.read(fd, 200).decode(errors="replace").split()
    except OSError:
        return False
    finally:
        os.close(fd)
    if len(fields) != 3 or fields[0] == "-" or fields[0] != _boot() or not os.path.ismount(medium.path):
        return False
    _boot_id, mid, unique = fields
    now = unique_mount_id(medium.path)
    if unique != "-" and now is not None:
        return unique == str(now)
    if mid != "-" and mid != str(mount_at(medium.path)):
        return False
    return shows_its_disk(medium)
