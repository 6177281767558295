"""Jobs: every backup, checkpoint or restore is recorded in the state database while it runs.

Whoever runs the work (the command line in the foreground, cron, or a detached job process started
by the TUI) wraps it in a `JobRecorder`: events go to the `events` table, the newest progress to
`jobs.progress`, questions to `prompts` (answered by the TUI or `rabtui jobs answer`), and a
cancel request in `jobs.cancel_requested` sets the work's cancellation event (a second one, 2 there,
sets `cancel_undo` too: a backup's post-backup commands stop). A job whose process
died is shown as `dead`.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import sys
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

from rabtui import faults, privacy, proc, proc_table
from rabtui.errors import LockBusy, UsageError
from rabtui.events import ITEM, PROGRESS, Emit, Event
from rabtui.state.job_prompts import DbPrompter
from rabtui.state.store import Store

PROGRESS_EVERY = 0.2   # seconds between two progress writes (bursts collapse to the newest)
HEARTBEAT_EVERY = 2.0
WATCHER_GONE = 35.0    # seconds: a write of the watcher waits at most the busy timeout (30 s)
FINAL_STATES = ("completed", "warnings", "failed", "cancelled", "dead")
LIVE = ("running", "waiting", "queued")     # a job under way, or about to be
CANCEL_AGAIN = 2    # jobs.cancel_requested of a second cancel


class JobRecorder:
    def __init__(self, store: Store, kind: str, target: str | None, title: str,
                 argv: Sequence[str] | None = None, job_id: int | None = None,
                 cancel: threading.Event | None = None):
        """`cancel`: the work's cancellation event, set too by a cancel request of the job.
        `cancel_undo`: set by a second one (`request_cancel(..., again=True)`), that stops what runs
        after a cancel to undo (a backup's post-backup commands)."""
        self.store = store
        self.cancel = cancel if cancel is not None else threading.Event()
        self.cancel_undo = threading.Event()
        now = time.time()
        if job_id is None:
            cur = store.execute(
                "INSERT INTO jobs(kind, target, title, argv, pid, pid_ident, status, started, heartbeat)"
                " VALUES (?,?,?,?,?,?, 'running', ?, ?)",
                (kind, target, title, json.dumps(list(argv or sys.argv)), os.getpid(), _own_identity(), now, now),
            )
            job_id = cur.lastrowid
        else:  # a queued job row (`start_detached`, `queued`), now taken over by its own process
            taken = store.execute(
                "UPDATE jobs SET pid=?, pid_ident=?, status='running', started=?, heartbeat=? WHERE id=?"
                " AND kind=? AND status='queued'", (os.getpid(), _own_identity(), now, now, job_id, kind)).rowcount
            if not taken:    # another job's row (ended, or of another kind) keeps its title, times and events
                row = store.one("SELECT kind, status FROM jobs WHERE id=?", (job_id,))
                raise UsageError(f"job {job_id} is not a {kind} waiting to start"
                                 + (f" (it is a {row['kind']}, {row['status']})" if row else " (there is none)"))
            row = store.one("SELECT cancel_requested FROM jobs WHERE id=?", (job_id,))
            if row:   # cancelled while it waited its turn
                self._cancelled(row["cancel_requested"])
        self.job_id = job_id
        self._last_progress = 0.0
        self._pending_progress: Event | None = None
        self._progress_data: dict = {}   # every progress field seen so far (an item carries only "current")
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name=f"job-{job_id}-watch", daemon=True)
        self._watcher.start()

    # emit: the engine's callback
    def emit(self, event: Event) -> None:
        if event.kind in (PROGRESS, ITEM):
            with self._lock:
                self._pending_progress = _merge_progress(self._pending_progress, event)
                if event.ts - self._last_progress < PROGRESS_EVERY:
                    return
                self._last_progress = event.ts
                pending, self._pending_progress = self._pending_progress, None
            self._write_progress(pending)
            return
        self.store.add_event(self.job_id, event.kind, event.message, event.data, ts=event.ts)

    def recording(self, emit: Emit) -> Emit:
        """`emit` with each event recorded in the job first."""

        def both(event: Event) -> None:
            self.emit(event)
            emit(event)

        return both

    def _write_progress(self, event: Event | None) -> None:
        if event is not None:
            with self._lock:
                self._progress_data.update(event.data)
                data = json.dumps(self._progress_data, default=str)
            self.store.execute(
                "UPDATE jobs SET progress=?, heartbeat=? WHERE id=?",
                (data, time.time(), self.job_id),
            )

    def _watch(self) -> None:
        while not self._stop.wait(HEARTBEAT_EVERY / 2):
            try:
                with self._lock:
                    pending, self._pending_progress = self._pending_progress, None
                self._write_progress(pending)
                row = self.store.one("SELECT cancel_requested FROM jobs WHERE id=?", (self.job_id,))
                if row:
                    self._cancelled(row["cancel_requested"])
                self.store.execute("UPDATE jobs SET heartbeat=? WHERE id=?", (time.time(), self.job_id))
            except Exception:  # the watcher must never take the job down
                pass
        self.store.close()      # its own connection

    def _cancelled(self, requested: int) -> None:
        if requested >= CANCEL_AGAIN:
            self.cancel_undo.set()
        if requested:
            self.cancel.set()

    def prompter(self, asking=None):
        """Where the job's questions go: the prompts table, answered from the UI or `rabtui jobs
        answer`. `asking`: the prompter of the operator at hand (a terminal's); one that can post
        its questions in the job too (`in_job`) gets the table as well, and the first answer counts."""
        posted = DbPrompter(self.store, self.job_id)
        if asking is None:
            return posted
        in_job = getattr(asking, "in_job", None)
        return in_job(posted) if in_job is not None else asking

    def finish(self, status: str, exit_code: int, summary: str = "") -> None:
        # the watcher is a daemon thread: a write of its own still under way when the process ends
        # would be cut off there (one that writes the WAL back leaves the file short of its header)
        self._stop.set()
        self._watcher.join(WATCHER_GONE)
        with self._lock:
            pending, self._pending_progress = self._pending_progress, None
        self._write_progress(pending)
        self.store.execute(
            "UPDATE jobs SET status=?, exit_code=?, summary=?, finished=? WHERE id=?",
            (status, exit_code, summary, time.time(), self.job_id),
        )

    def discard(self) -> None:
        """The job never ran (refused for what was typed, before any work): its row and events go,
        and no failed job is left on the dashboard."""
        self._stop.set()
        self._watcher.join(WATCHER_GONE)
        with self.store.transaction() as conn:
            for table, key in (("events", "job_id"), ("prompts", "job_id"), ("jobs", "id")):
                conn.execute(f"DELETE FROM {table} WHERE {key}=?", (self.job_id,))

    def handle_signals(self) -> None:
        """SIGTERM and SIGHUP cancel the work cleanly instead of killing it mid-write."""

        def on_signal(signum, frame):
            self.cancel.set()

        for sig in (signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, on_signal)


