"""When a directory is due for a checkpoint, and why.

Any of these makes a directory due (DESIGN.md "Checkpoints"): the operator asked
(`rabtui checkpoint plan --now [SOURCE:PATH ...]`, remembered until a checkpoint holds it); new or
modified files since its last checkpoint exceed `max_changed_files`; days since its last
checkpoint exceed `max_days` (a directory never checkpointed is due as soon as it has a backup);
a backup of it did not fit on its medium. Only directories with a complete backup can be due.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field

from rabtui import fmt
from rabtui.checkpoint import holders
from rabtui.config import Config
from rabtui.state.store import Store

REQUESTED_KEY = "checkpoint.requested"
DAY = 86400.0
# a last checkpoint dated further ahead of now was written under a clock that was ahead (as
# ops.schedule.CLOCK_SLACK): its age cannot be told, and waiting for it would wait for years
AHEAD = DAY


@dataclass
class DirStatus:
    source: str
    path: str
    kind: str
    changed: int
    max_changed_files: int
    last_checkpoint: int | None
    last_checkpoint_time: float | None
    days_since: float | None
    max_days: int
    did_not_fit: float | None
    requested: bool
    backup_id: int | None          # newest complete backup holding it
    due: bool = False
    reasons: list[str] = field(default_factory=list)

    @property
    def key(self) -> str:
        return f"{self.source}:{self.path}"

    def as_dict(self) -> dict:
        d = asdict(self)
        d["key"] = self.key
        return d


def requested(store: Store) -> set[str]:
    value = store.meta(REQUESTED_KEY)
    return set(json.loads(value)) if value else set()


def request(store: Store, keys: list[str]) -> None:
    """Remember the operator's request for these `SOURCE:PATH` keys until a checkpoint holds them."""
    with store.transaction():
        keys_now = sorted(requested(store) | set(keys))
        store.set_meta(REQUESTED_KEY, json.dumps(keys_now))


def clear_requests(store: Store, keys: list[str]) -> None:
    left = sorted(requested(store) - set(keys))
    store.set_meta(REQUESTED_KEY, json.dumps(left))


def newest_backup(store: Store, source: str, path: str) -> int | None:
    """The newest complete backup of `source` that holds directory `path`."""
    rows = holders.backups_holding(store, source, path, limit=1)
    return rows[0]["id"] if rows else None


def statuses(cfg: Config, store: Store, *, now: float | None = None,
             asked: set[str] | None = None) -> list[DirStatus]:
    """Every configured directory with its counters and why it is, or is not, due."""
    now = now if now is not None else time.time()
    asked = (asked or set()) | requested(store)
    out = []
    for src in cfg.sources:
        for d in src.directories:
            row = store.one("SELECT * FROM dir_state WHERE source=? AND path=?", (src.id, d.path))
            changed = row["changed_since_checkpoint"] if row else 0
            last = row["last_checkpoint"] if row else None
            last_time = row["last_checkpoint_time"] if row else None
            did_not_fit = row["did_not_fit"] if row else None
            st = DirStatus(
                source=src.id, path=d.path, kind=d.kind, changed=changed,
                max_changed_files=cfg.max_changed_files(d), last_checkpoint=last, last_checkpoint_time=last_time,
                days_since=(now - last_time) / DAY if last_time else None, max_days=cfg.max_days(d),
                did_not_fit=did_not_fit, requested=f"{src.id}:{d.path}" in asked or f"{src.id}:*" in asked
                or "*" in asked,
                backup_id=newest_backup(store, src.id, d.path),
            )
            _judge(st)
            out.append(st)
    return out


NEVER = "never checkpointed"


def _judge(st: DirStatus) -> None:
    if st.requested:
        st.reasons.append("asked by the operator")
    if st.changed > st.max_changed_files:
        st.reasons.append(f"{fmt.count(st.changed, 'changed file')} > max_changed_files {st.max_changed_files}")
    if st.last_checkpoint_time is None:
        st.reasons.append(NEVER)
    elif st.days_since is not None and st.days_since < -AHEAD / DAY:
        st.reasons.append(f"checkpoint {st.last_checkpoint} is dated {fmt.count(int(-st.days_since), 'day')} in the future:"
                          " the clock was ahead when it was written (check it); its age cannot be told")
    elif st.days_since is not None and st.days_since > st.max_days:
        st.reasons.append(f"{fmt.count(int(st.days_since), 'day')} since checkpoint {st.last_checkpoint} > max_days {st.max_days}")
    if st.did_not_fit:
        st.reasons.append("a backup did not fit on its medium")
    if st.backup_id is None:
        st.due = False
        st.reasons = ["no complete backup yet"] if not st.requested else \
            ["asked by the operator, but there is no complete backup yet"]
        return
    st.due = bool(st.reasons)
    if not st.due:
        days = f"{int(st.days_since)}" if st.days_since is not None else "-"
        st.reasons.append(f"not due: {st.changed}/{st.max_changed_files} changed files, "
                          f"{days}/{st.max_days} days since checkpoint {st.last_checkpoint}")


def due(cfg: Config, store: Store, *, now: float | None = None, asked: set[str] | None = None) -> list[DirStatus]:
    return [s for s in statuses(cfg, store, now=now, asked=asked) if s.due]
