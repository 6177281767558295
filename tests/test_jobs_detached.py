"""A job started from the UI is its own process: it outlives the UI, and a new UI shows it live."""

from __future__ import annotations

import time
from pathlib import Path

from rabtui import proc_table
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.screens.runs import RunsScreen
from tests.trees import gate_command
from tests.tui.conftest import demo_config, demo_template, run, texts, wait_for  # noqa: F401 (fixtures)


def _held_source(config_path) -> Path:
    """The demo source with a pre-backup command that holds its backup in step 4 until the file
    returned exists (at most 60 s): the test, not the machine's load, says when it goes on."""
    gate = config_path.parent / "go-on"
    text = config_path.read_text().replace('excludes = ["*.tmp"]',
                                           f'excludes = ["*.tmp"]\npre_backup_commands = ["{gate_command(gate)}"]')
    config_path.write_text(text)
    return gate


def test_job_survives_the_ui_and_shows_in_a_new_one(demo_config):
    gate = _held_source(demo_config)

    async def start_and_quit():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources"))
            await pilot.press("b")          # Dashboard: back up the highlighted source now
            await wait_for(pilot, lambda: any(j["kind"] == "backup" for j in app.jobs.running), what="job row")
            job = app.jobs.running[0]
            await pilot.press("q")
        return job["id"]

    job_id = run(start_and_quit())
    store = Store(demo_config.parent / "state")
    row = store.one("SELECT * FROM jobs WHERE id=?", (job_id,))
    assert row["pid"] and proc_table.pid_alive(row["pid"]), "the job must outlive the UI"
    assert row["status"] in ("queued", "running")

    async def reopen():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and "backup demo-host" in texts(app, "#runs-jobs"))
            await wait_for(pilot, lambda: "▶ 4 pre-backup commands" in texts(app, "#run-steps"), timeout=30,
                           what="the job shown live in its step 4")
            assert "running" in texts(app, "#runs-jobs")
            gate.touch()
            await wait_for(pilot, lambda: "completed" in texts(app, "#run-title"), timeout=60, what="job completes")
            assert "hard links saved" in texts(app, "#run-savings")
            assert "✔ 7 sizes" in texts(app, "#run-steps")

    run(reopen())
    end = time.monotonic() + 120
    while proc_table.pid_alive(row["pid"]) and time.monotonic() < end:
        time.sleep(0.1)
    final = store.one("SELECT status, exit_code FROM jobs WHERE id=?", (job_id,))
    assert (final["status"], final["exit_code"]) == ("completed", 0)
    assert store.one("SELECT status FROM backups WHERE job_id=?", (job_id,))["status"] == "completed"
