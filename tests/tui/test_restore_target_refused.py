"""The restore dialog refuses a target inside a medium, the state directory or an `images:` drive's
directory, as `rabtui restore --to` does: the dialog stays open with the reason, no job is started.
The target is taken as the restore takes it: a `..` after a symlink is the parent of where it leads."""

from __future__ import annotations

import os

from textual.widgets import DataTable, Input

from rabtui import config as configmod
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.restore import RestoreDialog
from tests.tui.conftest import back_up, browse_backups, ready, run, wait_for


def _backed_up(tmp_path, box_config, extra: str = ""):
    """src/f backed up by the source "box" (box_config's, with `extra`): the config's path."""
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "f").write_text("x")
    path = box_config(extra)
    back_up(path)
    return path


async def _src_browsed(app, pilot, tmp_path):
    """The Browse screen, showing src/ in the backup."""
    screen = await browse_backups(app, pilot, "box")
    screen.open_backup(screen.keys[0], str(tmp_path / "src").lstrip("/").encode())
    await wait_for(pilot, lambda: screen.level == "dir" and not screen.loading and screen.loaded, what="src")
    return screen


async def _restore_to(app, pilot, target):
    """The restore dialog (r), its target typed: the dialog."""
    await pilot.press("r")
    await wait_for(pilot, lambda: ready(app, RestoreDialog), what="restore dialog")
    app.screen.query_one("#restore-to", Input).value = str(target)
    return app.screen


def test_restore_into_a_medium_the_state_dir_or_the_images_is_refused_in_the_dialog(tmp_path, box_config):
    (tmp_path / "iso").mkdir()
    path = _backed_up(tmp_path, box_config, f'[checkpoint]\ndrive = "images:{tmp_path}/iso"\n')
    store = Store(configmod.load(path).state_dir)
    os.symlink(tmp_path / "m" / "box", tmp_path / "into-m")

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _src_browsed(app, pilot, tmp_path)
            i = [e.name for e in screen.keys].index(b"f")
            screen.query_one("#browse", DataTable).move_cursor(row=i, animate=False)
            for target, why in ((tmp_path / "m" / "r", "medium 'm'"), (tmp_path / "state" / "r", "state directory"),
                                (tmp_path / "iso" / "r", f"the images of drive images:{tmp_path}/iso"),
                                # the `..` after the symlink is the parent of where it leads: the medium
                                (f"{tmp_path}/into-m/../r", "medium 'm'"),
                                # said in the dialog's words, not the command line's
                                (tmp_path / "src" / "f", f"{tmp_path}/src/f is not a directory")):
                dialog = await _restore_to(app, pilot, target)
                await pilot.press("ctrl+s")
                error = dialog.query_one("#restore-error")
                await wait_for(pilot, lambda: app.screen is not dialog or why in str(error.render()),
                               what=lambda: f"{why!r} said for {target}: {error.render()}")
                assert app.screen is dialog, f"{target} accepted"
                said = str(error.render())
                assert why in said and "--to" not in said
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is screen, what="dialog closed")
            assert store.one("SELECT COUNT(*) AS n FROM jobs WHERE kind='restore'")["n"] == 0

    run(go())


def test_a_target_whose_check_hangs_keeps_no_key_waiting(tmp_path, box_config, monkeypatch):
    """The target is looked at off the UI thread: one on a file system that hangs (an NFS server
    away) leaves the console answering, and the dialog cancels while the check still waits."""
    import threading

    from rabtui.tui.dialogs import restore as restore_dialog

    path = _backed_up(tmp_path, box_config)
    held, release, returned = threading.Event(), threading.Event(), threading.Event()
    real = restore_dialog.target_of

    def hanging(cfg, to, rel):
        held.set()
        release.wait(20)      # as a stat on a hung mount (released by the test): the check does not come back
        returned.set()
        return real(cfg, to, rel)

    monkeypatch.setattr(restore_dialog, "target_of", hanging)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _src_browsed(app, pilot, tmp_path)
            await _restore_to(app, pilot, tmp_path / "nfs" / "r")
            await pilot.press("ctrl+s")
            await wait_for(pilot, held.is_set, what="the check under way")
            await pilot.press("escape")
            await wait_for(pilot, lambda: app.screen is screen, what="dialog closed")
            assert not returned.is_set(), "the console waited for the check"
            release.set()
            await wait_for(pilot, returned.is_set, what="the check to end")
            await pilot.pause(0.2)       # its late answer changes nothing
            assert app.screen is screen and not [n for n in app._notifications if n.severity == "error"]
            assert Store(configmod.load(path).state_dir).one("SELECT COUNT(*) AS n FROM jobs WHERE kind='restore'")["n"] == 0

    run(go())


def test_confirming_again_while_the_check_hangs_starts_no_more_threads(tmp_path, box_config, monkeypatch):
    """ctrl+s pressed again and again, or the dialog closed and opened again, while the target's
    check waits on a hung mount: at most two checks wait (each holds a worker thread for good, and
    a full pool of them would leave no thread for a poll or a screen load); the others are refused
    with the reason."""
    import threading

    from rabtui.tui.dialogs import restore as restore_dialog

    path = _backed_up(tmp_path, box_config)
    release, calls = threading.Event(), []
    real = restore_dialog.target_of

    def hanging(cfg, to, rel):
        calls.append(to)
        release.wait(20)
        return real(cfg, to, rel)

    monkeypatch.setattr(restore_dialog, "target_of", hanging)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(100, 30)) as pilot:
            screen = await _src_browsed(app, pilot, tmp_path)
            for dialog in range(3):
                await _restore_to(app, pilot, tmp_path / "nfs" / "r")
                await pilot.press(*["ctrl+s"] * 4)
                await wait_for(pilot, lambda: len(calls) == min(dialog + 1, 2), what="the check under way")
                await wait_for(pilot, lambda: "still checking" in str(app.screen.query_one("#restore-error").render()),
                               what="a check again refused")
                await pilot.press("escape")
                await wait_for(pilot, lambda: app.screen is screen, what="dialog closed")
            assert len(calls) == 2
            app.poll_jobs()
            await wait_for(pilot, lambda: not app._polling, timeout=10, what="a poll, beside the hung checks")
            release.set()

    try:
        run(go())
    finally:
        release.set()
