"""At 80x24 what matters most is on the terminal without scrolling: the dashboard's running jobs, the
runs table's status and every column after a long title, the source form's Save button."""

from __future__ import annotations

import time

import pytest

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.source_form import SourceForm
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.base import selected_key
from rabtui.tui.screens.runs import RunsScreen
from rabtui.tui.screens.sources import SourcesScreen
from tests.tui import frozen
from tests.tui.conftest import ready, run, settled, texts, wait_for
from tests.tui.layout import in_view, screen_lines

LONG = "restore /srv/photos/2026/11/" + "a-directory-with-a-long-name/" * 4 + " of web1 to /root/rabtui-restores/x"


@pytest.fixture
def frozen_config(tmp_path, monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    cfg = frozen.make(tmp_path)
    store = Store(tmp_path / "state")
    store.execute("INSERT INTO jobs(id, kind, target, title, status, started, finished, exit_code, summary)"
                  " VALUES (7, 'restore', 'web1', ?, 'completed', ?, ?, 0, '')", (LONG, frozen.NOW - 60, frozen.NOW - 30))
    store.close()
    yield cfg
    monkeypatch.undo()
    time.tzset()


def _app(cfg):
    return make_app(cfg, poll_interval=0, clock=lambda: frozen.NOW)


def test_dashboard_shows_running_jobs_without_scrolling(frozen_config):
    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=(80, 24)) as pilot:
            # on the terminal itself, not only in the widget: a busy machine may draw it a frame later
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and "backup web1" in texts(app, "#jobs")
                           and settled(app) and any("backup web1" in line for line in screen_lines(app)),
                           what="the dashboard")
            jobs = app.screen.query_one("#jobs")
            assert in_view(app, jobs) and in_view(app, app.screen.query_one("#jobs-title"))
            row = next(line for line in screen_lines(app) if "backup web1" in line)
            assert "running" in row and "42%" in row, row

    run(go())


def test_runs_table_puts_status_first_and_cuts_a_long_title(frozen_config):
    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "restore" in texts(app, "#runs-jobs")
                           and settled(app), what="the runs table")
            table = app.screen.query_one("#runs-jobs")
            assert in_view(app, table)
            assert table.virtual_size.width <= table.scrollable_content_region.width, "columns pushed out of view"
            lines = screen_lines(app)
            restore = next(line for line in lines if "restore /srv/photos" in line)
            assert restore.split()[0] == "completed" and restore.split()[1] == "7", restore
            assert "…" in restore and restore.rstrip().endswith("30s"), restore     # cut, and `took` still shown
            running = next(line for line in lines if "backup web1" in line and "running" in line)
            assert running.split()[0] == "running", running

    run(go())


@pytest.mark.parametrize("size", [(80, 24), (40, 10)], ids=["80x24", "40x10"])
def test_source_form_save_button_is_on_screen(frozen_config, size):
    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=size) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: "web1" in texts(app, "#sources-list") and app.screen.focused is not None)
            await pilot.press("e")
            await wait_for(pilot, lambda: isinstance(app.screen, SourceForm), what="the form")
            await pilot.pause(0.2)
            assert in_view(app, app.screen.query_one("#save"))
            assert in_view(app, app.screen.query_one("#cancel"))
            assert any("Save (ctrl+s)" in line for line in screen_lines(app))

    run(go())


def test_a_dialog_footer_shows_the_dialogs_own_keys(frozen_config):
    from textual.widgets._footer import FooterKey

    from rabtui.tui.dialogs.common import ConfirmDialog

    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "running" in texts(app, "#runs-jobs")
                           and settled(app), what="Runs")
            table = app.screen.query_one("#runs-jobs")
            while selected_key(table) != "5":       # the running job (the restore of LONG is newer)
                await pilot.press("down")
            await pilot.press("x")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the confirm dialog")
            await pilot.pause(0.1)
            shown = {k.key: k.description for k in app.screen.query(FooterKey) if k.region.width}
            assert shown == {"y": "Yes", "n": "No"}, shown       # not the Runs screen's n Backup, x Stop
            assert screen_lines(app)[-1].startswith("y Yes n No")

    run(go())


