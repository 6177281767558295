"""What the screens show, read from the state database and the config (called from workers).

Everything here is plain Python over `Store` and `Config`: no widgets, so the screens stay thin and
the readers can be tested on their own. The facts come from the engine's own readers (health
checks, checkpoint triggers, media rotation).
"""

from __future__ import annotations

import json
import os
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime

from rabtui.ops import health
from rabtui.state import jobs as jobsmod
from rabtui.media import medium as mediamod
from rabtui.backup.records import STEPS
from rabtui.checkpoint import triggers
from rabtui.config import Config, Medium
from rabtui.errors import WorkFailed
from rabtui.state.store import COMPLETE_SQL, Store


@dataclass
class Problem:
    level: str
    message: str


@dataclass
class SourceRow:
    id: str
    where: str
    status: str
    started: float | None
    total_bytes: int | None
    new_bytes: int | None
    medium: str | None
    running: bool = False


@dataclass
class DueDir:
    source: str
    path: str
    kind: str
    changed: int
    max_changed: int
    last_time: float | None
    max_days: int
    reasons: list[str] = field(default_factory=list)   # empty: not due
    why_not: str = ""


@dataclass
class Rotation:
    current: str | None
    next: str | None


def problems(cfg: Config, store: Store, now: float | None = None) -> list[Problem]:
    when = datetime.fromtimestamp(now) if now is not None else None
    found = [Problem(p.level, p.message) for p in health.run_checks(cfg, store, now=when) if p.level != health.OK]
    return sorted(found, key=lambda p: p.level != health.CRITICAL)


def sources(cfg: Config, store: Store) -> list[SourceRow]:
    running = {r["target"] for r in jobsmod.running_jobs(store) if r["kind"] == "backup"}
    out = []
    for s in cfg.sources:
        row = store.one("SELECT * FROM backups WHERE source=? AND status != 'deleted' ORDER BY started DESC LIMIT 1",
                        (s.id,))
        if row is not None and row["status"] == "running":   # sizes: those of the last finished one
            done = store.one("SELECT total_bytes, new_bytes FROM backups WHERE source=? AND status != 'deleted'"
                             " AND status != 'running' ORDER BY started DESC LIMIT 1", (s.id,))
            if done is not None:
                row = {**dict(row), "total_bytes": done["total_bytes"], "new_bytes": done["new_bytes"]}
        where = "local" if s.is_local else f"{s.user + '@' if s.user else ''}{s.host}{':' + str(s.port) if s.port else ''}"
        out.append(SourceRow(
            id=s.id, where=where,
            status=row["status"] if row else "no backup",
            started=row["started"] if row else None,
            total_bytes=row["total_bytes"] if row else None,
            new_bytes=row["new_bytes"] if row else None,
            medium=row["medium"] if row else None,
            running=s.id in running,
        ))
    return out


def rotation(cfg: Config, store: Store) -> Rotation:
    """The medium used last (current) and the one the next backup goes to."""
    if not cfg.media:
        return Rotation(None, None)
    used = {r["id"]: r["last_used"] or 0 for r in store.all("SELECT id, last_used FROM media")}
    ids = [m.id for m in cfg.media]
    current = max(ids, key=lambda i: used.get(i, 0)) if any(used.get(i) for i in ids) else None
    return Rotation(current, mediamod.next_medium(cfg, store).id)


def due_dirs(cfg: Config, store: Store, now: float | None = None) -> list[DueDir]:
    """Every configured directory with its checkpoint counters and the reasons it is due (if any)."""
    out = []
    for st in triggers.statuses(cfg, store, now=now or time.time()):
        item = DueDir(st.source, st.path, st.kind, st.changed, st.max_changed_files, st.last_checkpoint_time,
                      st.max_days, list(st.reasons) if st.due else [])
        item.why_not = "; ".join(st.reasons) if not st.due else ""
        out.append(item)
    return out


# --- jobs ----------------------------------------------------------------------------------------


@dataclass
class JobsSnapshot:
    """One poll of the jobs: cheap enough to take twice a second."""

    running: list[dict]
    prompts: list[dict]
    taken: float
    failed: list[dict] = field(default_factory=list)   # jobs that failed or died since `failed_since`


FAILED_STATUSES = ("failed", "dead")


def poll_jobs(store: Store, failed_since: float | None = None) -> JobsSnapshot:
    running = [dict(r) for r in jobsmod.running_jobs(store)]
    for r in running:
        r["progress"] = json.loads(r["progress"]) if r.get("progress") else {}
    prompts = []
    for p in jobsmod.open_prompts(store):
        d = dict(p)
        d["choices"] = json.loads(d["choices"])
        d["data"] = json.loads(d["data"]) if d.get("data") else {}
        prompts.append(d)
    failed = []
    if failed_since is not None:
        failed = [dict(r) for r in store.all(
            "SELECT id, kind, target, title, status, finished, summary FROM jobs"
            f" WHERE status IN {FAILED_STATUSES} AND finished >= ? ORDER BY id", (failed_since,))]
    return JobsSnapshot(running, prompts, time.time(), failed)


def recent_jobs(store: Store, limit: int = 100) -> list[dict]:
    jobsmod.refresh_dead(store)
    return [dict(r) for r in store.all("SELECT id, kind, target, title, status, started, finished, exit_code, summary"
                                       " FROM jobs ORDER BY id DESC LIMIT ?", (limit,))]


@dataclass
class JobDetail:
    job: dict
    progress: dict
    steps: list[tuple[int, str, str]]   # (step, name, state)
    events: list[dict]                  # new events since `after`
    last_event: int
    backup: dict | None                 # the backup row this job made, if any
    discs: list[dict]


