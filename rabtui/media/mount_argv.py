"""The argv lists of mount, umount and sync for a medium that has a `device` (mounting.py runs
them)."""

from __future__ import annotations

from pathlib import Path

from rabtui.config import Medium
from rabtui.media.device_mounts import LOOK_OPTIONS


def mount_argv(medium: Medium) -> list[str]:
    return ["mount", str(medium.device), str(medium.path)]


def mount_ro_argv(medium: Medium) -> list[str]:
    return ["mount", "-o", LOOK_OPTIONS, str(medium.device), str(medium.path)]


def bind_ro_argv(medium: Medium, elsewhere: str | Path) -> list[str]:
    """The mount of the medium's file system at `elsewhere` shown read-only at its path too (no second
    mount of the file system: through another loop device, that can corrupt it)."""
    return ["mount", "--bind", "-o", LOOK_OPTIONS, str(elsewhere), str(medium.path)]


def remount_rw_argv(medium: Medium, shared: bool) -> list[str]:
    """Its mount at the medium's path made read-write; `shared`: its file system mounted elsewhere too
    (by hand, read-only maybe), that mount alone (bind): the file system is never made writable."""
    return ["mount", "-o", "remount,bind,rw" if shared else "remount,rw", str(medium.path)]


def umount_argv(medium: Medium) -> list[str]:
    return ["umount", str(medium.path)]


def sync_argv(medium: Medium) -> list[str]:
    """Write what is cached for the medium's file system only (syncfs), before it is unmounted."""
    return ["sync", "-f", str(medium.path)]
