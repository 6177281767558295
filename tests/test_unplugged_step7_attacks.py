"""A medium unplugged in step 7 of a backup whose transfer ended whole, attacked further: the state
directory full then too, a rebuild-state or a cleanup while it is away, another disk at its path
meanwhile. What the run linked into the union on the medium is undone by the run that finds that
medium back, never on whatever is at its path meanwhile, and nothing of it is lost. Real rsync,
real ext2 images loop-mounted as the medium, a real small tmpfs as the state directory."""

from __future__ import annotations

import json
import os
import signal
import subprocess

import pytest

from tests import invariants
from tests.test_medium_identity import _killed, _rabtui, _stopped_at
from tests.trees import Lab, ext2_mounted, fill_up, next_second, snapshot, unmounted, write_files


def _image(lab: Lab):
    medium = lab.media[0][1]
    return medium, medium.parent / f"{medium.name}.ext2"


def _first(lab: Lab):
    cfg = lab.local([("data", "standard"), ("arch", "archive")])
    write_files(lab.src / "data", {"a": b"a1"})
    write_files(lab.src / "arch", {"x": b"x1"})
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    next_second()
    write_files(lab.src / "arch", {"y": b"y1"})
    return cfg


def _unplugged_at(lab: Lab, point: str, *, state_full: bool = False):
    """`rabtui backup loc` stopped at `point`, the medium unmounted then (and the state directory
    filled), let go: its process, output and row."""
    run = None
    try:
        run = _stopped_at(lab, point, "backup", "loc")
        row = dict(lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
        subprocess.run(["umount", "-l", str(lab.media[0][1])], check=True)
        if state_full:
            fill_up(lab.state.parent / "filler")
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        _killed(run)
    return run, out, row


def _plugged(lab: Lab) -> None:
    medium, image = _image(lab)
    subprocess.run(["mount", "-o", "loop", str(image), str(medium)], check=True)


def _all_holds(lab: Lab, tmp_path, row, point: str = "") -> None:
    """The unplugged run's data is kept (complete: its final backup.json was written before the
    medium went away), the union shows y, a cleanup keeps it, y restores."""
    store = lab.store()
    got = store.one("SELECT status FROM backups WHERE id=?", (row["id"],))
    assert got is not None and got[0] == ("completed" if point == "backup.json_written" else "kept"), \
        [dict(r) for r in store.all("SELECT id, status, reason FROM backups")]
    arch = str(lab.src / "arch").lstrip("/")
    union = lab.media[0][1] / "loc" / ".archive" / arch
    assert sorted(os.listdir(union)) == ["x", "y"]
    done = _rabtui(lab, "cleanup")
    assert done.returncode in (0, 1), done.stdout + done.stderr
    restored = tmp_path / "restored"
    done = _rabtui(lab, "restore", "loc", f"/{arch}/y", "--to", str(restored))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (restored / arch / "y").read_bytes() == b"y1"
    invariants.check_json_agrees(lab.load(), lab.store())
    invariants.check_catalog_is_media(lab.load(), lab.store())


def _back_and_kept(lab: Lab, tmp_path, row, point: str = "") -> None:
    """The medium plugged back (unless it is), a backup onto it: the unplugged run kept (_all_holds)."""
    if not os.path.ismount(lab.media[0][1]):
        _plugged(lab)
    next_second()
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    _all_holds(lab, tmp_path, row, point)


@pytest.mark.parametrize("point", ["backup.union_linking", "backup.archive_linked", "backup.catalog",
                                   "backup.json_written"])
def test_unplugged_in_step7_then_the_state_directory_full(tmp_path, tmpfs, point):
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=8m") / "state"
    with ext2_mounted(lab.media[0][1]):
        _first(lab)
        run, out, row = _unplugged_at(lab, point, state_full=True)
        assert run.returncode == 1 and "Traceback" not in out, out
        os.unlink(lab.state.parent / "filler")
        assert not os.listdir(lab.media[0][1]), os.listdir(lab.media[0][1])    # nothing on the empty mount point
        _back_and_kept(lab, tmp_path, row, point)


@pytest.mark.parametrize("point", ["backup.union_linking", "backup.archive_linked", "backup.catalog",
                                   "backup.json_written"])
@pytest.mark.parametrize("meanwhile", ["cleanup", "rebuild-state", "backup"])
def test_unplugged_in_step7_then_a_run_while_it_is_away(tmp_path, point, meanwhile):
    """A cleanup, a rebuild-state or a backup while the medium is away writes nothing at its empty
    mount point and deletes nothing of it; at its return, the unplugged run is kept (complete, when
    its final backup.json was written before it went away: only its unmounting failed then)."""
    lab = Lab(tmp_path, media_count=1)
    with ext2_mounted(lab.media[0][1]):
        _first(lab)
        run, out, row = _unplugged_at(lab, point)
        assert run.returncode == (0 if point == "backup.json_written" else 1) and "Traceback" not in out, out
        done = _rabtui(lab, *([meanwhile, "loc"] if meanwhile == "backup" else [meanwhile]))
        assert "Traceback" not in done.stderr, done.stdout + done.stderr
        assert meanwhile != "backup" or done.returncode != 0, done.stdout
        assert not os.listdir(lab.media[0][1]), os.listdir(lab.media[0][1])
        _plugged(lab)
        if meanwhile == "cleanup":
            done = _rabtui(lab, "cleanup")
            assert done.returncode in (0, 1) and os.path.isdir(row["path"]), done.stdout + done.stderr
        if meanwhile == "rebuild-state":
            done = _rabtui(lab, "rebuild-state")
            assert done.returncode in (0, 3), done.stdout + done.stderr
            row = dict(row, id=lab.store().one("SELECT id FROM backups WHERE name=?", (row["name"],))[0])
        _back_and_kept(lab, tmp_path, row, point)


def test_unplugged_in_step7_another_disk_labelled_so_meanwhile_is_left_alone(tmp_path):
    """Another disk labelled with the medium's id (another labelling) at its path while it is away:
    a backup, a cleanup and a rebuild-state write nothing there and keep the run for the medium."""
    lab = Lab(tmp_path, media_count=1)
    medium = lab.media[0][1]
    with ext2_mounted(medium):
        _first(lab)
        label = json.loads((medium / ".rabtui-medium").read_text())
        run, out, row = _unplugged_at(lab, "backup.archive_linked")
        assert run.returncode == 1 and "Traceback" not in out, out
        other = tmp_path / "other"
        other.mkdir()
        with ext2_mounted(other):
            (other / ".rabtui-medium").write_text(json.dumps({**label, "serial": "another-disk"}))
            subprocess.run(["mount", "--bind", str(other), str(medium)], check=True)
            try:
                before = snapshot(medium)
                for args in (("backup", "loc"), ("cleanup",), ("rebuild-state",)):
                    done = _rabtui(lab, *args)
                    assert "Traceback" not in done.stderr, done.stdout + done.stderr
                assert snapshot(medium) == before
            finally:
                unmounted(medium)
        assert lab.store().one("SELECT status FROM backups WHERE id=?", (row["id"],))[0] == "running"
        _back_and_kept(lab, tmp_path, row)


def test_two_sources_unplugged_in_step7_both_kept_at_its_return(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    medium = lab.media[0][1]
    with ext2_mounted(medium):
        lab.write(lab._local_source([("arch", "archive")], "", "one")
                  + lab._local_source([("arch2", "archive")], "", "two"))
        write_files(lab.src / "arch", {"x": b"x1"})
        write_files(lab.src / "arch2", {"p": b"p1"})
        for source in ("one", "two"):
            assert _rabtui(lab, "backup", source).returncode == 0
        next_second()
        write_files(lab.src / "arch", {"y": b"y1"})
        write_files(lab.src / "arch2", {"q": b"q1"})
        runs = []
        try:
            for source in ("one", "two"):
                runs.append(_stopped_at(lab, "backup.archive_linked", "backup", source))
            rows = [dict(r) for r in lab.store().all("SELECT * FROM backups WHERE status='running' ORDER BY id")]
            assert len(rows) == 2
            subprocess.run(["umount", "-l", str(medium)], check=True)
            for run in runs:
                run.send_signal(signal.SIGCONT)
                out = run.communicate(timeout=120)[0].decode()
                assert run.returncode == 1 and "Traceback" not in out, out
        finally:
            _killed(*runs)
        _plugged(lab)
        next_second()
        for source in ("one", "two"):
            done = _rabtui(lab, "backup", source)
            assert done.returncode == 0, done.stdout + done.stderr
        store = lab.store()
        assert [store.one("SELECT status FROM backups WHERE id=?", (r["id"],))[0] for r in rows] == ["kept", "kept"]
        done = _rabtui(lab, "cleanup")
        assert done.returncode in (0, 1), done.stdout + done.stderr
        for source, rel, name, content in (("one", "arch", "y", b"y1"), ("two", "arch2", "q", b"q1")):
            d = str(lab.src / rel).lstrip("/")
            assert sorted(os.listdir(medium / source / ".archive" / d))[-1] == name
            restored = tmp_path / f"restored-{source}"
            done = _rabtui(lab, "restore", source, f"/{d}/{name}", "--to", str(restored))
            assert done.returncode == 0, done.stdout + done.stderr
            assert (restored / d / name).read_bytes() == content
        invariants.check_json_agrees(lab.load(), lab.store())
        invariants.check_catalog_is_media(lab.load(), lab.store())


def test_unplugged_in_step7_and_back_at_another_device_before_the_run_ends(tmp_path):
    """The medium unplugged in step 7 comes back at once, mounted at its path from another device
    (here: an image of it made then, on a loop device of its own): the run, its medium not where it
    wrote, leaves what it linked there and its row for the run that finds the medium there to keep.
    It undid them there and recorded itself failed, its backup.json saying still running: its whole
    data not kept, the database and the medium at odds."""
    lab = Lab(tmp_path, media_count=1)
    medium, image = _image(lab)
    again = tmp_path / "again.ext2"
    with ext2_mounted(medium):
        _first(lab)
        run = None
        try:
            run = _stopped_at(lab, "backup.archive_linked", "backup", "loc")
            row = dict(lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
            os.sync()
            subprocess.run(["cp", "--sparse=always", str(image), str(again)], check=True)
            subprocess.run(["umount", "-l", str(medium)], check=True)
            subprocess.run(["mount", "-o", "loop", str(again), str(medium)], check=True)
            run.send_signal(signal.SIGCONT)
            out = run.communicate(timeout=120)[0].decode()
        finally:
            _killed(run)
        try:
            assert run.returncode == 1 and "Traceback" not in out, out
            _back_and_kept(lab, tmp_path, row)
        finally:
            unmounted(medium)
            again.unlink()
