"""Mounting a medium that has a `device` at its path for the duration of its use (mounts.py: what
the state remembers of where a medium was mounted)."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rabtui import proc
from rabtui.config import Medium
from rabtui.errors import WorkFailed
from rabtui.events import LOG, WARNING, Emit, Event, no_emit


def mount_argv(medium: Medium) -> list[str]:
    return ["mount", str(medium.device), str(medium.path)]


def umount_argv(medium: Medium) -> list[str]:
    return ["umount", str(medium.path)]


@contextmanager
def mounted(medium: Medium, emit: Emit = no_emit) -> Iterator[Medium]:
    """Mount the medium's device at its path for the duration (no-op without a device, or when
    something is already mounted there, which is then left mounted)."""
    if not medium.device or os.path.ismount(medium.path):
        yield medium
        return
    Path(medium.path).mkdir(parents=True, exist_ok=True)
    result = proc.run(mount_argv(medium), timeout=120)
    if not result.ok:
        raise WorkFailed(
            f"medium {medium.id}: cannot mount {medium.device} at {medium.path}: {result.stderr_text().strip()}"
        )
    emit(Event(LOG, f"mounted {medium.device} at {medium.path}"))
    try:
        yield medium
    finally:
        os.sync()
        done = proc.run(umount_argv(medium), timeout=300)
        if done.ok:
            emit(Event(LOG, f"unmounted {medium.path}"))
        else:
            emit(Event(WARNING, f"cannot unmount {medium.path}: {done.stderr_text().strip()}"))
