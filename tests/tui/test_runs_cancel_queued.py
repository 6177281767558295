"""x on Runs on the sources of a run-due (fewer at once than sources): one waiting its turn (a
queued job) has not begun, so the question says it never starts and reads cancelled once its turn
comes (queued until then), not that its backup reads failed and its post-backup commands still run,
and x again asks nothing about post-backup commands (none will run); of both it says that their
scheduled time then counts as done, as the next run-due then finds. A real run-due (real rsync)
in a process of its own."""

from __future__ import annotations

from datetime import datetime

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.base import selected_key
from rabtui.tui.screens.runs import RunsScreen
from tests.test_kill_anywhere import rabtui
from tests.test_parallel import _sources, _start_run
from tests.test_post_commands_after_a_failure import _until
from tests.test_run_due_killed_slot import LATER, NIGHT
from tests.trees import Lab, gate_command
from tests.tui.conftest import ready, run, settled, texts, wait_for
from tests.tui.test_runs_second_cancel import on_runs


def test_x_on_the_sources_of_a_run_due(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    go = tmp_path / "go-on"     # the first source waits in its pre-backup command until all is looked at
    _sources(lab, ["a", "b"], files=2, rabtui="max_parallel = 1",
             extra={n: f'schedule = "0 2 * * *"\npre_backup_commands = ["{gate_command(go)}"]\n'
                       'post_backup_commands = ["true"]' for n in "ab"})
    child = _start_run(lab, "run-due", "--now", NIGHT)
    try:
        ids = {r["status"]: r["id"] for r in lab.store().all("SELECT id, status FROM jobs")}

        async def x_on(pilot, app, job_id: int) -> str:
            table = app.screen.query_one("#runs-jobs")
            table.move_cursor(row=table.get_row_index(str(job_id)))
            await wait_for(pilot, lambda: selected_key(table) == str(job_id) and settled(app), what="its row")
            await pilot.press("x")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
            return " ".join(texts(app, "#confirm-text").split())

        async def go_on():
            app = make_app(lab.config_path, poll_interval=0.2)
            async with app.run_test(size=(120, 30)) as pilot:
                await on_runs(pilot, app, "queued")
                said = await x_on(pilot, app, ids["queued"])
                assert "has not begun" in said and "post-backup" not in said and "reads failed" not in said, said
                assert "Its scheduled time then counts as done" in said, said
                await pilot.press("y")
                await wait_for(pilot, lambda: ready(app, RunsScreen) and settled(app), what="back on Runs")
                await pilot.press("x")
                await wait_for(pilot, lambda: "asked to stop already" in texts(app, "#status-line"),
                               what=lambda: f"the status line: {texts(app, '#status-line')!r}")
                assert not isinstance(app.screen, ConfirmDialog)
                said = await x_on(pilot, app, ids["running"])
                assert "Its scheduled time then counts as done" in said, said
                await pilot.press("y")
                await wait_for(pilot, lambda: ready(app, RunsScreen), what="back on Runs")

        run(go_on())
        _until(lambda: lab.store().one("SELECT status FROM jobs WHERE id=?", (ids["running"],))["status"] == "cancelled",
               "the running source's cancel seen by its run")
    finally:
        go.touch()
    child.communicate(timeout=60)
    jobs = {j["id"]: (j["status"], j["summary"]) for j in lab.store().all("SELECT id, status, summary FROM jobs")}
    assert jobs[ids["queued"]] == ("cancelled", "cancelled before it started"), jobs
    assert jobs[ids["running"]][0] == "cancelled", jobs
    assert lab.store().one("SELECT COUNT(*) FROM backups WHERE job_id=?", (ids["queued"],))[0] == 0
    later = rabtui(lab, "run-due", "--now", LATER).stdout
    assert "b: due" not in later and "a: due" not in later, later
    slot = datetime.fromisoformat(NIGHT).replace(minute=0).timestamp()
    assert {r["source"] for r in lab.store().all("SELECT source FROM schedule_runs WHERE last_due=?", (slot,))} == {"a", "b"}


def test_a_queued_job_that_began_while_its_question_was_open_is_not_stopped(tmp_path):
    """x on a queued source, the question left open while the operator is on the dashboard; its
    turn comes meanwhile. y then stops nothing (the question said it never starts, not that a
    backup under way fails), says that the job has begun, and x asks again with what stopping it
    now does."""
    from textual.command import CommandPalette

    from rabtui.tui.screens.dashboard import DashboardScreen
    from tests.tui.test_screens import palette_top

    lab = Lab(tmp_path, media_count=1)
    gates = {n: tmp_path / f"go-{n}" for n in "ab"}
    _sources(lab, ["a", "b"], files=2, rabtui="max_parallel = 1",
             extra={n: f'pre_backup_commands = ["{gate_command(gates[n])}"]' for n in "ab"})
    child = _start_run(lab, "backup", "--all")
    try:
        store = lab.store()
        queued = store.one("SELECT id FROM jobs WHERE status='queued'")["id"]

        def notes(app) -> list[str]:
            return [n.message for n in app._notifications]

        async def go_on():
            app = make_app(lab.config_path, poll_interval=0.2)
            async with app.run_test(size=(120, 30)) as pilot:
                await on_runs(pilot, app, "queued")
                table = app.screen.query_one("#runs-jobs")
                table.move_cursor(row=table.get_row_index(str(queued)))
                await wait_for(pilot, lambda: selected_key(table) == str(queued) and settled(app), what="its row")
                await pilot.press("x")
                await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
                assert "it then never starts" in texts(app, "#confirm-text")
                await pilot.press("ctrl+p")
                await wait_for(pilot, lambda: ready(app, CommandPalette), what="the command palette")
                await pilot.press(*"dash")
                await wait_for(pilot, lambda: palette_top(app, "dash") == "Go to Dashboard", what="Go to Dashboard")
                await pilot.press("enter")
                await wait_for(pilot, lambda: ready(app, DashboardScreen), what="the dashboard")
                gates["a"].touch()
                _until(lambda: store.one("SELECT status FROM jobs WHERE id=?", (queued,))["status"] == "running",
                       "the queued source's turn")
                await pilot.press("4")
                await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the question, still up")
                await pilot.press("y")
                began = f"job {queued} has begun since its question was asked (running): not stopped"
                await wait_for(pilot, lambda: any(began in n for n in notes(app)),
                               what=lambda: f"the notifications {notes(app)}")
                await wait_for(pilot, lambda: ready(app, RunsScreen) and settled(app), what="back on Runs")
                await pilot.press("x")
                await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the question asked again")
                assert "The job then reads cancelled" in " ".join(texts(app, "#confirm-text").split())
                await pilot.press("n")

        run(go_on())
        assert store.one("SELECT cancel_requested FROM jobs WHERE id=?", (queued,))["cancel_requested"] == 0
    finally:
        for gate in gates.values():
            gate.touch()
    child.communicate(timeout=60)
    assert {j["status"] for j in lab.store().all("SELECT status FROM jobs")} == {"completed"}
