"""The Runs screen's cancel of a backup says what the operator then sees (the job cancelled, the
backup failed) and that its post-backup commands still run (to undo what the pre-backup ones did); a
second cancel asks whether to stop them too and does, as a second Ctrl-C does on the command line.
A real backup (real rsync, over the test sshd or locally, a post command that hangs under the real
runner) in a thread, cancelled through its job's row as a detached job is."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager

import pytest

from rabtui.cli.tui_cmds import exit_code_of
from rabtui.errors import EXIT_FAILED, EXIT_OK
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.runs import RunsScreen
from tests.test_post_commands_after_a_failure import assert_stopped_by_a_second_cancel, hanging_post_job
from tests.tui.conftest import kept_notes, ready, run, settled, texts, wait_for


@contextmanager
def database_held(store):
    """The state database's write lock held by another connection (a busy database): a cancel
    confirmed meanwhile is not written until it is let go; reads go on (WAL)."""
    conn = sqlite3.connect(str(store.path), isolation_level=None)
    try:
        conn.execute("BEGIN IMMEDIATE")
        yield
    finally:
        conn.rollback()
        conn.close()


async def on_runs(pilot, app, status: str = "running") -> None:
    """Runs open, showing a job `status`, its table loaded."""
    await pilot.press("4")
    await wait_for(pilot, lambda: ready(app, RunsScreen) and status in texts(app, "#runs-jobs") and settled(app),
                   what=f"the {status} job")


async def on_post_commands_running(pilot, app) -> None:
    """On Runs, the selected backup's step 6 (its post-backup commands) shown running."""
    await on_runs(pilot, app)
    await wait_for(pilot, lambda: "▶ 6 post-backup" in texts(app, "#run-steps"), what="step 6 running")


async def asked(pilot, app, *keys: str) -> str:
    """The text of the confirm dialog that `keys` open on Runs."""
    await pilot.press(*keys)
    await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
    return " ".join(texts(app, "#confirm-text").split())


def test_a_second_cancel_from_runs_stops_the_post_commands(tmp_path, request):
    """Over SSH: the first question names what the job and the backup then read, the second stops the
    post command that hangs on the source; the job then reads cancelled on Runs and the backup failed
    on the dashboard and Media (not complete: what it copied is left for a cleanup)."""
    job = hanging_post_job(tmp_path, request, "ssh")

    async def go():
        app = make_app(job.lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(120, 30)) as pilot:
            await on_runs(pilot, app)
            first = await asked(pilot, app, "x")
            assert "The job then reads cancelled, and the backup it had begun reads failed" in first, first
            assert "a later cleanup removes what it copied" in first and "post-backup commands still run" in first, first
            await pilot.press("y")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and job.post_pid(), what="the post command")
            second = await asked(pilot, app, "x")
            assert "Stop its post-backup commands too?" in second and "stays undone" in second, second
            await pilot.press("y")
            assert_stopped_by_a_second_cancel(job, job.post_pid())
            await wait_for(pilot, lambda: ready(app, RunsScreen) and settled(app)
                           and texts(app, "#runs-jobs").startswith("cancelled"), what="the job cancelled on Runs")
            await pilot.press("1")
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and settled(app) and "web" in texts(app, "#sources"),
                           what="the dashboard's sources")
            assert "failed" in texts(app, "#sources"), texts(app, "#sources")

    run(go())
    row = job.store.one("SELECT status, dir_made FROM backups WHERE job_id=?", (job.job_id,))   # as Media shows it
    assert (row["status"], row["dir_made"]) == ("failed", 1), dict(row)


