"""SVG snapshots of the main screens: fixed size, frozen clock and data (see frozen.py)."""

from __future__ import annotations

import time

import pytest

from rabtui.tui.app import make_app
from tests.tui import frozen
from tests.tui.conftest import texts, wait_for


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


def _until(selector: str, needle: str, key: str | None = None):
    async def run_before(pilot):
        if key:
            await pilot.press(key)
        await wait_for(pilot, lambda: needle in texts(pilot.app, selector), what=needle)
        await pilot.pause(0.3)
        # re-render everything once at the same size: no widget keeps a frame drawn mid-update
        size = pilot.app.size
        await pilot.resize_terminal(size.width, size.height)
        await pilot.pause(0.3)
    return run_before


@pytest.mark.parametrize("size", [(80, 24), (120, 40)])
def test_dashboard(snap_compare, tmp_path, size):
    assert snap_compare(_app(tmp_path), terminal_size=size, run_before=_until("#sources", "db1"))


def test_runs_backup_in_progress(snap_compare, tmp_path):
    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=_until("#run-stats", "ETA", "4"))


def test_media(snap_compare, tmp_path):
    assert snap_compare(_app(tmp_path), terminal_size=(80, 24), run_before=_until("#media-backups", "backup-", "3"))


def test_checkpoints_plan(snap_compare, tmp_path):
    assert snap_compare(_app(tmp_path), terminal_size=(120, 40), run_before=_until("#cp-plan", "lower bound", "5"))
