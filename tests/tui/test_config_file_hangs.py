"""The console looks at its config file off the UI thread: the watch of hand edits (each tick) and
the read that opens the source form or the delete question. On a file system that hangs (an NFS
server away) every key still answers, and what comes back late opens nothing over another screen."""

from __future__ import annotations

import threading

from rabtui.tui import config_watch
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.source_form import SourceForm
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.sources import SourcesScreen
from tests.tui.conftest import ready, run, texts, wait_for


class Hang:
    """`real` made to wait (as a stat on a hung mount) once armed, until released."""

    def __init__(self, real, most: float = 20):
        self.real, self.most = real, most
        self.calls = 0
        self.armed, self.held, self.release, self.returned = (threading.Event() for _ in range(4))

    @classmethod
    def put(cls, monkeypatch, owner, name: str, most: float = 20) -> "Hang":
        """One made of `owner.name`, put in its place for the test."""
        hang = cls(getattr(owner, name), most)
        monkeypatch.setattr(owner, name, hang)
        return hang

    def run(self, coro) -> None:
        """`coro` run as the tests run the console; the hang released whatever happened."""
        try:
            run(coro)
        finally:
            self.release.set()

    def __call__(self, *args, **kwargs):
        if self.armed.is_set():
            self.calls += 1
            self.held.set()
            self.release.wait(self.most)
            self.returned.set()
        return self.real(*args, **kwargs)


async def _sources_shown(app, pilot) -> None:
    await pilot.press("2")
    await wait_for(pilot, lambda: "box" in texts(app, "#sources-list"), what="Sources")


def test_the_watch_of_the_file_keeps_no_key_waiting(box_config, monkeypatch):
    hang = Hang.put(monkeypatch, config_watch, "_file_key")
    path = box_config()

    async def go():
        app = make_app(path, poll_interval=0.05)
        async with app.run_test(size=(80, 24)) as pilot:
            hang.armed.set()
            await wait_for(pilot, hang.held.is_set, what="the watch under way")
            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen), what="Sources")
            assert not hang.returned.is_set(), "the console waited for the file"
            hang.armed.clear()
            path.write_text(path.read_text().replace('id = "box"', 'id = "box2"'))
            hang.release.set()
            await wait_for(pilot, lambda: "box2" in texts(app, "#sources-list"), what="the edit seen after all")

    hang.run(go())


def test_opening_the_form_or_deleting_keeps_no_key_waiting(box_config, monkeypatch):
    from rabtui.config import edit as config_edit

    hang = Hang.put(monkeypatch, config_edit, "read")
    path = box_config()

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            hang.armed.set()
            await pilot.press("e")
            await wait_for(pilot, hang.held.is_set, what="the read under way")
            await pilot.press("D")               # a second key while the file does not answer
            assert any("still reading" in n.message for n in app._notifications)
            await pilot.press("1")
            await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen), what="the dashboard")
            assert not hang.returned.is_set(), "the console waited for the file"
            hang.release.set()
            await wait_for(pilot, hang.returned.is_set, what="the read to end")
            await pilot.pause(0.2)             # the form it would open is open by now
            assert isinstance(app.screen, DashboardScreen), "the form opened over another screen"
            hang.armed.clear()
            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen), what="Sources")
            await pilot.press("e")
            await wait_for(pilot, lambda: ready(app, SourceForm), what="the form, the file answering again")

    hang.run(go())


def test_reloads_asked_for_while_one_hangs_wait_for_it_and_leave_the_other_workers_running(box_config, monkeypatch):
    """ctrl+r held down while the read of the file waits on a hung mount: one thread waits, not one
    per key (those would fill the worker threads, and then no poll and no screen load runs again);
    the file is read once more after it, with what was edited meanwhile."""
    from rabtui.config import safety

    hang = Hang.put(monkeypatch, safety, "overlap_problem")
    path = box_config()

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen), what="the dashboard")
            hang.armed.set()
            await pilot.press(*["ctrl+r"] * 10)
            await wait_for(pilot, hang.held.is_set, what="the read under way")
            app.poll_jobs()
            await wait_for(pilot, lambda: not app._polling, timeout=10, what="a poll, beside the hung reads")
            assert hang.calls == 1
            hang.armed.clear()
            path.write_text(path.read_text().replace('id = "box"', 'id = "box2"'))
            hang.release.set()
            await wait_for(pilot, lambda: app.cfg.sources[0].id == "box2", what="the file read again after it")

    hang.run(go())


