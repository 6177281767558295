"""Where a backup is being written, and whether it is still there: the medium's root as step 2
checked it and the backup's directory as step 3 made it (device and inode each), with the
labelling of the disk. A medium unmounted or unplugged since then, or swapped for another disk or
for a copy of itself (on its own file system or another), is not where the backup was written:
nothing more goes there, and nothing of the backup is recorded (a catalog and a `completed`
backup.json naming what the disk there does not hold, or holds only a copy of).

rsync and the records reach the medium by its path, so the place is checked again before each
directory's transfer (step 5) and before step 7 writes or records anything. The run's backup.log,
open in the backup's directory from step 3 to the end, keeps that directory's inode in memory, and
so its number where a file system numbers a directory afresh each time it reads it in (vfat, exfat).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import NamedTuple

from rabtui.config import Medium
from rabtui.errors import WorkFailed
from rabtui.media.medium import read_label
from rabtui.media.mounts import same_labelling, tells_apart


def identity(path: str | os.PathLike) -> tuple[int, int]:
    """(device, inode) of what `path` names now; OSError when nothing."""
    st = os.stat(path)
    return st.st_dev, st.st_ino


def as_found(medium: Medium) -> tuple[tuple[int, int], dict | None]:
    """The root's (device, inode) and the label of the disk at the medium's path now, for
    disk_changed to tell later whether it is still there (a cleanup deleting its backups)."""
    return identity(medium.path), read_label(medium.path)


def disk_changed(medium: Medium, root: tuple[int, int], label: dict) -> str | None:
    """Why the medium's path does not hold the disk whose root was `root` and whose label was
    `label` (as check_medium or as_found found them), or None: it still does."""
    try:
        now = identity(medium.path)
        found = read_label(medium.path)
    except (OSError, WorkFailed):
        found = None
    if not isinstance(found, dict) or found.get("id") != medium.id:
        return f"{medium.path} is not that medium now (unmounted or unplugged?)"
    if tells_apart(label) and not same_labelling(found, label):
        return f"{medium.path} holds another disk labelled {medium.id!r} now (swapped?)"
    if now != root:
        return (f"{medium.path} is not the directory it was when the medium was checked (device {root[0]},"
                f" inode {root[1]} then; device {now[0]}, inode {now[1]} now): a copy of the medium is in its"
                " place (swapped?)")
    return None


def left_since_checked(medium: Medium, info: dict, made: Path) -> str | None:
    """Why the directory `made` a moment ago at the medium's path is not on the medium `info`
    (check_medium's) says, or None: the medium was unmounted, unplugged or swapped since it was
    checked. What is made then is in the place the medium left (the root file system, often), and
    is removed again as far as it is empty (never the medium's own path: a mount point)."""
    changed = disk_changed(medium, (info["device"], info["inode"]), info["label"])
    if changed is None:
        return None
    for stray in (made / "data", made, made.parent):
        try:
            stray.rmdir()
        except OSError:
            break
    return f"medium {medium.id} went away before the backup began: {changed}"


class BackupPlace(NamedTuple):
    """A backup's directory `backup` (device and inode `made`) on `medium`, whose root was `root`
    and whose label was `label` when step 2 checked it."""
    medium: Medium
    root: tuple[int, int]
    label: dict
    backup: Path
    made: tuple[int, int]

    @classmethod
    def taken(cls, medium: Medium, info: dict, backup: Path) -> BackupPlace:
        """The place of the backup directory `backup` just made on the medium `info` (check_medium's) describes."""
        return cls(medium, (info["device"], info["inode"]), info["label"], backup, identity(backup))

    def gone(self) -> str | None:
        """Why the backup is no longer where step 3 made it, or None: it is."""
        data = self.backup / "data"
        said = f"medium {self.medium.id} went away during the backup"
        if not data.is_dir():     # unmounted or unplugged: the directory it was mounted on is there
            return f"{said}: {data} is gone (unmounted or unplugged?)"
        changed = disk_changed(self.medium, self.root, self.label)
        if changed:
            return f"{said}: {changed}; nothing of the backup is recorded"
        try:
            now = identity(self.backup)
        except OSError as exc:
            return f"{said}: {self.backup}: {exc.strerror}"
        if now != self.made:
            return (f"{said}: {self.backup} is not the directory the backup began in (moved away, and"
                    " a copy or another directory put in its place); nothing of the backup is recorded")
        return None
