"""The Checkpoints screen chooses the directories and the disc type, as `checkpoint plan/burn --now
SOURCE:PATH --disc TYPE` do: the plan is made of the choices, and the burn job started from it gets
the same arguments and writes that plan."""

from __future__ import annotations

import json

from textual.widgets import Select, SelectionList

from rabtui.cli import main as cli_main
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.checkpoint_choices import CheckpointChoices
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.planning import PlanChoice
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from tests.tui.conftest import ready, run, texts, wait_for


def test_pure_args():
    assert PlanChoice().args() == []
    assert PlanChoice(("a:/x", "b:/y"), "dvd+r").args() == ["--now", "a:/x", "b:/y", "--disc", "dvd+r"]


def test_choose_directories_and_disc_type_then_burn_with_them(demo_config):
    # a first checkpoint of everything: then nothing is due, and a directory is chosen by hand
    assert cli_main(["--config", str(demo_config), "checkpoint", "burn", "--yes", "--now"]) == 0
    store = Store(demo_config.parent / "state")
    photos = f"demo-host:{demo_config.parent / 'source' / 'photos'}"

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: ready(app, CheckpointsScreen) and "photos" in texts(app, "#cp-dirs"),
                           what="Checkpoints")
            screen = app.screen
            assert "due" not in texts(app, "#cp-dirs").split()
            await pilot.press("c")
            await wait_for(pilot, lambda: ready(app, CheckpointChoices), what="the choices dialog")
            dirs = app.screen.query_one(SelectionList)
            assert dirs.selected == []                          # nothing is due: nothing chosen yet
            await pilot.press("down")
            while dirs.get_option_at_index(dirs.highlighted).value != photos:
                await pilot.press("down")
            await pilot.press("space")
            assert dirs.selected == [photos]
            await pilot.press("tab")
            disc = app.screen.query_one(Select)
            assert disc.has_focus and disc.value == "16MiB"     # the config's
            await pilot.press("enter")
            await pilot.press(*"dvd+r")
            await pilot.press("enter")
            await wait_for(pilot, lambda: disc.value == "dvd+r" and not disc.expanded, what="dvd+r chosen")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: screen.plan is not None and "lower bound" in texts(app, "#cp-plan"),
                           what="the plan")
            assert screen.plan.disc_name == "dvd+r" and screen.plan.directories == [photos]
            assert "dvd+r" in texts(app, "#cp-plan") and "dvd+r" in texts(app, "#status-line")
            await pilot.press("B")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="burn dialog")
            assert "of dvd+r" in texts(app, "#confirm-text")
            await pilot.press("y")
            await wait_for(pilot, lambda: store.one("SELECT 1 FROM jobs WHERE kind='checkpoint' AND argv LIKE '%--disc%'"),
                           what="the burn job")
            job = store.one("SELECT * FROM jobs WHERE kind='checkpoint' ORDER BY id DESC")
            assert json.loads(job["argv"]) == ["checkpoint", "burn", "--now", photos, "--disc", "dvd+r"]
            await wait_for(pilot, lambda: ready(app, QuestionDialog), timeout=60, what="insert disc 1")
            assert "dvd+r" in app.screen.prompt["text"]
            await pilot.press("1")
            await wait_for(pilot, lambda: store.one("SELECT status FROM jobs WHERE id=?", (job["id"],))["status"]
                           not in ("queued", "running", "waiting"), timeout=120, what="the burn to end")

    run(go())
    job = store.one("SELECT * FROM jobs WHERE kind='checkpoint' ORDER BY id DESC")
    assert job["status"] == "completed", job["summary"]
    cp = store.one("SELECT * FROM checkpoints ORDER BY number DESC")
    assert cp["number"] == 2 and cp["disc_type"] == "dvd+r"
    assert [d["key"] for d in json.loads(cp["plan"])["summary"]["directories"]] == [photos]
