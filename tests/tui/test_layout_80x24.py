"""At 80x24 what matters most is on the terminal without scrolling: the dashboard's running jobs, the
runs table's status and every column after a long title, the source form's Save button."""

from __future__ import annotations

import time

import pytest

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.source_form import SourceForm
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.base import selected_key
from rabtui.tui.screens.runs import RunsScreen
from tests.tui import frozen
from tests.tui.conftest import ready, run, settled, texts, wait_for
from tests.tui.layout import in_view, screen_lines

LONG = "restore /srv/photos/2026/11/" + "a-directory-with-a-long-name/" * 4 + " of web1 to /root/rabtui-restores/x"


@pytest.fixture
def frozen_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    cfg = frozen.make(tmp_path)
    store = Store(tmp_path / "state")
    store.execute("INSERT INTO jobs(id, kind, target, title, status, started, finished, exit_code, summary)"
                  " VALUES (7, 'restore', 'web1', ?, 'completed', ?, ?, 0, '')", (LONG, frozen.NOW - 60, frozen.NOW - 30))
    store.close()
    yield cfg
    monkeypatch.undo()
    time.tzset()


def _app(cfg):
    return make_app(cfg, poll_interval=0, clock=lambda: frozen.NOW)


def test_dashboard_shows_running_jobs_without_scrolling(frozen_config):
    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=(80, 24)) as pilot:
            # on the terminal itself, not only in the widget: a busy machine may draw it a frame later
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and "backup web1" in texts(app, "#jobs")
                           and settled(app) and any("backup web1" in line for line in screen_lines(app)),
                           what="the dashboard")
            jobs = app.screen.query_one("#jobs")
            assert in_view(app, jobs) and in_view(app, app.screen.query_one("#jobs-title"))
            row = next(line for line in screen_lines(app) if "backup web1" in line)
            assert "running" in row and "42%" in row, row

    run(go())


def test_runs_table_puts_status_first_and_cuts_a_long_title(frozen_config):
    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "restore" in texts(app, "#runs-jobs")
                           and settled(app), what="the runs table")
            table = app.screen.query_one("#runs-jobs")
            assert in_view(app, table)
            assert table.virtual_size.width <= table.scrollable_content_region.width, "columns pushed out of view"
            lines = screen_lines(app)
            restore = next(line for line in lines if "restore /srv/photos" in line)
            assert restore.split()[0] == "completed" and restore.split()[1] == "7", restore
            assert "…" in restore and restore.rstrip().endswith("30s"), restore     # cut, and `took` still shown
            running = next(line for line in lines if "backup web1" in line and "running" in line)
            assert running.split()[0] == "running", running

    run(go())


def test_source_form_save_button_is_on_screen(frozen_config):
    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: "web1" in texts(app, "#sources-list") and app.screen.focused is not None)
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, SourceForm), what="the form")
            await pilot.pause(0.2)
            assert in_view(app, app.screen.query_one("#save"))
            assert in_view(app, app.screen.query_one("#cancel"))
            assert any("Save (ctrl+s)" in line for line in screen_lines(app))

    run(go())


def test_a_dialog_footer_shows_the_dialogs_own_keys(frozen_config):
    from textual.widgets._footer import FooterKey

    from rabtui.tui.dialogs.common import ConfirmDialog

    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "running" in texts(app, "#runs-jobs")
                           and settled(app), what="Runs")
            table = app.screen.query_one("#runs-jobs")
            while selected_key(table) != "5":       # the running job (the restore of LONG is newer)
                await pilot.press("down")
            await pilot.press("x")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
            await pilot.pause(0.1)
            shown = {k.key: k.description for k in app.screen.query(FooterKey) if k.region.width}
            assert shown == {"y": "Yes", "n": "No"}, shown       # not the Runs screen's n Backup, x Stop
            assert screen_lines(app)[-1].startswith("y Yes n No")

    run(go())
