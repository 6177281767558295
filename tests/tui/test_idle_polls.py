"""An idle UI does next to nothing: the timer's ticks look at the database's change counter
(`PRAGMA data_version`) and poll only when something was committed; a change made by another
process still shows."""

from __future__ import annotations

import sys
from collections import Counter

from rabtui.actions import jobs as jobviews
from rabtui.tui.app import RabtuiApp, make_app
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.runs import RunsScreen
from rabtui.tui.screens.sources import SourcesScreen
from tests import preloaded
from tests.tui.conftest import ready, run, settled, texts, wait_for

TICKS = 40


def counted(monkeypatch, counts: Counter, owner, name: str) -> None:
    real = getattr(owner, name)

    def counting(*args, **kwargs):
        counts[name] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(owner, name, counting)


def test_idle_ticks_do_no_refresh_work_and_changes_still_show(demo_config, monkeypatch):
    counts: Counter = Counter()
    for owner, name in ((RabtuiApp, "_tick"), (jobviews, "poll_jobs"), (jobviews, "recent_jobs"),
                        (DashboardScreen, "load_data"), (RunsScreen, "load_data")):
        counted(monkeypatch, counts, owner, name)

    async def idle_for(pilot, ticks: int) -> Counter:
        await wait_for(pilot, lambda: settled(pilot.app), what="the screen to settle")
        before = counts.copy()
        await wait_for(pilot, lambda: counts["_tick"] >= before["_tick"] + ticks, what=f"{ticks} ticks")
        return counts - before

    async def go():
        app = make_app(demo_config, poll_interval=0.02)
        app.IDLE_EVERY = 3600.0     # a change shows because it was committed, not because time passed
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and "demo-host" in texts(app, "#sources"))
            assert set(await idle_for(pilot, TICKS)) == {"_tick"}      # no poll, no reload of the dashboard
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen))
            assert set(await idle_for(pilot, TICKS)) == {"_tick"}      # nor of the runs screen
            assert "backup of demo-host" not in texts(app, "#runs-jobs")
            # another process makes a backup (recorded as a job): the idle screen shows it
            done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(demo_config), "backup", "demo-host"],
                                 capture_output=True, text=True, timeout=120)
            assert done.returncode == 0, done.stderr
            await wait_for(pilot, lambda: "backup of demo-host" in texts(app, "#runs-jobs"), what="the new job")
            assert counts["recent_jobs"] and counts["load_data"]

    run(go())


def test_a_tick_or_a_poll_that_comes_while_the_ui_closes_does_nothing(box_config):
    """The timer ticks on while Textual closes the screens at exit, and a poll may end then: with no
    screen left, a tick that saw the configuration edited on disk raised ScreenStackError (the UI
    quit with a traceback; seen on a busy machine, after an edit under an open dialog)."""
    path = box_config()

    async def go():
        app = make_app(path, poll_interval=3600)     # the test ticks and polls itself
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen), what="Sources")
        return app

    app = run(go())
    assert not app.screen_stack
    cfg = app.cfg
    with open(path, "a") as f:
        f.write("# edited by hand meanwhile\n")
    app._tick()
    app._polled(jobviews.JobsSnapshot([], [], 1.0))
    assert app.cfg is cfg and app.jobs.taken != 1.0     # neither reloaded nor shown