def test_a_second_x_before_the_cancel_is_read_back_asks_about_the_post_commands(tmp_path, request):
    """x confirmed, then x again before the screen has read the cancel back from the database (here
    held busy, so that it is not even written yet): the second question is asked at once, not the
    first one again; answered, the post-backup commands stop once the database is let go."""
    job = hanging_post_job(tmp_path, request)

    async def go():
        app = make_app(job.lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await on_runs(pilot, app)
            with database_held(job.store):
                assert "post-backup commands still run" in await asked(pilot, app, "x")
                await pilot.press("y")
                await wait_for(pilot, lambda: ready(app, RunsScreen) and settled(app), what="back on Runs, reloaded")
                assert "running" in texts(app, "#runs-jobs")
                second = await asked(pilot, app, "x")
                assert "Stop its post-backup commands too?" in second, second
                await pilot.press("y")
            assert_stopped_by_a_second_cancel(job, job.post_pid())

    run(go())


def test_a_cancel_answered_after_the_command_line_s_ended_the_job(tmp_path, request):
    """x pressed three times asks once; the operator goes to the dashboard (the command palette works
    over the question) and `rabtui jobs cancel N` stops the backup meanwhile (its post-backup command
    runs and ends); back on Runs the question is still up, and the answer, given after the job
    ended, says that it has ended and nothing was to stop, and nothing fails."""
    from textual.command import CommandPalette

    from rabtui.tui.screens.dashboard import DashboardScreen
    from tests.tui.test_screens import palette_top
    from rabtui.cli import main

    job = hanging_post_job(tmp_path, request, post="rm -f {dump}")

    async def go():
        app = make_app(job.lab.config_path, poll_interval=0.2)
        told = kept_notes(app)
        async with app.run_test(size=(100, 30)) as pilot:
            await on_runs(pilot, app)
            await asked(pilot, app, "x", "x", "x")
            assert [type(s) for s in app.screen_stack] == [RunsScreen, ConfirmDialog], app.screen_stack
            await pilot.press("ctrl+p")
            await wait_for(pilot, lambda: ready(app, CommandPalette), what="the command palette")
            await pilot.press(*"dash")
            await wait_for(pilot, lambda: palette_top(app, "dash") == "Go to Dashboard",
                           what="Go to Dashboard highlighted")
            await pilot.press("enter")
            await wait_for(pilot, lambda: ready(app, DashboardScreen), what="the dashboard")
            assert main(["--config", str(job.lab.config_path), "jobs", "cancel", str(job.job_id)]) == 0
            await wait_for(pilot, lambda: not job.worker.is_alive(), what="the backup's end")
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the question, still up")
            before = len(told)
            await pilot.press("y")
            ended = f"job {job.job_id} has ended (cancelled): nothing to stop"
            await wait_for(pilot, lambda: ended in told, what=lambda: f"the notifications {told}")
            assert told[before:] == [ended] and not texts(app, "#status-line"), (told, texts(app, "#status-line"))
            assert not any("fail" in note for note in told), told
            assert str(job.job_id) not in app.screen.job_cancelled or "cancelled" in texts(app, "#runs-jobs")

    run(go())


def test_the_cancel_of_a_backup_without_post_commands_names_none(tmp_path, request):
    """A source with no post-backup commands: the question does not say that they still run, and x
    again asks nothing about stopping them (it says the backup was asked to stop already)."""
    job = hanging_post_job(tmp_path, request, post=None)

    async def go():
        app = make_app(job.lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await on_runs(pilot, app)
            with database_held(job.store):      # the cancel not yet written: the backup goes on meanwhile
                said = await asked(pilot, app, "x")
                assert "The job then reads cancelled" in said and "post-backup" not in said, said
                await pilot.press("y")
                await wait_for(pilot, lambda: ready(app, RunsScreen), what="back on Runs")
                await pilot.press("x")
                await wait_for(pilot, lambda: "asked to stop already" in texts(app, "#status-line"),
                               what=lambda: f"the status line: {texts(app, '#status-line')!r}")
                assert not isinstance(app.screen, ConfirmDialog)

    run(go())
    job.worker.join(30)
    assert job.store.one("SELECT status FROM jobs WHERE id=?", (job.job_id,))["status"] == "cancelled"


def test_the_cancel_question_of_a_checkpoint_verification_promises_no_resume():
    """A burn or resume stopped leaves its checkpoint to be resumed (R on Checkpoints); a
    verification stopped leaves the checkpoint as it was (checkpoint/run.py records nothing of it),
    nothing to resume."""
    from rabtui.tui.cancels import cancel_question

    def job(title: str) -> dict:
        return {"id": 7, "kind": "checkpoint", "status": "waiting", "title": title}

    assert "can be resumed (R on Checkpoints)" in cancel_question(job("checkpoint resume"), False)
    assert cancel_question(job("checkpoint verify"), False) == "Stop job 7?"


async def _ended(app, within: float) -> bool:
    from tests.tui.test_ui_files import _ended as ended

    return await ended(app, within)


def _quit_with_a_cancel_waiting(medium_m_config, tmp_path, second_q: bool, post: str | None = None):
    """x confirmed on a backup under way while the database is held busy (and x again, the
    post-backup commands' stop confirmed too, when the source has `post` ones), then q (and q again
    when `second_q`); the database let go once q is seen to wait (q again: once the app has ended).
    Returns the app, the job's recorder and the store."""
    from rabtui.state.jobs import JobRecorder
    from rabtui.state.store import Store

    config = medium_m_config('[[sources]]\nid = "box"\n' + (f'post_backup_commands = ["{post}"]\n' if post else "")
                             + f'[[sources.directories]]\npath = "{tmp_path}/src"\n')
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "box", "backup box")
    app = make_app(config, poll_interval=0.2)
    app.wait_for_reads_at_exit = False      # as the command line runs it: q gives the terminal back at once
    told = kept_notes(app)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await on_runs(pilot, app)
            with database_held(store):
                for _ in range(2 if post else 1):
                    await asked(pilot, app, "x")
                    await pilot.press("y")
                    await wait_for(pilot, lambda: ready(app, RunsScreen), what="back on Runs")
                await pilot.press("q")
                if second_q:
                    await wait_for(pilot, lambda: any("q again quits without it" in n for n in told), what="the wait said")
                    await pilot.press("q")
                    assert await _ended(app, 10), "q again did not quit"
                else:
                    await wait_for(pilot, lambda: app.return_code is not None or any(
                        "not written yet" in n for n in told), what="q taken")
                    assert app.return_code is None and app.is_running, "quit with the cancel not written"
                    # noted while it waits: a console killed now leaves it for the next to say
                    assert list((tmp_path / "state" / "logs" / "tui-cancels").iterdir())
                    assert any(f"the cancel of job {rec.job_id} is not written yet" in n for n in told), told
            if not second_q:
                assert await _ended(app, 20), "still running once the cancel was written"

    run(go())
    assert not list((tmp_path / "state" / "logs" / "tui-cancels").iterdir()), "a note left by a write that ended"
    return app, rec, store


def test_q_with_a_cancel_waiting_for_a_busy_database_quits_once_it_is_written(medium_m_config, tmp_path):
    """q waits for the cancel, says so, and quits once the database is let go and it is written
    (the console quit at once, the cancel lost unsaid)."""
    app, rec, store = _quit_with_a_cancel_waiting(medium_m_config, tmp_path, second_q=False)
    assert rec.cancel.wait(60), "the cancel confirmed before q was written"
    assert app.said_at_exit == []
    assert exit_code_of(app) == EXIT_OK
    rec.finish("cancelled", 1)


def test_q_again_names_each_cancel_of_a_job_not_written(medium_m_config, tmp_path):
    """The cancel and the stop of the post-backup commands, both confirmed while the database is
    busy: q waits for both, q again names both as not written (the first given up let q quit before
    the second was, unsaid), and the console's exit code is 1, the work failed (it was 0). The stop's
    line says that the command it names stops the job too (it named it as if it stopped the commands
    alone)."""
    app, rec, store = _quit_with_a_cancel_waiting(medium_m_config, tmp_path, second_q=True, post="true")
    assert sorted(app.said_at_exit) == [
        f"the cancel of job {rec.job_id} was not written (the state database was busy when rabtui quit): the job"
        f" goes on unless stopped (rabtui jobs cancel {rec.job_id})",
        f"the stop of job {rec.job_id}'s post-backup commands was not written (the state database was busy when"
        f" rabtui quit): they run unless stopped (rabtui jobs cancel {rec.job_id} --post-commands-too, which stops the"
        " job too where it was not asked to stop)"], app.said_at_exit
    assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (rec.job_id,))["cancel_requested"] == 0
    assert not rec.cancel.is_set()
    assert exit_code_of(app) == EXIT_FAILED, "the console's exit code said the cancels confirmed were done"
    rec.finish("completed", 0)


