"""SVG snapshots of every screen and dialog at 80x24 and 120x40: fixed config, rows and clock (see
frozen.py), reached the way an operator reaches them (keys), except the dialogs that a job or a
file of a real backup opens, which are pushed with fixed contents."""

from __future__ import annotations

import time

import pytest
from textual.widgets import Footer, Input

from rabtui.tui.app import make_app
from rabtui.tui.dialogs.checkpoint_choices import CheckpointChoices
from rabtui.tui.dialogs.common import ConfirmDialog, PickDialog, TextDialog
from rabtui.tui.dialogs.help import HelpScreen
from rabtui.tui.dialogs.question import QuestionDialog
from rabtui.tui.dialogs.restore import RestoreDialog
from rabtui.tui.dialogs.source_form import SourceForm
from tests.tui import frozen
from tests.tui.conftest import settled, texts, wait_for

SIZES = {"80x24": (80, 24), "120x40": (120, 40)}


@pytest.fixture(autouse=True)
def utc(monkeypatch):
    """Times on the screen in UTC, whatever the machine's zone; restored afterwards."""
    monkeypatch.setenv("TZ", "UTC")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


def press(key: str | None, *shown: tuple[str, str]):
    """Press `key`, then wait until every (selector, text) pair is shown and the screen has settled
    (see conftest.settled): what the picture depends on, not a time."""
    async def step(pilot):
        if key:
            await pilot.press(key)
        await wait_for(pilot, lambda: all(needle in texts(pilot.app, selector) for selector, needle in shown)
                       and settled(pilot.app), what=" and ".join(needle for _, needle in shown) or key)
    return step


DIALOGS: set[type] = set()     # the dialogs pictured below


def drawn_in_full(screen) -> bool:
    """A dialog has focused its first widget and its footer shows its keys: both come a moment after
    it is mounted (a focus call and the footer's own mount wait for the next refresh), and a busy
    machine may take the picture in that moment."""
    return screen.focused is not None and all(footer.children for footer in screen.query(Footer))


def dialog(key: str | None, kind: type, make=None, *shown: tuple[str, str]):
    """Press `key` (or push the dialog `make()` returns), then wait until the dialog is up (and
    shows every (selector, text) pair)."""
    DIALOGS.add(kind)

    async def step(pilot):
        if make is not None:
            pilot.app.push_screen(make())
        else:
            await pilot.press(key)
        await wait_for(pilot, lambda: isinstance(pilot.app.screen, kind) and pilot.app.screen.is_mounted
                       and all(needle in texts(pilot.app, selector) for selector, needle in shown)
                       and drawn_in_full(pilot.app.screen), what=kind.__name__)
        for field in pilot.app.screen.query(Input):
            field.cursor_blink = False   # a blinking cursor is drawn or not by how long the picture took
        await pilot.pause(0.1)
    return step


DASHBOARD = press(None, ("#sources", "db1"), ("#jobs", "backup web1"))
SOURCES = press("2", ("#sources-list", "web1"), ("#source-dirs", "/etc"))
RUNS = press("4", ("#run-stats", "listed"), ("#run-log", "rsync: /srv/photos"))
CHECKPOINTS = press("5", ("#cp-plan", "lower bound"))
BROWSE = press("6", ("#browse", "web1"))
QUESTION = {"id": 1, "job_id": 8, "kind": "insert_disc", "data": {"disc": 2},
            "text": "Checkpoint 5, disc 2 of 4: insert a blank cd-700 disc (volume id RAB5D02) into /dev/sr0,"
                    " then choose ready.", "choices": ["ready", "retry", "rewrite", "skip", "abort"]}

SHOTS = {
    "dashboard": [DASHBOARD],
    "sources": [SOURCES],
    "media": [press("3", ("#media-backups", "backup-"))],
    "runs": [RUNS],
    "checkpoints": [CHECKPOINTS],
    "browse": [BROWSE],
    "browse_backups": [BROWSE, press("enter", ("#browse", "backup-20261121220000"))],
    "browse_dir": [BROWSE, press("enter", ("#browse", "backup-20261121220000")), press("down"),
                   press("enter", ("#browse", "etc/")), press("enter", ("#browse", "hosts"))],
    "source_form": [SOURCES, dialog("e", SourceForm)],
    "help": [SOURCES, dialog("question_mark", HelpScreen, None, ("#help-keys", "Quit"))],
    "confirm": [RUNS, dialog("x", ConfirmDialog)],
    "pick": [RUNS, dialog("n", PickDialog)],
    "checkpoint_choices": [CHECKPOINTS, dialog("c", CheckpointChoices)],
    "find": [BROWSE, dialog("slash", TextDialog)],
    "restore": [BROWSE, dialog(None, RestoreDialog, lambda: RestoreDialog(
        "web1", b"etc/ssh/sshd_config", "backup-20261121220000", "usb-a", False,
        target="/root/rabtui-restores/web1-backup-20261121220000"))],
    "question": [DASHBOARD, dialog(None, QuestionDialog, lambda: QuestionDialog(QUESTION))],
}


@pytest.mark.parametrize("size", SIZES)
@pytest.mark.parametrize("shot", SHOTS)
def test_snapshot(snap_compare, request, tmp_path, monkeypatch, shot, size):
    async def run_before(pilot):
        for step in SHOTS[shot]:
            await step(pilot)

    frozen.browsable(tmp_path, monkeypatch)
    app = make_app(frozen.make(tmp_path), poll_interval=0, clock=lambda: frozen.NOW)
    assert snap_compare(app, terminal_size=SIZES[size], run_before=run_before), difference(request)


def difference(request, most: int = 40) -> str:
    """What differs between the stored picture and this one, in the test's own output (the HTML
    report is not kept where the tests ran on another machine)."""
    import difflib
    import pickle

    from pytest_textual_snapshot import node_to_report_path, normalize_svg

    expected, actual = pickle.loads(node_to_report_path(request.node).read_bytes())[1:3]
    pieces = [normalize_svg(svg).replace("><", ">\n<").splitlines() for svg in (expected, actual)]
    lines = list(difflib.unified_diff(*pieces, "stored", "now", n=0, lineterm=""))
    return "\n".join(lines[:most] + ([f"... {len(lines) - most} more lines"] if len(lines) > most else []))


def test_every_dialog_has_a_snapshot():
    import importlib
    import inspect
    import pkgutil

    from rabtui.tui import dialogs
    from rabtui.tui.dialogs.base import Dialog

    every = set()
    for info in pkgutil.iter_modules(dialogs.__path__):
        module = importlib.import_module(f"{dialogs.__name__}.{info.name}")
        every |= {c for _, c in inspect.getmembers(module, inspect.isclass) if issubclass(c, Dialog) and c is not Dialog}
    assert every and every <= DIALOGS, every - DIALOGS
