"""The backup verb: one or several sources backed up now, each as its own job, all onto the day's
medium (as RAB does: the medium of the run, picked once), up to `max_parallel` at once.

A backup that goes wrong is recorded on its job row and notified however it was started: the
command line, a detached job the UI started, or `run-due` (actions/run_due.py).
"""

from __future__ import annotations

import functools
import json
import sqlite3
import traceback
from dataclasses import dataclass, field
from datetime import datetime
from typing import Callable

from rabtui.actions import cleanup as cleanup_actions
from rabtui.actions.logins_ahead import LoginsAhead
from rabtui.actions.recording import recording
from rabtui.backup import batch
from rabtui.backup.pipeline import run_backup
from rabtui.config import Config, Medium
from rabtui.errors import EXIT_FAILED, EXIT_OK, LockBusy, RabtuiError, UsageError, WorkFailed, worst_exit
from rabtui.events import LOG, Emit, Event, Prompter
from rabtui.media.rotation import next_medium
from rabtui.ops import notify
from rabtui.ssh.shared import SharedConnection
from rabtui.state import queries
from rabtui.state import jobs
from rabtui.state.jobs import JobRecorder
from rabtui.state.store import Store
from rabtui.state.store_check import state_failure

RunCancel = batch.RunCancel
NOT_STARTED = batch.NOT_STARTED


@dataclass(frozen=True)
class SourceOutcome:
    source: str
    exit_code: int
    summary: str
    error: str | None                  # the backup could not start or failed (a medium unknown, a lock held ...)
    undelivered: list[str] = field(default_factory=list)   # notifications that could not be sent


@dataclass
class BackupRun:
    medium: str | None
    outcomes: list[SourceOutcome]
    undelivered: list[str] = field(default_factory=list)   # the run's notifications that could not be sent

    @property
    def exit_code(self) -> int:
        return functools.reduce(worst_exit, (o.exit_code for o in self.outcomes), EXIT_OK)


