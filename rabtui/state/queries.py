"""Read-only queries of the state database for the status reader, the screens and the commands.

Plain rows as dicts (or None): no rules here, only what the database says. The fronts (cli, tui)
hold no SQL of their own; what they read goes through here or through `rabtui.actions`.
"""

from __future__ import annotations

import json

from rabtui.state.store import COMPLETE_SQL, RESTORABLE_SQL, Store


def _dict(row) -> dict | None:
    return dict(row) if row is not None else None


# --- backups -------------------------------------------------------------------------------------


# The last backups of a source are those made last (the highest id: store.as_made), whatever their
# dates: a backup dated ahead by a clock that was wrong is not the last for years, nor one dated
# behind (an RTC reset) older than the backups made before it.


def last_backup(store: Store, source: str, *, complete: bool = False, restorable: bool = False,
                medium: str | None = None) -> dict | None:
    """The source's backup made last that cleanup has not deleted (with `complete`: the complete
    one made last, warnings included; with `restorable`: the one made last that holds its data,
    kept data too; with `medium`: on that medium)."""
    only = (f" AND status IN {RESTORABLE_SQL}" if restorable else f" AND status IN {COMPLETE_SQL}" if complete
            else " AND status <> 'deleted'")
    if medium is not None:
        only += " AND medium=?"
    return _dict(store.one(f"SELECT * FROM backups WHERE source=?{only} ORDER BY id DESC LIMIT 1",
                           (source,) if medium is None else (source, medium)))


def last_finished_backup(store: Store, source: str) -> dict | None:
    """The backup of the source made last that is neither running nor deleted."""
    return _dict(store.one("SELECT * FROM backups WHERE source=? AND status NOT IN ('deleted', 'running')"
                           " ORDER BY id DESC LIMIT 1", (source,)))


def last_run(store: Store, source: str) -> dict | None:
    """The backup run of the source made last that is not running. Cleanup removes a failed run after
    a day, and a complete backup that is its source's newest is never deleted: a deleted newest run
    did not complete, and is given as failed, with what cleanup did."""
    row = _dict(store.one("SELECT * FROM backups WHERE source=? AND status <> 'running' ORDER BY id DESC LIMIT 1",
                          (source,)))
    if row is not None and row["status"] == "deleted":
        row.update(status="failed", reason="; ".join(filter(None, (row["reason"], "cleanup has removed what it left"))))
    return row


def medium_backups(store: Store, medium_id: str) -> list[dict]:
    """The medium's backups, the one made last first."""
    return [dict(r) for r in store.all(
        "SELECT id, source, name, status, started, total_bytes, new_bytes, files, new_files, job_id, medium"
        " FROM backups WHERE medium=? AND status != 'deleted' ORDER BY id DESC", (medium_id,))]


def newest_start_on(store: Store, medium_id: str) -> float | None:
    """When the medium's backup begun last began, by the clock of then (one ahead, since set back, too)."""
    return store.one("SELECT MAX(started) AS t FROM backups WHERE medium=?", (medium_id,))["t"]


def newest_end_on(store: Store, medium_id: str) -> float | None:
    """When the medium's backup that ended last ended (one under way, or killed, has not)."""
    return store.one("SELECT MAX(finished) AS t FROM backups WHERE medium=?", (medium_id,))["t"]


def medium_backup_count(store: Store, medium_id: str) -> int:
    return store.one("SELECT COUNT(*) AS n FROM backups WHERE medium=? AND status != 'deleted'", (medium_id,))["n"]


def source_backups(store: Store, source_id: str) -> list[dict]:
    """The source's backups, the one made last first."""
    return [dict(r) for r in store.all(
        "SELECT id, medium, name, path, status, started, total_bytes, new_bytes, files, job_id FROM backups"
        " WHERE source=? AND status != 'deleted' ORDER BY id DESC", (source_id,))]


def source_backup_count(store: Store, source_id: str) -> int:
    return store.one("SELECT COUNT(*) AS n FROM backups WHERE source=? AND status != 'deleted'", (source_id,))["n"]


def previous_backup(store: Store, backup: dict) -> dict | None:
    """The complete backup of the same source on the same medium made before `backup`."""
    return _dict(store.one(
        f"SELECT * FROM backups WHERE source=(SELECT source FROM backups WHERE id=?) AND medium=?"
        f" AND status IN {COMPLETE_SQL} AND id < ? ORDER BY id DESC LIMIT 1",
        (backup["id"], backup["medium"], backup["id"])))


def backup_named(store: Store, source: str, medium: str, name: str) -> dict | None:
    return _dict(store.one("SELECT * FROM backups WHERE source=? AND medium=? AND name=?", (source, medium, name)))


def backup_ids(store: Store) -> tuple[dict[tuple[str, str, str], int], set[tuple[str, str]]]:
    """(source, medium, name) -> id of every backup not deleted, and the (source, name) that two
    media give (a clock set back: such a name alone does not tell the backup)."""
    named = store.all("SELECT id, source, medium, name FROM backups WHERE status<>'deleted'")
    seen: set[tuple[str, str]] = set()
    twice = {k for k in ((r["source"], r["name"]) for r in named) if k in seen or seen.add(k)}
    return {(r["source"], r["medium"], r["name"]): r["id"] for r in named}, twice


# --- media and directories -----------------------------------------------------------------------


def medium_row(store: Store, medium_id: str) -> dict | None:
    return _dict(store.one("SELECT * FROM media WHERE id=?", (medium_id,)))