def test_a_cancel_confirmed_while_q_waits_for_the_settings_is_written_before_the_end(medium_m_config, tmp_path,
                                                                                     monkeypatch):
    """q while the theme just chosen is still being saved waits for that save; a cancel confirmed
    meanwhile, the database busy, is waited for too once the save is done (the save's end quit)."""
    from rabtui.state.jobs import JobRecorder
    from rabtui.state.store import Store
    from rabtui.tui import settings, ui_files
    from tests.tui.test_ui_files import Hang, _theme_saved_into_a_hang

    # (most: a bound only, the save released below: one that ended by itself on a loaded machine quit)
    hang = Hang.put(monkeypatch, settings, "save", most=120)
    monkeypatch.setattr(ui_files, "QUIT_WAIT", 60.0)
    config = medium_m_config(f'[[sources]]\nid = "box"\n[[sources.directories]]\npath = "{tmp_path}/src"\n')
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "box", "backup box")
    app = make_app(config, poll_interval=0.2)
    app.wait_for_reads_at_exit = False
    told = kept_notes(app)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            try:
                await _theme_saved_into_a_hang(app, pilot, hang)
                await on_runs(pilot, app)
                await pilot.press("q")
                with database_held(store):
                    await asked(pilot, app, "x")
                    await pilot.press("y")
                    await wait_for(pilot, lambda: ready(app, RunsScreen), what="back on Runs")
                    hang.armed.clear()
                    hang.release.set()
                    await wait_for(pilot, lambda: app.return_code is not None or any(
                        "not written yet" in message for message in told), what="the save's end")
                    assert app.return_code is None, "quit with the cancel not written"
                assert await _ended(app, 60), "still running once the cancel was written"
            finally:
                hang.release.set()

    run(go())
    assert rec.cancel.wait(60), "the cancel confirmed before the end was written"
    rec.finish("cancelled", 1)


