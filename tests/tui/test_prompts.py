"""A job's question (the prompts table) opens as a dialog in any UI, and the answer reaches the job."""

from __future__ import annotations

import threading

from textual.widgets import Button

from rabtui.events import ABORT, READY, RETRY, REWRITE, SKIP, Question
from rabtui.jobs import JobRecorder
from rabtui.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.question import QuestionDialog
from tests.tui.conftest import run, wait_for


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
        recorder.finish("completed", 0)

    thread = threading.Thread(target=job, daemon=True)
    thread.start()

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, QuestionDialog), what="question dialog")
            assert "disc 1 of 2" in str(app.screen.query_one("#question-text").render())
            await pilot.press("enter")                  # the default, first choice: ready
            await wait_for(pilot, lambda: len(answers) == 1, what="first answer")
            await wait_for(pilot, lambda: isinstance(app.screen, QuestionDialog)
                           and "disc 2" in str(app.screen.query_one("#question-text").render()), what="second question")
            await pilot.press("escape")                 # answer later: the question stays open
            await pilot.pause(0.5)
            assert len(answers) == 1 and app.jobs.prompts
            await pilot.press("4", "a")                 # Runs: answer the open question
            await wait_for(pilot, lambda: isinstance(app.screen, QuestionDialog), what="dialog again")
            assert [b.label.plain for b in app.screen.query(Button)][3] == "4 skip"
            await pilot.press("4")
            await wait_for(pilot, lambda: len(answers) == 2, what="second answer")

    run(go())
    thread.join(5)
    assert answers == [READY, SKIP]
    assert store.one("SELECT status FROM jobs WHERE id=?", (recorder.job_id,))["status"] == "completed"