def as_job(cfg: Config, store: Store, source_id: str, recorder: JobRecorder, *, emit: Emit,
           prompter: Prompter | None, medium_id: str | None = None,
           now: datetime | None = None, ssh: SharedConnection | None = None) -> SourceOutcome:
    """One source's backup under `recorder`: its outcome on the job row and, when it failed or
    ended with warnings, a notification. Raises LockBusy (another backup of the source runs) with
    the job row left to the caller: `backup` calls it a failure, run-due a slot already covered."""
    try:
        result = run_backup(cfg, store, source_id, emit=emit, cancel=recorder.cancel, prompter=prompter,
                            cancel_undo=recorder.cancel_undo,
                            now=now, medium_id=medium_id, job_id=recorder.job_id, ssh=ssh)
    except LockBusy:
        raise
    except Exception as exc:
        # anything else is a fault of rabtui's (or of the state's disk): this source's backup failed,
        # said with its traceback in the job's log, and the other sources of the night go on
        error = exc if isinstance(exc, RabtuiError) else _unexpected(exc, recorder, cfg)
        try:
            recorder.finish("failed", error.exit_code, str(error))
        except sqlite3.Error:   # the state's own failure again: said in the outcome all the same
            pass
        return _failed(cfg, source_id, error, now)
    except KeyboardInterrupt:     # a second Ctrl-C: rabtui ends at once
        recorder.finish("cancelled", EXIT_FAILED, jobs.INTERRUPTED)
        raise
    except BaseException as exc:
        recorder.finish("failed", EXIT_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    summary = result.status + (f": {result.reason}" if result.reason else "")
    try:
        recorder.finish(result.status, result.exit_code, summary)
    except sqlite3.Error as exc:     # the backup ended as it says; its job's row could not say so
        error = state_failure(exc, cfg.state_dir / "rabtui.db")
        said = not_recorded(summary, error, "its job", "recorded")
        return SourceOutcome(source_id, worst_exit(result.exit_code, error.exit_code), said, said,
                             notify.backup_result(cfg, result, now))
    return SourceOutcome(source_id, result.exit_code, summary, None, notify.backup_result(cfg, result, now))


def not_recorded(summary: str, error: RabtuiError, what: str, done: str) -> str:
    """How a backup ended (`summary`), and that `what` could not be `done` for the state's `error`
    (said once: the summary may say it already)."""
    return summary + (f"; nor could {what} be {done}" if str(error) in summary
                      else f"; {what} could not be {done}: {error}")


def fault_outcome(cfg: Config, source_id: str, exc: Exception, now: datetime | None = None) -> SourceOutcome:
    """The outcome of a source whose backup could not even be run as a job (its job's row not
    written: the state database full, say), notified as a failed backup: the other sources of a
    run go on, and each one's outcome is reported."""
    if isinstance(exc, sqlite3.Error):
        error: RabtuiError = state_failure(exc, cfg.state_dir / "rabtui.db")
    else:
        error = exc if isinstance(exc, RabtuiError) else WorkFailed(f"internal error: {type(exc).__name__}: {exc}")
    return _failed(cfg, source_id, error, now)


def not_started(cfg: Config, ids: list[str], exc: Exception) -> BackupRun:
    """A run none of whose backups can start, the state database being unusable (its directory full,
    damaged, unreadable): each source's backup is reported and notified as failed all the same."""
    return BackupRun(None, [fault_outcome(cfg, sid, exc) for sid in ids])


def _failed(cfg: Config, source_id: str, error: RabtuiError, now: datetime | None) -> SourceOutcome:
    """A failed backup's outcome, notified."""
    event = notify.make_event("backup_failed", "failed", f"backup of {source_id} failed: {error}",
                              source=source_id, now=now)
    problems = notify.send(cfg, event, today=now.date() if now else None)
    return SourceOutcome(source_id, error.exit_code, f"failed: {error}", str(error), problems)


def _unexpected(exc: Exception, recorder: JobRecorder, cfg: Config) -> RabtuiError:
    """An exception no step turned into a message, as one: the state database's own failure when it
    is one, else what it was; its traceback goes into the job's log (when it can be written)."""
    try:
        recorder.emit(Event(LOG, "".join(traceback.format_exception(exc)).rstrip()))
    except sqlite3.Error:
        pass
    if isinstance(exc, sqlite3.Error):
        return state_failure(exc, cfg.state_dir / "rabtui.db")
    return WorkFailed(f"internal error: {type(exc).__name__}: {exc}",
                      hint="the job's log holds its traceback (rabtui jobs follow ID); please report it")


def chosen_sources(cfg: Config, ids: list[str], every: bool) -> list[str]:
    """The sources a run backs up (`every`: all configured); unknown ids are refused before anything runs."""
    if not cfg.sources:
        raise UsageError(f"no sources in {cfg.path}")
    if not cfg.media:
        raise UsageError(f"no media in {cfg.path}: add a [[media]] table")
    if every:
        if ids:
            raise UsageError("give source ids or --all, not both")
        return [s.id for s in cfg.sources]
    if not ids:
        raise UsageError("name the sources to back up, or use --all",
                         hint="sources: " + ", ".join(s.id for s in cfg.sources))
    ids = list(dict.fromkeys(ids))
    for sid in ids:
        cfg.source(sid)
    return ids


def day_medium(cfg: Config, store: Store) -> Medium:
    """The medium a backup started now goes to: the one the backups under way write to (all
    sources of a run go onto one medium), else the next of the rotation."""
    # the rotation first: a backup records its job and its row before it marks its medium used, so
    # a run that marked one since is found among the jobs (read second) and joined
    following = next_medium(cfg, store)
    configured = {m.id for m in cfg.media}
    for job in jobs.running_jobs(store):
        if job["kind"] != "backup":
            continue
        row = queries.job_backup(store, job["id"])
        medium_id = row["medium"] if row else jobs.medium_arg(json.loads(job["argv"] or "[]"))
        if medium_id in configured:
            return cfg.medium(medium_id)
    return following


def start_detached(cfg: Config, store: Store, source_id: str) -> int:
    """A backup of one source as a detached job (started from the UI), onto the day's medium."""
    args = ["backup", source_id]
    if cfg.media:   # none: the job fails at its step 2 and says why
        args += ["--medium", day_medium(cfg, store).id]
    with recording(store):
        return jobs.start_detached(store, cfg.path, "backup", source_id, f"backup {source_id}", args)


def backup(cfg: Config, store: Store, emit_for: Callable[[str | None], Emit], cancel: RunCancel,
           prompter: Prompter | None, *, ids: list[str], medium: str | None = None,
           job_id: int | None = None) -> BackupRun:
    """Back up `ids` now onto `medium` (default: the next of the rotation); several: the partial
    data of failed runs deleted first, as before run-due's backups. `emit_for(source)` is
    each source's emit (None: the run's own messages); `prompter` None: each job asks through
    the state database (a detached job); `job_id`: the job row the UI made for one source."""
    if job_id is not None and len(ids) != 1:
        raise UsageError("--job-id goes with exactly one source")
    if len(ids) > 1:     # as run-due's backups: failed runs' partial data may take the room they need
        cleanup_actions.partial_data_first(cfg, store, emit_for(None), datetime.now())
    # the notifications are delivered off the backups' threads: a hung notify command holds no source's
    # turn nor its job's end, and the run waits for them (bounded) at its very end
    with notify.deferred(cfg, cancel.event) as undelivered:
        run = _backup(cfg, store, emit_for, cancel, prompter, ids, medium, job_id)
    run.undelivered += undelivered
    return run


def _backup(cfg: Config, store: Store, emit_for: Callable[[str | None], Emit], cancel: RunCancel,
            prompter: Prompter | None, ids: list[str], medium: str | None, job_id: int | None) -> BackupRun:
    with LoginsAhead(cfg, ids) as ahead:
        try:
            target = cfg.medium(medium) if medium else day_medium(cfg, store)
        except sqlite3.Error as exc:     # the state database cannot be read: no backup can start
            return not_started(cfg, ids, exc)

        def failed(sid: str, exc: Exception) -> SourceOutcome:
            return fault_outcome(cfg, sid, exc)

        def work(sid: str, waiting_job: int | None) -> SourceOutcome:
            with ahead.turn(sid) as login:
                return _one(cfg, store, sid, target.id, emit_for(sid), prompter, waiting_job, cancel, login)

        if len(ids) == 1:   # its job's row not even written (the state database full or held): failed all the same
            return BackupRun(target.id, batch.run_each(store, ids, lambda sid: work(sid, job_id), 1, failed))
        return BackupRun(target.id, batch.run_queued(store, target, ids, lambda sid: (sid, f"backup of {sid}"), work,
                                                     cfg.rabtui.max_parallel, emit_for(None), failed, cancel))


def _one(cfg: Config, store: Store, sid: str, medium_id: str, emit: Emit, prompter: Prompter | None,
         job_id: int | None, cancel: RunCancel, login: SharedConnection | None) -> SourceOutcome:
    """One source's backup as its own job (`job_id`: the row the UI made, or its row while it waited
    its turn), in a thread of its own when several run at once."""
    recorder = JobRecorder(store, "backup", sid, f"backup of {sid}", job_id=job_id)
    if cancel.not_started(recorder):
        return SourceOutcome(sid, EXIT_FAILED, NOT_STARTED, NOT_STARTED)
    try:
        with cancel.covering(recorder.cancel):
            return as_job(cfg, store, sid, recorder, emit=_both(recorder.emit, emit),
                          prompter=prompter or recorder.prompter(), medium_id=medium_id, ssh=login)
    except LockBusy as exc:
        recorder.finish("failed", exc.exit_code, str(exc))
        return SourceOutcome(sid, exc.exit_code, f"failed: {exc}", str(exc))


def _both(first: Emit, second: Emit) -> Emit:
    def emit(event) -> None:
        first(event)
        second(event)

    return emit
