"""A cleanup that runs while another command reads the backups it would delete: a restore from
one of them, a checkpoint burning from them. The reader finishes with everything it promised, or
fails and says why; the cleanup keeps what is being read for a later run. Real backups, the real
`rabtui cleanup` process started at a chosen moment of the reader's work."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui import faults
from rabtui.actions import cleanup as cleanup_actions
from rabtui.actions import rebuild as rebuild_actions
from rabtui.actions import restore as restore_actions
from rabtui.backup import deletion
from rabtui.state import locks
from rabtui.checkpoint import prepare, run
from rabtui.events import READY, ScriptedPrompter, no_emit
from rabtui.media import below
from rabtui.media import medium_layout
from tests import invariants
from tests.trees import Lab, closed, made_once, snapshot, write_files
from tests import preloaded
from tests.held import stopped as _stopped

ROOT = Path(__file__).resolve().parent.parent
# a cleanup judges at most a week after the newest backup (judged_at): the backups are old by
# a retention that keeps them a day, or none
LATER = (datetime.now() + timedelta(days=6)).isoformat(timespec="minutes")


def _rabtui(lab, *args):
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)


class _CleanupAtFirstLook(threading.Event):
    """A cancel flag that, the first time the copy looks at it (between two entries it copies),
    runs `rabtui cleanup` to its end: a deterministic race between the two processes."""

    def __init__(self, lab):
        super().__init__()
        self.lab = lab
        self.cleanup: subprocess.CompletedProcess | None = None

    def is_set(self) -> bool:
        if self.cleanup is None and sys._getframe(1).f_code.co_name == "copy_into":
            self.cleanup = _rabtui(self.lab, "cleanup", "--now", LATER)
        return super().is_set()


def _two_backups(tmp_path) -> tuple[Lab, str]:
    """Two backups of `loc`; the older (returned by name) is due for deletion at LATER."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700")      # an `images:` drive: rebuild-state reads its discs without asking
    lab.keep_a_day()
    write_files(lab.src / "data", {"sub/deep/f1": b"one" * 100, "sub/deep/f2": b"two", "sub/g": b"g"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    old = sorted(os.listdir(lab.media[0][1] / "loc"))[0]
    write_files(lab.src / "data", {"later": b"later"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    plan = _rabtui(lab, "cleanup", "--dry-run", "--now", LATER)
    assert f"would delete loc {old}" in plan.stdout, plan.stdout
    return lab, old


@pytest.fixture(scope="module")
def _two_backups_made(tmp_path_factory):
    def make(live):
        lab, old = _two_backups(live)
        closed(lab)
        return old

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def two_backups(_two_backups_made):
    """What _two_backups makes, anew for each test (made once for the module), in lab.tmp."""
    old, made = _two_backups_made
    return Lab(made.anew(), media_count=1), old


def test_a_restore_is_never_cut_short_by_a_cleanup_of_its_backup(two_backups, tmp_path):
    lab, old = two_backups
    want = {k: v for k, v in snapshot(lab.src / "data").items() if not k.startswith(b"later")}
    to = tmp_path / "restored"
    cancel = _CleanupAtFirstLook(lab)
    outcome = restore_actions.restore(lab.load(), lab.store(), no_emit, cancel, None, source="loc",
                                      path=str(lab.src / "data"), backup=old, to=str(to))
    assert cancel.cleanup is not None and cancel.cleanup.returncode == 0, cancel.cleanup
    assert "Traceback" not in cancel.cleanup.stderr
    # the restore got every file of the backup ...
    assert outcome.exit_code == 0, outcome.result.summary
    assert snapshot(to / str(lab.src / "data").lstrip("/")) == want
    # ... and the cleanup kept that backup for a later run, and says why
    assert old in os.listdir(lab.media[0][1] / "loc")
    assert "a restore or a checkpoint reads loc's backups now" in cancel.cleanup.stdout, cancel.cleanup.stdout
    again = _rabtui(lab, "cleanup", "--now", LATER)
    assert again.returncode == 0 and old not in os.listdir(lab.media[0][1] / "loc"), again.stdout


def test_a_restore_started_during_a_cleanup_of_its_source_refuses_and_says_why(two_backups, tmp_path):
    """The cleanup holds the source's reading lock while it deletes (taken here as it would)."""
    lab, old = two_backups
    with locks.reading_lock(lab.state, "loc"):
        done = _rabtui(lab, "restore", "loc", str(lab.src / "data"), "--backup", old, "--to", str(tmp_path / "to"))
    assert done.returncode != 0 and "Traceback" not in done.stderr, done.stderr
    assert "a cleanup of loc's backups is already running since " in done.stderr, done.stderr
    assert f"pid {os.getpid()}" in done.stderr
    assert not (tmp_path / "to").exists()


def test_a_checkpoint_recorded_while_a_cleanup_deletes_misses_nothing(tmp_path, monkeypatch):
    """An archive directory's first backup is on a verified disc, so a cleanup may delete it (with
    its files' entries in the union). A checkpoint recorded while the cleanup is about to do so
    (here: `rabtui checkpoint burn`, killed once its checkpoint is recorded) must not hold files
    the cleanup then deletes: resumed, it would burn discs short of them, or fail for ever."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700", [("arch", "archive")],
                   "\n[retention]\nkeep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                   "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
    write_files(lab.src / "arch", {"x": b"x" * 5000, "sub/y": b"y" * 300})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    first = _rabtui(lab, "checkpoint", "burn", "--now", "--yes")
    assert first.returncode == 0, first.stdout + first.stderr
    write_files(lab.src / "arch", {"z": b"z" * 700})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    cfg = lab.load()
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=datetime.fromisoformat(LATER))
    assert [c.name for c in plan.delete] == [sorted(n for n in os.listdir(lab.media[0][1] / "loc") if n.startswith("backup-"))[0]], plan.delete
    burns: list[subprocess.CompletedProcess] = []
    removing = deletion._remove_archive_entries

    def burn_first(*args):
        if not burns:   # the cleanup holds its locks now: a checkpoint burn starts, recorded before it dies
            env = dict(os.environ, **{faults.ENV: "burn.before_write"})
            burns.append(preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path),
                                        "checkpoint", "burn", "--now", "--yes"], env=env, capture_output=True,
                                       text=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120))
        return removing(*args)

    monkeypatch.setattr(deletion, "_remove_archive_entries", burn_first)
    done = cleanup_actions.apply(cfg, store, plan)
    assert burns and "Traceback" not in burns[0].stderr, burns
    assert not done.failed, done.failed
    if burns[0].returncode == -signal.SIGKILL:
        # it recorded a checkpoint: then the cleanup deleted nothing it reads, and it can be finished
        resumed = _rabtui(lab, "checkpoint", "resume", "--yes")
        assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    else:       # it refused, saying why, and recorded nothing
        assert "a cleanup of loc's backups is already running" in burns[0].stderr, burns[0].stderr
        assert store.one("SELECT COUNT(*) FROM checkpoints")[0] == 1
        assert len(done.deleted) == 1


def test_rebuild_state_waits_for_no_cleanup_and_a_cleanup_none_for_it(two_backups, monkeypatch):
    """`rabtui rebuild-state` started while a cleanup deletes: the database it puts in place must
    not list the backup the cleanup deletes meanwhile (the cleanup's own record of it went into
    the database the rebuild replaced)."""
    lab, old = two_backups
    cfg, store = lab.load(), lab.store()
    plan = cleanup_actions.plan(cfg, store, now=datetime.fromisoformat(LATER))
    rebuilds: list[subprocess.CompletedProcess] = []
    emptying = deletion._empty_tree

    def rebuild_first(path, *rest):
        if not rebuilds:
            rebuilds.append(_rabtui(lab, "rebuild-state"))
        return emptying(path, *rest)

    monkeypatch.setattr(deletion, "_empty_tree", rebuild_first)
    done = cleanup_actions.apply(cfg, store, plan)
    assert rebuilds and "Traceback" not in rebuilds[0].stderr, rebuilds
    assert not done.failed, done.failed
    assert rebuilds[0].returncode != 0, rebuilds[0].stdout
    assert "a cleanup is already running since" in rebuilds[0].stderr, rebuilds[0].stderr
    assert [c.name for c in done.deleted] == [old]
    invariants.check_catalog_is_media(cfg, lab.store())
    # and the other way round: a cleanup while the rebuild holds the locks says what holds them
    with rebuild_actions.all_locks(cfg):
        again = _rabtui(lab, "cleanup", "--now", LATER)
    assert "this command cannot run now: rebuild-state is running since" in again.stdout + again.stderr, again


def test_a_backup_linking_into_the_union_while_a_cleanup_unlinks_loses_no_entry(tmp_path, monkeypatch):
    """The cleanup deletes the archive directory's first backup (its file x is on a verified disc)
    and takes x's union entry out, while a backup of a newer x links that one in: the union must
    show the newer x, not lose it (a checkpoint, a restore, the next backup read the union)."""
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700", [("arch", "archive")],
                   "\n[retention]\nkeep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                   "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
    write_files(lab.src / "arch", {"x": b"x1" * 500})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    assert _rabtui(lab, "checkpoint", "burn", "--now", "--yes").returncode == 0
    write_files(lab.src / "arch", {"y": b"y"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "arch", {"x": b"x2" * 700})
    cfg, store = lab.load(), lab.store()
    plan = cleanup_actions.plan(cfg, store, now=datetime.fromisoformat(LATER))
    assert len(plan.delete) == 1, plan
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    backups: list[subprocess.Popen] = []
    unlink = below.unlink

    def backup_first(root, rel):
        if not backups:   # the cleanup found x to be its backup's; a backup runs to its end or its wait
            backups.append(preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path),
                                             "backup", "loc"], cwd=ROOT, stdin=subprocess.DEVNULL,
                                           env={**os.environ, "PYTHONUNBUFFERED": "1"},
                                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT))
            for line in iter(backups[0].stdout.readline, b""):    # it says at once what it waits for
                if b"waiting (at most 600 s) for a cleanup (pid " in line:
                    break
        return unlink(root, rel)

    monkeypatch.setattr(below, "unlink", backup_first)
    done = cleanup_actions.apply(cfg, store, plan)
    assert backups and not done.failed and len(done.deleted) == 1, done
    out = backups[0].communicate(timeout=120)[0].decode()
    assert backups[0].returncode == 0, out
    assert (union / "x").read_bytes() == b"x2" * 700


def test_rebuild_state_waits_for_a_checkpoint_burning_on_another_drive(tmp_path):
    """A burn onto a drive other than the config's (`--drive`) while rebuild-state runs wrote its
    discs' states into the database the rebuild replaced: a checkpoint written and verified that
    the new state did not know."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": b"a" * 3000})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    other = f"images:{tmp_path / 'other-iso'}"
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=other)
    rebuilds: list[subprocess.CompletedProcess] = []

    def answer(question):
        if not rebuilds:
            rebuilds.append(_rabtui(lab, "rebuild-state"))
        return READY

    res = run.burn_checkpoint(cfg, store, number, drive=other, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(answer))
    assert res.status == "completed", res.message
    assert rebuilds and "Traceback" not in rebuilds[0].stderr, rebuilds
    assert rebuilds[0].returncode != 0
    assert "a checkpoint is already running since" in rebuilds[0].stderr, rebuilds[0].stderr
    assert lab.store().one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "completed"
    # and a checkpoint run started during a rebuild says what holds it
    with rebuild_actions.all_locks(lab.load()):
        refused = _rabtui(lab, "checkpoint", "burn", "--now", "--yes")
    assert "this command cannot run now: rebuild-state is running since" in refused.stderr, refused.stderr


def test_rebuild_state_waits_for_a_restore_and_a_restore_for_it(two_backups, tmp_path):
    """`rabtui rebuild-state` started while a restore reads a backup: the restore's job row and its
    events were in the database the rebuild put aside, and what the restore wrote afterwards went
    into the new one under an id that a later job of the new database is given."""
    lab, old = two_backups
    rebuilds: list[subprocess.CompletedProcess] = []

    class RebuildAtFirstLook(threading.Event):
        def is_set(self) -> bool:
            if not rebuilds and sys._getframe(1).f_code.co_name == "copy_into":
                rebuilds.append(_rabtui(lab, "rebuild-state"))
            return super().is_set()

    to = tmp_path / "restored"
    outcome = restore_actions.restore(lab.load(), lab.store(), no_emit, RebuildAtFirstLook(), None, source="loc",
                                      path=str(lab.src / "data"), backup=old, to=str(to))
    assert outcome.exit_code == 0, outcome.result.summary
    assert rebuilds and "Traceback" not in rebuilds[0].stderr, rebuilds
    assert rebuilds[0].returncode != 0, rebuilds[0].stdout
    assert "a cleanup of loc's backups is already running since" not in rebuilds[0].stderr
    assert "loc's backups" in rebuilds[0].stderr and f"pid {os.getpid()}" in rebuilds[0].stderr, rebuilds[0].stderr
    # and a restore started during a rebuild says what holds it
    with rebuild_actions.all_locks(lab.load()):
        refused = _rabtui(lab, "restore", "loc", str(lab.src / "data"), "--backup", old, "--to", str(tmp_path / "to"))
    assert refused.returncode != 0 and "Traceback" not in refused.stderr, refused.stderr
    assert "cannot run now: rebuild-state is running since" in refused.stderr, refused.stderr
    assert "cleanup" not in refused.stderr, refused.stderr


def test_a_cleanup_skips_a_source_whose_hung_backup_holds_its_union_and_goes_on(tmp_path):
    """A backup of `loc` hangs while it holds the union lock (on a medium that stopped answering,
    say; here it stops itself at the fault point): a cleanup from cron must not wait on it for the
    night. It keeps loc's old backups, says which backup holds them, and deletes the other source's."""
    lab = Lab(tmp_path, media_count=1)
    lab.write(lab._local_source([("data", "standard"), ("arch", "archive")], "", "loc")
              + lab._local_source([("two", "standard")], "", "two"))
    lab.keep_a_day()
    olds = {}
    for sid, d in (("loc", "data"), ("two", "two")):
        for n in (1, 2):
            write_files(lab.src / d, {f"f{n}": b"x" * n})
            assert _rabtui(lab, "backup", sid).returncode == 0
        olds[sid] = min(n for n in os.listdir(lab.media[0][1] / sid) if n.startswith("backup-"))
    write_files(lab.src / "data", {"f3": b"3"})
    env = {**os.environ, faults.STOP_ENV: "backup.archive_linked"}   # loc's (empty) archive directory: linked
    hung = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                           cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not _stopped(hung.pid):
            assert hung.poll() is None and time.monotonic() < deadline, "the backup did not reach the point"
            time.sleep(0.05)
        started = time.monotonic()
        done = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "cleanup",
                              "--now", LATER], capture_output=True, text=True, cwd=ROOT,
                             stdin=subprocess.DEVNULL, timeout=60)
        assert time.monotonic() - started < 30
        out = done.stdout + done.stderr
        assert done.returncode == 0 and "Traceback" not in out, out
        assert (f"kept loc {olds['loc']} on m1 for a later cleanup: deleting loc's old backups cannot run now:"
                f" a backup of loc is running since ") in out and f"pid {hung.pid}" in out, out
        assert "1 of 2 backups deleted" in out, out
        assert olds["loc"] in os.listdir(lab.media[0][1] / "loc")
        assert olds["two"] not in os.listdir(lab.media[0][1] / "two")
    finally:
        hung.send_signal(signal.SIGCONT)
    assert hung.wait(timeout=60) == 0, hung.stdout.read().decode()
    hung.stdout.close()
    again = _rabtui(lab, "cleanup", "--now", LATER)
    assert again.returncode == 0 and olds["loc"] not in os.listdir(lab.media[0][1] / "loc"), again.stdout
    invariants.check_catalog_is_media(lab.load(), lab.store())


