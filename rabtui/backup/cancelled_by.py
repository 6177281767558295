"""Who stopped a run that ended failed with its cancel set: its own job (`jobs cancel`, x on Runs:
the operator decided against this backup) or its whole run (SIGTERM of a shutdown, SIGHUP, Ctrl-C,
of run-due or of `rabtui backup`: nobody did). Said in its backup.json (`cancelled_by`), which
rebuild-state reads as run-due decides live: the scheduled time of a backup whose whole run was
stopped stays due (actions/run_due.py), that of one whose job was cancelled counts as done."""

from __future__ import annotations

import sqlite3
import threading

from rabtui.state import queries
from rabtui.state.store import Store

JOB, RUN = "job", "run"
CANCELLED = "cancelled: "     # how the reason of a cancelled run begins (completion.py)


def who(store: Store, job_id: int | None, cancel: threading.Event) -> str | None:
    """JOB or RUN for a run whose `cancel` is set (its job's own cancel request is in the database;
    one that cannot be read counts as the run's stop, as run-due counts it), else None."""
    if not cancel.is_set():
        return None
    try:
        row = queries.job(store, job_id) if job_id is not None else None
    except sqlite3.Error:
        return RUN
    return JOB if row and row["cancel_requested"] else RUN


def stopped_with_its_run(info: dict | None) -> bool:
    """Whether a backup.json (read as `info`) says its run failed as its whole run was stopped. One
    an earlier rabtui wrote says only that it was cancelled (its reason), not by whom: taken as its
    run's, so that its night stays due (a night backed up twice, not one without a backup)."""
    if not info or info.get("status") != "failed":
        return False
    by = info.get("cancelled_by")
    if by is None:
        return str(info.get("reason") or "").startswith(CANCELLED)
    return by == RUN
