"""What changed since the last health check: the levels kept in the `health` table (`record`), the
`state` check's own kept beside the database (`record_state`), and one notification per change."""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from rabtui import file_replace, privacy
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
    """The changes since the levels the `health` table holds, recorded there."""
    ts = (now or datetime.now()).timestamp()
    with store.transaction() as conn:
        old = {r["check_id"]: r for r in conn.execute("SELECT * FROM health").fetchall()}
        changes = _changes(old, problems)
        for p in problems:
            prev = old.get(p.check_id)
            if prev is None or prev["level"] != p.level:
                conn.execute("INSERT OR REPLACE INTO health(check_id, level, message, since) VALUES (?,?,?,?)",
                             (p.check_id, p.level, p.message, ts))
            elif prev["message"] != p.message:
                conn.execute("UPDATE health SET message=? WHERE check_id=?", (p.message, p.check_id))
        for c in changes:
            if c.new == OK:
                conn.execute("UPDATE health SET level='ok', message=?, since=? WHERE check_id=?",
                             (c.message, ts, c.check_id))
    return changes


def unrecorded(store: Store, problems: list[Problem]) -> list[Change]:
    """The changes since the levels the `health` table holds, when it cannot take them (its state
    directory full): found again, and notified again, at each check until it can."""
    try:
        old = {r["check_id"]: r for r in store.all("SELECT * FROM health")}
    except sqlite3.Error:
        return []
    return _changes(old, problems)


def _changes(old: dict, problems: list[Problem]) -> list[Change]:
    current = {p.check_id: p for p in problems}
    changes = [Change(cid, old[cid]["level"] if cid in old else OK, p.level, p.message)
               for cid, p in current.items() if cid not in old or old[cid]["level"] != p.level]
    return changes + [Change(cid, prev["level"], OK, f"{cid}: back to normal")
                      for cid, prev in old.items() if cid not in current and prev["level"] != OK]


# the checks whose id names a source after the first colon (its pause_notifications_until holds them)
SOURCE_CHECKS = ("stale", "failed", "partial", "clock", "size", "checkpoint")


# While the database cannot be read, whether its damage was said already is kept in this file of the
# state directory: said once, and "back to normal" once it can be read again. Empty, the failure
# could not be written into it (no room): said again at each check.
STATE_SAID = "state-damage-said"


def record_state(state_dir: Path, failure: str | None) -> list[Change]:
    """The change of the `state` check: `failure` what makes the database unusable, None when it
    can be read."""
    said = Path(state_dir) / STATE_SAID
    try:
        st = said.lstat()
    except OSError:     # none, or not to be looked at
        st = None
    # only a file of rabtui's own says anything: another user's would silence the damage (or call it mended)
    ours = privacy.own_regular(st)
    if failure is None:
        if not ours:
            return []
        try:
            said.unlink(missing_ok=True)
        except OSError:
            return []
        return [Change("state", CRITICAL, OK, "state: back to normal")]
    if ours and st.st_size:
        return []
    try:
        file_replace.replace_file(said, failure.encode("utf-8", "replace"))
    except OSError:
        # a state directory that cannot be written: said at every check, better than never; an empty
        # file (an inode, no block: a full directory may have one) keeps that it was said, so that
        # its repair is said too
        try:
            privacy.create_private_file(said)
        except OSError:
            pass
    return [Change("state", OK, CRITICAL, failure)]


def notify_changes(cfg: Config, changes: list[Change], now: datetime | None = None) -> list[str]:
    """One health event per change; the problems met delivering them. They go out in order within
    one bound (notify.deferred): a hung notify command took its whole timeout for each."""
    with notify.deferred(cfg) as problems:
        for c in changes:
            parts = c.check_id.split(":")
            source = parts[1] if parts[0] in SOURCE_CHECKS and len(parts) > 1 else None
            event = notify.make_event("health", c.new, c.message, source=source, now=now,
                                      check=c.check_id, previous=c.old)
            notify.send(cfg, event, today=(now.date() if now else None))
    return problems
