"""The console's cancels of jobs: what their questions and outcomes say, and their writes, in
workers: a busy database keeps no key waiting. A cancel confirmed is written before the console
quits, or said not to be: q while one still waits for the database says so and quits once it is
written; q again gives the wait up, and the terminal, given back, names the cancel that was not
written (the job goes on), as it does one whose write failed earlier and was not made since (exit
code 1 for both)."""

from __future__ import annotations

import itertools
import logging
import sqlite3
import threading
from typing import Callable

from textual import work

from rabtui.actions import cancel_notes
from rabtui.actions import jobs as jobviews
from rabtui.actions.checkpoint import VERIFY_TITLE
from rabtui.errors import EXIT_FAILED, EXIT_OK, RabtuiError, UsageError
from rabtui.state.store import WriteGivenUp
from rabtui.state.store_check import state_failure

log = logging.getLogger("rabtui.tui")

# what the screen that asked is told: the job's status as the cancel was written, or the error that
# kept it from being written (a Began, a UsageError of an ended job, a database that failed); and of
# a stop of post-backup commands written, how far they were then (actions.jobs.post_commands_state;
# None where that could not be read)
CancelDone = Callable[[int, "str | None", "Exception | None", "str | None"], None]


def not_written(job_id: int, post_commands_too: bool, why: str, job_stopped: bool = False) -> str:
    """`job_stopped`: the job's own cancel is known written (`--post-commands-too` stops the job too
    where it was not)."""
    if post_commands_too:
        return (f"the stop of job {job_id}'s post-backup commands was not written ({why}): they run unless stopped"
                f" (rabtui jobs cancel {job_id} --post-commands-too"
                + (")" if job_stopped else ", which stops the job too where it was not asked to stop)"))
    return (f"the cancel of job {job_id} was not written ({why}): the job goes on unless stopped"
            f" (rabtui jobs cancel {job_id})")


def cancel_question(job: dict, post_commands: bool, post_running: bool = False) -> str:
    """The first question of x: what the operator then sees of the job and of what it was making.
    `post_commands`: whether the backup's source has post-backup commands; `post_running`: whether
    they run now (those of a backup not cancelled: a cancel stops them)."""
    job_id, kind, status = job["id"], job["kind"], job["status"]
    scheduled = f" {jobviews.SCHEDULED_DONE[0].upper()}{jobviews.SCHEDULED_DONE[1:]}." if jobviews.scheduled(job) else ""
    if kind == "backup" and status == "queued":   # a source of a run waiting its turn: read when it comes
        return (f"Stop job {job_id}? It has not begun (it waits its turn): it then never starts, and reads cancelled"
                " once its turn comes (queued until then); nothing of it is made, none of its commands run."
                + scheduled)
    if kind == "backup" and post_running:    # the transfer ended whole: its data stays
        return (f"Stop job {job_id}? Its transfer has ended whole: its post-backup commands, running now, stop, and"
                " what they were to undo stays undone (a dump left on the source, a service left stopped). The"
                " backup then reads kept: its data restorable and retained, as after a post-backup command that"
                " failed; the job reads cancelled." + scheduled)
    if kind == "backup":
        return (f"Stop job {job_id}? The job then reads cancelled, and the backup it had begun reads failed (on"
                " the dashboard, on Media, in rabtui status): it is not complete, and a later cleanup removes what it"
                " copied."
                + scheduled + (" Its post-backup commands still run, to undo what its pre-backup commands did: x"
                               " again stops them." if post_commands else ""))
    if kind == "checkpoint" and job.get("title") != VERIFY_TITLE:
        return f"Stop job {job_id}? The checkpoint can be resumed (R on Checkpoints)."
    return f"Stop job {job_id}?"


def post_stop_said(job_id: int, state: str | None) -> str:
    """What the stop of a backup's post-backup commands did, as far as they were once it was
    written (actions.jobs.post_commands_state; None: not known)."""
    if state == "skipped":      # the config read at the backup's start named none
        return f"job {job_id}'s backup runs no post-backup commands: nothing of them was stopped"
    if state not in (None, "pending", "running"):
        return (f"the post-backup commands of job {job_id} had ended ({state}) when their stop was written:"
                " nothing of them was stopped")
    return f"the post-backup commands of job {job_id} are stopped"


