"""The locks of a restore whose files cannot be made for want of room or inodes in the state
directory (it is what an operator does in an emergency, which the state database only records):
the source's reading lock replaced by an flock on the source's directory on the medium read
(source_dir_lock.py), which every cleanup tries before it deletes there; the others by the
state directory's own flock taken whole (dir_lock.py): the restore then runs alone, no other
restore nor backup meanwhile."""

from __future__ import annotations

import contextlib
import os
import threading
from contextlib import contextmanager
from typing import Iterator

from rabtui.config import Medium
from rabtui.errors import WorkFailed
from rabtui.events import LOG, WARNING, Emit, Event
from rabtui.media import source_dir_lock
from rabtui.state import locks
from rabtui.state.dir_lock import StateDirLock


def unmade(exc: locks.LockFileUnmade, lacks: str) -> str:
    return (f"the lock file {exc.where} cannot be made ({exc.strerror}; the state directory is full):"
            f" restored without that lock, so {lacks}")


def held(stack: contextlib.ExitStack, lock, alone: StateDirLock, emit: Emit) -> None:
    """`lock` held for the restore; one whose file cannot be made: the restore runs alone (`alone`
    taken whole, said), or is refused (LockBusy) while backups or restores run."""
    try:
        stack.enter_context(lock)
    except locks.LockFileUnmade as exc:
        alone_for(alone, exc, emit)


def alone_for(alone: StateDirLock, exc: locks.LockFileUnmade, emit: Emit) -> None:
    """The restore run alone for want of the lock file `exc` names (said once)."""
    if alone.whole:
        return
    alone.alone()
    emit(Event(LOG, f"the lock file {exc.where} cannot be made ({exc.strerror}; the state directory is full):"
                    " this restore runs alone, no backup nor other restore meanwhile"))


@contextmanager
def mounted(medium: Medium, emit: Emit, state_dir, alone: StateDirLock | None,
            cancel: threading.Event | None = None) -> Iterator[Medium]:
    """The medium mounted for the restore (mounting.mounted). Its lock files unmade: mounted, then
    unmounted, by this restore alone, its users not counted (one still using it at the end keeps
    it mounted, warned of: "target is busy"; so does a checkpoint running, which may read it
    uncounted), the restore run `alone` (None: a look only). Mounted
    read-only: a restore only reads it."""
    from rabtui.media import mounting

    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(mounting.mounted(medium, emit, state_dir, read_only=True, cancel=cancel))
        except locks.LockFileUnmade as exc:
            if alone is not None:
                alone_for(alone, exc, emit)
            stack.enter_context(mounting.mounted(medium, emit, read_only=True, cancel=cancel, alone_in=state_dir))
        yield medium


class Reading:
    """The source's reading lock (locks.reading_lock), or, its file unmade, the flock of the
    source's directory on the medium the restore reads (`on_medium`)."""

    def __init__(self, state_dir, source_id: str, unheld: list[str], emit: Emit, alone: StateDirLock):
        self.source_id, self.unheld, self.emit, self.alone = source_id, unheld, emit, alone
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
        source's directory there held shared into `stack`, the reading lock tried again (a cleanup
        begun since refuses the restore, LockBusy), and the backup found there still (one deleted
        just before is refused); where that directory cannot be held, said as the lock gone without."""
        if self.without is None:
            return
        if not stack.enter_context(source_dir_lock.reading(medium.path, self.source_id)):
            self.unheld.append(unmade(self.without, f"a cleanup run once there is room could delete"
                                                    f" {self.source_id}'s backup while it is read"))
            self.emit(Event(WARNING, self.unheld[-1]))
            return
        # a cleanup makes the reading lock's file before it looks at the directory: one begun since
        # the lock was tried holds it now (refused: LockBusy), or will see this one's
        try:
            stack.enter_context(locks.reading(self.state_dir, [self.source_id]))
        except locks.LockFileUnmade:
            pass
        if not os.path.isdir(path):
            raise WorkFailed(f"the backup of {self.source_id} chosen on medium {medium.id} was deleted by a cleanup"
                             " as the restore began; nothing restored", hint="restore again")
