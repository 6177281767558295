"""Fixtures for the UI tests: a small demo sandbox with real backups made by the engine (rsync)."""

from __future__ import annotations

import asyncio
import time

import pytest

from rabtui import demo


def run(coro):
    return asyncio.run(coro)


async def wait_for(pilot, condition, timeout: float = 30.0, what: str = "condition") -> None:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        await pilot.pause(0.1)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.fixture
def demo_config(tmp_path):
    """A small sandbox with three real backups (engine + rsync): disk-a, disk-b, disk-a again."""
    return demo.build(tmp_path / "demo", documents=300, photos=120, backups=3)


def texts(app, selector: str) -> str:
    """All text shown by the widgets matching `selector` (tables: every cell; logs: every line)."""
    from textual.widgets import DataTable, RichLog, Static

    out = []
    for w in app.screen.query(selector):
        if isinstance(w, DataTable):
            for r in range(w.row_count):
                out.append(" ".join(str(c) for c in w.get_row_at(r)))
        elif isinstance(w, Static):
            out.append(str(w.render()))
        elif isinstance(w, RichLog):
            out.extend(line.text for line in w.lines)
    return "\n".join(out)


def settled(app) -> bool:
    """Nothing the screen shows is still on its way: no load of the screen and no job poll in flight,
    and every table has measured the rows it holds (a DataTable sizes added rows when it is idle;
    until then it has the height it had before them)."""
    from textual.widgets import DataTable

    screen = app.screen
    if getattr(screen, "_loading", False) or getattr(screen, "_again", False) or getattr(app, "_polling", False):
        return False
    return all(t.virtual_size.height == t.row_count + (t.header_height if t.show_header else 0)
               for t in screen.query(DataTable))


def ready(app, screen_type) -> bool:
    """A screen of `screen_type` is on top, mounted, and has focused its widget: keys pressed now
    go where a user's would (a key sent before that reaches the screen below, or nothing)."""
    screen = app.screen
    return isinstance(screen, screen_type) and screen.is_mounted and screen.focused is not None


async def browse_backups(app, pilot, source: str = "demo-host"):
    """Browse (key 6), then the source's backups: the Browse screen, its first row the newest backup,
    ready for `open_backup`."""
    from rabtui.tui.screens.browse import BrowseScreen

    await pilot.press("6")
    await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen) and source in texts(app, "#browse"))
    screen = app.screen
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.level == "backups" and screen.keys and isinstance(screen.keys[0], dict))
    return screen
