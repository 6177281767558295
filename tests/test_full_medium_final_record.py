"""A backup whose medium another filled up (every block and every inode, a real small tmpfs) while
it was at the end of step 7: its final backup.json goes into the room kept for it from step 3, so
the backup that is complete on the medium says so there too, and rebuild-state reads it as
complete, not as a run killed halfway."""

from __future__ import annotations

import json
import os
import shutil
import signal

from rabtui.media import medium_layout
from tests import invariants
from tests.test_medium_identity import _killed, _rabtui, _stopped_at
from tests.trees import Lab, fill_up, write_files


def _fill_inodes(where) -> None:
    os.mkdir(where)
    for n in range(1_000_000):
        try:
            os.close(os.open(os.path.join(where, str(n)), os.O_WRONLY | os.O_CREAT, 0o600))
        except OSError:
            return


def test_a_backup_complete_when_its_medium_filled_up_says_so_on_the_medium(tmp_path, tmpfs):
    lab = Lab(tmp_path, media_count=1)
    medium = tmpfs(lab.media[0][1], "size=8m,nr_inodes=400")
    lab.local([("data", "standard"), ("arch", "archive")])
    write_files(lab.src / "data", {f"f{i}": f"a{i}" for i in range(5)})
    write_files(lab.src / "arch", {"x": "x1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "data", {"new": "n" * 3000})
    write_files(lab.src / "arch", {"y": "y1"})
    run = None
    try:
        run = _stopped_at(lab, "backup.catalog", "backup", "loc")
        fill_up(medium / "filler")
        _fill_inodes(medium / "inodes")
        space = os.statvfs(medium)
        assert space.f_bavail == 0 and space.f_favail == 0
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
        assert run.returncode == 0, out
    finally:
        _killed(run)
    store = lab.store()
    row = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "completed", row["reason"]
    assert json.loads((medium / "loc" / row["name"] / "backup.json").read_text())["status"] == "completed"
    assert sorted(os.listdir(medium / "loc" / row["name"])) == ["backup.json", "backup.log", "data"]
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)

    rebuilt = _rabtui(lab, "rebuild-state")
    assert rebuilt.returncode in (0, 3), rebuilt.stdout + rebuilt.stderr
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE name=?", (row["name"],))["status"] == "completed"
    assert [b[0] for b in medium_layout.list_backups(medium, "loc")] == \
        [r["name"] for r in store.all("SELECT name FROM backups ORDER BY id")]
    invariants.check_catalog_is_media(lab.load(), store)


def test_a_medium_filled_before_the_backup_record_can_be_written_is_said_at_step_3(tmp_path, tmpfs):
    """Filled by another after step 2 checked it: the backup's first backup.json cannot be written.
    Step 3 fails saying which file and why, not a bare "No space left on device"."""
    lab = Lab(tmp_path, media_count=1)
    medium = tmpfs(lab.media[0][1], "size=8m,nr_inodes=400")
    lab.local([("data", "standard")])
    write_files(lab.src / "data", {"f": "a"})
    run = None
    try:
        run = _stopped_at(lab, "backup.step2", "backup", "loc")
        fill_up(medium / "filler")
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        _killed(run)
    assert run.returncode == 1 and "Traceback" not in out, out
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    said = f"cannot write {row['path']}/backup.json: No space left on device"
    assert f"step 3/7 destination directory: failed ({said})" in out, out
    assert f"backup of loc failed: {said}" in out, out


def test_a_full_medium_whose_room_another_took_fails_step_7_saying_why_and_what_to_do(tmp_path, tmpfs):
    """Another took the room kept for the final record away (a directory with their file in it now
    stands at backup.json.tmp) and filled the medium to its last block and inode: the final record
    cannot be written, so the backup is not complete on the medium. Step 7 fails saying which file,
    why the room did not serve, and what to do (not a bare error naming a temporary file); their
    directory stays; its transfer had ended whole: the data is kept (the union shows nothing of
    it, its database row says kept); once there is room again the next backup completes."""
    lab = Lab(tmp_path, media_count=1)
    medium = tmpfs(lab.media[0][1], "size=8m,nr_inodes=400")
    lab.local([("data", "standard"), ("arch", "archive")])
    write_files(lab.src / "data", {"a": "a1"})
    write_files(lab.src / "arch", {"x": "x1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    write_files(lab.src / "data", {"b": "b1"})
    write_files(lab.src / "arch", {"y": "y1"})
    run = None
    try:
        run = _stopped_at(lab, "backup.catalog", "backup", "loc")
        row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
        room = os.path.join(row["path"], "backup.json.tmp")
        os.unlink(room)
        os.mkdir(room)
        write_files(room, {"theirs": "precious"})
        fill_up(medium / "filler")
        _fill_inodes(medium / "inodes")
        run.send_signal(signal.SIGCONT)
        out = run.communicate(timeout=120)[0].decode()
    finally:
        _killed(run)
    assert run.returncode == 1 and "Traceback" not in out, out
    said = (f"cannot write its final record {row['path']}/backup.json: No space left on device (the room kept"
            " for it since step 3, backup.json.tmp, is a directory another made); without it the backup is not"
            " complete on the medium: free space on medium m1, then back up loc again")
    assert f"step 7/7 sizes: failed ({said})" in out, out
    assert f"backup of loc failed: {said}; its transfer had ended whole: the data is kept" in out, out
    assert ".tmp:" not in out and "backup.json." + "tmp/" not in out, out
    assert os.listdir(room) == ["theirs"]
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE id=?", (row["id"],))["status"] == "kept"
    assert not os.path.exists(medium / "loc" / ".archive" / str(lab.src / "arch").lstrip("/") / "y")
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)

    os.unlink(medium / "filler")
    shutil.rmtree(medium / "inodes")
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    invariants.check_json_agrees(lab.load(), lab.store())
    invariants.check_catalog_is_media(lab.load(), lab.store())