def job_detail(store: Store, job_id: int, after: int = 0) -> JobDetail | None:
    row = store.one("SELECT * FROM jobs WHERE id=?", (job_id,))
    if row is None:
        return None
    job = dict(row)
    progress = json.loads(job["progress"]) if job.get("progress") else {}
    events = []
    last = after
    steps: dict[int, tuple[str, str]] = {}
    for e in store.events_after(job_id, after, limit=5000):
        d = dict(e)
        d["data"] = json.loads(d["data"]) if d.get("data") else {}
        events.append(d)
        last = d["id"]
    backup = store.one("SELECT * FROM backups WHERE job_id=? ORDER BY id DESC LIMIT 1", (job_id,))
    if backup is not None:
        for s in store.all("SELECT step, name, state FROM backup_steps WHERE backup_id=? ORDER BY step",
                           (backup["id"],)):
            steps[s["step"]] = (s["name"], s["state"])
    if not steps and job["kind"] == "backup":
        for e in store.all("SELECT data FROM events WHERE job_id=? AND kind='step' ORDER BY id", (job_id,)):
            data = json.loads(e["data"] or "{}")
            if "step" in data:
                steps[int(data["step"])] = (data.get("name") or STEPS[int(data["step"]) - 1], data.get("state", ""))
    if job["kind"] == "backup":
        for i, name in enumerate(STEPS, 1):
            steps.setdefault(i, (name, "pending"))
    discs = []
    if job["kind"] == "checkpoint":
        for e in store.all("SELECT data FROM events WHERE job_id=? AND kind='disc' ORDER BY id", (job_id,)):
            discs.append(json.loads(e["data"] or "{}"))
        if discs and discs[-1].get("state") == "writing" and job["status"] not in ("running", "waiting", "queued"):
            discs[-1] = {**discs[-1], "state": "interrupted"}   # the job ended while it wrote this disc
    return JobDetail(job, progress, [(k, v[0], v[1]) for k, v in sorted(steps.items())], events, last,
                     dict(backup) if backup else None, discs)


def log_tail(store: Store, job_id: int, lines: int = 200) -> tuple[list[dict], int]:
    rows = store.all("SELECT * FROM events WHERE job_id=? AND kind IN ('log','warning','error','result','step','disc')"
                     " ORDER BY id DESC LIMIT ?", (job_id, lines))
    last = store.one("SELECT MAX(id) AS m FROM events WHERE job_id=?", (job_id,))
    out = []
    for r in reversed(rows):
        d = dict(r)
        d["data"] = json.loads(d["data"]) if d.get("data") else {}
        out.append(d)
    return out, (last["m"] or 0) if last else 0


# --- media ---------------------------------------------------------------------------------------


@dataclass
class MediumRow:
    id: str
    path: str
    device: str | None
    label: str
    mounted: bool
    total: int | None
    free: int | None
    backups: int
    role: str


def media(cfg: Config, store: Store) -> list[MediumRow]:
    rot = rotation(cfg, store)
    out = []
    for m in cfg.media:
        try:
            found = mediamod.read_label(m.path)
            label = str(found.get("id", found)) if found is not None else "no label"
        except WorkFailed as exc:   # a label that cannot be read is shown, not raised
            label = f"unreadable: {exc}"
        total = free = None
        mounted = _mounted(m)
        if m.path.is_dir():
            try:
                du = shutil.disk_usage(m.path)
                total, free = du.total, du.free
            except OSError:
                pass
        n = store.one("SELECT COUNT(*) AS n FROM backups WHERE medium=? AND status != 'deleted'", (m.id,))["n"]
        role = "current" if m.id == rot.current else ""
        if m.id == rot.next:
            role = (role + ", next").strip(", ")
        out.append(MediumRow(m.id, str(m.path), m.device, label, mounted, total, free, n, role))
    return out


def _mounted(m: Medium) -> bool:
    if m.device is None:
        return m.path.is_dir()
    try:
        return os.path.ismount(m.path)
    except OSError:
        return False


def medium_backups(store: Store, medium_id: str) -> list[dict]:
    return [dict(r) for r in store.all(
        "SELECT id, source, name, status, started, total_bytes, new_bytes, files, new_files FROM backups"
        " WHERE medium=? AND status != 'deleted' ORDER BY started DESC", (medium_id,))]


# --- backups (browse) ----------------------------------------------------------------------------


def source_backups(store: Store, source_id: str) -> list[dict]:
    return [dict(r) for r in store.all(
        "SELECT id, medium, name, path, status, started, total_bytes, new_bytes, files FROM backups"
        " WHERE source=? AND status != 'deleted' ORDER BY started DESC", (source_id,))]


def previous_backup(store: Store, backup: dict) -> dict | None:
    row = store.one(
        f"SELECT * FROM backups WHERE source=(SELECT source FROM backups WHERE id=?) AND medium=? AND status IN {COMPLETE_SQL}"
        " AND started < ? ORDER BY started DESC LIMIT 1",
        (backup["id"], backup["medium"], backup["started"]))
    return dict(row) if row else None


def checkpoints(store: Store, limit: int = 1) -> list[dict]:
    """The newest checkpoints (default: the newest one) with their discs, as `checkpoint status` shows them."""
    from rabtui.checkpoint import run

    out = []
    for r in store.all("SELECT * FROM checkpoints ORDER BY number DESC LIMIT ?", (limit,)):
        d = dict(r)
        d["status"], d["disc_rows"] = run.shown_discs(store, r["number"], r["status"], r["drive"])
        out.append(d)
    return out

