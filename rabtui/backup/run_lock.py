"""The lock a backup of a source holds: the source's lock file (against other processes), plus a
guard against a second thread of this process (the backups of one run are threads of it); and the
state directory's own flock, shared (dir_lock.py: a restore without room for its lock files runs
alone)."""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager

from rabtui import faults
from rabtui.config import Config
from rabtui.errors import LockBusy
from rabtui.state import locks
from rabtui.state.dir_lock import StateDirLock

_RUNNING: set[tuple[str, str]] = set()      # (state_dir, source) backed up by this process now
_RUNNING_LOCK = threading.Lock()


@contextmanager
def source_lock(cfg: Config, source_id: str, by: str | None = None):
    """The source's lock file (other processes), plus a guard against a second thread of this
    process; a caller that took the lock file itself (run-due, the CLI) is let through. `by`: what
    holds it, when not a backup (as a backup refused meanwhile says it)."""
    key = (str(cfg.state_dir), source_id)
    lock = locks.source_lock(cfg.state_dir, source_id, by=by)
    with _RUNNING_LOCK:
        if key in _RUNNING:
            raise LockBusy(f"a backup of {source_id} is already running in this process (pid {os.getpid()})")
        _RUNNING.add(key)
    try:
        with StateDirLock(cfg.state_dir, by or f"a backup of {source_id}"):
            try:
                lock.acquire()
            except LockBusy:
                holder = lock.holder() or {}
                if holder.get("pid") != os.getpid():
                    raise
                with faults.working_for(source_id):
                    yield  # our caller holds it already
                return
            try:
                with faults.working_for(source_id):
                    yield
            finally:
                lock.release()
    finally:
        with _RUNNING_LOCK:
            _RUNNING.discard(key)
