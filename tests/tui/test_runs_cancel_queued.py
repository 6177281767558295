"""x on Runs on a source of a run that waits its turn (a queued job: `backup --all` or run-due with
fewer at once than sources): it has not begun, so the question says it never starts and reads
cancelled once its turn comes (it reads queued until then), not that its backup reads failed and its
post-backup commands still run; x again asks nothing about post-backup commands (none will run). A
real run (`rabtui backup --all`, real rsync) in a process of its own."""

from __future__ import annotations

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.runs import RunsScreen
from rabtui.tui.screens.base import selected_key
from tests.test_parallel import _sources, _start_run
from tests.trees import Lab, gate_command
from tests.tui.conftest import ready, run, settled, texts, wait_for


def test_x_on_a_source_waiting_its_turn(tmp_path):
    lab = Lab(tmp_path)
    go = tmp_path / "go-on"     # the first source waits in its pre-backup command until all is looked at
    _sources(lab, ["a", "b"], files=2, rabtui="max_parallel = 1",
             extra={n: f'pre_backup_commands = ["{gate_command(go)}"]\npost_backup_commands = ["true"]' for n in "ab"})
    child = _start_run(lab, "backup", "--all")
    try:
        waiting = lab.store().one("SELECT id FROM jobs WHERE status='queued'")["id"]

        async def go_on():
            app = make_app(lab.config_path, poll_interval=0.2)
            async with app.run_test(size=(120, 30)) as pilot:
                await pilot.press("4")
                await wait_for(pilot, lambda: ready(app, RunsScreen) and "queued" in texts(app, "#runs-jobs")
                               and settled(app), what="the queued job")
                table = app.screen.query_one("#runs-jobs")
                table.move_cursor(row=table.get_row_index(str(waiting)))
                await wait_for(pilot, lambda: selected_key(table) == str(waiting) and settled(app), what="its row")
                await pilot.press("x")
                await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
                said = " ".join(texts(app, "#confirm-text").split())
                assert "has not begun" in said and "post-backup" not in said and "reads failed" not in said, said
                await pilot.press("y")
                await wait_for(pilot, lambda: ready(app, RunsScreen) and settled(app), what="back on Runs")
                await pilot.press("x")
                await wait_for(pilot, lambda: "asked to stop already" in texts(app, "#status-line"),
                               what=lambda: f"the status line: {texts(app, '#status-line')!r}")
                assert not isinstance(app.screen, ConfirmDialog)

        run(go_on())
    finally:
        go.touch()
    child.communicate(timeout=60)
    jobs = {j["id"]: (j["status"], j["summary"]) for j in lab.store().all("SELECT id, status, summary FROM jobs")}
    assert jobs.pop(waiting) == ("cancelled", "cancelled before it started"), jobs
    assert list(jobs.values()) == [("completed", "completed")], jobs
    assert lab.store().one("SELECT COUNT(*) FROM backups WHERE job_id=?", (waiting,))[0] == 0