@pytest.mark.parametrize("answered", ["after", "before"])
def test_the_post_commands_stop_answered_after_the_cancel_failed_does_not_stop_the_job(medium_m_config,
                                                                                        tmp_path, monkeypatch,
                                                                                        answered):
    """x confirmed while the database is held busy, x again (the stop of the post-backup commands
    asked, the job "asked to stop already"); the cancel's write then fails (busy past its wait) and is
    said as not written, the job going on. The second question's yes, answered `after` that failure
    or `before` it (its write then waits for the cancel's), the database free again, does what it
    said and nothing else: it stopped the job too (the first cancel written as the second), said "the
    post-backup commands are stopped", and the failure had not said that the job goes on.
    The console's exit code is then 1 and the terminal, given back, is told of both (exit code 0,
    nothing told): until the job ends by itself (`before`); x again writing the job's cancel
    (`after`) leaves the stop of the commands alone said."""
    from rabtui.actions import jobs as jobviews
    from rabtui.state import store as storemod
    from rabtui.state.jobs import JobRecorder
    from rabtui.state.store import Store
    from tests.tui.test_config_file_hangs import Hang

    monkeypatch.setattr(storemod, "BUSY_WAIT", 2)    # (the answer given before waits for the release after it)
    # the first cancel's write held until the second question is asked (and answered `before`): its busy
    # wait, begun at once, ended before a loaded machine had asked it
    first = Hang.put(monkeypatch, jobviews, "cancel", most=120)
    first.armed.set()
    config = medium_m_config('[[sources]]\nid = "box"\npost_backup_commands = ["true"]\n'
                             f'[[sources.directories]]\npath = "{tmp_path}/src"\n')
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "box", "backup box")
    app = make_app(config, poll_interval=0.2)
    said, told = {}, kept_notes(app)

    def notes() -> list[str]:
        return list(told)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await on_runs(pilot, app)
            with database_held(store):
                await asked(pilot, app, "x")
                await pilot.press("y")
                await wait_for(pilot, lambda: ready(app, RunsScreen), what="back on Runs")
                assert "Stop its post-backup commands too?" in await asked(pilot, app, "x")
                first.armed.clear()
                if answered == "before":
                    await pilot.press("y")
                    await wait_for(pilot, lambda: len(app._cancels) == 2, what="the second answer's write")
                first.release.set()
                await wait_for(pilot, lambda: notes(), what="the failure said")
            assert notes() == [f"the cancel of job {rec.job_id} was not written (the state database {store.path}"
                               " is busy: database is locked; another rabtui process held it too long; run again): the"
                               f" job goes on unless stopped (rabtui jobs cancel {rec.job_id})"], notes()
            if answered == "after":
                await pilot.press("y")
            await wait_for(pilot, lambda: len(notes()) == 2, what=lambda: f"the answer's outcome {notes()}")
            assert notes()[1] == (f"the post-backup commands of job {rec.job_id} were not stopped: the job's own cancel"
                                  " was not written, and it goes on (x asks again)"), notes()
            assert texts(app, "#status-line") == notes()[1]
            await wait_for(pilot, lambda: ready(app, RunsScreen) and settled(app), what="Runs reloaded")
            assert "Stop job" in await asked(pilot, app, "x"), "x again did not ask the first question"
            said["failed"] = exit_code_of(app), app.said_at_exit
            assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (rec.job_id,))["cancel_requested"] == 0
            assert not rec.cancel.is_set()
            if answered == "after":
                await pilot.press("y")
                await wait_for(pilot, lambda: f"cancel requested for job {rec.job_id}" in notes(), what=notes)
                assert rec.cancel.wait(60)
            else:
                await pilot.press("n")
                rec.finish("completed", 0)
                await wait_for(pilot, lambda: not app.jobs.running, what="the job seen ended")

    first.run(go())
    assert said["failed"] == (EXIT_FAILED, [notes()[0], notes()[1].removesuffix(" (x asks again)")]), said
    if answered == "after":     # the commands' stop alone is left; the command line's does only that now
        assert (exit_code_of(app), app.said_at_exit) == (EXIT_FAILED, [
            f"the stop of job {rec.job_id}'s post-backup commands was not written (answered before the job's own"
            f" cancel was written): they run unless stopped (rabtui jobs cancel {rec.job_id} --post-commands-too)"])
        assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (rec.job_id,))["cancel_requested"] == 1
        rec.finish("cancelled", 1)
    else:
        assert (exit_code_of(app), app.said_at_exit) == (EXIT_OK, [])


