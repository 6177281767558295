"""Jobs as the operator sees them: the running ones and their questions (polled by the UI twice
a second), a job's steps, events and log, and what can be done to a job (start one detached,
answer its question, ask it to stop). `rabtui jobs` and the UI both come here."""

from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from rabtui import proc_table
from rabtui.actions.recording import recording, unless_rebuilding
from rabtui.backup.records import STEPS
from rabtui.errors import UsageError
from rabtui.state import jobs as jobsmod
from rabtui.state import queries
from rabtui.state.store import Store

LIVE = jobsmod.LIVE     # the statuses of a job under way, or about to be

FAILED_STATUSES = ("failed", "dead")
POST_STEP = STEPS.index("post-backup commands") + 1     # a backup's step of its post-backup commands
FINAL_STATES = jobsmod.FINAL_STATES
CANCEL_AGAIN = jobsmod.CANCEL_AGAIN     # jobs.cancel_requested once a backup's post-backup commands are to stop too


def _decoded(row, *keys: str) -> dict:
    d = dict(row)
    for key in keys:
        d[key] = json.loads(d[key]) if d.get(key) else None
    return d


def running(store: Store) -> list[dict]:
    """The jobs under way (queued, running, waiting for an answer); those whose process is gone
    are marked dead first."""
    return [dict(r) for r in jobsmod.running_jobs(store)]


def prompts(store: Store, job_id: int | None = None, *, raw: bool = False) -> list[dict]:
    """Open questions, their choices and data decoded (`raw`: as stored, JSON text)."""
    if raw:
        return [dict(p) for p in jobsmod.open_prompts(store, job_id)]
    out = []
    for p in jobsmod.open_prompts(store, job_id):
        d = _decoded(p, "choices", "data")
        d["data"] = d["data"] or {}
        out.append(d)
    return out


@dataclass
class JobsSnapshot:
    """One poll of the jobs: cheap enough to take twice a second."""

    running: list[dict]
    prompts: list[dict]
    taken: float
    failed: list[dict] = field(default_factory=list)   # jobs that failed or died since `failed_since`


def poll_jobs(store: Store, failed_since: float | None = None) -> JobsSnapshot:
    live = running(store)
    for r in live:
        r["progress"] = json.loads(r["progress"]) if r.get("progress") else {}
    failed = queries.failed_jobs_since(store, failed_since, FAILED_STATUSES) if failed_since is not None else []
    return JobsSnapshot(live, prompts(store), time.time(), failed)


def recent_jobs(store: Store, limit: int = 100) -> list[dict]:
    """The newest jobs, argv and progress decoded (`limit` -1: all)."""
    unless_rebuilding(store, jobsmod.refresh_dead)
    return [_decoded(r, "argv", "progress") for r in queries.jobs(store, limit)]


def job(store: Store, job_id: int) -> dict:
    """A job's row; an unknown id is the operator's mistake."""
    row = queries.job(store, job_id)
    if row is None:
        raise UsageError(f"no job {job_id}")
    return row


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
    row = queries.job(store, job_id)
    if row is None:
        return None
    progress = json.loads(row["progress"]) if row.get("progress") else {}
    events = []
    last = after
    for e in store.events_after(job_id, after, limit=5000):
        d = dict(e)
        d["data"] = json.loads(d["data"]) if d.get("data") else {}
        events.append(d)
        last = d["id"]
    steps: dict[int, tuple[str, str]] = {}
    backup = queries.job_backup(store, job_id)
    if backup is not None:
        for s in queries.backup_steps(store, backup["id"]):
            steps[s["step"]] = (s["name"], s["state"])
    if not steps and row["kind"] == "backup":
        for data in queries.job_event_data(store, job_id, "step"):
            if "step" in data:
                steps[int(data["step"])] = (data.get("name") or STEPS[int(data["step"]) - 1], data.get("state", ""))
    if row["kind"] == "backup":
        for i, name in enumerate(STEPS, 1):
            steps.setdefault(i, (name, "pending"))
    discs = []
    if row["kind"] == "checkpoint":
        discs = queries.job_event_data(store, job_id, "disc")
        if discs and discs[-1].get("state") == "writing" and row["status"] not in ("running", "waiting", "queued"):
            discs[-1] = {**discs[-1], "state": "interrupted"}   # the job ended while it wrote this disc
    return JobDetail(row, progress, [(k, v[0], v[1]) for k, v in sorted(steps.items())], events, last,
                     backup, discs)


def log_tail(store: Store, job_id: int, lines: int = 200) -> tuple[list[dict], int]:
    out = queries.log_events(store, job_id, lines)
    for d in out:
        d["data"] = json.loads(d["data"]) if d.get("data") else {}
    return out, queries.last_event_id(store, job_id)


def events_after(store: Store, job_id: int, after: int) -> list:
    return store.events_after(job_id, after)


