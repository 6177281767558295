"""The console's own files, ui.json (in the state directory) and keymap.toml: read and written off
the UI thread (on an NFS mount whose server is away every key still answers), one save at a time,
and two consoles saving at once each keep their change."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from rabtui import mount_points
from rabtui.tui import keymap, settings
from rabtui.tui.app import make_app
from rabtui.tui.screens.dashboard import DashboardScreen
from rabtui.tui.screens.sources import SourcesScreen
from tests.tui.conftest import ready, run, wait_for
from tests.tui.test_config_file_hangs import Hang


def _on_disk() -> dict:
    return json.loads(settings.settings_path().read_text())


def test_the_files_read_on_a_file_system_that_hangs_keep_no_key_waiting(box_config, monkeypatch):
    path = box_config()
    state_dir = str(path.parent / "state")
    settings.settings_path().parent.mkdir(parents=True)
    settings.settings_path().write_text(json.dumps({"theme": "nord", "acknowledged": {state_dir: 123.0}}))
    keymap.keymap_path().parent.mkdir(parents=True, exist_ok=True)
    keymap.keymap_path().write_text('"goto.runs" = "f4"\n')
    # (most: a bound only, both released below: a loaded machine took more than 10 s to get there)
    hangs = Hang(settings.load, most=120), Hang(keymap.read, most=120)
    monkeypatch.setattr(settings, "load", hangs[0])
    monkeypatch.setattr(keymap, "read", hangs[1])
    for hang in hangs:
        hang.armed.set()

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: all(h.held.is_set() for h in hangs), what="both reads under way")
            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen), what="Sources")
            assert not any(h.returned.is_set() for h in hangs), "the console waited for its files"
            assert app.failed_since is None         # no failures shown until it is known since when
            app.theme = "dracula"                   # chosen meanwhile: kept over the one read late
            for hang in hangs:
                hang.armed.clear()
                hang.release.set()
            await wait_for(pilot, lambda: app._keymap.get("goto.runs") == "f4", what="the keymap taken on")
            await wait_for(pilot, lambda: app.failed_since == 123.0, what="ui.json read")
            await wait_for(pilot, lambda: _on_disk().get("theme") == "dracula", what="the theme chosen saved")
            assert app.theme == "dracula" and _on_disk()["acknowledged"] == {state_dir: 123.0}

    try:
        run(go())
    finally:
        for hang in hangs:
            hang.release.set()


def test_a_theme_chosen_in_the_instant_the_late_read_of_ui_json_comes_is_the_one_shown_and_saved(box_config,
                                                                                                 monkeypatch):
    """A theme is saved on its signal, which comes after the message that chose it: ui.json's read,
    late (a file system that hangs), delivered in between, showed its own theme while the one chosen
    was saved (a loaded machine: the other theme on the screen, the chosen one at the next start)."""
    settings.settings_path().parent.mkdir(parents=True)
    settings.settings_path().write_text(json.dumps({"theme": "nord"}))
    hang = Hang.put(monkeypatch, settings, "load", most=120)
    hang.armed.set()

    async def go():
        app = make_app(box_config(), poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and hang.held.is_set(), what="the read under way")
            hang.armed.clear()                     # (the save reads ui.json too)
            try:
                app.theme = "dracula"
                app._settings_read(hang.real())    # the read delivered before the theme's signal
                await wait_for(pilot, lambda: _on_disk().get("theme") == "dracula", what="the theme chosen saved")
                await wait_for(pilot, lambda: not app._ui_saving, what="the save's end")
                assert app.theme == "dracula"
            finally:
                hang.release.set()                 # (the console's end waits for its read)

    hang.run(go())


async def _theme_saved_into_a_hang(app, pilot, hang) -> None:
    """Once the dashboard is up and its first acknowledgement saved: the theme "nord" chosen, its
    save held by `hang` (armed)."""
    await wait_for(pilot, lambda: ready(app, DashboardScreen) and app.failed_since, what="the dashboard")
    await wait_for(pilot, settings.settings_path().exists, what="the first acknowledgement saved")
    hang.armed.set()
    app.theme = "nord"
    await wait_for(pilot, hang.held.is_set, what="the save under way")


def test_saves_on_a_file_system_that_hangs_keep_no_key_waiting_and_wait_for_one_another(box_config, monkeypatch):
    hang = Hang.put(monkeypatch, settings, "save", most=120)   # (a bound only: released below)

    async def go():
        app = make_app(box_config(), poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _theme_saved_into_a_hang(app, pilot, hang)
            app.theme = "dracula"
            app.theme = "gruvbox"
            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen), what="Sources")
            assert hang.calls == 1 and not hang.returned.is_set()
            hang.armed.clear()
            hang.release.set()
            await wait_for(pilot, lambda: _on_disk().get("theme") == "gruvbox", what="the last theme saved")

    try:
        run(go())
    finally:
        hang.release.set()


WRITER = """
import sys
from rabtui.tui import settings
sys.stdin.read()
for i in range(int(sys.argv[2])):
    problem = settings.save({sys.argv[1]: {str(i): i}})
    assert problem is None, problem
