"""Media: label a medium. Runs: start a backup from the picker and cancel it."""

from __future__ import annotations

import json
import os
import signal
import time

from rabtui import faults, proc_table
from rabtui.state import locks
from rabtui.state.store import Store
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.common import ConfirmDialog, PickDialog
from rabtui.tui.screens.media import MediaScreen
from rabtui.tui.screens.runs import RunsScreen
from tests.test_medium_identity import _stopped
from tests.tui.conftest import ready, run, texts, wait_for


def _one_medium(tmp_path, write_config):
    """A configuration of one medium, usb-1, an empty directory."""
    (tmp_path / "m1").mkdir()
    return write_config(f"""
        [rabtui]
        state_dir = "{tmp_path}/state"
        [[media]]
        id = "usb-1"
        path = "{tmp_path}/m1"
    """)


async def _label_it(pilot, app) -> None:
    """On Media, the unlabelled medium labelled: `l`, and yes to the question."""
    await pilot.press("3")
    await wait_for(pilot, lambda: isinstance(app.screen, MediaScreen) and "no label" in texts(app, "#media"))
    await pilot.press("l")
    await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="label dialog")
    await pilot.press("y")


def test_label_a_medium(tmp_path, write_config):
    path = _one_medium(tmp_path, write_config)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _label_it(pilot, app)
            await wait_for(pilot, lambda: "no label" not in texts(app, "#media"), what="label shown")
            assert texts(app, "#media").startswith("usb-1 next usb-1 yes")

    run(go())
    assert json.loads((tmp_path / "m1" / ".rabtui-medium").read_text())["id"] == "usb-1"


def test_a_labelling_whose_kept_label_cannot_be_written_is_shown_as_a_warning(tmp_path, write_config):
    """The disk's label is written, the one kept beside the database (for rebuild-state) is not:
    the Media screen says so as a warning, not as a plain success."""
    path = _one_medium(tmp_path, write_config)
    kept = tmp_path / "state" / "media" / "usb-1.label"
    kept.mkdir(0o700, parents=True)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _label_it(pilot, app)
            await wait_for(pilot, lambda: any("could not keep its label" in n.message for n in app._notifications),
                           what="the labelling's outcome")
            said = [n for n in app._notifications if "could not keep its label" in n.message]
            assert said[0].severity == "warning" and "labelled" in said[0].message, said[0]

    run(go())
    assert json.loads((tmp_path / "m1" / ".rabtui-medium").read_text())["id"] == "usb-1"


def test_a_medium_the_state_knows_is_labelled_again_only_when_the_operator_insists(tmp_path, write_config):
    """The UI labels through the same rule as `rabtui media label`: an empty directory where a used
    medium was (a disk not mounted) is not labelled on a plain yes; the reason is shown first."""
    path = _one_medium(tmp_path, write_config)
    store = Store(tmp_path / "state")
    store.execute("INSERT INTO media(id, label) VALUES ('usb-1', '{\"id\": \"usb-1\"}')")
    label = tmp_path / "m1" / ".rabtui-medium"

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _label_it(pilot, app)
            await wait_for(pilot, lambda: ready(app, ConfirmDialog) and "anyway" in app.screen.title_text,
                           what="the reason, and the question whether to label anyway")
            assert "rabtui has used this medium before" in app.screen.text and not label.exists()
            await pilot.press("n")
            await pilot.pause(0.3)
            assert not label.exists()
            await pilot.press("l")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="label dialog")
            await pilot.press("y")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog) and "anyway" in app.screen.title_text,
                           what="asked again")
            await pilot.press("y")
            await wait_for(pilot, lambda: "no label" not in texts(app, "#media"), what="label shown")

    run(go())
    assert json.loads(label.read_text())["id"] == "usb-1"


def test_start_and_cancel_a_backup_from_runs(demo_config):
    pidfile = demo_config.parent / "pre-command.pid"
    demo_config.write_text(demo_config.read_text().replace(
        'excludes = ["*.tmp"]', f'excludes = ["*.tmp"]\npre_backup_commands = ["echo $$ > {pidfile}; exec sleep 600"]'))
    store = Store(demo_config.parent / "state")

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(120, 40)) as pilot:
            await pilot.press("4")
            await wait_for(pilot, lambda: isinstance(app.screen, RunsScreen) and "completed" in texts(app, "#runs-jobs"))
            await pilot.press("n")
            await wait_for(pilot, lambda: ready(app, PickDialog), what="source picker")
            await pilot.press("enter")
            await wait_for(pilot, lambda: "running" in texts(app, "#runs-jobs"), what="the new job running")
            await wait_for(pilot, lambda: "▶ 4 pre-backup commands" in texts(app, "#run-steps"), what="step 4")
            await pilot.press("x")
            await wait_for(pilot, lambda: ready(app, ConfirmDialog), what="cancel dialog")
            await pilot.press("y")
            await wait_for(pilot, lambda: "running" not in texts(app, "#runs-jobs"), timeout=30, what="job stops")

    run(go())
    job = store.one("SELECT * FROM jobs ORDER BY id DESC LIMIT 1")
    assert job["status"] in ("cancelled", "failed") and job["cancel_requested"] == 1
    # the job writes its outcome, then exits: give it the moment that takes (the command sleeps far longer)
    gone = time.monotonic() + 10
    while (proc_table.pid_alive(job["pid"]) or proc_table.pid_alive(int(pidfile.read_text()))) and time.monotonic() < gone:
        time.sleep(0.05)
    assert not proc_table.pid_alive(job["pid"])
    assert not proc_table.pid_alive(int(pidfile.read_text())), "the pre-backup command was stopped, not waited for"
    backup = store.one("SELECT status FROM backups WHERE job_id=?", (job["id"],))
    assert backup is None or backup["status"] != "completed"

