"""The state directory itself flocked, a lock that needs no file: held shared by each backup and
restore for as long as it runs, and by every other command that changes the state database or the
media (rebuild-state, cleanup, checkpoint plan, burn, resume, verify and abandon, media label);
whole by a restore that cannot make one of its lock files (no room or no inode left there). That restore then
runs alone: refused while any of them runs, and keeping them out (each refused, naming it) until it
ends: without its lock files, this flock is all that keeps a rebuild-state from replacing the
database it records in, a cleanup or a checkpoint from mounting or unmounting the medium it reads.
Commands that only read (find, diff, status, check) take no part: they change nothing a restore
relies on. The kernel drops the lock when its process dies."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path

from rabtui.errors import LockBusy, WorkFailed
from rabtui.state import lock_table

ALONE = "a restore that could not make its lock files (the state directory full) is running alone"


class RunsAlone(LockBusy):
    """Refused while a restore runs alone: nothing of the refused one's own is under way (a night's
    backup so refused failed, it is not one "begun meanwhile")."""


class StateDirLock:
    def __init__(self, state_dir: str | Path, what: str):
        """`what` takes it, as a refusal says it ("a backup of web1")."""
        self.path, self.what = Path(state_dir), what
        self._fd: int | None = None
        self.whole = False

    def __enter__(self) -> "StateDirLock":
        try:
            fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except OSError:     # not made yet (nobody can run alone there), or not ours: its lock files say why
            return self
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise RunsAlone(f"{self.what} cannot run now: {ALONE}{self._pids()}",
                           hint="run it again once that restore has ended") from None
        except OSError:     # a file system that locks no directory: no restore runs alone there
            os.close(fd)
            return self
        self._fd = fd
        return self

    def alone(self) -> None:
        """Held whole from now on (it is held shared); LockBusy naming the backups and restores
        that run, if any (then it is not held at all)."""
        try:
            if self._fd is None:
                self._fd = os.open(self.path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            if self._fd is not None:
                os.close(self._fd)
            self._fd = None
            if not isinstance(exc, BlockingIOError):
                raise WorkFailed(f"{self.what} cannot run: without room for its lock files it runs only alone, and"
                                 f" the state directory cannot be locked ({exc.strerror}); nothing run",
                                 hint="free space in the state directory, then run again") from None
            raise LockBusy(f"{self.what} cannot run now: without room for its lock files in the state directory"
                           f" it runs only alone, and backups, restores or other commands that change the state or the"
                           f" media are running{self._pids()}",
                           hint="free space in the state directory, or run it again once they have ended") from None
        self.whole = True

    def _pids(self) -> str:
        pids = sorted(lock_table.holders(self.path) or ())
        return f" ({', '.join(f'pid {p}' for p in pids)})" if pids else ""

    def __exit__(self, *exc) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
