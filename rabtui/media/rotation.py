"""The rotation of the media (RAB), and what the state records of each medium's use: when it was
last used and seen, its space."""

from __future__ import annotations

import json
import time

from rabtui.config import Config, Medium
from rabtui.errors import WorkFailed
from rabtui.media import labels_kept
from rabtui.media.medium import space
from rabtui.state.store import Store

USE_SLACK = 300.0     # seconds: more than a write to the state database waits for its turn (30 s)


def next_medium(cfg: Config, store: Store) -> Medium:
    """RAB rotation: the medium after the one that took the last backup (config order, cyclic).

    "Took" means a backup got as far as checking it (`media.last_used`); a run that failed before
    (host unreachable) does not advance the rotation. A use recorded under a clock that was ahead
    is moved back by the next one (record_use).
    """
    if not cfg.media:
        raise WorkFailed("no media are configured")
    ids = [m.id for m in cfg.media]
    marks = ",".join("?" * len(ids))
    row = store.one(
        f"SELECT id FROM media WHERE id IN ({marks}) AND last_used IS NOT NULL ORDER BY last_used DESC LIMIT 1",
        ids,
    )
    if row is None:
        return cfg.media[0]
    return cfg.media[(ids.index(row["id"]) + 1) % len(ids)]


def record_use(store: Store, medium: Medium, info: dict, when: float | None = None) -> str | None:
    """The medium was checked and is being used now: last_used, last_seen, label and space. Returns
    why its label could not be kept beside the database (None: kept)."""
    when = when or time.time()
    with store.transaction() as conn:
        conn.execute(
            "INSERT INTO media(id, label, last_used, last_seen, total_bytes, free_bytes, total_inodes, free_inodes)"
            " VALUES (?,?,?,?,?,?,?,?) ON CONFLICT(id) DO UPDATE SET label=excluded.label,"
            " last_used=excluded.last_used, last_seen=excluded.last_seen, total_bytes=excluded.total_bytes,"
            " free_bytes=excluded.free_bytes, total_inodes=excluded.total_inodes, free_inodes=excluded.free_inodes",
            (medium.id, json.dumps(info.get("label")), when, when, info.get("total_bytes"), info.get("free_bytes"),
             info.get("total_inodes"), info.get("free_inodes")),
        )
        # a use dated after this one was recorded under a clock that was ahead: it came before this
        # one (else it stays the last use for as long as the clock was ahead, and every backup goes
        # to the medium after it); USE_SLACK: another run's use recorded while this one waited
        conn.execute("UPDATE media SET last_used=? WHERE id<>? AND last_used>?",
                     (when - 1, medium.id, when + USE_SLACK))
    return labels_kept.keep(store.state_dir, medium.id, info.get("label"))


def record_space(store: Store, medium: Medium) -> None:
    try:
        info = space(medium.path)
    except OSError:
        return
    store.execute(
        "UPDATE media SET total_bytes=?, free_bytes=?, total_inodes=?, free_inodes=?, last_seen=? WHERE id=?",
        (info["total_bytes"], info["free_bytes"], info["total_inodes"], info["free_inodes"], time.time(), medium.id),
    )