def media_last_used(store: Store) -> dict[str, float]:
    return {r["id"]: r["last_used"] or 0 for r in store.all("SELECT id, last_used FROM media")}


def dir_state(store: Store, source: str, path: str) -> dict | None:
    return _dict(store.one("SELECT * FROM dir_state WHERE source=? AND path=?", (source, path)))


# --- jobs ----------------------------------------------------------------------------------------


def job(store: Store, job_id: int) -> dict | None:
    return _dict(store.one("SELECT * FROM jobs WHERE id=?", (job_id,)))


def jobs(store: Store, limit: int = -1) -> list[dict]:
    """The newest jobs first (`limit` -1: all)."""
    return [dict(r) for r in store.all("SELECT * FROM jobs ORDER BY id DESC LIMIT ?", (limit,))]


def failed_jobs_since(store: Store, since: float, statuses: tuple[str, ...]) -> list[dict]:
    marks = ",".join("?" * len(statuses))
    return [dict(r) for r in store.all(
        "SELECT id, kind, target, title, status, finished, summary FROM jobs"
        f" WHERE status IN ({marks}) AND finished >= ? ORDER BY id", (*statuses, since))]


def job_backup(store: Store, job_id: int) -> dict | None:
    """The backup row a job made, if any."""
    return _dict(store.one("SELECT * FROM backups WHERE job_id=? ORDER BY id DESC LIMIT 1", (job_id,)))


def backup_steps(store: Store, backup_id: int) -> list[dict]:
    return [dict(r) for r in store.all("SELECT step, name, state FROM backup_steps WHERE backup_id=? ORDER BY step",
                                       (backup_id,))]


def job_event_data(store: Store, job_id: int, kind: str) -> list[dict]:
    """The data of a job's events of one kind, oldest first."""
    return [json.loads(r["data"] or "{}") for r in store.all(
        "SELECT data FROM events WHERE job_id=? AND kind=? ORDER BY id", (job_id, kind))]


def log_events(store: Store, job_id: int, lines: int) -> list[dict]:
    """A job's newest `lines` log-like events, oldest first."""
    rows = store.all("SELECT * FROM events WHERE job_id=? AND kind IN ('log','warning','error','result','step','disc')"
                     " ORDER BY id DESC LIMIT ?", (job_id, lines))
    return [dict(r) for r in reversed(rows)]


def last_event_id(store: Store, job_id: int) -> int:
    row = store.one("SELECT MAX(id) AS m FROM events WHERE job_id=?", (job_id,))
    return (row["m"] or 0) if row else 0


# --- checkpoints ---------------------------------------------------------------------------------


def checkpoints(store: Store, limit: int = 1) -> list[dict]:
    """The newest checkpoints' rows, newest first."""
    return [dict(r) for r in store.all("SELECT * FROM checkpoints ORDER BY number DESC LIMIT ?", (limit,))]


def checkpoint_drive(store: Store, number: int | None = None) -> str | None:
    """The drive checkpoint `number` (default: the newest) was written to."""
    row = store.one("SELECT drive FROM checkpoints WHERE number=?", (number,)) if number else \
        store.one("SELECT drive FROM checkpoints ORDER BY number DESC LIMIT 1")
    return row["drive"] if row else None


def has_checkpoint(store: Store, number: int) -> bool:
    return store.one("SELECT 1 FROM checkpoints WHERE number=?", (number,)) is not None


def newest_checkpoint(store: Store) -> int | None:
    row = store.one("SELECT MAX(number) AS n FROM checkpoints")
    return row["n"] if row is not None else None


def unfinished_checkpoint(store: Store, finished: tuple[str, ...]) -> int | None:
    """The newest checkpoint whose status is not one of `finished`."""
    marks = ",".join("?" * len(finished))
    row = store.one(f"SELECT number FROM checkpoints WHERE status NOT IN ({marks}) ORDER BY number DESC LIMIT 1",
                    finished)
    return row["number"] if row else None


def backup_under_way(store: Store, source: str, medium: str) -> str | None:
    """The name of a backup of `source` onto `medium` under way (its row `running`, its job alive),
    or None."""
    from rabtui.state import jobs

    rows = store.all("SELECT name, job_id FROM backups WHERE status='running' AND source=? AND medium=?",
                     (source, medium))
    if rows:
        jobs.refresh_dead(store)
    return next((r["name"] for r in rows if jobs.under_way(store, r["job_id"])), None)


def backups_linking(store: Store, source: str, medium: str) -> list[tuple[str, bool]]:
    """The backups of `source` onto `medium` whose row says `running` and whose step 7 has begun:
    they may have linked their new archive files into the unions there, and have not ended. Each
    as (name, under way): not under way, it was killed, and the next backup of the source or
    cleanup recovers it (undoing its links, or keeping its data)."""
    from rabtui.state import jobs

    rows = store.all("SELECT b.name, b.job_id FROM backups b LEFT JOIN backup_steps s ON s.backup_id=b.id AND s.step=7"
                     " WHERE b.status='running' AND b.source=? AND b.medium=? AND COALESCE(s.state, '') <> 'pending'"
                     " ORDER BY b.id", (source, medium))
    if rows:
        jobs.refresh_dead(store)
    return [(r["name"], jobs.under_way(store, r["job_id"])) for r in rows]


def backups_ended(store: Store) -> str:
    """A mark that changes as a backup ends or begins (how many have ended, the newest id)."""
    row = store.one("SELECT COUNT(finished), MAX(id) FROM backups")
    return f"{row[0]}:{row[1] or 0}"
