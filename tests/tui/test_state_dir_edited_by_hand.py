"""The config file's state_dir changed by hand while the console runs: a job started then would
read the file, look for its row in the other directory's database, find none and never run (the
console said "job 1 started"). The console keeps the state directory it opened and the
configuration naming it, says why, and starts no job until the file names it again."""

from __future__ import annotations

import time

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from tests.tui.conftest import back_up, run, texts, wait_for


def test_a_state_dir_changed_by_hand_is_not_taken_live_and_no_job_is_lost_to_it(tmp_path, box_config):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_bytes(b"data")
    path = box_config()
    back_up(path)
    before = path.read_text()
    said = lambda app, words: any(words in n.message for n in app._notifications)   # noqa: E731

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            await wait_for(pilot, lambda: "completed" in texts(app, "#sources"), what="the dashboard")
            path.write_text(before.replace(f'"{tmp_path}/state"', f'"{tmp_path}/elsewhere"'))
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: said(app, "state_dir is now"),
                           what=lambda: f"the change said: {[n.message for n in app._notifications]}")
            assert app.cfg.state_dir == tmp_path / "state"
            await pilot.press("b")
            await wait_for(pilot, lambda: said(app, "cannot start backup box") or said(app, "started"),
                           what=lambda: f"the start said: {[n.message for n in app._notifications]}")
            assert not said(app, "started"), [n.message for n in app._notifications]

            path.write_text(before)                       # the file names the console's again
            await pilot.press("ctrl+r")
            await wait_for(pilot, lambda: app.state_dir_moved is None and not app._reloading, what="the reload")
            await pilot.press("b")
            await wait_for(pilot, lambda: said(app, "job 1 started"),
                           what=lambda: f"the start said: {[n.message for n in app._notifications]}")

    run(go())
    store = Store(tmp_path / "state")
    deadline = time.monotonic() + 60
    while store.one("SELECT status FROM jobs WHERE id=1")[0] in ("queued", "running"):
        assert time.monotonic() < deadline, "the backup did not end"
        time.sleep(0.1)
    assert [r[0] for r in store.all("SELECT status FROM backups ORDER BY id")] == ["completed", "completed"]
