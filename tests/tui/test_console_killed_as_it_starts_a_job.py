"""A console killed (its SSH connection lost, SIGKILL) as it starts a backup, its job's row written
and its process not yet started: that row is not left queued for ever, refusing every later backup
of the source as "already under way"."""

from __future__ import annotations

import os
import signal
import sys
import textwrap
import time

from rabtui import faults
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from tests import preloaded
from tests.tui.conftest import run, texts, wait_for

START_KILLED = textwrap.dedent("""
    import sys
    from rabtui import config
    from rabtui.actions import backup
    from rabtui.state.store import Store
    cfg = config.load(sys.argv[1])
    backup.start_detached(cfg, Store(cfg.state_dir), "box")
""")


def test_a_backup_whose_console_died_before_starting_it_is_not_left_under_way(tmp_path, box_config):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"data")
    path = box_config()
    done = preloaded.run([sys.executable, "-c", START_KILLED, str(path)],
                         env={**os.environ, faults.ENV: faults.JOB_START_POINTS[0]}, capture_output=True, timeout=60)
    assert done.returncode == -signal.SIGKILL, done.stdout + done.stderr
    store = Store(tmp_path / "state")
    assert [tuple(r) for r in store.all("SELECT id, status FROM jobs")] == [(1, "queued")]

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await wait_for(pilot, lambda: "box" in texts(app, "#sources"), what="the dashboard")
            await pilot.press("b")
            await wait_for(pilot, lambda: any("job 2 started" in n.message or "cannot start" in n.message
                                              for n in app._notifications),
                           what=lambda: f"the start said: {[n.message for n in app._notifications]}")
            assert not [n.message for n in app._notifications if "cannot start" in n.message]

    run(go())
    assert store.one("SELECT status, summary FROM jobs WHERE id=1")[:] == ("cancelled", "not started")
    deadline = time.monotonic() + 60
    while store.one("SELECT status FROM jobs WHERE id=2")[0] in ("queued", "running"):
        assert time.monotonic() < deadline, "the backup did not end"
        time.sleep(0.1)
    assert store.one("SELECT status FROM jobs WHERE id=2")[0] == "completed"