# --- what can be done to a job -------------------------------------------------------------------


def start(store: Store, config_path: Path, kind: str, target: str | None, title: str, args: Sequence[str]) -> int:
    """A detached job process (`rabtui <args> --job-id N`): it outlives the UI."""
    with recording(store):
        return jobsmod.start_detached(store, config_path, kind, target, title, args)


def answer(store: Store, prompt_id: int, reply: str) -> None:
    with recording(store):
        jobsmod.answer(store, prompt_id, reply)


class Began(UsageError):
    """A cancel meant for a job that had not begun (it never starts), written not: it began since."""

    def __init__(self, job_id: int, status: str):
        super().__init__(f"job {job_id} has begun since ({status}): not stopped")
        self.status = status


class Ended(UsageError):
    """A cancel meant for a job that has ended: nothing was to stop."""

    def __init__(self, job_id: int, status: str):
        super().__init__(f"job {job_id} has ended ({status}): nothing to stop")


class NotCancelled(UsageError):
    """The stop of a job's post-backup commands alone, meant for a job asked to stop already, written
    not: its own cancel was not written (the database failed), and stopping the commands would stop
    the job too."""

    def __init__(self, job_id: int):
        super().__init__(f"the post-backup commands of job {job_id} were not stopped: the job's own cancel was not"
                         " written, and it goes on")


def cancel(store: Store, job_id: int, post_commands_too: bool = False, *, queued_only: bool = False,
           after_cancel: bool = False, give_up: threading.Event | None = None) -> str:
    """Ask a job under way to stop; UsageError for one that has ended (nothing would stop). The
    job's status as the cancel was written ("queued": it never starts).
    `post_commands_too`: a backup's post-backup commands, run after a cancel to undo what the
    pre-backup ones did, stop too (what they were to undo stays undone). `queued_only`: written only
    while the job still waits its turn (Began once it has begun). `after_cancel`: the post-backup
    commands' stop alone, written only where the job's cancel was (NotCancelled else). `give_up`: a
    busy database's wait for the write can be given up (Store.write_unless: WriteGivenUp, nothing
    written)."""
    def write() -> str | None:
        return jobsmod.request_cancel(store, job_id, again=post_commands_too,
                                      statuses=("queued",) if queued_only else LIVE, after_cancel=after_cancel)

    with recording(store):
        status = write() if give_up is None else store.write_unless(give_up, write)
        if status is None:
            row = job(store, job_id)     # an unknown job: UsageError
            status = row["status"]
            if status in LIVE and after_cancel and not row["cancel_requested"]:
                raise NotCancelled(job_id)
            if status in LIVE:
                raise Began(job_id, status)
            raise Ended(job_id, status)
    return status


SCHEDULED_TITLE = "scheduled backup of "      # a run-due's backup job's title: its source's id follows
# what a cancel of a run-due's backup does to its scheduled time (run_due._backups), said by
# `jobs cancel` and the console's Runs screen
SCHEDULED_DONE = "its scheduled time then counts as done: run-due makes no other backup of it before its next one"


def scheduled(job: dict) -> bool:
    """Whether a backup job is a run-due's (the time it is for noted, or queued under its title)."""
    return job["kind"] == "backup" and (bool(job.get("due_slot")) or (job.get("title") or "").startswith(SCHEDULED_TITLE))


def post_commands_of(cfg, job: dict) -> bool:
    """Whether a backup job's source has post-backup commands, which a cancel leaves running and a
    second one stops (a source no longer in the config: as if it had); no job of another kind has."""
    if job["kind"] != "backup":
        return False
    source = next((s for s in cfg.sources if s.id == job["target"]), None)
    return source is None or bool(source.post_backup_commands)


def stopped(job: dict) -> bool:
    """Whether a job's process is stopped (SIGSTOP, Ctrl-Z in its terminal): its cancel waits
    until it is continued."""
    return job["status"] in LIVE and proc_table.stopped(job.get("pid"))


def stopped_said(job: dict) -> str:
    """What the cancel of a job whose process is stopped (`stopped`) is told of it, as the command
    line and the console say it; "" where it is not."""
    if not stopped(job):
        return ""
    return (f"its process (pid {job['pid']}) is stopped (SIGSTOP, or Ctrl-Z in its terminal): it stops once"
            f" continued (kill -CONT {job['pid']}, or fg there)")


def post_commands_state(store: Store, job_id: int) -> str:
    """How far a backup job's post-backup commands (its step 6) are, as its backup records it:
    "pending" (also before the backup is made), "running", or how they ended."""
    backup = queries.job_backup(store, job_id)
    steps = queries.backup_steps(store, backup["id"]) if backup is not None else []
    return next((s["state"] for s in steps if s["step"] == POST_STEP), "pending")


def refresh_dead(store: Store) -> None:
    unless_rebuilding(store, jobsmod.refresh_dead)