def test_quitting_does_not_wait_for_a_read_that_hangs(box_config, monkeypatch):
    """q while the look at the file waits on a hung mount: the app ends (asyncio.run waited for
    every worker thread at its end, so `q` never gave the terminal back); the command then ends the
    process without joining that thread (threads.left_waiting, see cli/tui_cmds.run_tui)."""
    from rabtui.tui import threads

    hang = Hang.put(monkeypatch, config_watch, "_file_key", most=120)   # (a bound only: released below)
    path = box_config()

    async def go():
        app = make_app(path, poll_interval=0.05)
        app.wait_for_reads_at_exit = False          # as the command line runs it
        async with app.run_test(size=(80, 24)) as pilot:
            hang.armed.set()
            await wait_for(pilot, hang.held.is_set, what="the look under way")
            await pilot.press("q")

    try:
        run(go())
        assert not hang.returned.is_set(), "the app waited for the read to end"
        assert threads.left_waiting(timeout=0.1)
    finally:
        hang.release.set()
    assert not threads.left_waiting(timeout=5)


def test_delete_again_while_a_deletion_waits_starts_no_other(box_config, monkeypatch):
    """D and yes while the deletion asked before waits (its check resolves a path that hangs): one
    saving runs, D again says why not (each held a worker thread until the path answered)."""
    from rabtui.config import edit as config_edit
    from rabtui.tui.dialogs.common import ConfirmDialog

    hang = Hang.put(monkeypatch, config_edit, "save")
    path = box_config()

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            hang.armed.set()
            await pilot.press("D")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="the question")
            await pilot.press("y")
            await wait_for(pilot, hang.held.is_set, what="the deletion under way")
            await pilot.press("D")
            await wait_for(pilot, lambda: any("still saving" in n.message for n in app._notifications),
                           what="D refused")
            assert hang.calls == 1 and ready(app, SourcesScreen)
            hang.release.set()
            await wait_for(pilot, lambda: not app.cfg.sources, what="the source deleted")

    hang.run(go())


def test_edit_of_a_source_removed_on_disk_meanwhile_says_so(box_config):
    """The file read for the form (in its thread) no longer holds the source the list shows (removed
    by hand, or by another console, before the watch reloaded it): e says so, the UI stays up."""
    path = box_config()

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            path.write_text(path.read_text().replace('id = "box"', 'id = "other"'))
            await pilot.press("e")
            await wait_for(pilot, lambda: any("no longer in the configuration" in n.message
                                              for n in app._notifications), what="the edit refused")
            assert app.is_running and ready(app, SourcesScreen)

    run(go())


def test_forms_closed_while_their_check_hangs_leave_few_threads_waiting(box_config, monkeypatch):
    """The form closed while its save's check waits on a directory that hangs, opened and saved again,
    again and again: a few checks wait in their threads, not one per save (those would fill the
    worker threads, and then no poll and no screen load runs again); once they end, saving works."""
    from textual.widgets import Input

    from rabtui.config import edit as config_edit
    from rabtui.tui import threads
    from rabtui.tui.dialogs.common import ConfirmDialog

    hang = Hang.put(monkeypatch, config_edit, "check")
    monkeypatch.setattr(SourceForm, "CHECKS", threads.Outstanding(1), raising=False)   # 2 in use: one form less to open
    path = box_config()

    async def save_as(app, pilot, user: str) -> None:
        await pilot.press("e")
        await wait_for(pilot, lambda: ready(app, SourceForm), what="the form")
        app.screen.query_one("#f-user", Input).value = user
        await pilot.press("ctrl+s")

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _sources_shown(app, pilot)
            hang.armed.set()
            await save_as(app, pilot, "u0")
            await wait_for(pilot, hang.held.is_set, what="the check under way")
            await pilot.press("escape")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="drop the edits?")
            await pilot.press("y")
            await wait_for(pilot, lambda: ready(app, SourcesScreen), what="the form closed")
            await save_as(app, pilot, "u1")              # while the closed form's check still waits
            await wait_for(pilot, lambda: any("forms closed before" in n.message for n in app._notifications),
                           timeout=5, what="the save refused")
            assert hang.calls == 1
            hang.armed.clear()
            hang.release.set()
            await wait_for(pilot, lambda: SourceForm.CHECKS._running == 0, what="the check to end")
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: 'user = "u1"' in path.read_text(), what="saved")

    hang.run(go())
