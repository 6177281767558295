"""A job's question (the prompts table) opens as a dialog in any UI, and the answer reaches the job."""

from __future__ import annotations

import threading

import pytest
from textual.widgets import Button

from rabtui.events import ABORT, READY, RETRY, REWRITE, SKIP, Question
from rabtui.state.jobs import JobRecorder
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.screens.runs import RunsScreen
from tests.tui.conftest import kept_notes, ready, run, wait_for


def question(app) -> str:
    """The text of the question dialog on top, or "" (also while it is still being built)."""
    if not isinstance(app.screen, QuestionDialog):
        return ""
    found = app.screen.query("#question-text")
    return str(found.first().render()) if found else ""


def test_disc_question_is_answered_from_the_ui(demo_config):
    store = Store(demo_config.parent / "state")
    recorder = JobRecorder(store, "checkpoint", "images:iso", "checkpoint 1")
    answers = []

    def job():   # the job side: asks through the database, as a detached checkpoint does
        prompter = recorder.prompter()
        for disc in (1, 2):
            q = Question("insert_disc", f"Insert a blank disc for disc {disc} of 2 (RAB1D0{disc}), 8MiB",
                         [READY, RETRY, REWRITE, SKIP, ABORT], {"disc": disc})
            answers.append(prompter.ask(q, recorder.cancel))

    thread = threading.Thread(target=job, daemon=True)
    thread.start()

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "disc 1 of 2" in question(app) and ready(app, QuestionDialog),
                           what="question dialog")
            await pilot.press("enter")                  # the default, first choice: ready
            await wait_for(pilot, lambda: len(answers) == 1, what="first answer")
            await wait_for(pilot, lambda: "disc 2" in question(app) and ready(app, QuestionDialog),
                           what="second question")
            second = app.screen.prompt["id"]
            await pilot.press("escape")                 # answer later: the question stays open
            # the dialog's callback has run (an answer would have been sent from there) and every
            # answer sent has been written
            await wait_for(pilot, lambda: not isinstance(app.screen, QuestionDialog) and not app._dialog_open,
                           what="dialog closed")
            sending = [w for w in app.workers if w.group == "answer"]
            if sending:
                await app.workers.wait_for_complete(sending)
            assert store.one("SELECT answer FROM prompts WHERE id=?", (second,))["answer"] is None
            assert len(answers) == 1 and app.jobs.prompts
            await pilot.press("4")                      # Runs: answer the open question
            await wait_for(pilot, lambda: ready(app, RunsScreen), what="Runs")
            await pilot.press("a")
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="dialog again")
            assert [b.label.plain for b in app.screen.query(Button)][3] == "4 skip"
            await pilot.press("4")
            await wait_for(pilot, lambda: len(answers) == 2, what="second answer")

            # a question answered elsewhere (`rabtui jobs answer`) closes its dialog here
            third = threading.Thread(target=lambda: answers.append(recorder.prompter().ask(
                Question("insert_disc", "Insert disc 3 of 3", [READY, ABORT]), recorder.cancel)), daemon=True)
            third.start()
            await wait_for(pilot, lambda: isinstance(app.screen, QuestionDialog) and "disc 3" in question(app))
            from rabtui.state import jobs as jobsmod

            jobsmod.answer(store, app.screen.prompt["id"], ABORT)
            await wait_for(pilot, lambda: not isinstance(app.screen, QuestionDialog), what="dialog closes by itself")
            third.join(60)

    run(go())
    thread.join(60)
    recorder.finish("completed", 0)
    assert answers == [READY, SKIP, ABORT]
    assert store.one("SELECT status FROM jobs WHERE id=?", (recorder.job_id,))["status"] == "completed"


def waiting_job(store, ends: threading.Event | None = None) -> tuple[JobRecorder, list, threading.Thread]:
    """A job asking for disc 1 through the database (as a detached checkpoint does); a cancel
    request ends its wait and the job, as `rabtui jobs cancel` does (once `ends` is set, as a job
    that has things to put right before it ends)."""
    from rabtui.errors import Cancelled

    recorder = JobRecorder(store, "checkpoint", "images:iso", "checkpoint 1")
    answers: list = []

    def job():
        try:
            answers.append(recorder.prompter().ask(Question("insert_disc", "Insert disc 1 of 1", [READY, ABORT]),
                                                   recorder.cancel))
        except Cancelled:
            answers.append("cancelled")
            if ends is not None:
                ends.wait(30)
            recorder.finish("cancelled", 1, "cancelled while waiting for an answer")

    thread = threading.Thread(target=job, daemon=True)
    thread.start()
    return recorder, answers, thread


