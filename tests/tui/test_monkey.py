"""An operator at the console may press anything, click anywhere, resize the terminal to a strip and
wait at any moment: whatever the sequence, the UI never ends in a traceback (nor does a worker: one
failing on an error of the code, not of the world, is shown only as a toast of its exception's
name), never touches a widget from a thread, and its screen stack stays sane (a mode's screen at the
bottom, dialogs above it).

The setup is real: two sources over the tests' sshd (real rsync), backups completed, one failed,
names that look like Rich markup, escape sequences and a bidi override in the trees, two media and
an `images:` drive for checkpoints. A tour of every key of a screen is a test of its own for each
screen, beside the one where Hypothesis draws the sequences (derandomized, few examples, none
shrunk: a failure says its whole sequence at once, which the next run draws again;
`MONKEY_EXAMPLES=200 pytest --timeout=0 tests/tui/test_monkey.py` hunts with fresh random ones,
shrinking what fails)."""

from __future__ import annotations

import importlib
import inspect
import logging
import os
import pkgutil
import signal
import subprocess
import sys
import threading
import time

import pytest
from hypothesis import HealthCheck, Phase, given, settings, strategies as st
from textual import events
from textual.screen import ModalScreen
from textual.widget import Widget
from textual.widgets import Input, TextArea

import rabtui.tui.dialogs
import rabtui.tui.screens
from rabtui.cli import main
from rabtui.state.store import Store
from rabtui.tui.app import RabtuiApp, make_app
from tests import procs
from tests.trees import Lab, ssh_source_lines, write_files
from tests.tui.conftest import run
from tests.tui.test_database_under_the_ui import HOLD_WRITE_LOCK

ODD_NAMES = ["[bold]loud", "[/]", "[link=x]here", "a\x1b[2Jb", "right\u202eleft", "tab\there",
             "new\nline", "bell\x07"]
ODD_TEXT = ["[bold]", "[/]", "[link=x]", "[/link]", "\x1b[31m", "\x00", "\r\n", "\u202e", "\udcff",
            "x" * 300, "*", "..", "/", "", " ", "\\"]


def _keys_of(cls) -> list[str]:
    """The keys bound by a screen, dialog or widget class and the classes it is made from."""
    return sorted({k for klass in cls.__mro__ for b in vars(klass).get("BINDINGS", [])
                   for k in (b.key if hasattr(b, "key") else b[0]).split(",")})


def _binding_keys() -> list[str]:
    """Every key bound by a screen or dialog of the UI, and the app's own."""
    keys = set(_keys_of(RabtuiApp))
    for package in (rabtui.tui.screens, rabtui.tui.dialogs):
        for info in pkgutil.iter_modules(package.__path__):
            module = importlib.import_module(f"{package.__name__}.{info.name}")
            for _, cls in inspect.getmembers(module, inspect.isclass):
                if issubclass(cls, Widget) and cls.__module__ == module.__name__:
                    keys.update(_keys_of(cls))
    return sorted(keys)


def _tour(number: int) -> list[tuple]:
    """The mode's screen of key `number`, each of its keys pressed there (what it opens closed with
    escape), the last three modes' on a strip of a terminal; the last's then a wide terminal and the
    command palette; then q."""
    screen = list(RabtuiApp.MODES.values())[number - 1]
    steps: list[tuple] = [("resize", (20, 6))] if number >= 4 else []
    steps += [("key", str(number)), ("wait", 0.05)]
    for key in _keys_of(screen):
        if key not in ("q", "ctrl+c") and not key.isdigit():
            steps += [("key", key), ("key", "escape")]
    steps += [("key", "question_mark"), ("key", "down"), ("key", "escape"), ("key", "tab"), ("key", "enter"),
              ("type", "[bold]x[/]"), ("key", "escape"), ("key", "escape")]
    if number == len(RabtuiApp.MODES):
        steps += [("resize", (250, 50)), ("key", "ctrl+p"), ("type", "[link=x]"), ("key", "escape")]
    return steps + [("key", "q")]


GENERIC_KEYS = ["escape", "tab", "shift+tab", "enter", "space", "backspace", "delete", "up", "down", "left",
                "right", "pageup", "pagedown", "home", "end", "ctrl+p", "ctrl+s", "ctrl+c", "ctrl+a", "ctrl+u",
                "question_mark"]
KEYS = sorted(set(_binding_keys()) | set(GENERIC_KEYS))
SIZES = [(20, 6), (80, 24), (24, 80), (250, 50), (40, 12), (120, 40)]

