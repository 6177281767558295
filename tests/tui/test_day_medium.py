"""Backups started from the UI follow the day's medium rule of `backup --all` and run-due: one
started while another runs goes onto that one's medium (real rsync, detached job processes)."""

from __future__ import annotations

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from tests.test_actions import two_sources_the_first_held
from tests.tui.conftest import run, texts, wait_for


def test_two_backups_started_on_the_dashboard_go_onto_one_medium(tmp_path):
    lab, _, gate = two_sources_the_first_held(tmp_path)
    store = Store(lab.state)

    def medium_of(source: str):
        row = store.one("SELECT medium FROM backups WHERE source=?", (source,))
        return row["medium"] if row else None

    async def go():
        app = make_app(lab.config_path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "two" in texts(app, "#sources"))
            await pilot.press("b")                       # the cursor is on "one"
            await wait_for(pilot, lambda: medium_of("one") is not None, timeout=60, what="one's backup on its medium")
            await pilot.press("down", "b")
            await wait_for(pilot, lambda: store.one("SELECT COUNT(*) FROM jobs WHERE target='two'")[0] == 1,
                           what="two's job, its medium chosen")
            gate.touch()                                 # one's backup goes on only now
            await wait_for(pilot, lambda: store.one("SELECT COUNT(*) FROM jobs WHERE status IN"
                                                    " ('completed', 'warnings', 'failed', 'dead')")[0] == 2,
                           timeout=60, what="both jobs ended")

    run(go())
    rows = store.all("SELECT source, medium, status FROM backups ORDER BY source")
    assert [tuple(r) for r in rows] == [("one", "m1", "completed"), ("two", "m1", "completed")]
    assert all(r[0] for r in store.all("SELECT job_id FROM backups"))
