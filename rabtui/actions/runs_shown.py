"""Backup rows as status, the dashboard and the screens show them: a backup still `running` in
the database with no job under way was killed (every backup runs as a job); recovery (under the
source lock, by its next backup) decides what it was, and until then it is shown interrupted."""

from __future__ import annotations

from rabtui.config import Config
from rabtui.state import jobs as jobstate
from rabtui.state import queries
from rabtui.state.store import Store

INTERRUPTED = "interrupted"


def interrupted(cfg: Config, row) -> dict:
    """A backup `running` with no job under way (every backup runs as one: its process was killed)
    as it is shown: interrupted, with what becomes of it. Its medium out of the config, no run looks
    at it (recovery touches nothing there) until the medium is back in the config. Its source out
    of the config (the Media screen lists it), no backup of it comes: a cleanup recovers it (one
    killed in its step 7 once the source is back in the config, which it says)."""
    if any(m.id == row["medium"] for m in cfg.media):
        if any(s.id == row["source"] for s in cfg.sources):
            then = f"the next backup of {row['source']} recovers it"
        else:
            then = f"{row['source']} is not in the config: the next cleanup recovers it, or says what that needs"
    else:
        then = (f"its medium {row['medium']} is not in the config: nothing on it is touched until it is back"
                f" in the config, then the next backup of {row['source']} onto it recovers the run")
    return {**row, "status": INTERRUPTED, "reason": f"its process was killed; {then}"}


def source_backups(cfg: Config, store: Store, source_id: str) -> list[dict]:
    """The source's backups, the one made last first (queries.source_backups), a killed run
    shown as interrupted (`interrupted`)."""
    return _shown(cfg, store, [{**r, "source": source_id} for r in queries.source_backups(store, source_id)])


def medium_backups(cfg: Config, store: Store, medium_id: str) -> list[dict]:
    """The medium's backups, as source_backups."""
    return _shown(cfg, store, queries.medium_backups(store, medium_id))


def _shown(cfg: Config, store: Store, rows: list[dict]) -> list[dict]:
    return [interrupted(cfg, r) if r["status"] == "running" and not jobstate.under_way(store, r["job_id"]) else r
            for r in rows]
