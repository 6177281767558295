"""Undoing a backup's archive links (the recovery of a killed run, a step 7 that failed after it
linked, rebuild-state finding a run killed in step 7) happens under the source's union lock, as
the backup's own linking and a cleanup's removing do: a holder (here another real process, as a
cleanup hung on its medium would be) is waited for, and one that keeps it gives a clear failure
with the union and the catalog left as they were, for the next run to undo. Real rsync, real
processes killed or stopped at their fault points."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest

from rabtui.media import medium_layout
from tests import preloaded
from tests.test_full_medium_at_once import _checked
from tests.test_kill_anywhere import _files, _killed, rabtui
from tests.test_medium_identity import ROOT, _stopped_at
from tests.test_medium_identity import _killed as _killed_if_left   # a stopped run left by a failed test
from tests.trees import Lab

HOLD = ("import sys; from rabtui.state.locks import union_lock\n"
        "lock = union_lock(sys.argv[1], 'loc', by='a cleanup').acquire(); print('held', flush=True)\n"
        "sys.stdin.read()")


def _lab(tmp_path, io_timeout: int) -> tuple[Lab, object]:
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")], extra=f"io_timeout = {io_timeout}")
    _files(lab.src / "arch", {"x": b"x1" * 100, "y": b"y1"})
    first = rabtui(lab, "backup", "loc")
    assert first.returncode == 0, first.stdout + first.stderr
    _files(lab.src / "arch", {"x": b"x2" * 120, "z": b"z2"})
    return lab, cfg


def _union_shows(lab: Lab, row) -> set[str]:
    """The names of the backup's files that the union shows (its own inodes)."""
    arch = str(lab.src / "arch")
    union = medium_layout.archive_root(lab.media[0][1], "loc", arch)
    data = medium_layout.backup_data_path(row["path"], arch)
    return {name for name in ("x", "y", "z") if (data / name).exists() and (union / name).exists()
            and os.stat(data / name).st_ino == os.stat(union / name).st_ino}


class _Holder:
    """Another process holding loc's union lock until released."""

    def __init__(self, lab: Lab):
        self.run = preloaded.Popen([sys.executable, "-c", HOLD, str(lab.state)], cwd=ROOT, stdin=subprocess.PIPE,
                                   stdout=subprocess.PIPE, text=True)
        assert self.run.stdout.readline() == "held\n"

    def release(self) -> None:
        if self.run.poll() is None:
            self.run.stdin.close()
            self.run.wait(timeout=30)

    def __enter__(self) -> _Holder:
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _output_until(run: subprocess.Popen, out, text: str) -> str:
    """What `run` (writing into the file `out`) said until it said `text`."""
    import time

    deadline = time.monotonic() + 60
    while text not in out.read_text():
        assert run.poll() is None and time.monotonic() < deadline, out.read_text()
        time.sleep(0.05)
    return out.read_text()


def _started(lab: Lab, out, *args: str) -> subprocess.Popen:
    """`rabtui backup ARGS` as a process of its own, its output (unbuffered) into the file `out`."""
    with open(out, "wb") as sink:
        return preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", *args],
                               cwd=ROOT, stdin=subprocess.DEVNULL, stdout=sink, stderr=subprocess.STDOUT,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})


def _killed_at(lab: Lab, point: str, *args: str):
    """The row of `rabtui backup loc ARGS`, killed at the fault point `point`."""
    _killed(rabtui(lab, "backup", "loc", *args, point=point))
    return lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")


def _status(store, backup_id: int) -> str:
    return store.one("SELECT status FROM backups WHERE id=?", (backup_id,))["status"]


def _next_backup_undoes(lab: Lab) -> str:
    """`rabtui backup loc` once the union is free: it completes, the killed run's two links undone;
    what it said."""
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "2 archive link(s) undone" in after.stdout + after.stderr
    return after.stdout + after.stderr


def _versions_of(store, backup_id: int) -> int:
    return store.one("SELECT COUNT(*) FROM versions WHERE ? IN (first_backup, last_backup)", (backup_id,))[0]


