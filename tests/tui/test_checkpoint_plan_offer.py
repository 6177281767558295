"""Checkpoints: Burn is offered only for a plan that can be written (not one refused for more discs
than max_discs); a new plan does not show the previous checkpoint's disc states."""

from __future__ import annotations

from rabtui.cli import main as cli_main
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from tests.tui.conftest import ready, run, texts, wait_for


def burn_offered(app) -> bool:
    return any(b.binding.action == "burn" for b in app.screen.active_bindings.values())


def test_a_refused_plan_is_not_offered_for_burning(demo_config):
    text = demo_config.read_text().replace('disc = "16MiB"', 'disc = "3MiB"').replace("max_discs = 64", "max_discs = 2")
    demo_config.write_text(text)

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints")
            assert not burn_offered(app)           # nothing planned yet
            await pilot.press("p")
            await wait_for(pilot, lambda: "refused" in texts(app, "#cp-plan"), what="the refused plan")
            assert len(app.screen.plan.discs) > 2
            assert not burn_offered(app)
            assert "max_discs 2" in texts(app, "#status-line")
            await pilot.press("B")
            await pilot.pause(0.3)
            assert not isinstance(app.screen, ConfirmDialog)

            app.screen.plan.max_discs = len(app.screen.plan.discs)     # the same plan within the limit
            app.screen.refresh_bindings()
            assert burn_offered(app)

    run(go())


def test_a_new_plan_does_not_show_the_previous_checkpoints_disc_states(demo_config):
    assert cli_main(["--config", str(demo_config), "checkpoint", "burn", "--yes", "--now"]) == 0
    photos = demo_config.parent / "source" / "photos" / "new"      # 400 new files: photos (max 300) is due again
    photos.mkdir(parents=True)
    for i in range(400):
        (photos / f"p{i:03d}.jpg").write_bytes(b"x" * (100 + i))
    assert cli_main(["--config", str(demo_config), "backup", "--all"]) in (0, 3)

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: ready(app, CheckpointsScreen) and "verified" in texts(app, "#cp-plan"),
                           what="the burnt checkpoint's discs, verified")
            await pilot.press("p")
            await wait_for(pilot, lambda: app.screen.plan is not None and "lower bound" in texts(app, "#cp-plan"),
                           what="the new plan")
            assert app.screen.plan.discs
            await pilot.pause(0.3)
            assert "verified" not in texts(app, "#cp-plan")
            assert "Checkpoint 1" in texts(app, "#cp-last")          # the last checkpoint itself is still said

    run(go())
