"""The Runs screen's cancel of a backup says that its post-backup commands still run (to undo what
the pre-backup ones did); a second cancel asks whether to stop them too and does, as a second
Ctrl-C does on the command line. A real backup (real rsync, a post command that hangs under the real
runner) in a thread, cancelled through its job's row as a detached job is."""

from __future__ import annotations

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.runs import RunsScreen
from tests.test_post_commands_after_a_failure import assert_stopped_by_a_second_cancel, hanging_post_job
from tests.tui.conftest import ready, run, settled, texts, wait_for


def test_a_second_cancel_from_runs_stops_the_post_commands(tmp_path, request):
    job = hanging_post_job(tmp_path, request)

    async def confirm(pilot, app) -> str:
        await pilot.press("x")
        await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
        said = " ".join(texts(app, "#confirm-text").split())
        await pilot.press("y")
        await wait_for(pilot, lambda: ready(app, RunsScreen), what="back on Runs")
        return said

    async def go():
        app = make_app(job.lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(100, 30)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "running" in texts(app, "#runs-jobs")
                           and settled(app), what="the running backup")
            first = await confirm(pilot, app)
            assert "post-backup commands still run" in first, first
            await wait_for(pilot, lambda: job.post_pid() and str(job.job_id) in app.screen.job_cancelled,
                           what="the post command, the cancel seen by Runs")
            second = await confirm(pilot, app)
            assert "Stop its post-backup commands too?" in second and "stays undone" in second, second
            assert_stopped_by_a_second_cancel(job, job.post_pid())

    run(go())