steps = st.one_of(
    st.tuples(st.just("key"), st.sampled_from(KEYS)),
    st.tuples(st.just("key"), st.sampled_from(KEYS)),
    st.tuples(st.just("key"), st.sampled_from(["1", "2", "3", "4", "5", "6", "enter", "escape"])),
    st.tuples(st.just("type"), st.sampled_from(ODD_TEXT) | st.text(max_size=12)),
    st.tuples(st.just("click"), st.tuples(st.integers(0, 249), st.integers(0, 79))),
    st.tuples(st.just("resize"), st.sampled_from(SIZES)),
    st.tuples(st.just("wait"), st.sampled_from([0.0, 0.05, 0.3])),
    st.tuples(st.just("world"), st.sampled_from(["damage", "truncate", "lock", "unlock", "medium away", "medium back",
                                                 "backup", "cancel"])),
)


@pytest.fixture(scope="module")
def monkey_lab(tmp_path_factory, sshd):
    tmp = tmp_path_factory.mktemp("monkey")
    lab = Lab(tmp, media_count=2)
    web, db = lab.src / "web", lab.src / "db"
    files = {"etc/hosts": b"127.0.0.1 localhost\n", "docs/plain.txt": b"x" * 100}
    files.update({f"odd/{name}": name.encode() for name in ODD_NAMES})
    files[b"odd/bytes-\xff\xfe"] = b"not utf-8"
    write_files(web, files)
    write_files(db, {"dump.sql": b"-- dump\n"})
    lab.write(ssh_source_lines(sshd, "web") + f'[[sources.directories]]\npath = "{web}"\n'
              + ssh_source_lines(sshd, "db") + f'[[sources.directories]]\npath = "{db}"\n'
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp / "iso"}"\n')
    lab.trust(sshd)
    cfg = ["--config", str(lab.config_path)]
    assert main([*cfg, "backup", "web", "db"]) == 0
    write_files(web, {"docs/second.txt": b"second night"})
    assert main([*cfg, "backup", "web"]) == 0
    (db / "dump.sql").unlink()
    db.rmdir()                                   # a standard directory gone: the backup fails
    assert main([*cfg, "backup", "db"]) != 0
    store = Store(lab.state)
    store.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    store.close()
    lab.saved_db = (lab.state / "rabtui.db").read_bytes()
    lab.holders = []
    yield lab
    World(lab).anew()


