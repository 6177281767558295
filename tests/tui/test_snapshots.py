"""SVG snapshots of the main screens: fixed size, frozen clock and data (see frozen.py)."""

from __future__ import annotations

import time

import pytest

from rabtui.tui.app import make_app
from tests.tui import frozen
from tests.tui.conftest import settled, texts, wait_for


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Times on the screen in UTC, whatever the machine's zone; restored afterwards."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def _app(tmp_path):
    return make_app(frozen.make(tmp_path), poll_interval=0, clock=lambda: frozen.NOW)


def _until(key: str | None, *shown: tuple[str, str]):
    """Before the picture: press `key`, then wait until every (selector, text) pair is shown and the
    screen has settled (see conftest.settled): what the picture depends on, not a time."""
    async def run_before(pilot):
        if key:
            await pilot.press(key)
        await wait_for(pilot, lambda: all(needle in texts(pilot.app, selector) for selector, needle in shown)
                       and settled(pilot.app), what=" and ".join(needle for _, needle in shown))
    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_dashboard(snap_compare, tmp_path, size):
    assert snap_compare(_app(tmp_path), terminal_size=size,
                        run_before=_until(None, ("#sources", "db1"), ("#jobs", "backup web1")))


def test_runs_backup_in_progress(snap_compare, tmp_path):
    assert snap_compare(_app(tmp_path), terminal_size=(80, 24),
                        run_before=_until("4", ("#run-stats", "ETA"), ("#run-log", "rsync: /srv/photos")))


def test_media(snap_compare, tmp_path):
    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=_until("3", ("#media-backups", "backup-")))


def test_checkpoints_plan(snap_compare, tmp_path):
    assert snap_compare(_app(tmp_path), terminal_size=(120, 40), run_before=_until("5", ("#cp-plan", "lower bound")))


def test_help_screen(snap_compare, tmp_path):
    async def run_before(pilot):
        await _until("2", ("#sources-list", "web1"))(pilot)
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: "Quit" in texts(pilot.app, "#help-keys"), what="the help screen")

    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=run_before)
