"""An archive directory's union read for a checkpoint (its plan and its burn alike) as the complete
backups left it: under the source's union lock, so that no backup links its new files there
meanwhile (one linking now is waited for, as history.union_held waits), a killed cleanup's undoing
settled first; and refused while a backup of the source onto that medium that has begun its step 7
is under way: its files, linked there before it ended, are no complete backup's (a plan counted
them, a burn wrote them onto its discs); so is one while a run marked abandoned as its medium was
away still has its links there (abandoned_left.linked_left)."""

from __future__ import annotations

import threading
from contextlib import ExitStack, contextmanager
from typing import Iterator

from rabtui.backup import abandoned_left, history
from rabtui.config import Config
from rabtui.errors import Cancelled, WorkFailed
from rabtui.events import WARNING, Emit, Event
from rabtui.state import queries, saved_kinds
from rabtui.state.store import Store


@contextmanager
def as_complete(cfg: Config, store: Store, source: str, medium_id: str, emit: Emit,
                cancel: threading.Event | None) -> Iterator[None]:
    """For the block: the source's union lock held, its undoings on the medium settled; WorkFailed
    when a backup under way has linked (or may have) into the unions there, or when the lock is not
    had (its holder named); Cancelled when `cancel` ended the wait."""
    medium = cfg.medium(medium_id)
    with ExitStack() as stack:
        try:
            moved = stack.enter_context(history.union_held(cfg, source, emit, cancel,
                                                           by=f"a checkpoint reading {source}'s archive"))
        except WorkFailed:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled while waiting for the lock of the archive union") from None
            raise
        history.settle_held(cfg, source, medium.path, moved=moved, looked=saved_kinds.looks(store, source, medium_id))
        linking = queries.backups_linking(store, source, medium_id)
        for name, under_way in linking:
            if under_way:
                raise WorkFailed(f"{source}: the backup {name} under way on medium {medium_id} links its new files"
                                 " into the archive view a checkpoint reads, and has not ended: they are no complete"
                                 " backup's yet", hint="run it again once that backup has ended")
            emit(Event(WARNING, f"{source}: the backup {name} on medium {medium_id} was killed once it had begun"
                                " linking its new files into the archive view read here, and is not recovered yet:"
                                " they are read as saved; to judge them first, run `rabtui cleanup` (it recovers"
                                " that run) and plan again"))
        left = abandoned_left.linked_left(store, medium, source)
        if left:
            raise WorkFailed(f"{source}: the backup {left[0]} on medium {medium_id} was interrupted and marked abandoned"
                             " while its medium was away: the new files it linked into the archive view a checkpoint"
                             " reads are still there, and no complete backup holds them",
                             hint=f"a backup of {source} onto medium {medium_id} undoes them first (rabtui backup"
                                  f" {source} --medium {medium_id}); then run this again")
        yield
