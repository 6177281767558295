"""The run-due verb (cron, systemd timers): the backups the schedules say are due, all onto the
day's medium (picked once, before any starts), up to `max_parallel` at once; then cleanup, the
health check, and the checkpoints that are due, named.

What it has to say goes out through `emit`: LOG lines for the report, WARNING for notifications
that could not be sent, ERROR for what failed.
"""

from __future__ import annotations

import functools
import sqlite3
import threading
from dataclasses import replace
from datetime import datetime

from rabtui import config as configmod
from rabtui import faults
from rabtui.actions import backup as backup_actions
from rabtui.actions import cleanup as cleanup_actions
from rabtui.actions import cleanup_called_for
from rabtui.actions import status as status_actions
from rabtui.actions.jobs import SCHEDULED_TITLE
from rabtui.actions.logins_ahead import LoginsAhead
from rabtui.backup import batch, recovery
from rabtui.backup.run_lock import source_lock
from rabtui.checkpoint import triggers
from rabtui.config import Config
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS, Cancelled, LockBusy, RabtuiError, worst_exit
from rabtui.events import ERROR, LOG, WARNING, Emit, Event
from rabtui.media import mounting
from rabtui.ops import health, health_changes, notify, schedule, schedule_history
from rabtui.state import jobs, locks, queries
from rabtui.state.dir_lock import RunsAlone
from rabtui.state.jobs import JobRecorder
from rabtui.state.store import Store
from rabtui.state.store_check import state_failure


def run_due(cfg: Config, store: Store, emit: Emit, cancel: batch.RunCancel, *, now: datetime | None = None) -> int:
    """Everything that is due; the worst exit code of the backups, the cleanup (1 when it failed
    to delete what it planned) and the health check (1 when the state database could not record
    it). `now`: pretend it is this time."""
    # the notifications go out in order off the backups' threads; the run waits for them (bounded) at its end
    with notify.deferred(cfg, cancel.event) as undelivered:
        code = _run_due(cfg, store, emit, cancel, now)
    _warn(emit, undelivered)
    return code


def _run_due(cfg: Config, store: Store, emit: Emit, cancel: batch.RunCancel, now: datetime | None) -> int:
    clock = now or datetime.now()
    due_now = None
    try:
        due_now = _due_now(cfg, store, emit, clock, now)
        if due_now:
            cleanup_actions.partial_data_first(cfg, store, emit, clock, cancel.event)
        codes = _backups(cfg, store, due_now, emit, cancel, now) if due_now else []
    except sqlite3.Error as exc:     # a damaged page the schedule or the rotation reads: said, notified, and
        failure = state_failure(exc, cfg.state_dir / "rabtui.db")     # the rest of the night runs still
        emit(Event(ERROR, f"rabtui: no backup can run: {failure}"))
        _notify_state(cfg, failure, emit, now)
        codes = [EXIT_FAILED]
    notify.delivered()      # each step after the notifications of those before (an alert script may act on them)
    if cleanup_called_for.called_for(store, due_now is None or bool(due_now), clock):
        codes.append(_cleanup(cfg, store, emit, clock, now, cancel.event))
    notify.delivered()
    at_end, unread = _config_at_end(cfg, emit)
    codes.append(_health_check(at_end, store, emit, now, read_now=at_end is not cfg, unread=unread))
    codes.append(_checkpoints_due(at_end, store, emit, clock))
    return functools.reduce(worst_exit, codes, EXIT_OK)


def _config_at_end(cfg: Config, emit: Emit) -> tuple[Config, str | None]:
    """The config as it reads at the end of the run, for its health check and checkpoints due: an
    edit made during a long run judged as `check` would judge it. The one read at the start where
    it cannot be read now (with why, said: the run's results are judged and recorded all the same)
    or names another state directory (said)."""
    if cfg.path is None:
        return cfg, None
    try:
        now = configmod.load(cfg.path, check_media=False)
    except (RabtuiError, OSError) as exc:
        return cfg, (f"the configuration {cfg.path} cannot be read at the end of this run: {exc}: judged by the one"
                     " read at its start; no run-due starts until it is mended")
    if now.state_dir != cfg.state_dir:
        emit(Event(LOG, f"the configuration {cfg.path} names another state directory since this run began"
                        f" ({now.state_dir}): its health check judges by the one read at its start"))
        return cfg, None
    return now, None