def test_a_directory_of_a_4000_byte_path_leaves_room_for_its_entries(tmp_path, box_config):
    """Browse at 80x24 in a directory 4,000 bytes deep (its path in the backup is longer than the
    kernel takes in one call): listed, its path line in two lines with the start and the end of the
    path in them, and the table below has the rest of the screen."""
    import os

    from rabtui.tui.screens.browse import BrowseScreen
    from tests.tui.conftest import back_up, browse_backups

    deep = os.fsencode(tmp_path / "src")
    while len(deep) < 3850:
        deep += b"/" + b"d" * 200
    deep += b"/last-dir"
    os.makedirs(deep)
    for i in range(30):
        open(os.path.join(deep, b"file-%02d" % i), "wb").close()
    path = box_config()
    back_up(path)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            screen = await browse_backups(app, pilot, "box")
            screen.open_backup(screen.keys[0], deep.lstrip(b"/"))
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded)
            await wait_for(pilot, lambda: settled(app), what="drawn")
            assert isinstance(app.screen, BrowseScreen)
            assert screen.query_one("#browse-where").size.height <= BrowseScreen.WHERE_LINES
            assert screen.query_one("#browse").size.height >= 15           # the entries have the screen
            lines = screen_lines(app)
            where = "".join(line.strip() for line in lines[1:1 + BrowseScreen.WHERE_LINES])
            assert where.startswith("box › backup-") and "…" in where
            assert "/last-dir" in where and where.endswith("(30 entries, first backup on this medium)")
            assert any("file-00" in line for line in lines)

    run(go())


def test_a_long_question_or_confirmation_keeps_its_buttons_on_screen(demo_config):
    """At 80x24 a job's question naming a 3,000-byte path, and the source form's 'changed on disk'
    with a diff of 40 lines: the text scrolls in its own box, the buttons and the hint stay in view."""
    import threading

    from textual.widgets import Button, Input

    from rabtui.events import ABORT, READY, RETRY, SKIP, Question
    from rabtui.state.jobs import JobRecorder
    from rabtui.tui.dialogs.common import ConfirmDialog
    from rabtui.tui.dialogs.question import QuestionDialog

    store = Store(demo_config.parent / "state")
    recorder = JobRecorder(store, "restore", "demo-host", "restore")
    text = "Medium disk-b is not there: insert it to restore /" + "d" * 3000 + "/file"
    asking = threading.Thread(target=lambda: recorder.prompter().ask(
        Question("insert_medium", text, [READY, RETRY, SKIP, ABORT]), recorder.cancel), daemon=True)
    asking.start()

    def all_in_view(app) -> bool:
        return all(in_view(app, b) for b in app.screen.query(Button)) and in_view(app, app.screen.query_one(".hint"))

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, QuestionDialog), what="the question")
            await wait_for(pilot, lambda: settled(app) and len(app.screen.query(Button)) == 4, what="drawn")
            assert all_in_view(app)
            await pilot.press("escape")                 # answer later
            await wait_for(pilot, lambda: not isinstance(app.screen, QuestionDialog), what="the question gone")

            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen), what="Sources")
            await pilot.press("e")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
            with open(demo_config, "a") as f:           # someone else's edit meanwhile
                f.write("".join(f"# note {i}\n" for i in range(40)))
            app.screen.query_one("#f-user", Input).value = "backup"
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="changed on disk")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            assert all(in_view(app, b) for b in app.screen.query(Button))

    run(go())
    store.execute("UPDATE prompts SET answer='abort' WHERE job_id=?", (recorder.job_id,))
    asking.join(60)
    recorder.finish("cancelled", 1)


