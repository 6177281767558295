"""An archive directory's union read for a checkpoint (its plan and its burn alike) as the complete
backups left it: under the source's union lock, so that no backup links its new files there
meanwhile (one linking now is waited for, as history.union_held waits), a killed cleanup's undoing
settled first; and a backup of the source onto that medium that has begun its step 7 and is under
way waited for (its catalog and final record: a moment), then refused: its files, linked there
before it ended, are no complete backup's (a plan counted them, a burn wrote them onto its discs).
A refusal fails the plan (or the burn's, before any disc is recorded), never a checkpoint under
way: its discs write the files its plan recorded. Refused too is one while a run marked abandoned
as its medium was away still has its links there (abandoned_left.linked_left)."""

from __future__ import annotations

import threading
import time
from contextlib import ExitStack, contextmanager
from typing import Iterator

from rabtui.backup import abandoned_left, history
from rabtui.config import Config
from rabtui.errors import Cancelled, WorkFailed
from rabtui.events import WARNING, Emit, Event
from rabtui.state import queries, saved_kinds
from rabtui.state.store import Store

_POLL = 0.2     # seconds between two looks at a backup under way


@contextmanager
def as_complete(cfg: Config, store: Store, source: str, medium_id: str, emit: Emit,
                cancel: threading.Event | None) -> Iterator[None]:
    """For the block: the source's union lock held, its undoings on the medium settled; a backup
    under way that has linked (or may have) into the unions there waited for, the lock released
    meanwhile, at most the source's io_timeout (said; `cancel` ends it): WorkFailed then, as when
    the lock is not had (its holder named); Cancelled when `cancel` ended a wait."""
    seconds = cfg.source(source).io_timeout
    deadline = None
    while True:
        with ExitStack() as stack:
            under_way = _held_settled(cfg, store, source, medium_id, emit, cancel, stack)
            if under_way is None:
                yield
                return
        if deadline is None:      # its catalog and final record: a moment, even of a million files
            deadline = time.monotonic() + seconds
            emit(Event(WARNING, f"{source}: waiting (at most {seconds:g} s) for the backup {under_way} under way on"
                                f" medium {medium_id} to end: it has linked its new files into the archive view a"
                                " checkpoint reads"))
        left = deadline - time.monotonic()
        if left <= 0:
            raise WorkFailed(f"{source}: the backup {under_way} under way on medium {medium_id} links its new files"
                             " into the archive view a checkpoint reads, and has not ended: they are no complete backup's yet"
                             f" (waited for {seconds:g} s)",
                             hint="run it again once that backup has ended")
        if cancel is not None and cancel.wait(min(_POLL, left)):
            raise Cancelled("cancelled while waiting for a backup under way to end")
        if cancel is None:
            time.sleep(min(_POLL, left))


def _held_settled(cfg: Config, store: Store, source: str, medium_id: str, emit: Emit,
                  cancel: threading.Event | None, stack: ExitStack) -> str | None:
    """The union lock taken into `stack`, the undoings settled; the name of a backup under way that
    has linked there (the caller releases the lock and waits for it), else None: readable."""
    medium = cfg.medium(medium_id)
    try:
        moved = stack.enter_context(history.union_held(cfg, source, emit, cancel,
                                                       by=f"a checkpoint reading {source}'s archive"))
    except WorkFailed:
        if cancel is not None and cancel.is_set():
            raise Cancelled("cancelled while waiting for the lock of the archive union") from None
        raise
    history.settle_held(cfg, source, medium.path, moved=moved, looked=saved_kinds.looks(store, source, medium_id))
    linking = queries.backups_linking(store, source, medium_id)
    under_way = [name for name, going in linking if going]
    if under_way:
        return under_way[0]
    for name, _ in linking:
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
    return None
