"""A run killed (SIGKILL) before or after each write of a backup's backup.json (records._written:
the first record, the room kept, the final record; a failed run's record; rebuild-state's
renumbering): the next run leaves no temporary file of a record on the medium, its backup.json and
the database agree on how each backup there ended, and a directory another made at the room's name
stays as it is. Real rsync, real processes killed at that moment."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta

import pytest

from rabtui.media import medium_layout
from tests import invariants
from tests.test_kill_anywhere import rabtui
from tests.test_medium_identity import ROOT, _rabtui
from tests.trees import Lab, write_files
from tests import preloaded

KILLED_AT_WRITE = """
import os, signal, sys
from rabtui.backup import records
from rabtui.cli import main

at, moment, real = int(sys.argv[1]), sys.argv[2], records._written
count = 0

def written(fd, content):
    global count
    count += 1
    if count == at and moment == "before":
        os.kill(os.getpid(), signal.SIGKILL)
    real(fd, content)
    if count == at and moment == "after":
        os.kill(os.getpid(), signal.SIGKILL)

records._written = written
sys.exit(main(sys.argv[3:]))
"""


def _killed_at_write(lab: Lab, at: int, moment: str, *argv: str) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-c", KILLED_AT_WRITE, str(at), moment, "--config", str(lab.config_path),
                          *argv], cwd=ROOT, capture_output=True, text=True, timeout=120, stdin=subprocess.DEVNULL)


def _leftovers(lab: Lab) -> list[str]:
    return [os.path.join(dirpath, name) for _, medium in lab.media for dirpath, dirs, files in os.walk(medium)
            for name in dirs + files if name.startswith("backup.json.")]


def _records_agree(lab: Lab) -> None:
    """Each backup on the medium: its backup.json and its row say the same status."""
    store = lab.store()
    for medium_id, medium in lab.media:
        for name, _, info in medium_layout.list_backups(medium, "loc"):
            row = store.one("SELECT status FROM backups WHERE medium=? AND name=?", (medium_id, name))
            assert info is not None and row is not None and info["status"] == row["status"], (name, info, row)
    invariants.check_json_agrees(lab.load(), store)
    invariants.check_catalog_is_media(lab.load(), store)


# the writes of a run: 1 its first record, 2 the room kept for its final one, 3 its final record
@pytest.mark.parametrize("at, moment", [(n, m) for n in (1, 2, 3) for m in ("before", "after")])
@pytest.mark.parametrize("ends", ["completed", "failed"])
def test_a_run_killed_at_any_write_of_its_record_leaves_no_temporary_file(tmp_path, at, moment, ends):
    lab = Lab(tmp_path, media_count=1)
    dirs = [("data", "standard"), ("arch", "archive")] + ([("gone", "standard")] if ends == "failed" else [])
    lab.local(dirs)
    write_files(lab.src / "data", {"a": "a1"})
    write_files(lab.src / "arch", {"x": "x1"})
    shutil.rmtree(lab.src / "gone", ignore_errors=True)      # a standard directory missing: step 5 fails
    killed = _killed_at_write(lab, at, moment, "backup", "loc")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    write_files(lab.src / "data", {"b": "b1"})
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == (0 if ends == "completed" else 1), done.stdout + done.stderr
    assert _leftovers(lab) == []
    _records_agree(lab)


def test_rebuild_state_killed_renumbering_a_backup_leaves_no_temporary_file_after_the_next(tmp_path):
    """rebuild-state renumbers a backup (ids made on a new state database before it clash) whose
    backup.json.tmp another made a directory: its record goes through a temporary file of another
    name, and the rebuild is killed before that file takes backup.json's place. The next rebuild
    leaves none of its own files behind; the directory stays as it is."""
    lab = Lab(tmp_path, media_count=2)
    lab.local()
    for n, medium in ((1, "m1"), (2, "m2")):
        write_files(lab.src / "data", {f"f{n}": str(n)})
        assert _rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    shutil.rmtree(lab.state)            # the server's disk is lost; a backup made on a new database
    write_files(lab.src / "data", {"f3": "3"})
    # its id goes on above m1's backup only: 2, as m2's backup's
    assert _rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    theirs = []
    for _, path, _ in medium_layout.list_backups(lab.media[0][1], "loc"):
        room = path / "backup.json.tmp"
        room.mkdir()
        write_files(room, {"theirs": "precious"})
        theirs.append(room)
    killed = _killed_at_write(lab, 1, "after", "rebuild-state")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    assert len([p for p in _leftovers(lab) if p.endswith(".tmp") and os.path.isfile(p)]) == 1, _leftovers(lab)

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert "renumbered" in done.stdout, done.stdout
    assert sorted(_leftovers(lab)) == sorted(str(p) for p in theirs)
    for room in theirs:
        assert os.listdir(room) == ["theirs"] and (room / "theirs").read_text() == "precious"
    ids = [json.loads((p / "backup.json").read_text())["backup_id"]
           for _, medium in lab.media for _, p, _ in medium_layout.list_backups(medium, "loc")]
    assert len(set(ids)) == 3, ids
    _records_agree(lab)


def test_only_rabtuis_own_temporary_files_of_a_record_are_removed(tmp_path):
    """What stands at the names of a record's temporary files and is not one of rabtui's own stays:
    a symlink (to a file of the right looks: never followed), a FIFO, a hard link to another file,
    a file of another user, one bigger than the room, one holding no record. rebuild-state removes
    the two that are (a room left, an empty file a kill left at its making) and nothing else."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"f": "1"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    (_, path, _), = medium_layout.list_backups(lab.media[0][1], "loc")
    victim = tmp_path / "victim.tmp"
    victim.write_text('{"theirs": 1}')
    planted = {
        "backup.json.symlink1.tmp": lambda p: os.symlink(victim, p),
        "backup.json.fifo0001.tmp": lambda p: os.mkfifo(p),
        "backup.json.hardlin1.tmp": lambda p: os.link(victim, p),
        "backup.json.others01.tmp": lambda p: (p.write_text("{}"), os.chown(p, 12345, 12345)),
        "backup.json.biggerr1.tmp": lambda p: p.write_text("{" + " " * (1 << 17)),
        "backup.json.notours1.tmp": lambda p: p.write_text("notes of the operator's"),
        "backup.json.tmp.keep": lambda p: p.write_text("{}"),
    }
    for name, make in planted.items():
        make(path / name)
    (path / "backup.json.tmp").write_text('{"status": "running"}'.ljust(1 << 16))
    (path / "backup.json.k_3q0zpx.tmp").write_bytes(b"")
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode in (0, 3), done.stdout + done.stderr
    assert sorted(n for n in os.listdir(path) if n.startswith("backup.json.")) == sorted(planted)
    assert victim.read_text() == '{"theirs": 1}' and os.stat(victim).st_nlink == 2
    _records_agree(lab)


