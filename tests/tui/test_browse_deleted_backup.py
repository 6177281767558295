"""A backup deleted by a cleanup in another process while Browse shows it: the screen says so and
goes back to the source's backups, instead of calling each directory "not in this backup" and
keeping the operator in a tree that is gone."""

from __future__ import annotations

import os
import sys

from rabtui.tui.app import make_app
from tests import preloaded
from tests.tui.conftest import back_up, browse_backups, run, wait_for


def test_a_backup_deleted_while_it_is_browsed(tmp_path, box_config):
    src = tmp_path / "src"
    (src / "sub").mkdir(parents=True)
    (src / "sub" / "file").write_text("x")
    path = box_config("""
        [retention]         # every backup but the newest is past its periods
        keep_all_days = 0
        keep_daily_days = 0
        keep_weekly_weeks = 0
        keep_monthly_months = 0
        keep_yearly_years = 0
    """)
    for _ in range(2):
        back_up(path)
    rel = os.fsencode(src).lstrip(b"/")

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            older = screen.keys[1]
            screen.open_backup(older, rel)
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded)
            done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(path), "cleanup"],
                                 capture_output=True, text=True)
            assert done.returncode == 0 and f"deleting box {older['name']}" in done.stdout, done
            await pilot.press("enter")                  # sub/, in the backup that is gone
            await wait_for(pilot, lambda: any("is no longer on m" in n.message for n in app._notifications),
                           what="the backup said gone")
            said = [n.message for n in app._notifications if "is no longer on m" in n.message][0]
            assert said.startswith(f"{older['name']} is no longer on m: it was deleted")
            assert not any("is not in this backup" in n.message for n in app._notifications)
            await wait_for(pilot, lambda: screen.level == "backups" and len(screen.keys) == 1, what="the backups")
            assert screen.keys[0]["name"] != older["name"]

    run(go())