def test_recovery_of_a_killed_run_waits_for_the_union_holder(tmp_path):
    lab, _ = _lab(tmp_path, io_timeout=60)
    killed = _killed_at(lab, "backup.catalog")
    store = lab.store()
    assert killed["status"] == "running" and _union_shows(lab, killed) == {"x", "z"}
    out = tmp_path / "backup.out"
    with _Holder(lab) as holder:
        backup = _started(lab, out, "loc", "--verbose")
        said = _output_until(backup, out, "to release the lock of a change of loc's archive union trees")
        assert f"waiting (at most 60 s) for a cleanup (pid {holder.run.pid}" in said, said
        # nothing undone under the holder
        assert _union_shows(lab, killed) == {"x", "z"}
        assert _status(store, killed["id"]) == "running"
        holder.release()
        assert backup.wait(timeout=120) == 0, out.read_text()
    assert f"found an interrupted backup of loc ({killed['name']}" in out.read_text()
    assert "2 archive link(s) undone" in out.read_text(), out.read_text()
    assert _status(store, killed["id"]) == "kept"      # killed after its transfer: its data kept
    _checked(lab)


def test_recovery_that_cannot_have_the_union_leaves_the_killed_run_for_the_next(tmp_path):
    lab, _ = _lab(tmp_path, io_timeout=1)
    killed = _killed_at(lab, "backup.catalog")
    store = lab.store()
    versions = _versions_of(store, killed["id"])
    assert versions
    with _Holder(lab):
        busy = rabtui(lab, "backup", "loc")
        said = busy.stdout + busy.stderr
        assert busy.returncode == 1 and "Traceback" not in said, said
        assert "its archive links cannot be undone now: a cleanup (pid" in said, said
        assert "held the lock of a change of loc's archive union trees for more than 1 s" in said, said
        assert _union_shows(lab, killed) == {"x", "z"}
        assert _status(store, killed["id"]) == "running" and _versions_of(store, killed["id"]) == versions
    _next_backup_undoes(lab)
    assert _status(store, killed["id"]) == "kept"      # killed after its transfer: its data kept
    _checked(lab)


def _failing_in_step7(lab: Lab) -> tuple[subprocess.Popen, object]:
    """A backup stopped when its archive links and catalog rows are written, its final backup.json
    made impossible to write (a directory in its place, which is never taken away); with its row."""
    run = _stopped_at(lab, "backup.catalog", "backup", "loc", "--verbose")
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    record = os.path.join(row["path"], "backup.json")
    os.unlink(record)
    os.mkdir(record)
    return run, row


@pytest.mark.parametrize("held_for_long", [False, True])
def test_a_step7_that_failed_after_linking_undoes_only_under_the_union_lock(tmp_path, held_for_long):
    lab, _ = _lab(tmp_path, io_timeout=1 if held_for_long else 60)
    run = holder = None
    try:
        run, row = _failing_in_step7(lab)
        store = lab.store()
        assert _union_shows(lab, row) == {"x", "z"}
        holder = _Holder(lab)
        run.send_signal(signal.SIGCONT)
        if not held_for_long:
            lines = []
            while "to release the lock of a change of loc's archive union trees" not in "".join(lines):
                line = run.stdout.readline().decode()
                assert line, "".join(lines)
                lines.append(line)
            assert _union_shows(lab, row) == {"x", "z"}
            holder.release()
        said = run.communicate(timeout=120)[0].decode()
        assert run.returncode == 1, said
    finally:
        if holder is not None:
            holder.release()
        _killed_if_left(run)
    status = _status(store, row["id"])
    if held_for_long:
        assert "its links in the archive union cannot be undone now: a cleanup (pid" in said, said
        assert "left for the next backup of loc to undo" in said
        # left as a killed run's: its links and the catalog rows that name them, its row running
        assert status == "running" and _union_shows(lab, row) == {"x", "z"} and _versions_of(store, row["id"])
        os.rmdir(os.path.join(row["path"], "backup.json"))
        assert f"found an interrupted backup of loc ({row['name']}" in _next_backup_undoes(lab)
        status = _status(store, row["id"])
        assert status == "abandoned"
    else:
        assert status == "failed" and not _union_shows(lab, row) and not _versions_of(store, row["id"])
        os.rmdir(os.path.join(row["path"], "backup.json"))
    _checked(lab)