def _asked_to_stop(medium_m_config, tmp_path, post: bool = True):
    """A backup job of a source with post-backup commands (`post` false: none in the config, as if
    edited since the backup began), its cancel written, its backup's record (whose steps say how far
    the commands are): the config's path, the store, the job's recorder and the backup's record."""
    from rabtui.actions import jobs as jobviews
    from rabtui.backup.records import RunRecord
    from rabtui.state.jobs import JobRecorder
    from rabtui.state.store import Store

    config = medium_m_config('[[sources]]\nid = "box"\n' + ('post_backup_commands = ["true"]\n' if post else "")
                             + f'[[sources.directories]]\npath = "{tmp_path}/src"\n')
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "box", "backup box")
    record = RunRecord(store, source="box", medium="m", name="backup-x", path=tmp_path / "b", started=0,
                       job_id=rec.job_id)
    jobviews.cancel(store, rec.job_id)
    return config, store, rec, record


def test_x_again_once_the_post_commands_ended_asks_nothing(medium_m_config, tmp_path):
    """A backup asked to stop whose post-backup commands have ended (its step 6 recorded ok): x
    again says that nothing of them is left to stop, and asks nothing (it asked whether to stop
    them, "they still run (or are yet to)"); while they run, the question says they are running."""
    config, store, rec, record = _asked_to_stop(medium_m_config, tmp_path)
    app = make_app(config, poll_interval=0.2)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            record.step(6, "running")
            await on_post_commands_running(pilot, app)
            said = await asked(pilot, app, "x")
            assert "its post-backup commands are running" in said, said
            await pilot.press("n")
            record.step(6, "ok")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "✔ 6 post-backup" in texts(app, "#run-steps"),
                           what="step 6 ended")
            await pilot.press("x")
            ended = (f"job {rec.job_id} was asked to stop already (its post-backup commands have ended: nothing of"
                     " them is left to stop)")
            await wait_for(pilot, lambda: texts(app, "#status-line") == ended,
                           what=lambda: f"the status line: {texts(app, '#status-line')!r}")
            assert not isinstance(app.screen, ConfirmDialog)

    run(go())
    rec.finish("cancelled", 1)


