"""A command that records in the state database holds the state lock, shared, while it runs: none
records anything while rebuild-state replaces the database (actions/rebuild.py holds the lock
whole), where it would be lost with the old one, kept aside. A command started meanwhile is
refused with "cannot run now: rebuild-state is running since ..., pid ..."; one running keeps
rebuild-state out until it ends."""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rabtui.errors import LockBusy
from rabtui.state.locks import Lock, state_lock
from rabtui.state.store import Store


def hold_state(state_dir: str | Path) -> Lock:
    """The state lock taken (shared); release() it when the command is done."""
    return state_lock(state_dir).acquire(shared=True)


@contextmanager
def recording(store: Store) -> Iterator[None]:
    """The state lock held for one change (the UI holds the database open for hours: it takes the
    lock for each change it makes); LockBusy while rebuild-state runs."""
    with hold_state(store.state_dir):
        yield


def unless_rebuilding(store: Store, change) -> None:
    """`change(store)` under the state lock; nothing while rebuild-state runs (a bookkeeping change
    that the next look makes again, such as marking dead jobs)."""
    try:
        with recording(store):
            change(store)
    except LockBusy:
        pass