def _due_now(cfg: Config, store: Store, emit: Emit, clock: datetime, now: datetime | None) -> list:
    """The sources due now whose lock is free (those held are said, left to the next run-due)."""
    _carry_slots(store, now)
    try:
        schedule_history.note_schedules(cfg, store, clock.timestamp())    # an edit seen as soon as run-due runs
    except sqlite3.Error:
        pass     # a database held or full keeps no backup from starting: the health check records it, or says why not
    due_now = []
    for due in schedule.due_sources(cfg, store, clock):
        if locks.source_lock(cfg.state_dir, due.source).is_held():
            # its slot is marked when that backup ends (if run-due started it), else it is due next time
            other = _other_holder(cfg, due.source)
            held = f"{other} holds its lock" if other else "a backup of it is under way"
            emit(Event(LOG, f"{due.source}: due (schedule time {due.slot:%Y-%m-%d %H:%M}), and {held}:"
                            " left to the next run-due"))
        else:
            due_now.append(due)
    return due_now


def without_state(cfg: Config, failure: RabtuiError, emit: Emit, now: datetime | None = None) -> int:
    """run-due when the state database cannot even be opened (its directory full, damaged): no
    backup can start, nor be told due. Said, and notified as the health check notifies it (the
    `state` check, critical), so that a night without backups is not a silent one."""
    emit(Event(ERROR, f"rabtui: no backup can run: {failure}"))
    _notify_state(cfg, failure, emit, now)
    return failure.exit_code


def refused(cfg: Config, refusal: LockBusy, emit: Emit, now: datetime | None = None) -> int:
    """run-due refused as a whole (rebuild-state replaces the state database, and holds its lock):
    none of its parts can run, nor tell what is due. Said, and notified once, so that a night
    without backups is not a silent one (as `backup` so refused notifies each source it names)."""
    message = f"run-due refused, nothing ran (no backup, cleanup, health check or checkpoint): {refusal}"
    emit(Event(ERROR, f"rabtui: {message}"))
    _warn(emit, notify.send(cfg, notify.make_event("run_due_failed", "failed", message, now=now)))
    return refusal.exit_code


def _notify_state(cfg: Config, failure: RabtuiError, emit: Emit, now: datetime | None) -> None:
    """The state database's `failure` notified as `check` notifies it: the `state` check, critical,
    said once (health_changes.record_state keeps that beside the database)."""
    changes = health_changes.record_state(cfg.state_dir, str(failure))
    _warn(emit, health_changes.notify_changes(cfg, changes, now))


