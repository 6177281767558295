"""A multi-disc checkpoint on an images: drive, started from the Checkpoints screen as a detached
job: each "insert disc" question opens as a dialog and is answered there; the discs get verified."""

from __future__ import annotations

import json

from rabtui.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from tests.tui.conftest import run, texts, wait_for


def test_multi_disc_checkpoint_answered_in_the_ui(demo_config):
    demo_config.write_text(demo_config.read_text().replace('disc = "8MiB"', 'disc = "3MiB"'))
    store = Store(demo_config.parent / "state")
    asked = []

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5", "p")
            await wait_for(pilot, lambda: isinstance(app.screen, CheckpointsScreen) and "lower bound" in texts(app, "#cp-plan"))
            planned = app.screen.plan
            assert len(planned.discs) >= 2, "the demo data spans several 3 MiB discs"
            await pilot.press("B")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmDialog))
            await pilot.press("y")
            while True:
                await wait_for(pilot, lambda: isinstance(app.screen, QuestionDialog)
                               or store.one("SELECT status FROM jobs WHERE kind='checkpoint' ORDER BY id DESC")["status"]
                               in ("completed", "failed", "cancelled", "dead", "warnings"), timeout=120,
                               what="a question or the end of the job")
                if not isinstance(app.screen, QuestionDialog):
                    break
                prompt = app.screen.prompt
                asked.append(prompt)
                assert prompt["choices"][0] == "ready"
                await pilot.press("1")
                await wait_for(pilot, lambda: not isinstance(app.screen, QuestionDialog)
                               or app.screen.prompt["id"] != prompt["id"], what="dialog closes")
            await wait_for(pilot, lambda: "verified" in texts(app, "#cp-last"), what="checkpoint row")

    run(go())
    job = store.one("SELECT * FROM jobs WHERE kind='checkpoint' ORDER BY id DESC")
    assert job["status"] == "completed", job["summary"]
    cp = store.one("SELECT * FROM checkpoints ORDER BY number DESC")
    discs = store.all("SELECT state, image FROM discs WHERE number=? ORDER BY disc", (cp["number"],))
    assert len(discs) >= 2 and {d["state"] for d in discs} == {"verified"}
    inserts = [p for p in asked if p["kind"] == "insert_disc"]
    assert len(inserts) == len(discs)
    assert [json.loads(r["data"]).get("disc") for r in store.all(
        "SELECT data FROM prompts WHERE job_id=? AND kind='insert_disc' ORDER BY id", (job["id"],))] == \
        list(range(1, len(discs) + 1))
