"""The one status reader: sources and their last backups, media and the rotation, checkpoint
counters, health problems. `rabtui status` (and --json), `rabtui check` and the dashboard all read
it here, so they say the same thing.

The last backup of a source is the run made last (by id, whatever its date: one dated ahead by a
clock that was wrong is not the last for years, and its age says it is dated ahead): a run that is
not complete stays the last one when cleanup has removed what it left, given as failed (as `check`
says), until a newer one.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rabtui import fmt
from rabtui.actions import jobs as jobviews
from rabtui.actions.runs_shown import interrupted
from rabtui.checkpoint import triggers
from rabtui.config import Config, Medium
from rabtui.errors import ConfigError, LockBusy, RabtuiError, UsageError, WorkFailed
from rabtui.media import medium as mediamod
from rabtui.media.mounts import mount_problem, other_labelling
from rabtui.media.rotation import next_medium
from rabtui.ops import health, health_changes, schedule_history
from rabtui.ops.problems import OK
from rabtui.ops import prometheus as prometheus_file
from rabtui.state import jobs as jobstate
from rabtui.state import locks, queries
from rabtui.state.store import Store
from rabtui.state.store_check import StateUnusable, state_failure
from rabtui.state.store_whole import check_pages

# --- sources -------------------------------------------------------------------------------------


@dataclass
class SourceStatus:
    id: str
    host: str                    # "local" for the local machine
    where: str                   # user@host:port
    running: bool
    last: dict | None            # the newest run (queries.last_run), or the one running
    last_complete: dict | None   # the newest one that holds its data (complete, or kept: its post command failed)
    sizes: dict | None           # the backup whose sizes to show: the newest finished one still there

    @property
    def status(self) -> str:
        return self.last["status"] if self.last else "no backup"

    @property
    def started(self) -> float | None:
        return self.last["started"] if self.last else None

    @property
    def medium(self) -> str | None:
        return self.last["medium"] if self.last else None

    @property
    def total_bytes(self) -> int | None:
        return self.sizes["total_bytes"] if self.sizes else None

    @property
    def new_bytes(self) -> int | None:
        return self.sizes["new_bytes"] if self.sizes else None


def sources(cfg: Config, store: Store, *, test_locks: bool = False) -> list[SourceStatus]:
    """Every source with its last backups. Running: a backup job under way (every backup runs as
    one); with `test_locks` also a source whose lock is held. Testing a lock takes it for an
    instant, which a backup starting in that instant would meet as "already running": right for
    a command run by hand, not for a screen that reads this twice a second."""
    busy = {r["target"] for r in jobviews.running(store) if r["kind"] == "backup"}
    out = []
    for s in cfg.sources:
        last = _last(store, s.id)
        sizes = queries.last_finished_backup(store, s.id)
        where = "local" if s.is_local else f"{s.user + '@' if s.user else ''}{s.host}{':' + str(s.port) if s.port else ''}"
        running = s.id in busy or (test_locks and locks.source_lock(cfg.state_dir, s.id).is_held())
        if last is not None and last["status"] == "running" and not running:
            # its job, read again: the backup may have begun after the jobs were read, or ended
            # since (then its row, read again, says how)
            running = jobstate.under_way(store, last["job_id"])
            if not running:
                last = _last(store, s.id)
                if last is not None and last["status"] == "running":
                    last = interrupted(cfg, last)
        out.append(SourceStatus(s.id, s.host or "local", where, running, last,
                                queries.last_backup(store, s.id, restorable=True), sizes))
    return out


def _last(store: Store, source_id: str) -> dict | None:
    """The source's backup running now, else its last run."""
    last = queries.last_backup(store, source_id)
    return last if last is not None and last["status"] == "running" else queries.last_run(store, source_id)


# --- media ---------------------------------------------------------------------------------------


@dataclass
class Rotation:
    current: str | None    # the medium used last
    next: str | None       # the one the next backup goes to


