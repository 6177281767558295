"""The failed runs of sources taken out of the config, in a cleanup's plan: no backup of such a
source comes to supersede them, so each goes once it is older than the grace (a day), as a failed
run of a configured source does. A run recorded failed undid its archive links first (one that
could not stays `running`: recovery.py's), so its tree alone goes. An abandoned one goes only if its
step 7 never began: one that began may have linked files into the source's unions, which only its
directories tell how to undo (it stays, as recovery.removed_source_left says)."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

from rabtui import fmt
from rabtui.backup.freed import FreedCounter
from rabtui.backup.judged_time import backup_time, judged_at, server_nights
from rabtui.backup.recovery import step7_began
from rabtui.backup.retention import (FAILED_GRACE, Plan, candidate, elsewhere, leftovers, medium_present,
                                     unread_record)
from rabtui.config import Config
from rabtui.state.store import Store


def left_rows(cfg: Config, store: Store, medium_id: str | None = None) -> list:
    """The failed and abandoned runs of sources not in the config (on `medium_id`, else any)."""
    configured = {s.id for s in cfg.sources}
    rows = store.all("SELECT * FROM backups WHERE status IN ('failed', 'abandoned') AND (? IS NULL OR medium=?)"
                     " ORDER BY started, id", (medium_id, medium_id))
    return [r for r in rows if r["source"] not in configured]


def stays(store: Store, row) -> bool:
    """Whether a cleanup leaves this run of a removed source as it is (its step 7 began)."""
    return row["status"] == "abandoned" and row["dir_made"] != 0 and step7_began(store, row)


def every_leftover(cfg: Config, store: Store) -> list[Path]:
    """What killed deletions left (retention.leftovers) on the media of the config that are here, of
    every source: those of the config and those taken out of it."""
    present = [m for m in cfg.media if medium_present(store, m)]
    sources = dict.fromkeys([s.id for s in cfg.sources]
                            + [r["source"] for r in store.all("SELECT DISTINCT source FROM backups ORDER BY source")])
    return [p for s in sources for p in leftovers(present, s)]


def plan_removed(cfg: Config, store: Store, plan: Plan, now: datetime, count_space: bool = True,
                 failed_grace: timedelta = FAILED_GRACE) -> None:
    """The removed sources' failed runs older than `failed_grace` on the media of the config added
    to `plan.delete` (those whose record may say complete after all to `plan.guarded`), and what a
    cleanup killed as it deleted one of theirs left to `plan.leftovers`."""
    media = {m.id: m for m in cfg.media}
    configured = {s.id for s in cfg.sources}
    present = [m for m in cfg.media if medium_present(store, m)]
    for (source,) in store.all("SELECT DISTINCT source FROM backups ORDER BY source"):
        if source not in configured:
            plan.leftovers += leftovers(present, source)
    nights = server_nights(store)
    judged: dict[str, datetime] = {}
    grace = "a day" if failed_grace == FAILED_GRACE else fmt.duration(failed_grace.total_seconds())
    for r in left_rows(cfg, store):
        medium = media.get(r["medium"])
        if medium is None or stays(store, r):
            continue
        if r["source"] not in judged:
            judged[r["source"]] = judged_at(store, r["source"], now, nights)[0]
        if backup_time(r) >= judged[r["source"]] - failed_grace:
            continue
        unread = elsewhere(r, medium) or (unread_record(r["path"]) if r["dir_made"] != 0 else None)
        if unread:
            plan.guarded.append((r["id"], r["name"], unread))
            continue
        c = candidate(r, f"{r['status']} run older than {grace}; {r['source']} is no longer in the config")
        if count_space and c.made and medium_present(store, medium):
            c.freed_bytes = FreedCounter().add(Path(c.path))
        plan.delete.append(c)
        plan.freed_bytes += c.freed_bytes