RECORD_LOST = {
    "damaged": lambda p: p.write_text('{"status": "comp'),
    "missing": lambda p: p.unlink(),
    "a directory": lambda p: (p.unlink(), p.mkdir()),
    "no status of rabtui's": lambda p: p.write_text('{"status": "Completed"}'),
}


@pytest.mark.parametrize("how", RECORD_LOST)
def test_a_killed_run_whose_record_cannot_be_read_is_kept_by_recovery_as_by_rebuild(tmp_path, how):
    """A run killed before its final record, whose backup.json was then damaged or lost (a run never
    leaves it so: it may be a complete backup whose record went since): the next run's recovery
    marks it abandoned and undoes its archive links, but keeps its directory with its files, as
    rebuild-state keeps it (leaving it out, named). A directory a run left with no files and no
    record is deleted (test_a_run_killed_at_any_write_of_its_record_leaves_no_temporary_file)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard"), ("arch", "archive")])
    write_files(lab.src / "data", {"a": "a1"})
    write_files(lab.src / "arch", {"x": "x1"})
    killed = _killed_at_write(lab, 3, "before", "backup", "loc")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    (name, path, info), = medium_layout.list_backups(lab.media[0][1], "loc")
    assert info["status"] == "running" and (path / "data").is_dir()
    RECORD_LOST[how](path / "backup.json")

    done = _rabtui(lab, "backup", "loc")
    out = done.stdout + done.stderr
    assert done.returncode in (0, 3), out
    assert "its directory is kept" in out, out
    held = {medium_layout.backup_data_path(path, str(lab.src / d)) / f: t for d, f, t in (("data", "a", "a1"),
                                                                                         ("arch", "x", "x1"))}
    assert all(p.read_text() == t for p, t in held.items())       # nothing of it deleted
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE name=?", (name,))["status"] == "abandoned"
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert newest["name"] != name and newest["status"] == "completed" and newest["link_dest"] is None
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch")) / "x"
    assert not os.path.samefile(union, medium_layout.backup_data_path(path, str(lab.src / "arch")) / "x")

    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="minutes")
    cleanup = _rabtui(lab, "cleanup", "--now", later)      # an abandoned run goes after a day, not this one
    assert cleanup.returncode in (0, 3), cleanup.stdout + cleanup.stderr
    assert f"keeping {name}: its backup.json: " in cleanup.stdout, cleanup.stdout
    assert all(p.read_text() == t for p, t in held.items())

    rebuilt = _rabtui(lab, "rebuild-state")
    assert rebuilt.returncode in (0, 3), rebuilt.stdout + rebuilt.stderr
    again = _rabtui(lab, "cleanup", "--now", later)        # named still, as before the rebuild
    assert again.returncode in (0, 3), again.stdout + again.stderr
    assert f"keeping {name}: its backup.json: " in again.stdout, again.stdout
    assert all(p.read_text() == t for p, t in held.items())
    assert f"{path / 'backup.json'}" in rebuilt.stdout and "kept, never deleted" in rebuilt.stdout, rebuilt.stdout
    assert lab.store().one("SELECT status FROM backups WHERE name=?", (name,))["status"] == "failed"


def test_a_killed_run_whose_record_cannot_be_read_is_kept_when_its_medium_is_back(tmp_path):
    """Such a run killed before its step 7, its medium away at the next run (marked abandoned then,
    its directory not there): once the medium is back, the next run onto it keeps the directory too."""
    lab = Lab(tmp_path, media_count=2)
    lab.local()
    write_files(lab.src / "data", {"a": "a1"})
    killed = rabtui(lab, "backup", "loc", "--medium", "m1", point="backup.rsync_ended")   # in its transfer
    assert killed.returncode == -9, killed.stdout + killed.stderr
    m1 = lab.media[0][1]
    (name, path, _), = medium_layout.list_backups(m1, "loc")
    RECORD_LOST["damaged"](path / "backup.json")
    away = tmp_path / "medium1-away"
    os.rename(m1, away)            # not mounted
    m1.mkdir()
    other = _rabtui(lab, "backup", "loc", "--medium", "m2")
    assert other.returncode == 0 and "its directory is not there" in other.stdout, other.stdout + other.stderr
    os.rmdir(m1)
    os.rename(away, m1)

    back = _rabtui(lab, "backup", "loc", "--medium", "m1")
    out = back.stdout + back.stderr
    assert back.returncode in (0, 3), out
    assert f"the interrupted backup {name} on medium m1, now mounted: 0 archive link(s) undone, its directory is kept" \
        in out, out
    assert (medium_layout.backup_data_path(path, str(lab.src / "data")) / "a").read_text() == "a1"
    assert lab.store().one("SELECT status FROM backups WHERE name=? AND medium='m1'", (name,))["status"] == "abandoned"


def test_a_kept_directory_on_a_medium_mounted_by_cleanup_stays(tmp_path, disk_image):
    """The medium of such a run has a device, not mounted when cleanup starts: cleanup mounts it to
    plan as to delete, so the directory stays, and a dry run says so too (not that it would go)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    write_files(lab.src / "data", {"a": "a1"})
    killed = _killed_at_write(lab, 3, "before", "backup", "loc")
    assert killed.returncode == -9 and os.path.ismount(m1), killed.stdout + killed.stderr
    (name, path, _), = medium_layout.list_backups(m1, "loc")
    RECORD_LOST["damaged"](path / "backup.json")
    done = _rabtui(lab, "backup", "loc")
    assert done.returncode in (0, 3) and "its directory is kept" in done.stdout, done.stdout + done.stderr
    assert not os.path.ismount(m1)

    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="minutes")
    dry = _rabtui(lab, "cleanup", "--dry-run", "--now", later)      # says what the cleanup does
    cleanup = _rabtui(lab, "cleanup", "--now", later)
    for done in (dry, cleanup):
        assert done.returncode in (0, 3), done.stdout + done.stderr
        assert f"keeping {name}: its backup.json: " in done.stdout, done.stdout
        assert f"delete loc {name}" not in done.stdout and f"deleting loc {name}" not in done.stdout, done.stdout
        assert not os.path.ismount(m1)
    assert "0 backups, 0 B freed (dry run: nothing deleted)" in dry.stdout, dry.stdout
    subprocess.run(["mount", str(disk_image), str(m1)], check=True)
    try:
        assert (medium_layout.backup_data_path(path, str(lab.src / "data")) / "a").read_text() == "a1"
    finally:
        subprocess.run(["umount", str(m1)], check=True)
    row = lab.store().one("SELECT status FROM backups WHERE name=?", (name,))
    assert row["status"] == "abandoned"