def rotation(cfg: Config, store: Store) -> Rotation:
    if not cfg.media:
        return Rotation(None, None)
    used = queries.media_last_used(store)
    ids = [m.id for m in cfg.media]
    current = max(ids, key=lambda i: used.get(i, 0)) if any(used.get(i) for i in ids) else None
    return Rotation(current, next_medium(cfg, store).id)


@dataclass
class MediumStatus:
    id: str
    path: str
    device: str | None
    mounted: bool
    label: dict | None             # the label found there
    label_problem: str | None      # why it could not be read
    total: int | None              # live, when the medium is there (its own label at its path)
    free: int | None
    recorded_free: int | None      # from its last use
    last_used: float | None
    backups: int
    current: bool
    next: bool
    other_disk: str | None = None  # why the disk there, labelled with its id, is not the one used as it

    @property
    def label_text(self) -> str:
        if self.label_problem:
            return f"unreadable: {self.label_problem}"
        if self.other_disk:
            return f"{self.id}: another disk"
        if self.label is not None:
            return str(self.label.get("id", self.label))
        # an empty mount point or a path that is not there holds no label: the disk's was not read
        return "no label" if self.mounted else "label not read"

    @property
    def role(self) -> str:
        return ", ".join(r for r, on in (("current", self.current), ("next", self.next)) if on)


def media(cfg: Config, store: Store) -> list[MediumStatus]:
    rot = rotation(cfg, store)
    out = []
    for m in cfg.media:
        label = problem = total = free = other = None
        if m.path.is_dir():
            try:
                label = mediamod.read_label(m.path)
            except WorkFailed as exc:   # a label that cannot be read is shown, not raised
                problem = str(exc)
            # only the medium's own file system: an empty mount point or another medium there is not it
            if isinstance(label, dict) and label.get("id") == m.id:
                other = other_labelling(store, m, label)
                if other is None:
                    try:
                        du = shutil.disk_usage(m.path)
                        total, free = du.total, du.free
                    except OSError:
                        pass
        row = queries.medium_row(store, m.id)
        out.append(MediumStatus(m.id, str(m.path), m.device, _mounted(m, store), label, problem, total, free,
                                row["free_bytes"] if row else None, row["last_used"] if row else None,
                                queries.medium_backup_count(store, m.id), m.id == rot.current, m.id == rot.next,
                                other))
    return out


def _mounted(m: Medium, store: Store) -> bool:
    """Whether the medium's disk is at its path: a device's mounted there; one without a device
    there unless its path was a mount point when it was last used and is not one now (the empty
    directory a disk not mounted leaves, which a backup refuses: mounts.mount_problem)."""
    try:
        if m.device is not None:
            return os.path.ismount(m.path)
        return m.path.is_dir() and mount_problem(store, m) is None
    except OSError:
        return False


# --- checkpoint counters, health -----------------------------------------------------------------


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


def due_dirs(cfg: Config, store: Store, now: float | None = None) -> list[DueDir]:
    """Every configured directory with its checkpoint counters and the reasons it is due (if any)."""
    out = []
    for st in triggers.statuses(cfg, store, now=now or time.time()):
        item = DueDir(st.source, st.path, st.kind, st.changed, st.max_changed_files, st.last_checkpoint_time,
                      st.max_days, list(st.reasons) if st.due else [])
        item.why_not = "; ".join(st.reasons) if not st.due else ""
        out.append(item)
    return out


Problem = health.Problem     # the dashboard shows the health checks' own problems


def problems(cfg: Config, store: Store, now: float | None = None) -> list[Problem]:
    """The health checks' problems, critical first (the dashboard's list). A checkpoint that is due
    is left out: the dashboard lists those, with why, under "Checkpoints due"."""
    when = datetime.fromtimestamp(now) if now is not None else None
    found = [p for p in health.run_checks(cfg, store, now=when)
             if p.level != OK and not p.check_id.startswith("checkpoint:")]
    return sorted(found, key=lambda p: p.level != health.CRITICAL)