def _cleanup(cfg: Config, store: Store, emit: Emit, clock: datetime, now: datetime | None,
             cancel: threading.Event) -> int:
    """Retention's plan, applied; EXIT_FAILED (said as ERROR events, and notified) when it failed
    or a deletion did. `cancel` (the run's: SIGTERM, SIGHUP, Ctrl-C) stops it at its next safe point
    (EXIT_FAILED, said, not notified: what it had not begun is left for the next cleanup), and ends
    its waits for a medium's mount or unmount. Noted once made whole (cleanup_called_for)."""
    try:
        ended = queries.backups_ended(store)
        with cleanup_actions.one_at_a_time(cfg) as held:     # its plan not made over another's deletions
            cleanup_actions.recover(cfg, store, lambda event: emit(Event(LOG, event.message)), cancel)
            plan = cleanup_actions.plan(cfg, store, now=clock, emit=lambda event: emit(Event(LOG, event.message)),
                                        cancel=cancel)
            if not cleanup_actions.has_work(plan):
                jobs.prune_events(store)
                cleanup_called_for.note(store, clock, ended)
                return EXIT_OK
            for line in cleanup_actions.plan_lines(plan, False):
                emit(Event(LOG, line))
            done = cleanup_actions.apply(cfg, store, plan, now=now, cancel=cancel, held=held)
    except cleanup_actions.AnotherCleanup as exc:     # that one deletes what is due: no failure of the night
        emit(Event(LOG, f"cleanup: {exc}"))
        return EXIT_OK
    except Cancelled as exc:      # the run's cancel (SIGTERM, Ctrl-C) before a deletion began: no failure notified
        emit(Event(ERROR, f"rabtui: {exc}"))
        return EXIT_FAILED
    except (RabtuiError, OSError, sqlite3.Error) as exc:   # the state directory full, say: the health check runs still
        if isinstance(exc, sqlite3.Error):
            exc = state_failure(exc, cfg.state_dir / "rabtui.db")
        emit(Event(ERROR, f"rabtui: cleanup: {exc}"))
        _warn(emit, notify.send(cfg, notify.make_event("cleanup_failed", "failed", str(exc), now=now)))
        return EXIT_FAILED
    for line in cleanup_actions.done_lines(plan, done):
        emit(Event(LOG, line))
    for problem in done.failed:
        emit(Event(ERROR, f"rabtui: cleanup: {problem}"))
    if done.cancelled:
        emit(Event(ERROR, f"rabtui: cleanup: {cleanup_actions.cancelled_line(plan, done)}"))
    _warn(emit, done.undelivered)
    if not done.cancelled:
        # what it kept (a medium away, offsite for weeks) waits for the next cleanup called for
        if done.failed:
            emit(Event(LOG, "cleanup: what it could not delete is tried again by a run-due within"
                            f" {cleanup_called_for.AGAIN.total_seconds() / 3600:g} h (`rabtui cleanup` tries now)"))
        cleanup_called_for.note(store, clock, ended, failed=bool(done.failed))
    return EXIT_FAILED if done.failed or done.cancelled else EXIT_OK


def _night_medium(cfg: Config, store: Store, due_now: list):
    """The medium a backup for one of these times began on (its run-due killed: the same night, once
    more), else the day's medium (backup_actions.day_medium): a killed run marked its medium used,
    and the rotation went on to the next, the night before's in a rotation of disks."""
    began = schedule.begun_on(store, due_now)
    configured = next((m for m in cfg.media if m.id == began), None)
    return configured or backup_actions.day_medium(cfg, store)


def _health_check(cfg: Config, store: Store, emit: Emit, now: datetime | None, *, read_now: bool = False,
                  unread: str | None = None) -> int:
    """The health check, its changes recorded and notified; EXIT_FAILED, said, when the state
    database cannot record them (its directory full, say: they are notified all the same) or
    cannot be read: the checkpoints due are named still. `read_now`: `cfg` was read at the end of
    the run, its schedules recorded as check records them (not so for the one read at its start:
    an edit since, seen by a check, would be undone on record). `unread`: why the config could not
    be read again at the end: said, a critical problem of the check, EXIT_FAILED."""
    if unread is not None:
        emit(Event(ERROR, f"rabtui: health check: {unread}"))
    config_problem = (health.Problem("config", health.CRITICAL, unread),) if unread is not None else ()
    try:
        result = status_actions.check(cfg, store, now, read_now=read_now, more=config_problem)
    except sqlite3.Error as exc:     # the database cannot be read (damaged): notified as `check` does
        failure = state_failure(exc, cfg.state_dir / "rabtui.db")
        emit(Event(ERROR, f"rabtui: health check: {failure}"))
        _notify_state(cfg, failure, emit, now)
        return EXIT_FAILED
    _warn(emit, result.undelivered)
    if result.unrecorded:       # its changes notified all the same
        emit(Event(ERROR, f"rabtui: health check: {result.unrecorded}"))
        return EXIT_FAILED
    return EXIT_OK if unread is None else EXIT_FAILED


