"""Which file system holds a path, and whether the disk once mounted where it was is away: its
mount point is there but nothing is mounted on it (unmounted: it comes back), or the mount point is
removed (the operator's way to say that disk is gone for good)."""

from __future__ import annotations

import os


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
