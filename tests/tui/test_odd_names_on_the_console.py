"""Names a Linux file system allows and a terminal would obey (a line break, ESC, a carriage return,
bytes that are not UTF-8), a name of 255 bytes and a path of 4,000 bytes, in a real backup: at
80x24 Browse, find, diff, the restore dialog and the Runs screen show them escaped as `ls -b`
does, every line of the terminal stays one line of at most 80 cells, and a restore chosen there
brings back the exact bytes."""

from __future__ import annotations

import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from rich.cells import cell_len
from textual.widgets import Checkbox, DataTable, Input

from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import TextDialog
from rabtui.tui.dialogs.restore import RestoreDialog
from rabtui.tui.screens.browse import BrowseScreen
from rabtui.tui.screens.runs import RunsScreen
from tests.tui.conftest import back_up, browse_backups, ready, run, settled, texts, wait_for
from tests.tui.layout import in_view, screen_lines

CONTROLS = b"zq-ctl\n\x1b[31m\r-x"          # a line break, an ESC sequence, a carriage return
CONTROLS_SHOWN = "zq-ctl\\n\\033[31m\\r-x"
NOT_UTF8 = b"zq-bad\xff\xfe-utf8"
NOT_UTF8_SHOWN = "zq-bad\\377\\376-utf8"
LONG_NAME = b"zq-" + b"L" * 252              # 255 bytes
ENDED = ("completed", "warnings", "failed", "cancelled", "dead")


def _sane(app) -> list[str]:
    """The terminal as drawn: 24 lines of at most 80 cells, no control character in any of them."""
    lines = screen_lines(app)
    assert len(lines) == 24, len(lines)
    for line in lines:
        assert cell_len(line) <= 80, line
        assert not any(ord(ch) < 32 or ord(ch) == 127 or 0xDC80 <= ord(ch) <= 0xDCFF for ch in line), repr(line)
    return lines


def deep_tree(top: bytes, length: int = 4000) -> bytes:
    """Directories below `top` down to one whose file NOT_UTF8 has a path of `length` bytes (the
    last directory named CONTROLS); the directory."""
    want = length - len(b"/" + NOT_UTF8) - len(b"/" + CONTROLS)
    deep = top
    while len(deep) < want:
        deep += b"/" + b"d" * min(200, want - len(deep) - 1)
    deep += b"/" + CONTROLS
    os.makedirs(deep)
    assert len(deep + b"/" + NOT_UTF8) == length
    with open(os.path.join(deep, NOT_UTF8), "wb") as f:
        f.write(b"deep")
    return deep


@pytest.fixture
def short_base():
    """A directory with a short path, as /srv/rabtui/media/a is: a 4,000-byte source path is still
    under the kernel's PATH_MAX (4,096 bytes) below the medium's backup directory."""
    base = tempfile.mkdtemp(prefix="rq", dir="/tmp")
    yield Path(base)
    shutil.rmtree(base, ignore_errors=True)


