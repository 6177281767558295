"""Every failure where the operator is: a screen's worker that fails ends in a notification with
the reason and in the screen's status line; a failed job is notified on any screen and stays on the
dashboard until acknowledged."""

from __future__ import annotations

import socket

from rabtui.tui.app import make_app
from rabtui.tui.screens.sources import SourcesScreen
from tests import preloaded
from tests.tui.conftest import kept_notes, run, texts, wait_for


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unreachable_source(tmp_path, write_config, medium: bool = True):
    """A config whose one source cannot be reached: each backup of it fails at step 1; with
    `medium`, of one medium, usb-1."""
    text = f'[rabtui]\nstate_dir = "{tmp_path}/state"\n'
    if medium:
        (tmp_path / "m1").mkdir()
        text += f'[[media]]\nid = "usb-1"\npath = "{tmp_path}/m1"\n'
    return write_config(text + f'[[sources]]\nid = "web1"\nhost = "127.0.0.1"\nport = {closed_port()}\n'
                               'user = "root"\n[[sources.directories]]\npath = "/etc"\n')


def test_testing_an_unreachable_source_ends_in_a_visible_failure(tmp_path, write_config):
    path = unreachable_source(tmp_path, write_config, medium=False)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: isinstance(app.screen, SourcesScreen) and "web1" in texts(app, "#sources-list"))
            await pilot.press("t")
            await wait_for(pilot, lambda: "failed" in texts(app, "#status-line"), what="the failure in the status line")
            status = texts(app, "#status-line")
            errors = [n.message for n in app._notifications if n.severity == "error"]
            assert errors, "no error notification"
            assert "web1" in errors[-1] or "127.0.0.1" in errors[-1] or "refused" in errors[-1].lower()
            assert errors[-1].split("\n")[0] in status.replace(" · ", "\n")
            assert app.screen.query_one("#status-line").has_class("error")

    run(go())


def test_a_failed_job_is_notified_anywhere_and_stays_on_the_dashboard_until_acknowledged(tmp_path, write_config):
    path = unreachable_source(tmp_path, write_config)

    async def go():
        app = make_app(path, poll_interval=0.2)
        notes = kept_notes(app)     # counted as said: a toast may expire before a busy machine looks
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "web1" in texts(app, "#sources"))
            await pilot.press("b")
            await wait_for(pilot, lambda: any("started" in n.message for n in app._notifications), what="job started")
            await pilot.press("3")       # the operator is on another screen when the job fails
            await wait_for(pilot, lambda: any(n.severity == "error" for n in app._notifications), timeout=60,
                           what="the failure notified")
            failure = [n for n in app._notifications if n.severity == "error"][-1]
            assert "backup web1 failed" in failure.message
            await pilot.press("1")
            await wait_for(pilot, lambda: "backup web1 failed" in texts(app, "#failed-jobs"), what="failure on the dashboard")
            assert app.screen.query_one("#failed-jobs").display
            await pilot.pause(1.0)       # later polls keep it there
            assert "backup web1 failed" in texts(app, "#failed-jobs")
            await pilot.press("k")
            await wait_for(pilot, lambda: not app.screen.query_one("#failed-jobs").display, what="acknowledged")
            await pilot.pause(0.6)       # and it does not come back with the next polls
            assert not app.screen.query_one("#failed-jobs").display
            assert sum("backup web1 failed" in m for m in notes) == 1   # notified once

    run(go())


def test_a_load_that_fails_on_every_poll_is_said_once_and_cleared_when_it_loads_again(demo_config, monkeypatch):
    from rabtui.errors import WorkFailed
    from rabtui.actions import status as queries
    from rabtui.tui.screens.dashboard import DashboardScreen

    rotation = queries.rotation
    broken = {"on": False}

    def failing_rotation(cfg, store):
        if broken["on"]:
            raise WorkFailed("the media table is unreadable")
        return rotation(cfg, store)

    monkeypatch.setattr(queries, "rotation", failing_rotation)

    async def go():
        app = make_app(demo_config, poll_interval=0.1)
        app.IDLE_EVERY = 0.0      # every tick polls and reloads, as while jobs write to the database
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and "demo-host" in texts(app, "#sources"))
            broken["on"] = True
            await wait_for(pilot, lambda: "unreadable" in texts(app, "#status-line")
                           and any("unreadable" in n.message for n in app._notifications), what="the failure shown")
            await pilot.pause(1.0)                    # about ten more polls fail the same way
            said = [n for n in app._notifications if "unreadable" in n.message]
            assert len(said) == 1, [n.message for n in said]
            broken["on"] = False
            await wait_for(pilot, lambda: "unreadable" not in texts(app, "#status-line"), what="the status cleared")

    run(go())


def test_a_failure_while_the_ui_was_closed_is_on_the_dashboard_until_acknowledged_across_restarts(
        tmp_path, write_config):
    """A night's failed backup (run-due from cron) is shown when the operator opens the UI in the
    morning; acknowledged, it stays acknowledged after a restart."""
    import sys

    path = unreachable_source(tmp_path, write_config)

    async def open_ui(then_acknowledge: bool) -> str:
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "web1" in texts(app, "#sources"))
            await pilot.pause(0.5)      # a poll or two
            shown = texts(app, "#failed-jobs") if app.screen.query_one("#failed-jobs").display else ""
            if then_acknowledge:
                await pilot.press("k")
                await wait_for(pilot, lambda: not app.screen.query_one("#failed-jobs").display, what="acknowledged")
        return shown

    assert run(open_ui(False)) == ""                     # first opened: nothing failed yet
    done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(path), "backup", "web1"],
                         capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "backup of web1 failed: cannot reach" in run(open_ui(True))   # the morning after: there, then acknowledged
    assert run(open_ui(False)) == ""                     # and gone for good
