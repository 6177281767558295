"""Writers of one file or folder taking turns: an exclusive flock, waited for within a bound (a
writer stopped or hung while holding it is not waited for all night)."""

from __future__ import annotations

import fcntl
import threading
import time

POLL = 0.05     # seconds between tries


def take(fd: int, seconds: float, cancel: threading.Event | None = None) -> bool:
    """An exclusive flock on `fd`: True once held; False when another held it for `seconds`, or
    `cancel` was set meanwhile (the caller tells which)."""
    cancel = cancel or threading.Event()
    deadline = time.monotonic() + seconds
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
        if cancel.wait(POLL):
            return False
