"""What changed since the last health check: the levels kept in the `health` table (`record`), the
`state` check's own kept beside the database (`record_state`), and one notification per change."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rabtui import privacy
from rabtui.config import Config
from rabtui.ops import notify
from rabtui.ops.problems import CRITICAL, OK, Problem
from rabtui.state.store import Store


@dataclass(frozen=True)
class Change:
    check_id: str
    old: str
    new: str
    message: str


def record(store: Store, problems: list[Problem], now: datetime | None = None) -> list[Change]:
    ts = (now or datetime.now()).timestamp()
    current = {p.check_id: p for p in problems}
    changes: list[Change] = []
    with store.transaction() as conn:
        old = {r["check_id"]: r for r in conn.execute("SELECT * FROM health").fetchall()}
        for cid, p in current.items():
            prev = old.get(cid)
            if prev is None or prev["level"] != p.level:
                changes.append(Change(cid, prev["level"] if prev else OK, p.level, p.message))
                conn.execute("INSERT OR REPLACE INTO health(check_id, level, message, since) VALUES (?,?,?,?)",
                             (cid, p.level, p.message, ts))
            elif prev["message"] != p.message:
                conn.execute("UPDATE health SET message=? WHERE check_id=?", (p.message, cid))
        for cid, prev in old.items():
            if cid not in current and prev["level"] != OK:
                changes.append(Change(cid, prev["level"], OK, f"{cid}: back to normal"))
                conn.execute("UPDATE health SET level='ok', message=?, since=? WHERE check_id=?",
                             (f"{cid}: back to normal", ts, cid))
    return changes


# the checks whose id names a source after the first colon (its pause_notifications_until holds them)
SOURCE_CHECKS = ("stale", "failed", "partial", "clock", "size", "checkpoint")


# While the database cannot be read, whether its damage was said already is kept in this file of the
# state directory: said once, and "back to normal" once it can be read again.
STATE_SAID = "state-damage-said"


def record_state(state_dir: Path, failure: str | None) -> list[Change]:
    """The change of the `state` check: `failure` what makes the database unusable, None when it
    can be read."""
    said = Path(state_dir) / STATE_SAID
    if failure is None:
        if not said.exists():
            return []
        said.unlink(missing_ok=True)
        return [Change("state", CRITICAL, OK, "state: back to normal")]
    if said.exists():
        return []
    try:
        privacy.replace_file(said, failure.encode("utf-8", "replace"))
    except OSError:
        pass        # a state directory that cannot be written: said at every check, better than never
    return [Change("state", OK, CRITICAL, failure)]


def notify_changes(cfg: Config, changes: list[Change], now: datetime | None = None) -> list[str]:
    """One health event per change; the problems met delivering them."""
    problems = []
    for c in changes:
        parts = c.check_id.split(":")
        source = parts[1] if parts[0] in SOURCE_CHECKS and len(parts) > 1 else None
        event = notify.make_event("health", c.new, c.message, source=source, now=now,
                                  check=c.check_id, previous=c.old)
        problems += notify.send(cfg, event, today=(now.date() if now else None))
    return problems
