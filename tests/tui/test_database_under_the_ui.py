"""The state database as other processes leave it while the UI runs: damaged (a table dropped) or
held busy by a long write. The UI says what is wrong and stays usable: no traceback, no key that
waits for the database, nothing written over."""

from __future__ import annotations

import sqlite3
import subprocess
import sys

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import TextDialog
from rabtui.tui.screens.runs import RunsScreen
from tests.tui.conftest import browse_backups, kept_notes, ready, run, settled, texts, wait_for

HOLD_WRITE_LOCK = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN IMMEDIATE")
print("held", flush=True)
sys.stdin.readline()     # until the test has seen what it looks for
conn.execute("COMMIT")
"""


DAMAGED = "is damaged: no such table: backups"


def damaged_messages(app) -> list:
    return [n for n in app._notifications if DAMAGED in n.message]


def test_a_backup_opened_after_its_table_was_dropped_says_the_database_is_damaged(demo_config):
    db = demo_config.parent / "state" / "rabtui.db"

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot)
            notes = kept_notes(app)     # counted as said: a toast may expire before a busy machine looks

            def damages() -> int:
                return sum(DAMAGED in m for m in notes)
            conn = sqlite3.connect(db)
            conn.execute("DROP TABLE backups")
            conn.commit()
            conn.close()
            await pilot.press("enter")                  # open the newest backup
            await wait_for(pilot, lambda: damaged_messages(app), what="the damage said")
            said = damaged_messages(app)[0]
            assert said.severity == "error" and "rabtui rebuild-state" in said.message
            assert "Traceback" not in said.message and "OperationalError" not in said.message
            # the screen is where its table is (the backups), and its keys go on with it
            await wait_for(pilot, lambda: screen.level == "backups" and not screen.loading, what="back at the backups")
            await pilot.press("enter")
            await wait_for(pilot, lambda: damages() == 2, what="the damage said again")
            await pilot.press("slash")                  # find: the newest backup of each version is looked up
            await wait_for(pilot, lambda: ready(app, TextDialog), what="the find dialog")
            await pilot.press(*"IMG_00007", "enter")
            await wait_for(pilot, lambda: damages() == 3, what="the find failed")
            await wait_for(pilot, lambda: screen.level == "backups" and not screen.loading and ready(app, type(screen)),
                           what="still at the backups, the find dialog gone")
            await pilot.press("enter")
            await wait_for(pilot, lambda: damages() == 4, what="and again")
            await pilot.press("4")                      # the UI goes on
            await wait_for(pilot, lambda: ready(app, RunsScreen), what="Runs")

    run(go())
    conn = sqlite3.connect(db)
    assert not conn.execute("SELECT 1 FROM sqlite_master WHERE name='backups'").fetchall()   # not made anew
    conn.close()


def test_keys_are_answered_while_another_process_holds_the_database(demo_config):
    """Starting a backup and stopping a job write to the database: while another process holds its
    write lock (a long catalog update), the keys go on working and the writes follow it."""
    db = demo_config.parent / "state" / "rabtui.db"

    async def go():
        app = make_app(demo_config, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources"), what="the dashboard")
            holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(db)], stdin=subprocess.PIPE,
                                      stdout=subprocess.PIPE, text=True)
            try:
                assert holder.stdout.readline() == "held\n"
                await pilot.press("b")                  # back up the selected source
                await pilot.press("4")
                await wait_for(pilot, lambda: ready(app, RunsScreen), what="Runs while the database is held")
                assert holder.poll() is None            # still held: the keys did not wait for it
            finally:
                holder.communicate("\n", timeout=30)
            await wait_for(pilot, lambda: any("started: backup demo-host" in n.message for n in app._notifications),
                           what="the backup started once the lock was let go")

    run(go())


def test_a_poll_that_fails_each_time_is_said_once_and_not_tried_at_every_tick(demo_config):
    db = demo_config.parent / "state" / "rabtui.db"

    async def go():
        app = make_app(demo_config, poll_interval=0)    # the test polls, as the timer's ticks do
        notes = kept_notes(app)     # counted as said: a toast may expire before a busy machine looks
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: app.jobs.taken and settled(app), what="the first poll and the dashboard")
            conn = sqlite3.connect(db)
            conn.execute("DROP TABLE prompts")
            conn.commit()
            conn.close()
            app._changes.changed()                      # the drop seen: what follows is the polls' own
            app._polled_at -= app.IDLE_EVERY            # as when the last good poll was long ago
            for _ in range(3):
                app.poll_jobs()
                await wait_for(pilot, lambda: not app._polling, what="the poll ended")
            await wait_for(pilot, lambda: any("no such table: prompts" in m for m in notes), what="the failure said")
            await pilot.pause()
            assert sum("no such table: prompts" in m for m in notes) == 1
            app._tick()                                 # nothing committed since: no poll before IDLE_EVERY
            assert not app._polling

    run(go())
