"""The directories that ran out of room on their medium, as the backups found on the media say:
due for a checkpoint again, as the backup that ran out of room made them (rebuild-state)."""

from __future__ import annotations

from pathlib import Path

from rabtui.rebuild import record as records
from rabtui.rebuild.report import Report
from rabtui.rsync_exit import NO_SPACE
from rabtui.state.store import Store


def note(report: Report, source_id: str, rec: records.Record, bpath: Path) -> None:
    """The directories the backup ran out of room on its medium with (its backup.json says so)."""
    for d in rec.directories:
        if d["state"] == "failed" and NO_SPACE in (d["message"] or ""):
            when = rec.finished or rec.started or bpath.stat().st_mtime
            key = (source_id, d["path"])
            report.did_not_fit[key] = max(when, report.did_not_fit.get(key, when))


def record(store: Store, report: Report) -> None:
    """A directory that did not fit on its medium after its last checkpoint is due for one, as the
    backup that ran out of room made it (a checkpoint since cleared that). backup.json gives the
    time to the second: one in the second a checkpoint was made is taken as after it (due again)."""
    with store.transaction() as conn:
        for (source, path), when in report.did_not_fit.items():
            conn.execute("INSERT INTO dir_state(source, path, did_not_fit) VALUES (?,?,?)"
                         " ON CONFLICT(source, path) DO UPDATE SET did_not_fit=excluded.did_not_fit"
                         " WHERE CAST(COALESCE(dir_state.last_checkpoint_time, 0) AS INTEGER) <= excluded.did_not_fit",
                         (source, path, when))