def test_a_long_title_of_wide_characters_leaves_the_log_on_the_screen(tmp_path, medium_m_config):
    """A restore of a path of 2,100 wide (CJK) characters, its summary as long: its title and summary
    take their two lines each as an ASCII title's do, and the log's last line is on the screen (they
    were cut by characters, two cells each: eight lines, the log pushed out of view)."""
    from rabtui.tui.safe_text import middle_cut
    from rich.cells import cell_len

    wide = "写真の" * 700
    assert 99 <= cell_len(middle_cut(wide, 101)) <= 101 and middle_cut(wide, 101).startswith("写真の")
    path = medium_m_config(f'[[sources]]\nid = "box"\n[[sources.directories]]\npath = "{tmp_path}/src"\n')
    store = Store(tmp_path / "state")
    now = time.time()
    store.execute("INSERT INTO jobs(id, kind, target, title, status, started, finished, exit_code, summary)"
                  " VALUES (7, 'restore', 'box', ?, 'failed', ?, ?, 1, ?)",
                  (f"restore /srv/{wide}/end of box", now - 60, now - 30, f"failed {wide} end"))
    store.execute("INSERT INTO events(job_id, ts, kind, message) VALUES (7, ?, 'error', 'the last line')", (now,))

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "failed" in texts(app, "#runs-jobs")
                           and settled(app) and "the last line" in texts(app, "#run-log"), what="Runs")
            await wait_for(pilot, lambda: any("the last line" in line for line in screen_lines(app)),
                           what=lambda: "the log's line on the screen:\n" + "\n".join(screen_lines(app)))
            title = [line for line in screen_lines(app) if "写真" in line][1:]     # (the first: the jobs table)
            assert len(title) <= 4, title

    run(go())


def test_the_file_being_copied_at_a_long_path_leaves_the_log_on_the_screen(tmp_path, medium_m_config):
    """A backup copying a file 3,000 characters deep: the current file's path takes two lines, its
    start and end shown, and the log stays on the screen (the path wrapped over the rest of it)."""
    import json

    from rabtui.state.jobs import JobRecorder

    path = medium_m_config(f'[[sources]]\nid = "box"\n[[sources.directories]]\npath = "{tmp_path}/src"\n')
    store = Store(tmp_path / "state")
    rec = JobRecorder(store, "backup", "box", "backup box")
    current = "/srv/" + "d/" * 1500 + "the-end"
    store.execute("UPDATE jobs SET progress=? WHERE id=?",
                  (json.dumps({"current": current, "done_bytes": 5, "total_bytes": 10}), rec.job_id))
    store.execute("INSERT INTO events(job_id, ts, kind, message) VALUES (?, ?, 'error', 'the last line')",
                  (rec.job_id, time.time()))

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "the-end" in texts(app, "#run-current")
                           and "the last line" in texts(app, "#run-log"), what="Runs")
            # (the path and the log's line drawn together: a frame drawn before the path came has the line alone)
            await wait_for(pilot, lambda: any("the last line" in line for line in screen_lines(app))
                           and any("d/d/d" in line for line in screen_lines(app)),
                           what=lambda: "the path and the log's line on the screen:\n" + "\n".join(screen_lines(app)))
            shown = [line for line in screen_lines(app) if "d/d/d" in line]
            assert len(shown) <= 2 and shown[0].split()[0].startswith("/srv/d/") and "…" in "".join(shown), shown

    try:
        run(go())
    finally:
        rec.finish("completed", 0)


def test_a_long_directory_due_leaves_why_it_is_due_on_the_screen(frozen_config, tmp_path):
    """A directory due for a checkpoint at a path of 180 characters: the dashboard's due table keeps
    "why due" in view, the path's start and end shown (the path pushed the reasons out of view)."""
    long = "/srv/photos/" + "a-directory-of-a-long-name/" * 6 + "the-end"
    frozen_config.write_text(frozen_config.read_text().replace('path = "/srv/photos"', f'path = "{long}"'))
    store = Store(tmp_path / "state")
    for table in ("dir_state", "backup_dirs"):
        store.execute(f"UPDATE {table} SET path=? WHERE path='/srv/photos'", (long,))
    store.close()

    async def go():
        app = _app(frozen_config)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and "the-end" in texts(app, "#due")
                           and settled(app), what="the checkpoints due")
            due = app.screen.query_one("#due")
            assert due.virtual_size.width <= due.scrollable_content_region.width, "why due pushed out of view"
            row = next(" ".join(str(c) for c in due.get_row_at(r)) for r in range(due.row_count)
                       if "the-end" in str(due.get_row_at(r)[1]))
            assert row.startswith("web1 /srv/") and "…" in row, row
            assert row.endswith("the-end 812 changed files > max_changed_files 500"), row

    run(go())