@dataclass
class CheckResult:
    problems: list            # health.Problem
    exit_code: int
    undelivered: list[str]    # notifications of health changes that could not be sent
    unrecorded: str | None = None   # why the state database could not record the changes (notified all the same)


def _no_folder(prometheus: str) -> str:
    """Why the textfile `prometheus` cannot be written, its folder not a directory: one missing is to be made."""
    folder = Path(prometheus).parent
    try:
        os.lstat(folder)
    except FileNotFoundError:
        return (f"--prometheus {prometheus}: {folder} does not exist: make it (node_exporter's textfile collector"
                " reads the folder its --collector.textfile.directory names)")
    except OSError:     # a name too long, a file on the way
        pass
    return f"--prometheus {prometheus}: {folder} is not a directory"


def check(cfg: Config, store: Store, now: datetime | None = None, prometheus: str | None = None, *,
          read_now: bool = True, more: tuple[health.Problem, ...] = ()) -> CheckResult:
    """`rabtui check`: every page of the state database read first (a damaged one in a table no
    check reads raises as a query that meets it), the health checks, their changes recorded and
    notified, the Prometheus textfile written when asked (a file that cannot be written there is a
    usage error, its directory checked before the checks run). A database that cannot record the changes (its
    directory full, a writer that holds it too long) does not keep them from the operator: they are
    notified from the levels it holds, and again at the next check until it records them, with
    that failure as the `state` check's own. `read_now`: `cfg` is the config as read now, and its
    schedules are recorded as seen now (not so for one a run-due read as it began: an edit since is
    not undone on record). `more`: problems found by the caller, judged with those found here."""
    if prometheus and not os.path.isdir(Path(prometheus).parent):      # False for a name too long
        raise UsageError(_no_folder(prometheus))
    if prometheus:
        _not_foreign(prometheus)
    check_pages(store.conn)
    found = health.run_checks(cfg, store, now) + list(more)
    unrecorded = None
    try:
        if read_now:
            schedule_history.note_schedules(cfg, store, (now or datetime.now()).timestamp())   # as run_checks read them
        changes = health_changes.record(store, found, now)
    except sqlite3.Error as exc:
        unrecorded = str(state_failure(exc, cfg.state_dir / "rabtui.db"))
        changes = (health_changes.unrecorded(store, found)
                   + health_changes.record_state(cfg.state_dir, unrecorded))
        found = found + [health.Problem("state", health.CRITICAL, unrecorded)]
    else:
        changes = health_changes.record_state(cfg.state_dir, None) + changes
    undelivered = health_changes.notify_changes(cfg, changes, now)
    if prometheus:
        _write_textfile(prometheus, prometheus_file.text(cfg, store, found, now))
    return CheckResult(found, health.exit_code(found), undelivered, unrecorded)


def check_command(load_config: Callable[[], Config], open_store: Callable[[Config], Store],
                  now: datetime | None = None, prometheus: str | None = None) -> CheckResult:
    """`rabtui check` as the monitoring runs it. A config that cannot be loaded, or a state database
    that cannot be opened or read, stops every backup: it is said in the textfile at once, as a
    critical check (`config`, `state`), rather than leaving the last good figures there. A bad
    config is still raised (exit 2, its file:line); an unusable database is the check's own result,
    and so is a rebuild-state under way (a warning)."""
    try:
        cfg = load_config()
    except ConfigError as exc:
        if prometheus:
            try:
                _write_textfile(prometheus, prometheus_file.text(
                    None, None, [health.Problem("config", health.CRITICAL, str(exc))], now))
            except UsageError:
                pass     # the config's error is the one to say
        raise
    try:
        return check(cfg, open_store(cfg), now, prometheus)
    except LockBusy as exc:
        # rebuild-state replaces the database: nothing to check it by, and nothing broken either
        found, undelivered = [health.Problem("state", health.WARNING, exc.message)], []
    except (StateUnusable, sqlite3.Error) as exc:
        failure = exc if isinstance(exc, StateUnusable) else state_failure(exc, cfg.state_dir / "rabtui.db")
        found = [health.Problem("state", health.CRITICAL, str(failure))]
        undelivered = health_changes.notify_changes(cfg, health_changes.record_state(cfg.state_dir, str(failure)),
                                                    now)
    if prometheus:
        _write_textfile(prometheus, prometheus_file.text(cfg, None, found, now))
    return CheckResult(found, health.exit_code(found), undelivered)


