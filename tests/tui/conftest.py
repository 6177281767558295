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
    """All text shown by the widgets matching `selector` (tables: every cell)."""
    from textual.widgets import DataTable, Static

    out = []
    for w in app.screen.query(selector):
        if isinstance(w, DataTable):
            for r in range(w.row_count):
                out.append(" ".join(str(c) for c in w.get_row_at(r)))
        elif isinstance(w, Static):
            out.append(str(w.render()))
    return "\n".join(out)