def medium_arg(argv: Sequence[str]) -> str | None:
    """The `--medium ID` of a job's command line: the medium its backups go to."""
    for i, arg in enumerate(argv[:-1]):
        if arg == "--medium":
            return argv[i + 1]
    return None


def naming_medium(argv: Sequence[str], medium_id: str) -> list[str]:
    """A command line that names the medium its backups go to (see `medium_arg`)."""
    return list(argv) if medium_arg(argv) else [*argv, "--medium", medium_id]


@contextmanager
def queued(store: Store, kind: str, entries: Sequence[tuple[str, str]],
           argv: Sequence[str] | None = None) -> Iterator[dict[str, int]]:
    """Job rows, status `queued`, for work of this process that waits its turn (the sources of a
    run beyond max_parallel): `jobs list` and the TUI show them at once. Yields target -> job id;
    `JobRecorder(job_id=...)` takes a row over when its turn comes. A row still queued when the
    block ends (the run stopped before its turn) is closed as cancelled. `argv`: the command line
    the rows record (default: this process's). The rows are written all or none: an sqlite3.Error
    (the database full, or held by another process) leaves none queued."""
    now = time.time()
    argv = json.dumps(list(sys.argv if argv is None else argv))
    with store.transaction() as conn:
        ids = {target: conn.execute(
            "INSERT INTO jobs(kind, target, title, argv, pid, pid_ident, status, started, heartbeat)"
            " VALUES (?,?,?,?,?,?, 'queued', ?, ?)",
            (kind, target, title, argv, os.getpid(), _own_identity(), now, now)).lastrowid
            for target, title in entries}
    try:
        yield ids
    finally:
        for job_id in ids.values():
            try:
                _not_started(store, job_id, time.time())
            except sqlite3.Error:     # the state full, say: said by the sources' outcomes; a row left
                pass                  # queued by a process that ended reads as not started all the same


INTERRUPTED = "interrupted (Ctrl-C): rabtui ended at once, its work left as it was for the next run to find"