class World:
    """What happens around the console at night: the state database damaged or held by another
    process, a medium taken away and brought back, a job started and cancelled from the command line."""

    def __init__(self, lab):
        self.lab = lab
        self.db = lab.state / "rabtui.db"

    def anew(self) -> None:
        """As the lab was made: no lock held, no job running, the media and the database back."""
        self.unlock()
        self.stop_jobs()
        self.medium_back()
        for name in ("rabtui.db-wal", "rabtui.db-shm"):
            (self.lab.state / name).unlink(missing_ok=True)
        # a file of its own: what still has the last one open (the last console's connections) keeps it
        fresh = self.db.with_name("rabtui.db.saved")
        fresh.write_bytes(self.lab.saved_db)
        fresh.chmod(0o600)
        os.replace(fresh, self.db)

    def stop_jobs(self) -> None:
        """The jobs started in the lab, found by their command lines (the database may be damaged),
        and the SSH logins they kept open for their rsyncs (ControlMaster, a session of its own): a
        job killed leaves its login to end once idle, two minutes on, past the test."""
        ours, state = os.fsencode(self.lab.config_path), os.fsencode(self.lab.state)
        killed = []
        for pid, argv in procs.processes():
            try:
                if pid != os.getpid() and ours in argv and os.getpgid(pid) == pid:
                    os.killpg(pid, signal.SIGKILL)     # a job is a session of its own
                elif b"ControlMaster=yes" in argv and any(state in arg for arg in argv):
                    os.kill(pid, signal.SIGTERM)       # ssh removes its socket
                else:
                    continue
                killed.append(pid)
            except OSError:    # gone already
                pass
        end = time.monotonic() + 60
        while any(not procs.ended(pid) for pid in killed) and time.monotonic() < end:
            time.sleep(0.05)   # gone, its connection to the database with it, before the next example

    def damage(self) -> None:
        with open(self.db, "r+b") as f:
            f.write(b"not a database, torn \x00\xff" * 200)

    def truncate(self) -> None:
        os.truncate(self.db, 0)

    def lock(self) -> None:
        holder = subprocess.Popen([sys.executable, "-c", HOLD_WRITE_LOCK, str(self.db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.lab.holders.append(holder)
        holder.stdout.readline()             # held (or it could not: the database is damaged)

    def unlock(self) -> None:
        while self.lab.holders:
            self.lab.holders.pop().communicate("\n", timeout=60)

    def medium_away(self) -> None:
        for _, path in self.lab.media:
            if path.exists():
                path.rename(path.with_name(path.name + ".away"))

    def medium_back(self) -> None:
        for _, path in self.lab.media:
            away = path.with_name(path.name + ".away")
            if away.exists() and not path.exists():
                away.rename(path)

    def backup(self, app) -> None:
        app.start_backup("web")             # as b on the dashboard does

    def cancel(self, app) -> None:
        """`rabtui jobs cancel` of the newest job the console saw running, from another process."""
        for job in app.jobs.running[:1]:
            subprocess.run([sys.executable, "-m", "rabtui", "--config", str(self.lab.config_path), "jobs", "cancel",
                            str(job["id"])], capture_output=True, timeout=120)


class _WorkerFailures(logging.Handler):
    """The failures of the UI's workers that the log keeps with their exception (failure_text, the
    cancels): those that are no error of the world (a database or a medium gone bad, said in the
    engine's words, or an OSError, which names what failed) but of the code: a KeyError raised in a
    load's callback, say, which reaches the operator as a toast and never ends the app."""

    def __init__(self):
        super().__init__(logging.ERROR)
        self.failures: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None and not isinstance(error, OSError):
            self.failures.append(f"{record.getMessage()}: {type(error).__name__}: {error}")


def _widget_calls_off_the_ui_thread(app) -> tuple[list[str], object]:
    """Widget.refresh wrapped: a call from a thread other than the app's is kept (its widget)."""
    off: list[str] = []
    real = Widget.refresh

    def refresh(self, *args, **kwargs):
        if app._thread_id and threading.get_ident() != app._thread_id:
            off.append(f"{type(self).__name__} refreshed from thread {threading.current_thread().name}")
        return real(self, *args, **kwargs)

    Widget.refresh = refresh
    return off, lambda: setattr(Widget, "refresh", real)


async def _do(app, pilot, step) -> None:
    kind, what = step
    if kind == "key":
        await pilot.press(what)
    elif kind == "type":
        focused = app.focused
        if isinstance(focused, (Input, TextArea)):      # a paste: every byte as the terminal gave it
            focused.post_message(events.Paste(what))
        printable = [ch for ch in what if ch.isprintable() and ch != " " and len(ch.encode("utf-8", "surrogatepass")) == 1]
        if printable:
            await pilot.press(*printable)
    elif kind == "click":
        width, height = app.size
        await pilot.click(offset=(what[0] % width, what[1] % height))
    elif kind == "resize":
        await pilot.resize_terminal(*what)
    elif kind == "world":
        world = World(app.monkey_lab)
        act = getattr(world, what.replace(" ", "_"))
        act(app) if what in ("backup", "cancel") else act()
    else:
        await pilot.pause(what)


def _sane(app) -> str:
    """What is wrong with the screen stack ('' when nothing)."""
    stack = app.screen_stack
    if not stack:
        return "no screen"
    if isinstance(stack[0], ModalScreen) or type(stack[0]) not in RabtuiApp.MODES.values():
        return f"no mode's screen at the bottom: {stack}"
    if not all(isinstance(s, ModalScreen) for s in stack[1:]):
        return f"a screen over a screen: {stack}"
    if len(stack) > 6:      # a dialog over a dialog (a job's question over a form's confirmation) at most
        return f"dialogs piled up: {stack}"
    return ""


HUNT = int(os.environ.get("MONKEY_EXAMPLES", "0"))


def _survives(monkey_lab, sequence) -> None:
    World(monkey_lab).anew()
    failures = _WorkerFailures()
    tui_log = logging.getLogger("rabtui.tui")

    async def go():
        app = make_app(monkey_lab.config_path, poll_interval=0.2)
        app.monkey_lab = monkey_lab
        off, restore = _widget_calls_off_the_ui_thread(app)
        try:
            async with app.run_test(size=(80, 24)) as pilot:
                for step in sequence:
                    if not app.is_running:      # q quit it: what follows is typed into nothing
                        break
                    await _do(app, pilot, step)
                    assert app._exception is None, (step, app._exception)
                    assert not _sane(app), (step, _sane(app))
                    assert not failures.failures, (step, failures.failures)
                World(monkey_lab).unlock()      # the UI's end may write (a cancel confirmed): let it
                await pilot.pause(0.1)
        finally:
            restore()
        assert app._exception is None
        assert not off, off
        assert not failures.failures, failures.failures

    tui_log.addHandler(failures)
    try:
        run(go())
    finally:
        tui_log.removeHandler(failures)
        World(monkey_lab).anew()


@pytest.mark.slow      # tens of seconds on a busy machine: handed out first (conftest), a screen each
@pytest.mark.parametrize("number", range(1, len(RabtuiApp.MODES) + 1), ids=list(RabtuiApp.MODES))
def test_a_tour_of_every_key_of_a_screen(monkey_lab, number):
    _survives(monkey_lab, _tour(number))


@pytest.mark.slow
@settings(max_examples=HUNT or 3, derandomize=not HUNT, deadline=None,
          phases=list(Phase) if HUNT else [Phase.explicit, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.lists(steps, min_size=25, max_size=60))
def test_the_console_survives_any_sequence(monkey_lab, sequence):
    _survives(monkey_lab, sequence)