class CancelWrites:
    """RabtuiApp's part that writes the cancels confirmed on its screens (a mixin of the App)."""

    def init_cancels(self) -> None:
        # the writes under way (two of one job: the cancel and its post-backup commands' stop), each
        # with its job id, the event that gives its wait up and the one set at its end
        self._cancels: dict[int, tuple[int, threading.Event, threading.Event]] = {}
        self._cancel_ids = itertools.count()
        self._quit_after_cancels = False
        # the cancels confirmed and not carried out, their jobs going on, by job id and whether the
        # stop of the post-backup commands: what the terminal is told once the UI has given it back
        self._not_done: dict[tuple[int, bool], str] = {}
        self._stopped: set[int] = set()     # the jobs whose own cancel this console wrote

    def write_cancel(self, job_id: int, done: CancelDone, post_commands_too: bool = False,
                     queued_only: bool = False) -> None:
        """Cancel job `job_id` (see actions.jobs.cancel) in a worker; `done` is called on the UI
        thread with its outcome, unless the console quits meanwhile. `post_commands_too`: the second
        question's answer, the stop of the post-backup commands of a job asked to stop already: written
        after the writes of that job's cancel confirmed before it, and only if one was (else the job
        would stop on an answer that asked to stop its commands only)."""
        write, give_up, ended = next(self._cancel_ids), threading.Event(), threading.Event()
        earlier = [end for other, _, end in self._cancels.values() if other == job_id]
        self._cancels[write] = job_id, give_up, ended
        self._write_cancel(write, job_id, done, post_commands_too, queued_only, give_up, ended, earlier)

    @work(thread=True, group="cancel", exit_on_error=False)
    def _write_cancel(self, write: int, job_id: int, done: CancelDone, post_commands_too: bool, queued_only: bool,
                      give_up: threading.Event, ended: threading.Event, earlier: list[threading.Event]) -> None:
        status, error, post_state = None, None, None
        note = cancel_notes.noted(self.cfg.state_dir, job_id, post_commands_too, write)
        try:
            for end in earlier:
                while not end.wait(0.1):
                    if give_up.is_set():
                        raise WriteGivenUp()
            status = jobviews.cancel(self.store, job_id, post_commands_too=post_commands_too,
                                     queued_only=queued_only, after_cancel=post_commands_too, give_up=give_up)
            if post_commands_too:
                post_state = self._post_state(job_id)
        except WriteGivenUp:
            pass
        except RabtuiError as exc:
            error = exc
        except sqlite3.Error as exc:    # the database failed: said as the command line says it
            log.error("cancel of job %s failed", job_id, exc_info=exc)
            error = state_failure(exc, self.store.path)
        finally:
            cancel_notes.ended(note)
            ended.set()
        self.call_from_thread(self._cancel_written, write, job_id, post_commands_too, done, status, error, post_state)

    def _post_state(self, job_id: int) -> str | None:
        """How far a job's post-backup commands were once their stop was written (None: unknown,
        the stop written all the same)."""
        try:
            return jobviews.post_commands_state(self.store, job_id)
        except sqlite3.Error as exc:
            log.warning("the post-backup commands of job %s not looked at: %s", job_id, exc)
            return None

    @property
    def said_at_exit(self) -> list[str]:
        """What the terminal is told once the UI has given it back: each cancel confirmed and not
        carried out, its job going on."""
        return list(self._not_done.values())

    @property
    def cancels_exit(self) -> int:
        """EXIT_FAILED while a cancel confirmed was not carried out, its job going on."""
        return EXIT_FAILED if self._not_done else EXIT_OK

    def not_done(self, job_id: int, post_commands_too: bool) -> str | None:
        """What is said of a cancel of job `job_id` confirmed and not carried out (None: none is)."""
        return self._not_done.get((job_id, post_commands_too))

    def _cancel_written(self, write: int, job_id: int, post_commands_too: bool, done: CancelDone,
                        status: str | None, error: Exception | None, post_state: str | None) -> None:
        del self._cancels[write]
        key = job_id, post_commands_too
        if status is not None or isinstance(error, jobviews.Ended):    # done, or nothing was left to stop
            self._not_done.pop(key, None)
            if status is not None:      # (the post-backup commands' stop is written only where the cancel was)
                self._stopped.add(job_id)
                self._not_done.pop((job_id, False), None)
                if not post_commands_too and (job_id, True) in self._not_done:
                    # their stop, answered before this cancel was written, said to have failed for it
                    self._not_done[job_id, True] = not_written(
                        job_id, True, "answered before the job's own cancel was written", job_stopped=True)
        elif error is None:     # given up at q again
            busy = "the state database was busy when rabtui quit"
            self._not_done[key] = not_written(job_id, post_commands_too, busy, job_id in self._stopped)
        else:   # a job that began meanwhile is said as it is, the rest not written
            self._not_done[key] = (str(error) if isinstance(error, UsageError)
                                   else not_written(job_id, post_commands_too, str(error), job_id in self._stopped))
        if not self._quit_after_cancels:
            done(job_id, status, error, post_state)
        elif not self._cancels:
            self.exit_once_saved()

    @work(thread=True, group="cancel-notes", exit_on_error=False)
    def say_cancels_left(self) -> None:
        """The cancels that consoles killed before writing them left noted, said (their jobs going on)."""
        for job_id, post, pid, job_stopped in cancel_notes.left_unwritten(self.cfg.state_dir, self.store):
            if job_id is None:
                said = (f"a cancel confirmed in a console that ended as it noted it, pid {pid}, was not written:"
                        " its job is not known and goes on unless stopped (rabtui jobs lists those under way)")
            else:
                why = f"confirmed in a console that ended before it was written, pid {pid}"
                said = not_written(job_id, post, why, job_stopped)
            self.call_from_thread(self.notify, said, severity="warning", timeout=30)

    def forget_cancels_of_ended(self, live: set[int]) -> None:
        """A poll's jobs under way (`live`): a cancel not carried out of a job that has ended since
        leaves nothing going on to say."""
        for key in [key for key in self._not_done if key[0] not in live]:
            del self._not_done[key]

    def exit_unless_cancels(self) -> None:
        """The end of a wait at quit (for the settings): quit, or wait for the cancels confirmed
        meanwhile as q would."""
        if not self._cancels:
            self.exit()
        elif not self._quit_after_cancels:     # (already waited for: their end quits, q again gives them up)
            self.exit_once_cancels_written()

    def exit_once_cancels_written(self) -> None:
        """Quit, once the cancels still waiting for a busy database are written (each at most as
        long as any write waits); asked again meanwhile, their waits given up."""
        if not self._cancels:
            self.exit_once_saved()
            return
        if self._quit_after_cancels:
            for _, give_up, _ in self._cancels.values():
                give_up.set()
            return
        self._quit_after_cancels = True
        ids = sorted({job_id for job_id, _, _ in self._cancels.values()})
        jobs = f"job {ids[0]}" if len(ids) == 1 else "jobs " + ", ".join(map(str, ids))
        self.notify(f"the cancel of {jobs} is not written yet (the state database is busy): rabtui quits once it"
                    " is; q again quits without it", severity="warning", timeout=30)
