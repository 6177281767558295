"""Fixtures for the UI tests: a small demo sandbox with real backups made by the engine (rsync)."""

from __future__ import annotations

import asyncio
import os
import signal
import textwrap
import time

import pytest

from rabtui import demo
from rabtui.state.store import Store
from tests.trees import made_once


@pytest.fixture
def medium_m_config(tmp_path, write_config):
    """Write a configuration of the state in tmp_path/state and one medium `m` (tmp_path/m, made),
    then `sources` (TOML, dedented): returns its path."""

    def write(sources: str):
        (tmp_path / "m").mkdir(exist_ok=True)
        head = f'[rabtui]\nstate_dir = "{tmp_path}/state"\n[[media]]\nid = "m"\npath = "{tmp_path}/m"\n'
        return write_config(head + textwrap.dedent(sources))

    return write


@pytest.fixture
def box_config(tmp_path, medium_m_config):
    """Write a configuration of one medium `m` and one local source `box` of tmp_path/src, then
    `more` (TOML, dedented): returns its path."""

    def write(more: str = ""):
        return medium_m_config(f'[[sources]]\nid = "box"\n[[sources.directories]]\npath = "{tmp_path}/src"\n'
                               + textwrap.dedent(more))

    return write


def back_up(config_path, source: str = "box") -> None:
    """One backup of `source` by the engine (real rsync), completed."""
    import threading

    from rabtui import config as configmod
    from rabtui.backup.pipeline import run_backup
    from rabtui.events import no_emit

    cfg = configmod.load(config_path)
    result = run_backup(cfg, Store(cfg.state_dir), source, emit=no_emit, cancel=threading.Event())
    assert result.status == "completed", result.reason


def run(coro):
    return asyncio.run(coro)


async def wait_for(pilot, condition, timeout: float = 30.0, what="condition") -> None:
    """`what`: the text of the failure, or a function that says it then (what is on screen)."""
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return
        await pilot.pause(0.02)
    raise AssertionError(f"timed out waiting for {what() if callable(what) else what}")


def kept_notes(app) -> list[str]:
    """Every message `app` notifies from now on, in order, kept: a toast expires (on a busy machine,
    before it is looked at) and leaves app._notifications."""
    said: list[str] = []
    notify = app.notify
    app.notify = lambda message, *args, **kw: said.append(message) or notify(message, *args, **kw)
    return said


@pytest.fixture(scope="session")
def demo_template(tmp_path_factory):
    """A small sandbox with three real backups (engine + rsync: disk-a, disk-b, disk-a again), built
    once per test run, and a copy of it as it was built. The sandbox holds absolute paths (the
    source's directories in the config, the catalog and the backup trees), so it stays where it was
    built and each test gets it back there as new (see demo_config)."""
    def make(live):
        config = demo.build(live, documents=300, photos=120, backups=3)
        Store(live / "state").conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return config

    sandbox = made_once(tmp_path_factory, make, memory=True)     # on a tmpfs: each test's copy is quick to make
    made = next(sandbox)
    yield made
    stop_jobs(made[1].live)       # a job a test left running writes no more into what is removed
    next(sandbox, None)



@pytest.fixture
def demo_config(demo_template):
    """The demo sandbox as it was built: a test may change it (config, source, backups, jobs)."""
    config, made = demo_template
    stop_jobs(made.live)
    made.anew()
    return config


def stop_jobs(sandbox) -> None:
    """Detached jobs that a test left running in the sandbox (each is its own session, started
    with the sandbox's config) end before the sandbox they write into is replaced."""
    from rabtui.state.store_check import StateUnusable

    try:
        store = Store(sandbox / "state")
    except StateUnusable:     # a test damaged the database: it ran no job
        return
    try:
        # a row still being started names its starter, which may be this process (a console run here)
        for row in store.all("SELECT pid FROM jobs WHERE status IN ('running', 'waiting', 'queued') AND pid"
                             " AND pid != ?", (os.getpid(),)):
            try:
                with open(f"/proc/{row['pid']}/cmdline", "rb") as f:
                    ours = os.fsencode(sandbox) in f.read()
                if ours:
                    os.killpg(row["pid"], signal.SIGKILL)
            except OSError:   # gone already
                pass
    finally:
        store.close()


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


async def browse(app, pilot, source: str = "demo-host"):
    """Browse (key 6), listing `source`: the Browse screen."""
    from rabtui.tui.screens.browse import BrowseScreen

    await pilot.press("6")
    await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen) and source in texts(app, "#browse"))
    return app.screen


async def find_by_name(app, pilot, screen, name: str):
    """On the Browse screen `screen`: find (/) `name`, the versions found listed. The screen."""
    from rabtui.tui.dialogs.common import TextDialog

    await pilot.press("slash")
    await wait_for(pilot, lambda: ready(app, TextDialog), what="find dialog")
    await pilot.press(*name, "enter")
    await wait_for(pilot, lambda: screen.level == "find" and " matching " in texts(app, "#browse-where"))
    return screen


async def browse_backups(app, pilot, source: str = "demo-host"):
    """Browse (key 6), then the source's backups: the Browse screen, its first row the newest backup,
    ready for `open_backup`."""
    screen = await browse(app, pilot, source)
    await pilot.press("enter")
    await wait_for(pilot, lambda: screen.level == "backups" and screen.keys and isinstance(screen.keys[0], dict))
    return screen