def test_the_stop_answered_after_the_post_commands_ended_says_nothing_was_stopped(medium_m_config, tmp_path):
    """The second question asked while the post-backup commands run, answered once they have ended:
    the answer says that they had ended and nothing of them was stopped (it said "the post-backup
    commands of job N are stopped")."""
    config, store, rec, record = _asked_to_stop(medium_m_config, tmp_path)
    app = make_app(config, poll_interval=0.2)
    told = kept_notes(app)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            record.step(6, "running")
            await on_post_commands_running(pilot, app)
            assert "its post-backup commands are running" in await asked(pilot, app, "x")
            record.step(6, "failed")
            await pilot.press("y")
            await wait_for(pilot, lambda: told, what="the answer's outcome")
            assert told == [f"the post-backup commands of job {rec.job_id} had ended (failed) when their stop"
                      " was written: nothing of them was stopped"], told

    run(go())
    rec.finish("cancelled", 1)


def test_x_once_the_post_commands_stop_is_confirmed_asks_nothing(medium_m_config, tmp_path):
    """The post-backup commands' stop confirmed (x, y while they run): x again asks nothing, before
    the screen reads the stop back (the database held busy) and after; it asked to stop them again,
    as if the first answer had done nothing. Nor does a stop the screen reads from the database only
    (as one written by `rabtui jobs cancel --post-commands-too`)."""
    config, store, rec, record = _asked_to_stop(medium_m_config, tmp_path)
    app = make_app(config, poll_interval=0.2)
    already = f"job {rec.job_id} was asked to stop already, its post-backup commands too"

    async def x_asks_nothing(pilot) -> None:
        await pilot.press("x")
        await wait_for(pilot, lambda: texts(app, "#status-line") == already,
                       what=lambda: f"the status line: {texts(app, '#status-line')!r} {texts(app, '#confirm-text') if isinstance(app.screen, ConfirmDialog) else ''}")
        assert not isinstance(app.screen, ConfirmDialog)
        app.screen.set_status("")

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            record.step(6, "running")
            await on_post_commands_running(pilot, app)
            with database_held(store):
                assert "Stop its post-backup commands too?" in await asked(pilot, app, "x")
                await pilot.press("y")
                await wait_for(pilot, lambda: ready(app, RunsScreen), what="back on Runs")
                await x_asks_nothing(pilot)
            await wait_for(pilot, lambda: store.one("SELECT cancel_requested FROM jobs WHERE id=?",
                                                    (rec.job_id,))["cancel_requested"] == 2, what="the stop written")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and str(rec.job_id) in app.screen._post_stop_read,
                           what="the stop read back")
            app.screen.stop_asked.clear()
            app.screen.post_stop_asked.clear()
            await x_asks_nothing(pilot)

    run(go())
    rec.finish("cancelled", 1)


def test_x_again_on_a_backup_that_runs_no_post_commands_says_so(medium_m_config, tmp_path):
    """A backup begun with no post-backup commands (its step 6 recorded skipped: the config edited
    since its start), asked to stop: x again says its backup runs none (it said they had ended)."""
    config, store, rec, record = _asked_to_stop(medium_m_config, tmp_path)
    record.step(6, "skipped")
    app = make_app(config, poll_interval=0.2)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await on_runs(pilot, app)
            await wait_for(pilot, lambda: "- 6 post-backup" in texts(app, "#run-steps"), what="step 6 skipped")
            await pilot.press("x")
            said = f"job {rec.job_id} was asked to stop already (its backup runs no post-backup commands)"
            await wait_for(pilot, lambda: texts(app, "#status-line") == said,
                           what=lambda: f"the status line: {texts(app, '#status-line')!r}")
            assert not isinstance(app.screen, ConfirmDialog)

    run(go())
    rec.finish("cancelled", 1)