def _checkpoints_due(cfg: Config, store: Store, emit: Emit, clock: datetime) -> int:
    """The checkpoints due, named; EXIT_FAILED, said, when the state database cannot be read for
    them (damaged, say): the run ends as the rest of it says, with the worst of its exit codes."""
    try:
        due = triggers.due(cfg, store, now=clock.timestamp())
    except sqlite3.Error as exc:
        emit(Event(ERROR, f"rabtui: checkpoint triggers: {state_failure(exc, cfg.state_dir / 'rabtui.db')}"))
        return EXIT_FAILED
    for st in due:
        emit(Event(LOG, f"checkpoint due: {st.key}: {'; '.join(st.reasons)}"))
    return EXIT_OK


def _other_holder(cfg: Config, source_id: str) -> str | None:
    """What holds the source's lock when it is not a backup of it (a cleanup recovering its killed
    runs, rebuild-state), as the lock names it: its pid, command and since when; None for a backup."""
    lock = locks.source_lock(cfg.state_dir, source_id)
    return lock.holder_described() if (lock.live_holder() or {}).get("by") else None


def _done(cfg: Config, store: Store, due, recorder: JobRecorder, now: datetime | None) -> str | None:
    """Why the source's backup for its slot is done already, if it is: by another run-due while this
    one waited, or by one killed once that backup was complete (its record said so), which the
    recovery of its killed runs (under the source's lock: LockBusy while a backup of it runs) records."""
    if schedule.done(store, due.source, due.slot, now):
        return "backed up meanwhile by another run-due"
    media = {m.id: m for m in cfg.media}
    killed_on = [media[m] for m in schedule.killed_for(store, due.source, due.slot) if m in media]
    if not killed_on:
        return None
    with source_lock(cfg, due.source):
        for medium in killed_on:     # mounted (one with a device) as the backup would, else found not there
            try:
                with mounting.mounted(medium, recorder.emit, cfg.state_dir, cancel=recorder.cancel):
                    recovery.recover_abandoned(store, due.source, recorder.emit, cfg, recorder.cancel,
                                               medium=medium.id)
            except (RabtuiError, OSError):     # a device that cannot be mounted: the backup says so
                continue
    _carry_slots(store, now)
    if schedule.done(store, due.source, due.slot, now):
        return "backed up by a run-due that was killed once the backup was complete"
    return None


def _mark(store: Store, due, now: datetime | None) -> None:
    try:
        schedule.mark_run(store, due.source, due.slot, now)
    except sqlite3.Error:      # not marked: due again at the next run-due
        pass


def _asked_to_stop(store: Store, recorder: JobRecorder) -> bool:
    """Whether the job's own cancel was asked for (`jobs cancel`, the console's x): the run's stop
    sets its cancel event too, but writes no such request."""
    try:
        row = queries.job(store, recorder.job_id)
    except sqlite3.Error:      # not known: left due, as by the run's stop
        return False
    return bool(row and row["cancel_requested"])


def _carry_slots(store: Store, now: datetime | None) -> None:
    try:
        schedule.carry_slots(store, now)
    except sqlite3.Error:      # not marked now: the job's row counts still, and the next run-due marks it
        pass


def _warn(emit: Emit, undelivered: list[str]) -> None:
    for problem in undelivered:
        emit(Event(WARNING, problem))


def _backups(cfg: Config, store: Store, due_now: list, emit: Emit, cancel: batch.RunCancel,
             now: datetime | None) -> list[int]:
    """The due sources' backups; their exit codes. The first source's SSH login begins before the
    night's medium is chosen, each later one's as the turn of the one before it comes (LoginsAhead)."""
    with LoginsAhead(cfg, [due.source for due in due_now]) as ahead:
        return _backups_logged_in(cfg, store, due_now, emit, cancel, now, ahead)


