"""Restores beside other restores and backups (real rsync, real processes stopped at their fault
points): restores whose written trees nest, through different --to directories, are kept apart; a
killed restore keeps nobody out and its record goes; a backup of a source and a restore onto it
never run at once (run-due leaves such a source due)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from rabtui import faults
from rabtui.errors import LockBusy
from rabtui.restore import run as R
from tests import preloaded
from tests.held import stopped
from tests.test_kill_anywhere import rabtui
from tests.test_restore_onto_ssh_source import T0
from tests.test_restore_onto_ssh_source_races import _held_restore
from tests.trees import Lab, write_files


def _records(lab: Lab) -> list[str]:
    return sorted(n for n in os.listdir(lab.state / "locks") if n.startswith("restoring-into-"))


def test_restores_whose_written_trees_nest_through_other_directories_are_refused(tmp_path):
    """A restore of d/sub into A runs (it writes A/<d>/sub); one of d into the directory above A's
    place of d writes around it, one of d/sub/f into A/<d>/sub writes inside it: each ran at once
    with it (other --to directories), counting its files as there already. Both are refused naming
    it; one writing elsewhere runs. Once it ends its record is gone; a killed one keeps nobody out."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"d/sub/f": b"1", "d/g": b"2"})
    assert lab.backup(cfg, now=T0).status == "completed"
    d = str(lab.src / "data/d")
    outer = tmp_path / "out"
    a = str(outer) + d          # the first writes a + d/sub
    first = _held_restore(lab.config_path, "restore.entries_put", "loc", d + "/sub", "--to", a)
    try:
        for path, to in ((d, str(outer)), (d + "/sub/f", a + d + "/sub")):
            with pytest.raises(LockBusy, match=r"a restore into .*out.* is already running since .*, pid %d"
                               % first.pid):
                R.restore(lab.load(), lab.store(), "loc", path, to=to)
        R.restore(lab.load(), lab.store(), "loc", d, to=str(tmp_path / "aside"))
        assert (tmp_path / ("aside" + d) / "sub/f").read_bytes() == b"1"
        assert not os.path.lexists(a + d + "/g") and not os.path.lexists(a + d + "/sub" + d)
    finally:
        first.send_signal(signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 0 and "not restored" not in stdout, stdout + stderr
    assert open(a + d + "/sub/f", "rb").read() == b"1"
    assert _records(lab) == []
    killed = _held_restore(lab.config_path, "restore.entries_put", "loc", d, "--to", str(tmp_path / "k"))
    assert len(_records(lab)) == 1
    killed.kill()
    killed.communicate(timeout=60)
    R.restore(lab.load(), lab.store(), "loc", d + "/g", to=str(tmp_path / "k"), overwrite=True)
    assert _records(lab) == []


def test_a_backup_and_a_restore_onto_its_source_are_kept_apart(tmp_path):
    """A restore onto a source and a backup of it ran at once: the backup saved a half-restored
    tree. While the restore runs a backup is refused naming it, and run-due leaves the source due
    (said), backing it up once the restore is done; a restore onto the source is refused while a
    backup of it runs. A restore --to a directory inside the tree it writes is refused too."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")], extra='schedule = "0 2 * * *"\n')
    write_files(lab.src / "data", {"d/a": b"1", "d/b": b"2"})
    assert lab.backup(cfg, now=T0).status == "completed"
    d = lab.src / "data/d"
    for name in ("a", "b"):
        (d / name).unlink()
    first = _held_restore(lab.config_path, "restore.entries_put", "loc", str(d), "--to-source")
    try:
        with pytest.raises(LockBusy, match=r"a backup of loc cannot run now: a restore onto loc is running since"
                           r" .*, pid %d" % first.pid):
            lab.backup(lab.load())
        with pytest.raises(LockBusy, match=r"a restore into .* is already running since .*, pid %d" % first.pid):
            R.restore(lab.load(), lab.store(), "loc", str(d / "b"), to=str(d))     # writes d + d/b
        due = rabtui(lab, "run-due")
        said = due.stdout + due.stderr
        assert f"a restore onto loc (pid {first.pid}" in said and "left to the next run-due" in said, said
    finally:
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 0, out + err
    due = rabtui(lab, "run-due")
    assert due.returncode == 0 and "left to the next run-due" not in due.stdout + due.stderr, due.stdout + due.stderr
    assert lab.store().one("SELECT count(*) AS n FROM backups WHERE source='loc' AND status='completed'")["n"] == 2
    backup = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                             env={**os.environ, faults.STOP_ENV: "backup.step2"}, stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True, stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while not stopped(backup.pid):
            assert backup.poll() is None and time.monotonic() < deadline, backup.communicate()
            time.sleep(0.05)
        with pytest.raises(LockBusy, match=r"a backup of loc is already running since .*, pid %d" % backup.pid):
            R.restore(lab.load(), lab.store(), "loc", str(d), to_source=True)
    finally:
        backup.send_signal(signal.SIGCONT)
        out, err = backup.communicate(timeout=60)
    assert backup.returncode == 0, out + err


def test_a_restore_starting_while_another_looks_at_where_restores_write_waits_for_it(tmp_path, monkeypatch):
    """Two restores starting at once each looked before the other said where it writes: the look
    and the record of one are done before another looks. One coming meanwhile waits for it (here
    for at most half a second: a stopped one), naming it."""
    from rabtui.state import restore_places

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"d/f": b"1"})
    assert lab.backup(cfg, now=T0).status == "completed"
    d, out = str(lab.src / "data/d"), str(tmp_path / "out")
    monkeypatch.setattr(restore_places, "LOOK_WAIT", 0.5)
    first = _held_restore(lab.config_path, "restore.places_looked", "loc", d, "--to", out)
    try:
        with pytest.raises(LockBusy, match=r"\(pid %d.* held the lock of the look at where running restores write"
                           % first.pid):
            R.restore(lab.load(), lab.store(), "loc", d, to=str(tmp_path / "aside"))
    finally:
        first.send_signal(signal.SIGCONT)
        stdout, stderr = first.communicate(timeout=60)
    assert first.returncode == 0, stdout + stderr
    assert open(out + d + "/f", "rb").read() == b"1" and _records(lab) == []
