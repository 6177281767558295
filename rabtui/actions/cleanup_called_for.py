"""Whether a run-due's cleanup runs: a timer starts run-due every 15 minutes, and its cleanup's
plan mounts and reads every medium that has a `device` (a USB disk spun up four times an hour).
It runs when the night's work calls for it: backups were due, a backup began or ended since the
cleanup before (one made by hand: what it supersedes goes), or that one is a day old (what ages out
of retention goes within the day, as a failed run's data once a day old). One whose deletion failed
(a medium read-only, say) calls for the next within the hour (AGAIN), said: not a day later once
the medium is mended, nor four times an hour while it is not. One that kept what it planned (its
medium away, offsite for weeks) is made: that medium's deletions go after its next backup."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta

from rabtui.state import queries
from rabtui.state.store import Store

EVERY = timedelta(days=1)
AGAIN = timedelta(hours=1)    # after a cleanup whose deletion failed
_LAST = "run_due_cleanup"     # meta: "<when, a timestamp> <queries.backups_ended then>"


def called_for(store: Store, backups_due: bool, clock: datetime) -> bool:
    """Whether the cleanup runs now (what cannot be read: it does, and says why if it fails)."""
    if backups_due:
        return True
    try:
        last = (store.meta(_LAST) or "").split(" ")
        when, ended = float(last[0]), last[1]
        now_ended = queries.backups_ended(store)
    except (sqlite3.Error, ValueError, IndexError):
        return True
    # a clock set back since (the cleanup noted ahead of it) runs it too, rather than never
    return ended != now_ended or not clock.timestamp() - EVERY.total_seconds() < when <= clock.timestamp()


def note(store: Store, clock: datetime, ended: str, failed: bool = False) -> None:
    """A whole cleanup made (its plan applied, or nothing due) at `clock`, `ended` read as it began
    (queries.backups_ended): the next is called for in a day (`failed`, a deletion of it: within
    AGAIN), or once a backup begins or ends."""
    noted = clock - EVERY + AGAIN if failed else clock
    try:
        store.set_meta(_LAST, f"{noted.timestamp()} {ended}")
    except sqlite3.Error:      # not noted: the next run-due cleans up again
        pass
