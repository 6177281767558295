"""The locks of a restore whose files cannot be made for want of room or inodes in the state
directory: gone without, as the restore's record is (it is what an operator does in an
emergency), each said with what it then does not keep out (exit 3); the source's reading lock
replaced by an flock on the source's directory on the medium read (source_dir_lock.py), which
every cleanup takes whole before it deletes there."""

from __future__ import annotations

import contextlib
import os

from rabtui.config import Medium
from rabtui.errors import WorkFailed
from rabtui.events import WARNING, Emit, Event
from rabtui.media import source_dir_lock
from rabtui.state import locks


def unmade(exc: locks.LockFileUnmade, lacks: str) -> str:
    return (f"the lock file {exc.where} cannot be made ({exc.strerror}; the state directory is full):"
            f" restored without that lock, so {lacks}")


def held(stack: contextlib.ExitStack, lock, unheld: list[str], emit: Emit, lacks: str) -> None:
    """`lock` held for the restore; one whose file cannot be made is gone without: `unheld` says
    what it then lacks."""
    try:
        stack.enter_context(lock)
    except locks.LockFileUnmade as exc:
        unheld.append(unmade(exc, lacks))
        emit(Event(WARNING, unheld[-1]))


class Reading:
    """The source's reading lock (locks.reading_lock), or, its file unmade, the flock of the
    source's directory on the medium the restore reads (`on_medium`)."""

    def __init__(self, state_dir, source_id: str, unheld: list[str], emit: Emit):
        self.source_id, self.unheld, self.emit = source_id, unheld, emit
        self.state_dir, self.without = state_dir, None

    def __enter__(self) -> "Reading":
        self._stack = contextlib.ExitStack()
        try:
            self._stack.enter_context(locks.reading(self.state_dir, [self.source_id]))
        except locks.LockFileUnmade as exc:
            self.without = exc
        return self

    def __exit__(self, *exc) -> None:
        self._stack.close()

    def on_medium(self, stack: contextlib.ExitStack, medium: Medium, path: str) -> None:
        """Before the backup at `path` on the (mounted) medium is read: without the reading lock, its
        source's directory there held shared into `stack` (a cleanup deleting there now refuses the
        restore, LockBusy), and the backup found there still (one deleted just before is refused);
        where that directory cannot be held, said as the lock gone without."""
        if self.without is None:
            return
        if not stack.enter_context(source_dir_lock.reading(medium.path, self.source_id, medium.id)):
            self.unheld.append(unmade(self.without, f"a cleanup run once there is room could delete"
                                                    f" {self.source_id}'s backup while it is read"))
            self.emit(Event(WARNING, self.unheld[-1]))
        elif not os.path.isdir(path):
            raise WorkFailed(f"the backup of {self.source_id} chosen on medium {medium.id} was deleted by a cleanup"
                             " as the restore began; nothing restored", hint="restore again")