def interrupted(store: Store, job_ids) -> None:
    """Jobs of this process still under way when it is interrupted (a second Ctrl-C): they end
    with it, cancelled, said so."""
    for job_id in job_ids:
        store.execute("UPDATE jobs SET status='cancelled', exit_code=1, summary=?, finished=?"
                      " WHERE id=? AND status IN ('running', 'waiting')", (INTERRUPTED, time.time(), job_id))


def _not_started(store: Store, job_id: int, when: float | None) -> None:
    """A queued job whose run ended before its turn came (`when`: then; None: its last heartbeat)."""
    store.execute("UPDATE jobs SET status='cancelled', exit_code=1, summary='not started',"
                  " finished=COALESCE(?, heartbeat) WHERE id=? AND status='queued'", (when, job_id))


def _merge_progress(old: Event | None, new: Event) -> Event:
    if old is None:
        base = {}
    else:
        base = dict(old.data)
    if new.kind == ITEM:
        base["current"] = new.data.get("name", new.message)
    else:
        base.update(new.data)
    return Event(PROGRESS, data=base, ts=new.ts)


# --- reading jobs (CLI, TUI) ---------------------------------------------------------------------


def _own_identity() -> str | None:
    return proc_table.identity(os.getpid())     # not kept: a forked process is another


def refresh_dead(store: Store) -> None:
    """Mark running jobs whose process is gone as dead (a killed job, a reboot). A job that was
    still waiting its turn in that process never ran: it is closed as not started, as the end of
    its run would have closed it (`queued`)."""
    for row in store.all("SELECT id, pid, pid_ident, status, heartbeat FROM jobs"
                         " WHERE status IN ('running', 'waiting', 'queued')"):
        # its process wrote the last heartbeat: one holding the pid that began after that is another
        if row["pid"] and not proc_table.pid_alive(row["pid"], since=row["heartbeat"], ident=row["pid_ident"]):
            if row["status"] == "queued":
                _not_started(store, row["id"], None)
            else:
                store.execute("UPDATE jobs SET status='dead', finished=COALESCE(finished, heartbeat)"
                              " WHERE id=? AND status IN ('running', 'waiting')", (row["id"],))


def under_way(store: Store, job_id: int | None) -> bool:
    """Whether job `job_id` is queued, running or waiting for an answer."""
    row = store.one("SELECT status FROM jobs WHERE id=?", (job_id,)) if job_id is not None else None
    return row is not None and row["status"] not in FINAL_STATES


def running_jobs(store: Store) -> list:
    refresh_dead(store)
    return store.all("SELECT * FROM jobs WHERE status IN ('running', 'waiting', 'queued') ORDER BY id")


# a question is open while it has no answer and the job that asked it waits for one (a job that
# was cancelled or died while asking leaves its question unanswered): not once the job is asked to
# stop (it reads no answer then, and may take a while to end)
_OPEN = ("SELECT p.* FROM prompts p JOIN jobs j ON j.id=p.job_id"
         " WHERE p.answer IS NULL AND j.status IN ('running', 'waiting') AND j.cancel_requested = 0")


def open_prompts(store: Store, job_id: int | None = None) -> list:
    if job_id is None:
        return store.all(_OPEN + " ORDER BY p.id")
    return store.all(_OPEN + " AND p.job_id=? ORDER BY p.id", (job_id,))


def answer(store: Store, prompt_id: int, reply: str) -> None:
    """Answer an open question; one answered already (from the UI or another terminal), or whose
    job has ended, is not answered again: the operator is told so."""
    row = store.one("SELECT choices FROM prompts WHERE id=?", (prompt_id,))
    if row is None:
        raise UsageError(f"no question {prompt_id}")
    choices = json.loads(row["choices"])
    if reply not in choices:
        raise UsageError(f"{reply!r} is not an answer to question {prompt_id} (one of: {', '.join(choices)})")
    refresh_dead(store)
    taken = store.execute(f"UPDATE prompts SET answer=?, answered=? WHERE id IN (SELECT p.id FROM ({_OPEN}) p"
                          f" WHERE p.id=?)", (reply, time.time(), prompt_id)).rowcount
    if taken:
        return
    row = store.one("SELECT p.answer, p.answered, p.job_id, j.status, j.cancel_requested FROM prompts p"
                    " LEFT JOIN jobs j ON j.id=p.job_id WHERE p.id=?", (prompt_id,))
    if row["answer"] is not None:
        when = time.strftime("%H:%M:%S", time.localtime(row["answered"])) if row["answered"] else "before"
        raise UsageError(f"question {prompt_id} was already answered at {when}: {row['answer']}; {reply!r} is not"
                         " taken")
    if row["status"] in LIVE and row["cancel_requested"]:
        raise UsageError(f"job {row['job_id']}, which asked question {prompt_id}, was asked to stop; nothing was"
                         " answered")
    raise UsageError(f"job {row['job_id']}, which asked question {prompt_id}, is no longer waiting for an answer"
                     f" ({row['status'] or 'gone'}); nothing was answered")