def test_post_commands_running_after_the_config_dropped_them_can_be_stopped(medium_m_config, tmp_path):
    """A backup whose post-backup commands run (its step 6 recorded running), asked to stop, the
    config edited since it began to name none: x again asks whether to stop them, and stops them
    (it said the source has none to stop, and the console could not stop them)."""
    config, store, rec, record = _asked_to_stop(medium_m_config, tmp_path, post=False)
    record.step(6, "running")
    app = make_app(config, poll_interval=0.2)
    told = kept_notes(app)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await on_post_commands_running(pilot, app)
            said = await asked(pilot, app, "x")
            assert "its post-backup commands are running" in said, said
            await pilot.press("y")
            await wait_for(pilot, lambda: told, what="the answer's outcome")
            assert told == [f"the post-backup commands of job {rec.job_id} are stopped"], told

    run(go())
    assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (rec.job_id,))["cancel_requested"] == 2
    rec.finish("cancelled", 1)


def test_the_cancel_while_a_complete_backup_s_post_commands_run_says_it_stops_them(tmp_path, request):
    """The transfer ended (real rsync), the post-backup command runs (and hangs) as a complete
    backup's: the first x's question says that the cancel stops them too, what they were to undo
    left undone (it said that they still run, and that x again stops them: the cancel stopped them
    at once), and so it does."""
    job = hanging_post_job(tmp_path, request, transfer_ends=True)

    async def go():
        app = make_app(job.lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(120, 30)) as pilot:
            await on_runs(pilot, app)
            await wait_for(pilot, lambda: job.post_pid() and "▶ 6 post-backup" in texts(app, "#run-steps"),
                           what="the post command running")
            first = await asked(pilot, app, "x")
            assert "still run" not in first and "x again" not in first, first
            assert ("its post-backup commands, running now, stop, and what they were to undo stays undone"
                    in first and "The backup then reads kept" in first and "the job reads cancelled" in first), first
            await pilot.press("y")
            job.worker.join(30)
            assert not job.worker.is_alive(), "the cancel did not stop the post command"
            assert job.dump.exists(), "what the post command was to undo is left as it was"
            ended = job.store.one("SELECT status FROM jobs WHERE id=?", (job.job_id,))["status"]
            assert ended == "cancelled", ended

    run(go())


def test_x_again_after_a_cancel_that_stops_the_running_post_commands_asks_nothing(medium_m_config, tmp_path):
    """x confirmed while a backup's post-backup commands run before any cancel (the cancel stops them
    too), the database busy: x again says they were asked to stop already (it asked whether to stop
    them, as if they ran on)."""
    from rabtui.backup.records import RunRecord
    from rabtui.state.jobs import JobRecorder
    from rabtui.state.store import Store

    config = medium_m_config('[[sources]]\nid = "box"\npost_backup_commands = ["true"]\n'
                             f'[[sources.directories]]\npath = "{tmp_path}/src"\n')
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "box", "backup box")
    RunRecord(store, source="box", medium="m", name="backup-x", path=tmp_path / "b", started=0,
              job_id=rec.job_id).step(6, "running")
    app = make_app(config, poll_interval=0.2)

    async def go():
        async with app.run_test(size=(100, 30)) as pilot:
            await on_post_commands_running(pilot, app)
            with database_held(store):
                assert "running now, stop, and" in await asked(pilot, app, "x")
                await pilot.press("y")
                await wait_for(pilot, lambda: ready(app, RunsScreen), what="back on Runs")
                await pilot.press("x")
                said = f"job {rec.job_id} was asked to stop already, its post-backup commands too"
                await wait_for(pilot, lambda: texts(app, "#status-line") == said,
                               what=lambda: f"the status line: {texts(app, '#status-line')!r}")
                assert not isinstance(app.screen, ConfirmDialog)

    run(go())
    rec.finish("cancelled", 1)