def _not_foreign(prometheus: str) -> None:
    foreign = prometheus_file.foreign(Path(prometheus))
    if foreign:
        raise UsageError(f"--prometheus {prometheus}: it {foreign}; not written over",
                         hint="name the textfile to write (in node_exporter's textfile directory, ending in .prom)")


def _write_textfile(prometheus: str, text: str) -> None:
    _not_foreign(prometheus)
    had = os.path.lexists(prometheus)
    try:
        prometheus_file.write(Path(prometheus), text)
    except OSError as exc:
        gone = "" if not had or os.path.lexists(prometheus) else \
            " (the file of the last check removed: its figures were not those of now)"
        raise UsageError(f"--prometheus {prometheus}: cannot write it: {exc.strerror or exc}{gone}") from None


# --- `rabtui status --json` ----------------------------------------------------------------------


def report(cfg: Config, store: Store) -> dict:
    """Everything `rabtui status` says, as the JSON it prints."""
    try:
        next_id = next_medium(cfg, store).id if cfg.media else None
    except RabtuiError:
        next_id = None
    media_out = []
    for m in media(cfg, store):
        label_id = m.label.get("id") if m.label else None
        media_out.append({
            "id": m.id, "path": m.path, "device": m.device, "mounted": m.mounted, "label": label_id,
            "label_ok": label_id == m.id, "free_bytes": m.free if m.free is not None else m.recorded_free,
            "last_used": _iso(m.last_used), "next": m.id == next_id,
        })
    counters = [{
        "source": st.source, "path": st.path, "kind": st.kind, "changed_since_checkpoint": st.changed,
        "max_changed_files": st.max_changed_files, "last_checkpoint": st.last_checkpoint,
        "last_checkpoint_time": _iso(st.last_checkpoint_time), "max_days": st.max_days,
        "did_not_fit": _iso(st.did_not_fit),
    } for st in triggers.statuses(cfg, store)]
    running_jobs = [
        {"id": j["id"], "kind": j["kind"], "target": j["target"], "title": j["title"], "status": j["status"],
         "pid": j["pid"], "started": _iso(j["started"])}
        for j in jobviews.running(store)
    ]
    srcs = [{"id": s.id, "host": s.host, "running": s.running, "last": backup_info(s.last),
             "last_complete": backup_info(s.last_complete)} for s in sources(cfg, store, test_locks=True)]
    return {"sources": srcs, "media": media_out, "checkpoint_counters": counters, "jobs": running_jobs}


def backup_info(row: dict | None) -> dict | None:
    if row is None:
        return None
    return {
        "id": row["id"], "name": row["name"], "medium": row["medium"], "status": row["status"],
        "started": _iso(row["started"]), "finished": _iso(row["finished"]), "age": _age(row["started"]),
        "total_bytes": row["total_bytes"], "new_bytes": row["new_bytes"], "reason": row["reason"],
    }


def _age(ts: float | None) -> str:
    """How long ago `ts` was; a time ahead of now (a backup made under a clock that was ahead, or the
    clock is behind now) says so."""
    if not ts:
        return "never"
    seconds = time.time() - ts
    ahead = seconds < -fmt.AHEAD
    seconds = abs(seconds) if ahead else max(0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            break
    else:
        unit, size = "s", 1
    return f"dated {seconds / size:.0f} {unit} ahead" if ahead else f"{seconds / size:.0f} {unit} ago"


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts).isoformat(timespec="seconds") if ts else None
