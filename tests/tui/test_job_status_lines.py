"""A job that waits for a disc says so in its status line (Runs, Checkpoints, the dashboard), not
the last file it copied; `x` on a job that has ended does not offer to stop it."""

from __future__ import annotations

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.runs import RunsScreen
from rabtui.tui.waiting import waiting_line
from tests.tui.conftest import ready, run, texts, wait_for

FINAL = ("completed", "failed", "cancelled", "dead", "warnings")


def test_waiting_line_names_the_disc_and_the_medium():
    disc = {"kind": "insert_disc", "text": "Insert blank disc 2 of 5 ...",
            "data": {"disc": 2, "discs": 5, "volid": "RAB3D02"}}
    assert waiting_line(disc) == "waiting for disc 2 of 5: RAB3D02"
    assert waiting_line({"kind": "insert_medium", "text": "Medium usb-1 is not there.", "data": {"medium": "usb-1"}}) \
        == "waiting for medium usb-1"
    assert waiting_line({"kind": "failed", "text": "Writing disc 1 failed\nmore", "data": {}}) \
        == "waiting for an answer: Writing disc 1 failed"
    assert waiting_line(None) == "waiting for an answer"


def test_a_burn_waiting_for_a_disc_says_so_and_an_ended_job_is_not_offered_to_stop(demo_config):
    demo_config.write_text(demo_config.read_text().replace('disc = "16MiB"', 'disc = "3MiB"'))
    store = Store(demo_config.parent / "state")

    def job():
        return store.one("SELECT * FROM jobs WHERE kind='checkpoint' ORDER BY id DESC")

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints")
            await pilot.press("p")
            await wait_for(pilot, lambda: "lower bound" in texts(app, "#cp-plan"), what="the plan")
            n = len(app.screen.plan.discs)
            await pilot.press("B")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="burn dialog")
            await pilot.press("y")
            await wait_for(pilot, lambda: ready(app, QuestionDialog), timeout=120, what="insert disc 1")
            prompt = app.screen.prompt
            await pilot.press("escape")                     # answer later
            await wait_for(pilot, lambda: isinstance(app.screen, CheckpointsScreen))
            number = prompt["data"]["number"]
            expected = f"waiting for disc 1 of {n}: RAB{number}D01"
            await wait_for(pilot, lambda: expected in texts(app, "#cp-job"), what="Checkpoints' status line")
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and expected in texts(app, "#run-current"),
                           what="Runs' status line")
            await pilot.press("1")
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and expected in texts(app, "#jobs"),
                           what="the dashboard's job row")

            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen))
            await pilot.press("a")
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="the question again")
            await pilot.press(str(len(prompt["choices"])))     # abort
            await wait_for(pilot, lambda: job()["status"] in FINAL, timeout=60, what="the job ended")
            status = job()["status"]
            await wait_for(pilot, lambda: ready(app, RunsScreen) and status in texts(app, "#runs-jobs").split("\n")[0],
                           what="the ended job listed")
            await pilot.press("x")
            await wait_for(pilot, lambda: "nothing to stop" in texts(app, "#status-line"), what="nothing to stop")
            await pilot.pause(0.3)
            assert not isinstance(app.screen, ConfirmDialog)

    run(go())
