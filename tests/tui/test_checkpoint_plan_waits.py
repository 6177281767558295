"""Checkpoints: a plan that has to settle an archive union (a cleanup killed as it undid a backup's
links recorded it) while another process holds the union's lock says at once, on the status line
and in a notification, what it waits for and who holds it (pid, stopped), as `checkpoint plan`
says it on stderr; then plans once the lock is free. It waited in silence (io_timeout: ten minutes
by default). A real process holds the lock."""

from __future__ import annotations

from rabtui import config as configmod
from rabtui.backup import union_undo
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.planning import PlanChoice
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from tests.test_lock_waits import _end, _stopped_holder
from tests.tui.conftest import ready, run, texts, wait_for


async def plan_waiting(pilot, asked: str) -> CheckpointsScreen:
    """Checkpoints opened and a plan of `asked` (SOURCE:PATH) begun, seen waiting for a lock."""
    app = pilot.app
    await pilot.press("5")
    await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints")
    screen = app.screen
    screen.choice = PlanChoice(asked=(asked,))
    await pilot.press("p")
    await wait_for(pilot, lambda: "waiting (at most" in texts(app, "#status-line"), timeout=20,
                   what=lambda: f"the wait said: {texts(app, '#status-line')!r}")
    return screen


def test_a_plan_waiting_for_a_held_union_lock_says_who_holds_it(demo_config):
    cfg = configmod.load(demo_config)
    source = cfg.sources[0]
    photos, = source.archive_paths
    store = Store(cfg.state_dir)
    newest = store.one("SELECT medium, name FROM backups WHERE source=? AND status='completed' ORDER BY id DESC"
                       " LIMIT 1", (source.id,))
    store.close()
    medium = cfg.medium(newest["medium"]).path
    union_undo.begin(medium, source.id, newest["name"])
    holder = _stopped_holder(cfg.state_dir, source.id)

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(120, 30)) as pilot:
            try:
                await plan_waiting(pilot, f"{source.id}:{photos}")
                said = texts(app, "#status-line")
                assert f"a cleanup (pid {holder.pid}" in said and "stopped" in said, said
                assert app.screen.plan is None
            finally:      # the planning's thread waits for the lock: the app ends once it has it
                _end(holder)
            await wait_for(pilot, lambda: app.screen.plan is not None, timeout=60, what="the plan")
            assert app.screen.plan.discs and f"{source.id}:{photos}" in app.screen.plan.directories, app.screen.plan
            assert not union_undo.pending(medium, source.id)

    try:
        run(go())
    finally:
        _end(holder)


def test_p_again_while_the_plan_waits_starts_no_other(box_config, monkeypatch):
    """p pressed again and again while the plan asked before waits (a union's lock, a medium on a
    file system that hangs): one plan is made, each other press says why not (each would hold a
    worker thread until the wait ends, and a pool full of them leaves none for a poll)."""
    import threading

    from rabtui.tui.screens import checkpoints

    release, calls = threading.Event(), []
    real = checkpoints.fill_plan

    def waiting(*args, **kwargs):
        calls.append(1)
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(checkpoints, "fill_plan", waiting)

    async def go():
        app = make_app(box_config(), poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints")
            await pilot.press(*["p"] * 8)
            await wait_for(pilot, lambda: any("still planning" in n.message for n in app._notifications),
                           what="p refused while a plan waits")
            assert len(calls) == 1
            app.poll_jobs()
            await wait_for(pilot, lambda: not app._polling, timeout=10, what="a poll, beside the plan")
            release.set()
            await wait_for(pilot, lambda: app.screen.plan is not None, what="the plan")

    try:
        run(go())
    finally:
        release.set()
