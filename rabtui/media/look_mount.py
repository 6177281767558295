"""A look at a medium with a `device` that is not mounted at its path (as rabtui leaves it between
runs), for what it holds (media/unknown_backups.py): read where its file system is mounted already
(a second mount of one ext4 through another loop device can corrupt it), else mounted read-only at
its path for the look alone, and that mount, only it, unmounted after, whatever failed meanwhile.
The mount lock is held throughout: a backup that would mount the medium waits for the look's end."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from dataclasses import replace
from pathlib import Path
from typing import Iterator

from rabtui import fmt, proc
from rabtui.config import Medium
from rabtui.errors import Stalled
from rabtui.events import LOG, WARNING, Emit, Event
from rabtui.media import mount_argv, mount_notes, mounting
from rabtui.media.device_mounts import mount_at, mounted_elsewhere
from rabtui.state import locks


@contextmanager
def looked_at(medium: Medium, emit: Emit, state_dir: str | Path, wait: float,
              cancel: threading.Event | None = None) -> Iterator[Medium]:
    """The medium (its `device` plugged in) where it can be read for the duration: at its path when
    something is mounted there (left as it is), at the mount point its file system has elsewhere
    (the medium then has that path), else mounted read-only at its path and unmounted after. WorkFailed when it cannot be mounted,
    LockBusy when another process mounts or unmounts it for more than `wait` seconds. `cancel` ends
    that wait, and the look's mount, hung (Cancelled)."""
    with locks.mounting_lock(state_dir, medium.id).acquire_within(wait, cancel):
        if os.path.ismount(medium.path):      # mounted meanwhile: read there, left as it is
            yield medium
            return
        elsewhere = mounted_elsewhere(str(medium.device))
        if elsewhere is not None:
            emit(Event(LOG, f"medium {medium.id}: {medium.device} is mounted at {fmt.name(os.fsencode(elsewhere))}:"
                            " looked at there"))
            yield replace(medium, path=elsewhere)
            return
        looked = mounting.look_note(state_dir, medium.id)
        mounting.mount_noted(medium, mount_argv.mount_ro_argv(medium), emit, looked, cancel)
        own = mount_at(medium.path)
        try:
            yield medium
        finally:
            _unmount_own(medium, own, emit, looked)


def _unmount_own(medium: Medium, own: int | None, emit: Emit, looked: Path) -> None:
    """Unmount the look's mount (`own`) at the medium's path; another mount made over it meanwhile
    (by hand) is left as it is, said, and the look's own under it too (not rabtui's to unmount then:
    `looked`, mounting.look_note, removed). `looked` stays where the unmount fails."""
    now = mount_at(medium.path)
    if own is None or now != own:
        mount_notes.remove(looked)
        emit(Event(WARNING, f"medium {medium.id}: another mount was made at {medium.path} while it was looked at"
                            " (read-only, mounted for the look): it is left as it is, and the look's own mount"
                            f" under it too: unmount both (umount {medium.path}, twice) once it is not in use"))
        return
    try:
        done = proc.run(mount_argv.umount_argv(medium), silence=mounting.UMOUNT_SILENCE)
    except Stalled as exc:
        said = f"umount did not answer ({exc}); is the disk hung?"
    else:
        if done.ok:
            mount_notes.remove(looked)
            emit(Event(LOG, f"unmounted {medium.path}"))
            return
        said = done.stderr_said()
    emit(Event(WARNING, f"cannot unmount {medium.path} (mounted read-only to look at medium {medium.id}): {said}"))