def test_odd_names_are_escaped_everywhere_and_restored_exactly(tmp_path, short_base, write_config):
    top = os.fsencode(short_base) + b"/s/odd"
    os.makedirs(top)
    for name in (CONTROLS, NOT_UTF8, LONG_NAME):
        with open(os.path.join(top, name), "wb") as f:
            f.write(b"first " + name)
    deep = deep_tree(top)
    (short_base / "m").mkdir()
    path = write_config(f"""
        [rabtui]
        state_dir = "{tmp_path}/state"
        [[media]]
        id = "m"
        path = "{short_base}/m"
        [[sources]]
        id = "box"
        [[sources.directories]]
        path = "{short_base}/s"
    """)
    back_up(path)
    with open(os.path.join(top, CONTROLS), "wb") as f:     # a change for the diff
        f.write(b"second, longer " + CONTROLS)
    os.utime(os.path.join(top, CONTROLS), (time.time() + 5, time.time() + 5))
    back_up(path)
    store = Store(tmp_path / "state")
    target = short_base / "r"

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24), notifications=True) as pilot:
            screen = await browse_backups(app, pilot, "box")
            screen.open_backup(screen.keys[0], top.lstrip(b"/"))
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded == 4,
                           what="the odd directory")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            lines = _sane(app)
            shown = "\n".join(lines)
            assert CONTROLS_SHOWN in shown and NOT_UTF8_SHOWN in shown and "zq-LLLL" in shown

            await pilot.press("d")                                  # diff with the backup before
            await wait_for(pilot, lambda: screen.level == "diff" and "changed" in texts(app, "#browse"), what="diff")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            assert CONTROLS_SHOWN in "\n".join(_sane(app))
            await pilot.press("escape")
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading, what="back to the tree")

            # the 4,000-byte path: listed, its line cut in its middle, the tree below it
            screen.open_dir(os.path.dirname(deep.lstrip(b"/")) + b"/" + CONTROLS)
            await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded == 1,
                           what="the deep directory")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            lines = _sane(app)
            assert any(NOT_UTF8_SHOWN in line for line in lines)
            assert CONTROLS_SHOWN in "".join(line.strip() for line in lines[1:1 + BrowseScreen.WHERE_LINES])

            # restore the deep file: the dialog names it escaped, its layout holds
            await pilot.press("r")
            await wait_for(pilot, lambda: ready(app, RestoreDialog), what="restore dialog")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            _sane(app)
            assert NOT_UTF8_SHOWN in texts(app, ".restore-value")
            app.screen.query_one("#restore-to", Input).value = str(target)
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), what="dialog closed")

            await wait_for(pilot, lambda: [t for t in app.screen.query("Toast") if t.region.height], what="its toast")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            toasts = app.screen.query("Toast")
            assert all(t.region.height <= 14 for t in toasts), [t.region for t in toasts]   # not 117 lines
            assert any("job 1 started" in line for line in _sane(app))       # what the toast says, in view

            # find: the versions by name
            await pilot.press("slash")
            await wait_for(pilot, lambda: ready(app, TextDialog), what="find dialog")
            await pilot.press(*"zq-")
            await pilot.press("enter")
            await wait_for(pilot, lambda: screen.level == "find" and len(screen.keys) >= 5, what="found")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            found = texts(app, "#browse")
            assert CONTROLS_SHOWN in found and NOT_UTF8_SHOWN in found
            _sane(app)
            versions = [i for i, r in enumerate(screen.keys) if bytes(r["path"]).endswith(b"/odd/" + CONTROLS)]
            assert len(versions) == 2
            i = max(versions, key=lambda i: screen.keys[i]["mtime"])         # the newer one
            screen.query_one("#browse", DataTable).move_cursor(row=i, animate=False)
            await pilot.press("r")
            await wait_for(pilot, lambda: ready(app, RestoreDialog), what="restore dialog of a found version")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            _sane(app)
            assert CONTROLS_SHOWN in texts(app, ".restore-value")
            app.screen.query_one("#restore-to", Input).value = str(target)
            app.screen.query_one("#restore-overwrite", Checkbox).value = True
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, BrowseScreen), what="dialog closed")

            await wait_for(pilot, lambda: store.one("SELECT COUNT(*) FROM jobs WHERE kind='restore'")[0] == 2
                           and not store.one("SELECT COUNT(*) FROM jobs WHERE kind='restore' AND status NOT IN"
                                             " ('completed', 'warnings', 'failed', 'cancelled', 'dead')")[0],
                           timeout=30, what="both restores ended")
            await pilot.press("4")                                  # Runs: the jobs, their titles escaped
            await wait_for(pilot, lambda: ready(app, RunsScreen) and "restore" in texts(app, "#runs-jobs"),
                           what="Runs")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            lines = _sane(app)
            assert any("zq-" in line for line in lines)
            await pilot.press("down")                               # the deep restore, its title 4,000 bytes
            await wait_for(pilot, lambda: NOT_UTF8_SHOWN in texts(app, "#run-title"), what="the deep restore")
            await wait_for(pilot, lambda: settled(app), what="drawn")
            _sane(app)
            assert app.screen.query_one("#run-title").size.height <= 4
            title = texts(app, "#run-title")
            assert "completed" in title and title.rstrip().endswith("4 bytes"), title      # how it ended
            assert in_view(app, app.screen.query_one("#run-log"))             # the log still has its place

    run(go())
    jobs = store.all("SELECT status, summary FROM jobs WHERE kind='restore' ORDER BY id")
    assert [j["status"] for j in jobs] == ["completed", "completed"], [dict(j) for j in jobs]
    below = os.fsencode(target)
    with open(below + deep + b"/" + NOT_UTF8, "rb") as f:
        assert f.read() == b"deep"
    with open(below + top + b"/" + CONTROLS, "rb") as f:
        assert f.read() == b"second, longer " + CONTROLS
