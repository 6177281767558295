"""rebuild-state killed at each of its steps, run twice at once, and a medium unplugged while it
runs: the next commands find a whole database, a checkpoint still takes a number never used, and
nothing the rebuild could not read is recorded as if it were there."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys

import pytest

from rabtui.faults import ENV, REBUILD_POINTS
from tests.test_rebuild_keeps_writers_out import _held_rebuild
from tests.test_rebuild_odd_records import ROOT, _rabtui
from tests.trees import Lab, made_once, write_files
from tests import preloaded


def _lab(tmp_path, media_count: int = 1) -> Lab:
    lab = Lab(tmp_path, media_count=media_count)
    lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a": b"one"})
    for medium, _ in lab.media:
        assert _rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    return lab


def _rows(lab, sql: str) -> list[tuple]:
    conn = sqlite3.connect(lab.state / "rabtui.db")
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


@pytest.fixture(scope="module")
def _burnt_made(tmp_path_factory):
    """_lab's lab with a checkpoint burnt, its disc on the shelf; made once for the module."""
    def make(live):
        lab = _lab(live)
        assert _rabtui(lab, "checkpoint", "burn", "--now", "--yes").returncode == 0
        (live / "iso" / "RAB1D01.iso").rename(live / "RAB1D01.iso")     # the disc goes on the shelf

    yield from made_once(tmp_path_factory, make)


@pytest.mark.parametrize("point", REBUILD_POINTS)
def test_rebuild_state_killed_at_each_step_then_a_checkpoint(_burnt_made, point):
    lab = Lab(_burnt_made[1].anew(), media_count=1)
    assert os.listdir(lab.tmp / "iso") == []
    killed = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                           cwd=ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120,
                           env={**os.environ, ENV: point})
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr

    done = _rabtui(lab, "checkpoint", "burn", "--now", "--yes", "--new")
    assert done.returncode == 0, done.stdout + done.stderr
    assert os.listdir(lab.tmp / "iso") == ["RAB2D01.iso"]
    assert _rows(lab, "PRAGMA integrity_check") == [("ok",)]
    again = _rabtui(lab, "rebuild-state")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _rows(lab, "SELECT number, status FROM checkpoints ORDER BY number") == [(2, "completed")]
    assert "checkpoint numbers used before (discs not read): up to 1" in again.stdout, again.stdout
    assert _rows(lab, "SELECT COUNT(*) FROM backups") == [(1,)]


def test_two_rebuild_states_at_once(tmp_path):
    lab = _lab(tmp_path)
    first = _held_rebuild(lab, "rebuild.media_read")
    try:
        second = _rabtui(lab, "rebuild-state")
    finally:
        first.send_signal(signal.SIGCONT)
        out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out + err
    assert second.returncode == 1 and "Traceback" not in second.stderr, second.stdout + second.stderr
    assert "rebuild-state is already running since" in second.stderr and f"pid {first.pid}" in second.stderr, \
        second.stderr
    assert _rows(lab, "SELECT COUNT(*) FROM backups") == [(1,)]


def test_a_medium_unplugged_during_rebuild_state_is_not_recorded_as_read(tmp_path):
    """m2 goes (its disk unplugged: an empty mount point stays) after rebuild-state listed its
    backups and before it walked them: they are not recorded with an empty catalog, as if they
    held nothing; the report names the medium, and a rebuild with it back records them whole."""
    lab = _lab(tmp_path, media_count=2)
    m2 = lab.media[1][1]
    rebuild = _held_rebuild(lab, "rebuild.media_listed")
    try:
        m2.rename(tmp_path / "m2-disk")
        m2.mkdir()
    finally:
        rebuild.send_signal(signal.SIGCONT)
        out, err = rebuild.communicate(timeout=120)
    assert rebuild.returncode == 3, out + err
    assert "medium m2:" in out, out
    assert _rows(lab, "SELECT medium, COUNT(*) FROM backups GROUP BY medium") == [("m1", 1)]
    assert os.listdir(m2) == []

    m2.rmdir()
    (tmp_path / "m2-disk").rename(m2)
    again = _rabtui(lab, "rebuild-state")
    assert again.returncode == 0, again.stdout + again.stderr
    assert _rows(lab, "SELECT medium, COUNT(*) FROM backups GROUP BY medium") == [("m1", 1), ("m2", 1)]
    assert _rows(lab, "SELECT medium, COUNT(*) FROM versions GROUP BY medium") == [("m1", 1), ("m2", 1)]