def test_a_medium_a_backup_works_on_is_not_labelled_and_no_force_is_offered(tmp_path, write_config):
    """A backup onto the medium holds its lock (shared): labelling it from the UI stops, naming the
    backup, without asking whether to label it anyway (that would not help)."""
    path = _one_medium(tmp_path, write_config)
    held = locks.medium_lock(tmp_path / "state", "usb-1", "a backup of web onto medium usb-1").acquire(shared=True)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _label_it(pilot, app)
            said = "the labelling of medium usb-1 cannot run now: a backup of web onto medium usb-1 is running"
            await wait_for(pilot, lambda: any(said in n.message for n in app._notifications), what="the refusal")
            assert isinstance(app.screen, MediaScreen) and "no label" in texts(app, "#media")

    try:
        run(go())
    finally:
        held.release()
    assert not (tmp_path / "m1" / ".rabtui-medium").exists()


def test_backup_pressed_twice_starts_one_job_and_no_failed_one(demo_config, monkeypatch):
    """b pressed twice (a key repeated over a slow link): the second start is refused at once with
    the job already under way, not started to fail at the source's lock, where it was a failed job
    on the dashboard, a red toast, and the job Runs showed first. The first job stops itself at its
    first step until the refusal is seen (the demo's backup may otherwise end before the second b)."""
    store = Store(demo_config.parent / "state")
    before = store.one("SELECT MAX(id) AS n FROM jobs")["n"] or 0
    monkeypatch.setenv(faults.STOP_ENV, "backup.step1")

    def first_stopped() -> bool:
        row = store.one("SELECT pid FROM jobs WHERE id > ? AND pid IS NOT NULL", (before,))
        return row is not None and _stopped(row["pid"])

    async def go():
        app = make_app(demo_config, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await wait_for(pilot, lambda: "demo-host" in texts(app, "#sources"))
            await pilot.press("b", "b")
            await wait_for(pilot, lambda: any("already under way" in n.message for n in app._notifications),
                           what="the second start refused")
            await wait_for(pilot, first_stopped, what="the first job at its first step")
            os.kill(store.one("SELECT pid FROM jobs WHERE id > ?", (before,))["pid"], signal.SIGCONT)
            await wait_for(pilot, lambda: store.one("SELECT 1 FROM jobs WHERE id > ? AND status NOT IN"
                                                    " ('queued', 'running', 'waiting')", (before,)),
                           timeout=60, what="the job ended")
            await pilot.pause(0.5)     # polls that would notify a failed one
            assert not app.failed_jobs

    try:
        run(go())
    finally:
        for row in store.all("SELECT pid FROM jobs WHERE id > ? AND pid IS NOT NULL", (before,)):
            try:
                os.kill(row["pid"], signal.SIGCONT)
            except ProcessLookupError:
                pass
    jobs = store.all("SELECT status FROM jobs WHERE id > ?", (before,))
    assert [j["status"] for j in jobs] == ["completed"]


def test_label_on_a_medium_removed_from_the_config_meanwhile_says_so(tmp_path, write_config, monkeypatch):
    """The config reloaded without a medium while the Media screen still lists it (its load waits on
    another medium's path that hangs, an NFS server away): `l` on its row says it is no longer
    configured, where the UI ended in a traceback."""
    import threading

    path = _one_medium(tmp_path, write_config)
    one = path.read_text()
    path.write_text(one + f'[[media]]\nid = "usb-2"\npath = "{tmp_path}/m2"\n')
    (tmp_path / "m2").mkdir()
    release = threading.Event()
    real = MediaScreen.load_data

    def hanging(screen):
        if "usb-2" not in [m.id for m in screen.app.cfg.media]:
            release.wait(5)
        return real(screen)

    monkeypatch.setattr(MediaScreen, "load_data", hanging)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("3")
            await wait_for(pilot, lambda: isinstance(app.screen, MediaScreen) and "usb-2" in texts(app, "#media"))
            app.screen.query_one("#media").move_cursor(row=1)
            path.write_text(one)
            app.reload_config()
            await wait_for(pilot, lambda: len(app.cfg.media) == 1, what="the config reloaded")
            await pilot.press("l")
            await wait_for(pilot, lambda: any("no medium with id 'usb-2'" in n.message for n in app._notifications),
                           what="the medium said gone")
            assert app.is_running and isinstance(app.screen, MediaScreen)
            release.set()

    run(go())


def test_label_again_while_a_labelling_waits_starts_no_other(tmp_path, write_config, monkeypatch):
    """l and yes again while the labelling asked before waits on a medium that hangs: one labelling
    runs, the others are refused with the reason (each held a worker thread until the medium
    answered: a pool full of them leaves none for a poll)."""
    import threading

    from rabtui.actions import media as media_actions

    path = _one_medium(tmp_path, write_config)
    release, calls = threading.Event(), []
    real = media_actions.label

    def hanging(*args, **kwargs):
        calls.append(1)
        release.wait(20)
        return real(*args, **kwargs)

    monkeypatch.setattr(media_actions, "label", hanging)

    async def go():
        app = make_app(path, poll_interval=0)
        async with app.run_test(size=(80, 24)) as pilot:
            await _label_it(pilot, app)
            await wait_for(pilot, lambda: calls, what="the labelling under way")
            await pilot.press("l")
            await wait_for(pilot, lambda: any("still labelling" in n.message for n in app._notifications),
                           what="l refused")
            assert len(calls) == 1 and isinstance(app.screen, MediaScreen)
            release.set()
            await wait_for(pilot, lambda: "no label" not in texts(app, "#media"), what="label shown")

    try:
        run(go())
    finally:
        release.set()