def test_rebuild_state_does_not_undo_links_under_a_union_holder(tmp_path):
    lab, _ = _lab(tmp_path, io_timeout=60)
    killed = _killed_at(lab, "backup.archive_linked")
    assert _union_shows(lab, killed) == {"x", "z"}
    with _Holder(lab) as holder:
        busy = rabtui(lab, "rebuild-state")
        assert busy.returncode == 1, busy.stdout + busy.stderr
        assert "rebuild-state cannot run now: a cleanup is running since" in busy.stderr, busy.stderr
        assert f"pid {holder.run.pid}" in busy.stderr and "Traceback" not in busy.stderr, busy.stderr
        assert _union_shows(lab, killed) == {"x", "z"}
    done = rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert not _union_shows(lab, killed)
    _checked(lab)


def _held_on_medium(lab: Lab) -> set[bytes]:
    """The contents of every file on the medium."""
    held = set()
    for top, _dirs, names in os.walk(lab.media[0][1]):
        for name in names:
            with open(os.path.join(top, name), "rb") as f:
                held.add(f.read())
    return held


def test_no_backup_of_an_archive_goes_ahead_over_a_killed_run_it_could_not_undo(tmp_path):
    """The killed run linked x2 and z2 into the union; its recovery cannot have the union (held
    by another process past io_timeout). A backup that went ahead would save neither (rsync
    compares against the union) and complete; once the killed run is undone and z has left the
    source, z2 would be on the medium nowhere. The backup of loc fails instead, saying why and
    what to do; `two`, backed up in the same run, goes on."""
    lab = Lab(tmp_path, media_count=1)
    lab.write(lab._local_source([("arch", "archive")], "io_timeout = 1", "loc")
              + lab._local_source([("two", "standard")], "", "two"))
    _files(lab.src / "arch", {"x": b"x1" * 100, "y": b"y1"})
    _files(lab.src / "two", {"t": b"t1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _files(lab.src / "arch", {"x": b"x2" * 120, "z": b"z2"})
    killed = _killed_at(lab, "backup.catalog")
    store = lab.store()
    assert _union_shows(lab, killed) == {"x", "z"}
    out = tmp_path / "busy.out"
    with _Holder(lab):
        run = _started(lab, out, "--all")
        # the recovery has given up on the union; it is free again for whatever comes next
        _output_until(run, out, "for more than 1 s")
    busy = subprocess.CompletedProcess(run.args, run.wait(timeout=120), out.read_text(), "")
    os.unlink(lab.src / "arch" / "z")
    _next_backup_undoes(lab)
    # what the source held when a backup of it completed is on the medium
    assert busy.returncode != 0 or b"z2" in _held_on_medium(lab), busy.stdout + busy.stderr
    said = busy.stdout + busy.stderr
    assert busy.returncode == 1 and "Traceback" not in said, said
    assert (f"backup of loc failed: an interrupted backup of loc ({killed['name']} on medium m1" in said
            and "its archive links cannot be undone now: a cleanup (pid" in said), said
    assert "nothing backed up; back up loc again once that is over" in said, said
    rows = store.all("SELECT source, status FROM backups WHERE id>? ORDER BY id", (killed["id"],))
    assert [(r["source"], r["status"]) for r in rows][:2] in ([("loc", "failed"), ("two", "completed")],
                                                              [("two", "completed"), ("loc", "failed")]), rows
    assert _status(store, killed["id"]) == "kept"      # killed after its transfer: its data kept
    _checked(lab)


def test_no_backup_of_an_archive_goes_ahead_over_a_killed_run_on_a_medium_that_was_away(tmp_path):
    """The killed run's medium was away at the next run, which left it as it was; back, its
    union still shows the killed run's x2 and y2, and undoing them cannot have the union. A backup
    onto it that went ahead would save neither and complete: the killed run, older than that
    complete backup now, would never be undone (its directory stays, the union shows files of a
    run the catalog forgot), and undone, y2 (dropped by the source meanwhile) would be on that
    medium nowhere. The backup fails instead; the next one undoes the killed run's links, keeps its
    data and goes on."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("arch", "archive")], extra="io_timeout = 1")
    _files(lab.src / "arch", {"x": b"x1"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    _files(lab.src / "arch", {"x": b"x2" * 10, "y": b"y2"})
    killed = _killed_at(lab, "backup.archive_linked", "--medium", "m1")
    away = tmp_path / "medium1-away"
    os.rename(lab.media[0][1], away)            # the medium is not mounted
    lab.media[0][1].mkdir()
    assert rabtui(lab, "backup", "loc", "--medium", "m2").returncode == 0
    os.rmdir(lab.media[0][1])
    os.rename(away, lab.media[0][1])            # mounted again
    out = tmp_path / "busy.out"
    with _Holder(lab):
        run = _started(lab, out, "loc", "--medium", "m1")
        _output_until(run, out, "for more than 1 s")
    busy = run.wait(timeout=120)
    said = out.read_text()
    os.unlink(lab.src / "arch" / "y")
    after = rabtui(lab, "backup", "loc", "--medium", "m1")
    assert after.returncode == 0, after.stdout + after.stderr
    assert f"({killed['name']} on medium m1" in after.stdout and "2 archive link(s) undone, its transfer had ended" \
           " whole: kept" in after.stdout, after.stdout + after.stderr
    assert _status(lab.store(), killed["id"]) == "kept"
    assert busy != 0 or b"y2" in _held_on_medium(lab), said
    assert busy == 1 and "Traceback" not in said, said
    assert (f"backup of loc failed: an interrupted backup of loc ({killed['name']} on medium m1" in said
            and "its archive links cannot be undone now: a cleanup (pid" in said), said
    assert "nothing backed up; back up loc again once that is over" in said, said


def test_recovery_waiting_for_the_union_holder_is_cancelled_at_once(tmp_path):
    """A run stopped (SIGTERM, as a service stop sends; the first Ctrl-C) while its recovery waits
    for the union's holder ends at once, with the killed run left as it was for the next run."""
    import time

    lab, _ = _lab(tmp_path, io_timeout=60)
    killed = _killed_at(lab, "backup.catalog")
    store = lab.store()
    out = tmp_path / "backup.out"
    with _Holder(lab):
        backup = _started(lab, out, "loc", "--verbose")
        _output_until(backup, out, "to release the lock of a change of loc's archive union trees")
        stopped = time.monotonic()
        backup.send_signal(signal.SIGTERM)
        code = backup.wait(timeout=120)
        took = time.monotonic() - stopped
        said = out.read_text()
        assert took < 10, (took, said)
        assert code != 0 and "Traceback" not in said, said
        assert "cancelled while waiting for the lock of a change of loc's archive union trees" in said, said
        assert "backup of loc cancelled: before it began" in said, said
        assert _union_shows(lab, killed) == {"x", "z"}
        assert _status(store, killed["id"]) == "running"
    _next_backup_undoes(lab)
    _checked(lab)


def test_a_killed_run_left_undone_on_one_medium_holds_back_no_backup_onto_another(tmp_path):
    """The killed run's links are in m1's union, which cannot be changed now (immutable: a disk
    the kernel turned read-only would do the same). A backup onto m2 compares against m2's union,
    which that run never touched: it goes on, rather than every backup of the source failing for
    as long as m1 is plugged in; the backup onto m1 is refused until m1 can be changed again."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("arch", "archive")], extra="io_timeout = 1")
    _files(lab.src / "arch", {"x": b"x1" * 100, "y": b"y1"})
    assert rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    _files(lab.src / "arch", {"x": b"x2" * 120, "z": b"z2"})
    killed = _killed_at(lab, "backup.catalog", "--medium", "m1")
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    if subprocess.run(["chattr", "+i", str(union)], capture_output=True).returncode != 0:
        pytest.skip("no immutable directories here")
    try:
        other = rabtui(lab, "backup", "loc", "--medium", "m2")
        refused = rabtui(lab, "backup", "loc", "--medium", "m1")
    finally:
        subprocess.run(["chattr", "-i", str(union)], check=True)
    assert other.returncode == 0, other.stdout + other.stderr
    assert f"{killed['name']} on medium m1" in other.stdout + other.stderr    # said, as a warning
    said = refused.stdout + refused.stderr
    assert refused.returncode == 1 and "Traceback" not in said, said
    assert "its archive links cannot be undone now" in said and "back up loc again once that is over" in said, said
    after = rabtui(lab, "backup", "loc", "--medium", "m1")
    assert after.returncode == 0, after.stdout + after.stderr
    assert "archive link(s) undone" in after.stdout + after.stderr
    _checked(lab)
