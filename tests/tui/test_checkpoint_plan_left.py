"""Checkpoints: a plan waiting for an archive union's lock (a backup stopped as it links its new
files there holds it) ends its wait once the screen is left (not for a dialog over it), and p
plans again on coming back.
Before, the wait went on behind the other screens up to the source's io_timeout (ten minutes by
default), holding a worker thread and the state directory's lock, and p only said "still planning"
all that time. A real process holds the lock."""

from __future__ import annotations

from rabtui import config as configmod
from rabtui.tui.app import make_app
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from rabtui.tui.screens.dashboard import DashboardScreen
from tests.test_lock_waits import _end, _stopped_holder
from tests.tui.test_checkpoint_plan_waits import plan_waiting
from tests.tui.conftest import ready, run, texts, wait_for


def test_leaving_the_screen_ends_the_plan_s_wait_for_a_union_lock(demo_config):
    cfg = configmod.load(demo_config)
    source = cfg.sources[0]
    photos, = source.archive_paths
    assert source.io_timeout >= 60     # the wait that would go on unless it is ended
    holder = _stopped_holder(cfg.state_dir, source.id)

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 30)) as pilot:
            try:
                screen = await plan_waiting(pilot, f"{source.id}:{photos}")
                await pilot.press("question_mark")      # a dialog over the screen: the plan goes on
                await wait_for(pilot, lambda: app.screen is not screen, what="the help")
                await pilot.pause(0.5)
                assert screen._plans.full()
                await pilot.press("escape")
                await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints under the help")
                assert screen._plans.full() and "waiting (at most" in texts(app, "#status-line")
                await pilot.press("1")
                await wait_for(pilot, lambda: ready(app, DashboardScreen), what="Dashboard")
                await wait_for(pilot, lambda: not screen._plans.full(), timeout=20,
                               what="the plan's wait ended once its screen was left")
                await pilot.press("5")
                await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints again")
                assert screen.plan is None or not screen.plan.discs, screen.plan
                await pilot.press("p")
                await wait_for(pilot, lambda: "waiting (at most" in texts(app, "#status-line"), timeout=20,
                               what=lambda: f"planned again: {texts(app, '#status-line')!r}")
                assert not any("still planning" in n.message for n in app._notifications)
            finally:      # the planning's thread waits for the lock: the app ends once it has it
                _end(holder)
            await wait_for(pilot, lambda: screen.plan is not None and screen.plan.discs, timeout=60, what="the plan")

    try:
        run(go())
    finally:
        _end(holder)
