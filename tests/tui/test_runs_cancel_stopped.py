"""The Runs screen's cancel of a job whose process is stopped (SIGSTOP, Ctrl-Z in its terminal),
which heeds no cancel until it is continued: said as `rabtui jobs cancel` says it. A real backup in a
process of its own, held in its pre-backup command, then stopped."""

from __future__ import annotations

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.runs import RunsScreen
from tests.test_short_commands_that_hang import a_stopped_backup
from tests.tui.conftest import kept_notes, ready, run, settled, texts, wait_for


def test_the_cancel_from_runs_of_a_job_whose_process_is_stopped_says_how_to_continue_it(tmp_path):
    """x on it said "cancel requested for job N" and nothing followed: the job ran on, stopped."""
    with a_stopped_backup(tmp_path) as (lab, _run, job_id, stopped):

        async def go():
            app = make_app(lab.config_path, poll_interval=0.2)
            told = kept_notes(app)
            async with app.run_test(size=(120, 30)) as pilot:
                await pilot.press("4")
                await wait_for(pilot, lambda: ready(app, RunsScreen) and "running" in texts(app, "#runs-jobs")
                               and settled(app), what="the running job")
                await pilot.press("x")
                await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
                await pilot.press("y")
                said = f"cancel requested for job {job_id}; {stopped}"
                await wait_for(pilot, lambda: said in told, what=lambda: f"the notifications {told}")
                assert said in " ".join(texts(app, "#status-line").split()), texts(app, "#status-line")

        run(go())
