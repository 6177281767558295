"""A multi-disc checkpoint on an images: drive, started from the Checkpoints screen as a detached
job: each "insert disc" question opens as a dialog and is answered there; aborted at disc 2, then
resumed from the same screen; in the end every disc is verified."""

from __future__ import annotations

import json

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.screens.checkpoints import CheckpointsScreen
from tests.tui.conftest import ready, run, texts, wait_for

FINAL = ("completed", "failed", "cancelled", "dead", "warnings")


def test_multi_disc_checkpoint_answered_in_the_ui(demo_config):
    demo_config.write_text(demo_config.read_text().replace('disc = "16MiB"', 'disc = "6MiB"'))
    store = Store(demo_config.parent / "state")
    asked = []

    def newest_job():
        return store.one("SELECT * FROM jobs WHERE kind='checkpoint' ORDER BY id DESC")

    async def answer_until_done(app, pilot, job_title: str, abort_at: int | None = None) -> None:
        await wait_for(pilot, lambda: newest_job() is not None and newest_job()["title"] == job_title, what=job_title)
        job_id = newest_job()["id"]
        while True:
            await wait_for(pilot, lambda: ready(app, QuestionDialog) or store.one(
                "SELECT status FROM jobs WHERE id=?", (job_id,))["status"] in FINAL, timeout=120,
                what="a question or the end of the job")
            if not isinstance(app.screen, QuestionDialog):
                return
            prompt = app.screen.prompt
            asked.append(prompt)
            assert prompt["job_id"] == job_id
            disc = prompt["data"].get("disc") if isinstance(prompt["data"], dict) else None
            if abort_at is not None and disc == abort_at:
                assert prompt["choices"][-1] == "abort"
                await pilot.press(str(len(prompt["choices"])))
            else:
                assert prompt["choices"][0] == "ready"
                await pilot.press("1")
            await wait_for(pilot, lambda: not isinstance(app.screen, QuestionDialog)
                           or app.screen.prompt["id"] != prompt["id"], what="dialog closes")

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("5")
            await wait_for(pilot, lambda: ready(app, CheckpointsScreen), what="Checkpoints")
            # nothing to resume yet: said, and no job is started (none is left failed on the dashboard)
            await pilot.press("R")
            await wait_for(pilot, lambda: any("no unfinished checkpoint" in n.message for n in app._notifications)
                           or newest_job() is not None, what="the resume refused")
            assert newest_job() is None
            await pilot.press("p")
            await wait_for(pilot, lambda: "lower bound" in texts(app, "#cp-plan"), what="the plan")
            assert len(app.screen.plan.discs) >= 3, "the demo data spans several 6 MiB discs"
            await pilot.press("B")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="burn dialog")
            await pilot.press("y")
            await answer_until_done(app, pilot, "checkpoint burn", abort_at=2)
            first = newest_job()
            assert first["status"] in ("cancelled", "failed")
            await wait_for(pilot, lambda: "aborted" in texts(app, "#cp-last") and "1 verified" in texts(app, "#cp-last"),
                           what="the aborted checkpoint with one verified disc")
            await pilot.press("R")
            await answer_until_done(app, pilot, "checkpoint resume")
            await wait_for(pilot, lambda: "completed" in texts(app, "#cp-last"), what="checkpoint completed")

    run(go())
    job = store.one("SELECT * FROM jobs WHERE kind='checkpoint' ORDER BY id DESC")
    assert job["status"] == "completed", job["summary"]
    cp = store.one("SELECT * FROM checkpoints ORDER BY number DESC")
    discs = store.all("SELECT disc, state FROM discs WHERE number=? ORDER BY disc", (cp["number"],))
    assert len(discs) >= 2 and {d["state"] for d in discs} == {"verified"}
    inserted = [json.loads(r["data"]).get("disc") for r in store.all(
        "SELECT data FROM prompts WHERE kind='insert_disc' ORDER BY id")]
    # burn: disc 1 (ready), disc 2 (abort); resume: disc 2 .. n; disc 1 is never written again
    assert inserted == [1, 2] + list(range(2, len(discs) + 1))
