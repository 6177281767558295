"""rebuild-state and the union of an archive directory that a killed cleanup left half undone
(backup/union_undo.py): the rebuild holds the source's union lock for its whole run, so it settles
the union itself on the media that are here, says so, and marks its progress on the lock as it
links files back or undoes a killed run's links, as a cleanup does: a run waiting for the union
(a checkpoint plan settling it) waits on while the rebuild goes on. The union stayed half undone
(`rabtui check` warning) until a backup, checkpoint or cleanup touched the medium, and a waiter gave
up after io_timeout while the rebuild was visibly working. Real rsync, real processes killed or
stopped at their fault points."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta

import pytest

from rabtui import faults
from rabtui.backup import history, union_undo
from rabtui.errors import WorkFailed
from rabtui.media import medium_layout
from tests import invariants, preloaded
from tests.test_cleanup_while_reading import ROOT, _stopped
from tests.test_kill_anywhere import _files, _killed, rabtui
from tests.test_union_undo_interrupted import SHORT, _killed_undoing, _undoing_said
from tests.trees import Lab

IO_TIMEOUT = 2


def test_rebuild_state_settles_a_union_a_killed_cleanup_left_half_undone(tmp_path):
    lab, cfg, store, copies, union = _killed_undoing(tmp_path)
    first = store.one("SELECT name FROM backups WHERE medium='m1' ORDER BY id")["name"]
    assert _undoing_said(cfg, store) and len({p for p in ("x", "y", "d/w") if (union / p).exists()}) == 2
    # a symlink planted in the union's place: nothing linked through it, said, the rest rebuilt
    aside = union.with_name("arch-aside")
    os.rename(union, aside)
    os.symlink(aside, union)
    planted = rabtui(lab, "rebuild-state")
    said = [line for line in planted.stdout.splitlines() if "could not be put back" in line]
    assert planted.returncode == 3 and "Traceback" not in planted.stdout + planted.stderr, planted.stdout
    assert said and said[0].startswith("not matched: medium m1: loc:") and f"{union} is a symlink" in said[0], said
    assert "backups: 3," in planted.stdout and len(os.listdir(aside)) == 3, planted.stdout    # x or y, d, z
    assert union_undo.pending(lab.media[0][1], "loc")
    os.unlink(union)
    os.rename(aside, union)
    done = rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Traceback" not in out, out
    assert [(union / p).read_bytes() for p in ("x", "y", "d/w", "z")] == [b"x1" * 50, b"y1" * 60, b"w1", b"z2"]
    assert not union_undo.pending(lab.media[0][1], "loc")
    said = [line for line in done.stdout.splitlines() if first in line]     # what it settled, named
    assert said and said[0].startswith("medium m1: loc:") and "interrupted cleanup" in said[0], out
    assert "1 file(s) linked back" in said[0], said
    store = lab.store()
    assert not _undoing_said(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_backups_hold(cfg, store, copies)


def _twenty_to_change(tmp_path, point: str) -> Lab:
    """An archive directory of 20 files on m1 that rebuild-state changes the union of, file by file:
    union.linked, linking back those of the first backup, whose undoing a cleanup was killed in
    (once it undid them all, the record of it still there); union.undone, undoing the links of a run killed in
    step 7 with 20 new files."""
    lab = Lab(tmp_path, media_count=2)
    lab.write(lab._local_source([("arch", "archive")], f"io_timeout = {IO_TIMEOUT}", "loc") + SHORT)
    arch = lab.src / "arch"
    _files(arch, {f"f{i:02}": b"%d" % i * 50 for i in range(20)})
    if point == "union.undone":
        assert rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
        _files(arch, {f"n{i:02}": b"n%d" % i for i in range(20)})
        _killed(rabtui(lab, "backup", "loc", "--medium", "m1", point="backup.archive_linked"))
        return lab
    for medium in ("m1", "m2"):     # m2's backup holds the same versions: the guard lets m1's go
        assert rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    _files(arch, {"z": b"z2"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    cleanup = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "cleanup", "--now",
                                later], cwd=ROOT, env={**os.environ, faults.STOP_ENV: "union.undone"},
                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        for undone in range(1, 21):       # killed once it undid the 20 files' links, its record still there
            deadline = time.monotonic() + 60
            while not _stopped(cleanup.pid):
                assert cleanup.poll() is None and time.monotonic() < deadline, f"the cleanup did not undo {undone}"
                time.sleep(0.01)
            cleanup.send_signal(signal.SIGKILL if undone == 20 else signal.SIGCONT)
            time.sleep(0.02)
    finally:
        if cleanup.poll() is None:
            cleanup.kill()
        cleanup.wait(timeout=60)
    assert union_undo.pending(lab.media[0][1], "loc")
    assert os.listdir(medium_layout.archive_root(lab.media[0][1], "loc", str(arch))) == ["z"]
    return lab


@pytest.mark.parametrize("point", ["union.linked", "union.undone"])
def test_a_run_waiting_for_the_union_waits_while_rebuild_state_changes_it(tmp_path, point):
    """rebuild-state changes the union for longer than the source's io_timeout (a slow disk): a run
    waiting for the union lock meanwhile (history.union_held: a checkpoint plan settling it, here in
    this process) is told that the rebuild makes progress, and waits for as long as it does; it gave
    up after io_timeout while the rebuild went on. The rebuild stops itself at each file it changes
    and is let go on 0.3 s later."""
    lab = _twenty_to_change(tmp_path, point)
    cfg = lab.load()
    rebuild = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "rebuild-state"],
                              cwd=ROOT, env={**os.environ, faults.STOP_ENV: point}, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    paced: list[float] = []     # when the rebuild was let go on, each time

    def pace() -> None:
        while rebuild.poll() is None:
            if _stopped(rebuild.pid):
                time.sleep(0.3)
                paced.append(time.monotonic())
                rebuild.send_signal(signal.SIGCONT)
            time.sleep(0.01)

    said: list[str] = []
    gave_up = None
    try:
        deadline = time.monotonic() + 60
        while not _stopped(rebuild.pid):      # once it changed the first file, every lock held
            assert rebuild.poll() is None and time.monotonic() < deadline, "the rebuild did not reach the point"
            time.sleep(0.01)
        pacer = threading.Thread(target=pace)
        pacer.start()
        waited = time.monotonic()
        try:
            with history.union_held(cfg, "loc", lambda e: said.append(e.message), by="a test"):
                pass
        except WorkFailed as exc:
            gave_up = (time.monotonic(), str(exc))
        out = rebuild.communicate(timeout=120)[0].decode()
        pacer.join(timeout=120)
    finally:
        while rebuild.poll() is None:
            rebuild.send_signal(signal.SIGCONT)
            time.sleep(0.05)
    assert rebuild.returncode in (0, 3) and "Traceback" not in out, out
    # the premise: the rebuild was still changing the union, io_timeout after the wait began
    assert len(paced) >= 19 and paced[-1] > waited + 2 * IO_TIMEOUT, (len(paced), paced[-1] - waited)
    assert gave_up is None or gave_up[0] > paced[-1], (gave_up[0] - waited, gave_up[1], said)
    assert any(f"rebuild-state (pid {rebuild.pid}" in m and "is making progress" in m for m in said), said
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    held = sorted(os.listdir(union))
    assert held == [f"f{i:02}" for i in range(20)] + (["z"] if point == "union.linked" else []), held
    assert not union_undo.pending(lab.media[0][1], "loc")
    invariants.check_catalog_is_media(cfg, lab.store())
