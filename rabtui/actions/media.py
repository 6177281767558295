"""The media verbs: label a medium (one rule for the command line and the UI), and why the state
knows a medium or takes the disk at its path for another (check-config's notes)."""

from __future__ import annotations

import threading

from rabtui.actions.recording import recording
from rabtui.config import Medium
from rabtui.errors import RabtuiError
from rabtui.media import medium as mediamod
from rabtui.media import mounts
from rabtui.state import locks
from rabtui.state.dir_lock import StateDirLock
from rabtui.state.store import Store


def label(store: Store, medium: Medium, *, force: bool = False, cancel: threading.Event | None = None
          ) -> mediamod.Labelled:
    """Write the medium's label file; says what was done, and what could not be (a warning). A
    medium that holds files but no label, or one rabtui has used whose label is gone, is refused
    unless `force`; so is one that a backup or another `media label` works on now (LockBusy,
    naming it), or by a restore running alone (dir_lock.py: it may read the medium). `cancel` stops
    the medium's mount, hung, and a wait for another's (Cancelled)."""
    what = f"the labelling of medium {medium.id}"
    with StateDirLock(store.state_dir, what), recording(store), locks.medium_lock(store.state_dir, medium.id, what):
        return mediamod.label_medium(store, medium, force=force, cancel=cancel)


def known_because(store: Store, medium_id: str) -> str | None:
    """Why the state knows this medium (it has been used), or None."""
    return mounts.known_because(store, medium_id)


def other_disk(store: Store, medium: Medium) -> str | None:
    """Why the disk at the medium's path, labelled with its id, is not the one the state used as
    this medium (another server's, or the one it had before it was labelled again), or None."""
    try:
        label = mediamod.read_label(medium.path)
    except RabtuiError:
        return None
    return mounts.other_labelling(store, medium, label)