def _backups_logged_in(cfg: Config, store: Store, due_now: list, emit: Emit, cancel: batch.RunCancel,
                       now: datetime | None, ahead: LoginsAhead) -> list[int]:
    medium = _night_medium(cfg, store, due_now) if cfg.media else None   # none: each backup fails, said in its job

    def work(due, waiting_job: int | None = None) -> int:
        with ahead.turn(due.source) as login:
            return _one(due, waiting_job, login)

    def _one(due, waiting_job: int | None, login) -> int:
        emit(Event(LOG, f"{due.source}: due (schedule time {due.slot:%Y-%m-%d %H:%M})"))
        recorder = JobRecorder(store, "backup", due.source, f"{SCHEDULED_TITLE}{due.source}", job_id=waiting_job)
        if cancel.not_started(recorder):
            emit(Event(ERROR, f"{due.source}: {batch.NOT_STARTED}"))
            if not cancel.is_set() or _asked_to_stop(store, recorder):    # its own job cancelled: done, as
                _mark(store, due, now)                                       # one cancelled under way
            return EXIT_FAILED
        try:
            schedule.note_slot(store, recorder.job_id, due.slot)
        except sqlite3.Error:     # not noted: should this run be killed once its backup is complete,
            pass                  # the next run-due backs the source up again
        try:
            with cancel.covering(recorder.cancel):
                done = _done(cfg, store, due, recorder, now)
                if done:
                    recorder.finish("cancelled", EXIT_OK, done)
                    emit(Event(LOG, f"{due.source}: {done} for this schedule time"))
                    return EXIT_OK
                outcome = backup_actions.as_job(cfg, store, due.source, recorder, emit=recorder.emit,
                                                prompter=recorder.prompter(), medium_id=medium and medium.id, now=now,
                                                ssh=login)
        except RunsAlone as exc:      # none can run until that restore ends: failed, notified, its time still due
            try:
                recorder.finish("failed", exc.exit_code, str(exc))
            except sqlite3.Error:     # the state directory full still: the notification says it all the same
                pass
            return failed(due, exc)
        except LockBusy as exc:   # a backup of this source began meanwhile: left to the next run-due too,
            recorder.finish("cancelled", EXIT_OK, str(exc))      # as one under way when this run began
            other = _other_holder(cfg, due.source)
            took = f"{other} took its lock meanwhile" if other else "a backup of it began meanwhile"
            emit(Event(LOG, f"{due.source}: due, and {took}: left to the next run-due ({exc})"))
            return EXIT_OK
        # the slot is done once its backup has ended, not when it starts: a run killed meanwhile
        # leaves it due, and so does one stopped as a whole (SIGTERM of a shutdown, the terminal
        # closed, Ctrl-C: nobody decided against this backup) before it saved its data. A backup
        # whose own job was cancelled is done, the run stopped after or not: the next run-due does
        # not start it again by itself
        faults.point("run_due.backup_ended", due.source)
        if not cancel.is_set() or outcome.exit_code in (EXIT_OK, EXIT_WARNINGS) or _asked_to_stop(store, recorder):
            try:
                schedule.mark_run(store, due.source, due.slot, now)
            except sqlite3.Error as exc:     # the backup ended as its outcome says: still due next time
                error = state_failure(exc, cfg.state_dir / "rabtui.db")
                said = backup_actions.not_recorded(outcome.summary, error, "its schedule time", "marked done")
                outcome = replace(outcome, exit_code=worst_exit(outcome.exit_code, error.exit_code), summary=said,
                                  error=said)
        if outcome.error:
            emit(Event(ERROR, f"{due.source}: {outcome.error}"))
        else:
            emit(Event(LOG, f"{due.source}: {outcome.summary}"))
        _warn(emit, outcome.undelivered)
        return outcome.exit_code

    def failed(due, exc: Exception) -> int:
        outcome = backup_actions.fault_outcome(cfg, due.source, exc, now)
        emit(Event(ERROR, f"{due.source}: {outcome.error}"))
        _warn(emit, outcome.undelivered)
        return outcome.exit_code

    if len(due_now) == 1 or medium is None:
        return batch.run_each(store, due_now, work, 1, failed)
    return batch.run_queued(store, medium, due_now, lambda due: (due.source, f"{SCHEDULED_TITLE}{due.source}"),
                            work, cfg.rabtui.max_parallel, emit, failed, cancel)