def request_cancel(store: Store, job_id: int, again: bool = False, statuses: Sequence[str] = LIVE,
                   after_cancel: bool = False) -> str | None:
    """`again`: a second cancel, that stops what runs after the first to undo (see JobRecorder).
    The job's status as the request was written (what the cancel then does depends on it: a queued
    job never starts); None, nothing written, when its status is not among `statuses` (it ended, or
    began, since it was looked at), or, `after_cancel`, when no cancel of it was written before."""
    rows = store.all("UPDATE jobs SET cancel_requested=MAX(cancel_requested, ?) WHERE id=? AND cancel_requested >= ?"
                     f" AND status IN ({','.join('?' * len(statuses))}) RETURNING status",
                     (CANCEL_AGAIN if again else 1, job_id, 1 if after_cancel else 0, *statuses))
    return rows[0]["status"] if rows else None


# kinds whose job holds its target (a source, a drive) for the whole run: a second one started
# while one is under way would only fail at the lock
ONE_PER_TARGET = ("backup", "checkpoint")


def start_detached(store: Store, config_path: Path, kind: str, target: str | None, title: str,
                   args: Sequence[str]) -> int:
    """Start `rabtui --config PATH <args> --job-id N` as its own process in a new session.

    It keeps running when the UI quits or the terminal is lost; its job row is created here so
    that the UI can show it at once. A job of ONE_PER_TARGET whose target has one under way
    already (a key pressed twice) is refused (LockBusy) before anything starts: started, it would
    have failed at the lock, a failed job to acknowledge.
    """
    exclusive = kind in ONE_PER_TARGET and target is not None
    if exclusive:
        refresh_dead(store)
    now = time.time()
    with store.transaction() as conn:    # checked and written at once: two starts racing make one
        if exclusive:
            under_way = conn.execute(
                "SELECT id, started FROM jobs WHERE kind=? AND target=? AND status IN ('queued', 'running', 'waiting')"
                " ORDER BY id LIMIT 1", (kind, target)).fetchone()
            if under_way is not None:
                raise LockBusy(f"{kind} {target} is already under way: job {under_way['id']}, started"
                               f" {time.strftime('%Y-%m-%d %H:%M:%S', time.localtime(under_way['started']))}")
        # the row names this process until the job's own takes it over: one killed before that
        # leaves a row refresh_dead closes, not one queued for ever holding the target
        job_id = conn.execute(
            "INSERT INTO jobs(kind, target, title, argv, pid, pid_ident, status, started, heartbeat)"
            " VALUES (?,?,?,?,?,?, 'queued', ?, ?)",
            (kind, target, title, json.dumps(list(args)), os.getpid(), _own_identity(), now, now)).lastrowid
    faults.point("jobs.detached_recorded")
    logs = store.state_dir / "logs"
    argv = [sys.executable, "-m", "rabtui", "--config", str(config_path), *args, "--job-id", str(job_id)]
    try:
        privacy.private_dir(logs)
        pid = proc.spawn_detached(argv, log_path=logs / f"job-{job_id}.log")
    except BaseException:    # never started: its row would keep the next start of its target out
        _not_started(store, job_id, time.time())
        raise
    store.execute("UPDATE jobs SET pid=?, pid_ident=? WHERE id=? AND pid=?",
                  (pid, proc_table.identity(pid), job_id, os.getpid()))
    return job_id


def prune_events(store: Store) -> int:
    """Retention of the event log: events older than the oldest backup still kept go, except those
    of jobs still under way. Returns how many were deleted."""
    row = store.one("SELECT MIN(started) AS oldest FROM backups WHERE status <> 'deleted'")
    if row is None or row["oldest"] is None:
        return 0
    active = ",".join(f"'{s}'" for s in ("queued", "running", "waiting"))
    cur = store.execute(
        f"DELETE FROM events WHERE ts < ? AND (job_id IS NULL OR job_id NOT IN"
        f" (SELECT id FROM jobs WHERE status IN ({active})))", (row["oldest"],))
    return cur.rowcount