def test_a_cleanup_kept_out_by_two_restores_names_only_the_one_still_running(two_backups, tmp_path):
    """Two restores read loc's backups (each holds its reading lock shared); the lock file names the
    last to take it, which has ended since: the cleanup names the restore that still runs, never
    the one that ended."""
    from tests.test_medium_identity import _ended, _killed, _stopped_at

    lab, old = two_backups
    first = second = None
    try:
        first = _stopped_at(lab, "restore.entries_put", "restore", "loc", str(lab.src / "data"), "--backup", old,
                            "--to", str(tmp_path / "to1"))
        second = _stopped_at(lab, "restore.entries_put", "restore", "loc", str(lab.src / "data"), "--backup", old,
                             "--to", str(tmp_path / "to2"))
        _ended(second)
        done = _rabtui(lab, "cleanup", "--now", LATER)
        assert done.returncode == 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert f"a restore or a checkpoint reads loc's backups now (pid {first.pid})" in done.stdout, done.stdout
        assert f"pid {second.pid}" not in done.stdout, done.stdout
        assert old in os.listdir(lab.media[0][1] / "loc")
        _ended(first)
    finally:
        _killed(first, second)
    again = _rabtui(lab, "cleanup", "--now", LATER)
    assert again.returncode == 0 and old not in os.listdir(lab.media[0][1] / "loc"), again.stdout