"""


def test_two_consoles_saving_at_once_each_keep_their_changes():
    count = 60
    writers = [subprocess.Popen([sys.executable, "-c", WRITER, name, str(count)], stdin=subprocess.PIPE)
               for name in ("one", "two")]
    for writer in writers:          # both started before either writes
        writer.stdin.close()
    assert [writer.wait(60) for writer in writers] == [0, 0]
    assert _on_disk() == {name: {str(i): i for i in range(count)} for name in ("one", "two")}


def _plant(path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "fifo":
        os.mkfifo(path)                  # no writer: a read would wait for ever
    elif kind == "directory":
        path.mkdir()
    elif kind == "device":
        path.symlink_to("/dev/zero")     # read until memory ends
    elif kind == "huge":
        with open(path, "wb") as f:
            f.truncate(settings.LARGEST + 1)
    elif kind == "nested":
        path.write_text("a = " + "[" * 100_000 if path.suffix == ".toml" else "[" * 100_000)
    elif kind == "not utf-8":
        path.write_bytes(b'"goto.runs" = "\xff"\n' if path.suffix == ".toml" else b'{"theme": "\xff"}')
    else:
        path.write_text("{not json" if path.suffix == ".json" else "not = [toml")


KINDS = ["fifo", "directory", "device", "huge", "nested", "not utf-8", "damaged"]


@pytest.mark.parametrize("kind", KINDS)
def test_a_ui_json_that_holds_no_settings_is_not_used_and_replaced_by_a_save(kind):
    path = settings.settings_path()
    _plant(path, kind)
    assert settings.load() == {}
    problem = settings.save({"theme": "nord"})
    if kind == "directory":
        assert problem and "cannot save the UI settings" in problem and path.is_dir()
    else:
        assert problem is None and _on_disk() == {"theme": "nord"}


@pytest.mark.parametrize("kind", KINDS)
def test_a_keymap_toml_that_cannot_be_used_is_said(kind):
    path = keymap.keymap_path()
    _plant(path, kind)
    entries, problems = keymap.read(path)
    assert entries == {} and len(problems) == 1 and problems[0].startswith("not used: "), problems


def test_a_symlink_planted_for_the_lock_is_not_followed(tmp_path):
    path = settings.settings_path()
    path.parent.mkdir(parents=True)
    target = tmp_path / "elsewhere"
    path.with_name("ui.json.lock").symlink_to(target)
    assert "cannot save the UI settings" in settings.save({"theme": "nord"})
    assert not target.exists() and not path.exists()


@pytest.mark.parametrize("value", ["NaN", "Infinity", "1e308", "true", "-1", '"123"', "null"])
def test_an_acknowledgement_that_is_no_time_before_now_is_none(value):
    """(Else a damaged ui.json would hide every failure on the dashboard for good.)"""
    saved = json.loads(f'{{"acknowledged": {{"/s": {value}, "/t": 123}}}}')
    assert settings.acknowledged_at(saved, "/s", now=1e9) is None
    assert settings.acknowledged_at(saved, "/t", now=1e9) == 123.0


def test_a_ui_json_that_cannot_be_read_is_not_written_over():
    """(An I/O error of the moment would lose when the failures of every other state directory were
    acknowledged, and then hide those that came since.)"""
    path = settings.settings_path()
    path.parent.mkdir(parents=True)
    path.symlink_to(path.name)               # a loop: ELOOP, as EIO from a file system that fails
    problem = settings.save({"theme": "nord"})
    assert problem and "cannot be read" in problem and path.is_symlink()


def test_a_save_waits_for_another_consoles_then_says_it_could_not(monkeypatch):
    import fcntl

    monkeypatch.setattr(settings, "SAVE_WAIT", 0.2)
    assert settings.save({"theme": "nord"}) is None
    with open(settings.settings_path().with_name("ui.json.lock"), "rb") as held:   # a console hung in its save
        fcntl.flock(held, fcntl.LOCK_EX)
        assert "another console held them for 0.2 s" in settings.save({"theme": "dracula"})
    assert _on_disk() == {"theme": "nord"}


async def _ended(app, within: float) -> bool:
    import asyncio
    import time

    end = time.monotonic() + within
    while app.is_running and time.monotonic() < end:
        await asyncio.sleep(0.05)
    return not app.is_running


@pytest.mark.parametrize("save", ["ends", "hangs"])
def test_q_waits_for_the_theme_just_chosen_to_be_saved_within_a_bound(box_config, monkeypatch, save):
    """A theme chosen while a save is under way waits for it; `q` right after quit before either was
    on disk (the second was never started). Quitting waits for them, at most QUIT_WAIT seconds."""
    from rabtui.tui import ui_files

    hang = Hang.put(monkeypatch, settings, "save", most=120)   # (a bound only: released below)
    # the bound well past the 0.3 s looked at first: a loaded machine takes most of a second to press q
    monkeypatch.setattr(ui_files, "QUIT_WAIT", 2.5 if save == "hangs" else 30.0)

    async def go():
        app = make_app(box_config(), poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _theme_saved_into_a_hang(app, pilot, hang)
            app.theme = "dracula"
            await pilot.press("q")
            assert not await _ended(app, 0.3), "quit with the theme not saved"
            if save == "ends":
                hang.armed.clear()
                hang.release.set()
                assert await _ended(app, 20), "still running once saved"
            else:
                assert await _ended(app, 5), "a save that hangs kept q from quitting"
                hang.release.set()      # (the tests' end waits for every thread)

    try:
        run(go())
    finally:
        hang.release.set()
    if save == "ends":
        assert _on_disk().get("theme") == "dracula"


def test_a_save_drops_the_acknowledgements_of_state_directories_gone_and_keeps_the_rest(tmp_path, monkeypatch):
    """ui.json kept when the failures of every state directory ever opened were last acknowledged,
    for good: those of state directories no longer there go with the next save; entries of a shape
    or a key this rabtui does not know (a later one's) stay as they are, and a directory whose look
    hangs (an NFS server away) is kept, its look given up after a bound."""
    import threading

    here, hung = tmp_path / "state", tmp_path / "nfs" / "state"
    here.mkdir()
    path = settings.settings_path()
    path.parent.mkdir(parents=True)
    path.write_text(json.dumps({"theme": "nord", "later": {"x": [1]},
                                "acknowledged": {str(here): 1.0, str(tmp_path / "gone" / "state"): 2.0,
                                                 str(hung): 3.0, "not a path": 4.0}}))
    real, release = settings._gone, threading.Event()

    def gone(p):
        if p == str(hung):
            release.wait(20)
        return real(p)

    monkeypatch.setattr(settings, "_gone", gone)
    monkeypatch.setattr(settings, "LOOK_WAIT", 0.2)
    try:
        assert settings.save({"theme": "dracula"}) is None
    finally:
        release.set()
    assert _on_disk() == {"theme": "dracula", "later": {"x": [1]},
                          "acknowledged": {str(here): 1.0, str(hung): 3.0, "not a path": 4.0},
                          "acknowledged_mounts": {str(here): mount_points.mount_point(str(here))}}


def test_the_acknowledgements_of_a_state_directory_on_a_disk_unmounted_stay_until_its_mount_point_goes(
        tmp_path, tmpfs):
    """A state directory on a disk mounted at usb/: unmounted, the directory is gone, the mount point
    left empty; a save of another console dropped its acknowledgement, and once the disk was back the
    console took every failure since for acknowledged (it was as if first opened). Its mount point
    removed (the disk gone for good, as for an images: drive) lets it go."""
    usb = tmpfs(tmp_path / "usb", "size=1m")
    state = usb / "state"
    state.mkdir()
    settings.settings_path().parent.mkdir(parents=True)
    assert settings.save({"acknowledged": {str(state): 5.0}}) is None
    subprocess.run(["umount", str(usb)], check=True)
    assert not state.exists()
    assert settings.save({"theme": "nord"}) is None
    assert settings.acknowledged_at(_on_disk(), str(state), 10.0) == 5.0
    usb.rmdir()
    assert settings.save({"theme": "dracula"}) is None
    assert settings.acknowledged_at(_on_disk(), str(state), 10.0) is None
    assert str(state) not in json.dumps(_on_disk())


def test_an_acknowledgement_made_before_mount_points_were_kept_stays_while_its_disk_is_unmounted(tmp_path, tmpfs):
    """ui.json as an older rabtui wrote it (no mount points): the next save of any console, the disk
    mounted, records the mount point of each state directory there; unmounted, it stays."""
    usb = tmpfs(tmp_path / "usb", "size=1m")
    state = usb / "state"
    state.mkdir()
    settings.settings_path().parent.mkdir(parents=True)
    settings.settings_path().write_text(json.dumps({"acknowledged": {str(state): 5.0}}))
    assert settings.save({"theme": "nord"}) is None
    subprocess.run(["umount", str(usb)], check=True)
    assert settings.save({"theme": "dracula"}) is None
    assert settings.acknowledged_at(_on_disk(), str(state), 10.0) == 5.0


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a home to another user")
def test_settings_are_not_saved_in_another_users_home(open_base, monkeypatch):
    """`sudo rabtui` keeping the user's HOME (sudo -E, or a sudoers that keeps it): root would make
    its folder and files where that user can swap a folder for a symlink to any other."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    home = open_base / "alice"
    home.mkdir()
    os.chown(home, nobody.pw_uid, nobody.pw_gid)
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))

    said = settings.save({"theme": "nord"})

    assert said is not None and "belongs to user nobody" in said, said
    assert list(home.iterdir()) == []


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a home to another user")
def test_a_screenshot_is_not_saved_into_a_folder_another_user_can_change(box_config, open_base, monkeypatch):
    """The command palette's "Screenshot" (what the screen shows: hosts, paths) goes to ~/Downloads:
    with a HOME of another user's kept by `sudo`, root wrote it through a symlink of theirs (into
    a file they read, or over any file)."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    home = open_base / "alice"
    (home / "Downloads").mkdir(parents=True)
    theirs = home / "theirs"
    theirs.write_bytes(b"")
    theirs.chmod(0o666)
    for p in (home, home / "Downloads", theirs):
        os.chown(p, nobody.pw_uid, nobody.pw_gid)
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.delenv("XDG_DOWNLOAD_DIR", raising=False)

    async def go():
        app = make_app(box_config(), poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen), what="the dashboard")
            os.symlink(theirs, home / "Downloads" / "rabtui.svg")
            assert app.deliver_screenshot("rabtui.svg") is None
            await wait_for(pilot, lambda: any("belongs to user nobody" in str(n.message)
                                              for n in app._notifications), what="the refusal said")
    run(go())
    assert theirs.read_bytes() == b"", "root wrote the screen into their file"


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a home to another user")
def test_settings_and_keys_another_user_can_change_are_not_read(open_base, monkeypatch):
    """`sudo rabtui` keeping the user's HOME: their keymap.toml chose what root's keys do, and their
    ui.json's acknowledgement (kept a second old) hid root's failures."""
    import pwd

    nobody = pwd.getpwnam("nobody")
    home = open_base / "alice"
    for folder in (home / ".config" / "rabtui", home / ".local" / "state" / "rabtui"):
        folder.mkdir(parents=True)
    (home / ".config" / "rabtui" / "keymap.toml").write_text('"goto.runs" = "q"\n')
    (home / ".local" / "state" / "rabtui" / "ui.json").write_text('{"acknowledged": {"/var/lib/rabtui": 5}}')
    for p in [home, *home.rglob("*")]:
        os.chown(p, nobody.pw_uid, nobody.pw_gid)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    monkeypatch.setenv("XDG_STATE_HOME", str(home / ".local" / "state"))

    entries, problems = keymap.read(keymap.keymap_path())
    assert entries == {} and len(problems) == 1 and "belongs to user nobody" in problems[0], problems
    assert settings.load() == {}


def test_a_save_made_after_the_environment_changed_writes_the_ui_json_the_console_started_with(box_config,
                                                                                                 monkeypatch, tmp_path):
    """ui.json is found once, as the console starts: a save whose worker ran after the environment
    changed (a test's HOME put back as it ended) wrote into another HOME's ui.json."""
    started_with = settings.settings_path()
    elsewhere = tmp_path / "elsewhere"

    async def go():
        app = make_app(box_config(), poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: ready(app, DashboardScreen) and app._ui_on_disk is not None,
                           what="ui.json read")
            monkeypatch.setenv("XDG_STATE_HOME", str(elsewhere))
            app.theme = "nord"
            await wait_for(pilot, lambda: started_with.is_file() and json.loads(started_with.read_text()).get("theme")
                           == "nord", what="the theme saved")

    run(go())
    assert not elsewhere.exists()