def test_an_answer_given_after_the_command_line_answered_is_not_taken_and_says_so(demo_config):
    from rabtui.cli import main

    store = Store(demo_config.parent / "state")
    recorder, answers, thread = waiting_job(store)

    async def go():
        app = make_app(demo_config, poll_interval=0)     # no poll closes the dialog meanwhile
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: not app._polling and app.jobs.prompts, what="the question polled")
            if not isinstance(app.screen, QuestionDialog):
                app.poll_jobs()
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="the question")
            prompt = app.screen.prompt["id"]
            assert main(["--config", str(demo_config), "jobs", "answer", str(prompt), "abort"]) == 0
            await pilot.press("1")                      # ready, but abort came first
            await wait_for(pilot, lambda: any("already answered" in n.message for n in app._notifications),
                           what="the answer refused")
            said = [n for n in app._notifications if "already answered" in n.message][0]
            assert said.severity == "error" and ": abort; 'ready' is not taken" in said.message
            assert not any(n.message == "answered ready" for n in app._notifications)

    run(go())
    thread.join(60)
    assert answers == [ABORT]


def test_the_question_of_a_job_cancelled_while_it_waited_closes_and_is_not_asked_again(demo_config):
    """The question closes as the cancel is written, the job still running (it stayed open until
    the job ended, and an answer given meanwhile was taken and never read), its dialog closed
    saying why, and an answer given then is refused."""
    from rabtui.cli import main
    from rabtui.errors import EXIT_USAGE, UsageError
    from rabtui.state import jobs as jobsmod

    store = Store(demo_config.parent / "state")
    ends = threading.Event()
    recorder, answers, thread = waiting_job(store, ends)

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        said = kept_notes(app)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="the question")
            prompt = app.screen.prompt["id"]
            assert main(["--config", str(demo_config), "jobs", "cancel", str(recorder.job_id)]) == 0
            await wait_for(pilot, lambda: not isinstance(app.screen, QuestionDialog), what="the dialog closed")
            assert f"job {recorder.job_id} was asked to stop: its question is closed" in said, said
            await wait_for(pilot, lambda: answers == ["cancelled"], what="the cancel seen by the job")
            assert main(["--config", str(demo_config), "jobs", "answer", str(prompt), "ready"]) == EXIT_USAGE
            with pytest.raises(UsageError) as refused:
                jobsmod.answer(store, prompt, READY)
            assert str(refused.value) == (f"job {recorder.job_id}, which asked question {prompt}, was asked to stop;"
                                          " nothing was answered")
            assert store.one("SELECT answer FROM prompts WHERE id=?", (prompt,))["answer"] is None
            ends.set()
            await wait_for(pilot, lambda: not app.jobs.running, what="the job ended")

        app = make_app(demo_config, poll_interval=0)    # opened again: the first poll asks nothing
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.jobs.taken and not app._polling, what="the first poll")
            assert not app.jobs.prompts and not app._dialog_open

    run(go())
    thread.join(60)


def test_a_key_pressed_as_a_question_pops_up_does_not_answer_it(demo_config, monkeypatch):
    """The operator presses 2 to go to Sources, and enter, as the job's question opens by itself:
    the keys were not meant for it, and must not answer it (2: abort the checkpoint). Once the
    dialog has been on the screen a moment (it has focused its first choice), its keys answer."""
    monkeypatch.setattr(QuestionDialog, "ARM_AFTER", 600.0)   # armed below, when the keys have been pressed
    store = Store(demo_config.parent / "state")
    recorder, answers, thread = waiting_job(store)

    async def go():
        app = make_app(demo_config, poll_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, QuestionDialog), what="the question")
            dialog = app.screen
            await pilot.press("2", "enter")
            assert app.screen is dialog and not app._notifications and not dialog.focused
            dialog._arm()
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="the question answerable")
            await pilot.press("1")
            await wait_for(pilot, lambda: answers, what="the answer")

        monkeypatch.setattr(QuestionDialog, "ARM_AFTER", 0.1)
        app = make_app(demo_config, poll_interval=0)      # no poll closes a dialog of no job
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.jobs.taken and not app._polling, what="the first poll")
            app.push_screen(QuestionDialog({"id": 9, "job_id": 9, "kind": "x", "text": "?", "choices": ["yes"]}))
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="armed by its timer")
            asked = QuestionDialog({"id": 9, "job_id": 9, "kind": "x", "text": "?", "choices": ["yes"]}, asked=True)
            assert asked.armed     # asked for with `a`: answerable at once

    run(go())
    thread.join(60)
    assert answers == [READY]


def test_a_question_waits_for_the_dialog_the_operator_is_in(demo_config):
    """A job's question does not open over a dialog (a source form being typed in: its digits would
    answer it once it takes keys); it opens when that dialog closes."""
    from textual.widgets import Input

    from rabtui.tui.dialogs.source_form import SourceForm
    from tests.tui.conftest import texts

    store = Store(demo_config.parent / "state")

    async def go():
        app = make_app(demo_config, poll_interval=0.1)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources-list"))
            await pilot.press("e")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
            recorder, answers, thread = waiting_job(store)
            await wait_for(pilot, lambda: app.jobs.prompts, what="the question polled")
            await pilot.pause(0.3)                     # polls that would open it
            assert isinstance(app.screen, SourceForm)
            app.screen.query_one("#f-port", Input).value = "2"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="the question, the form closed")
            return recorder, thread

    recorder, thread = run(go())
    from rabtui.state import jobs as jobsmod

    jobsmod.request_cancel(store, recorder.job_id)     # the job ends
    thread.join(60)
