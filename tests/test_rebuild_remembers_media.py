"""rebuild-state after the state database was damaged or lost, with another backup server's disk
(the same medium id, another labelling) at a medium's path: the labels of the disks the state used
are kept beside the database, so that the rebuild reads no other server's backups as its own and
no backup afterwards takes that disk for the medium, nor refuses the medium's own disk. A medium
away during a rebuild keeps its label too. Real rsync, real xorriso images, the real command line."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import pytest

from tests.test_medium_identity import _rabtui, _swap
from tests.trees import Lab, made_once, snapshot, write_files

OTHER = "not the one rabtui used as medium m2"


def _server(tmp_path: Path, name: str) -> Lab:
    """A backup server of its own: two backups on each of its media m1 and m2, a checkpoint onto
    images, and one more backup on m1."""
    (tmp_path / name).mkdir()
    lab = Lab(tmp_path / name, media_count=2)
    lab.with_discs("4MiB")
    (lab.tmp / "iso").mkdir()
    for n in (1, 2):
        for medium in ("m1", "m2"):
            write_files(lab.src / "data", {f"{name}-{medium}-{n}": f"{name} {n}".encode()})
            done = _rabtui(lab, "backup", "loc", "--medium", medium)
            assert done.returncode == 0, done.stdout + done.stderr
    done = _rabtui(lab, "checkpoint", "burn", "--now", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    done = _rabtui(lab, "backup", "loc", "--medium", "m1")
    assert done.returncode == 0, done.stdout + done.stderr
    kept = lab.state / "media"
    assert sorted(os.listdir(kept)) == ["m1.label", "m2.label"]
    assert {p.stat().st_mode & 0o777 for p in kept.iterdir()} == {0o600} and kept.stat().st_mode & 0o777 == 0o700
    return lab


@pytest.fixture(scope="module")
def _servers_made(tmp_path_factory):
    """Servers one and two, made once for the module."""
    yield from made_once(tmp_path_factory, lambda live: [_server(live, name) for name in ("one", "two")])


@pytest.fixture
def servers(_servers_made) -> tuple[Lab, Lab]:
    """Servers one and two as _server makes them, anew for each test."""
    live = _servers_made[1].anew()
    return Lab(live / "one", media_count=2), Lab(live / "two", media_count=2)


def _rows(lab: Lab, sql: str) -> list[tuple]:
    conn = sqlite3.connect(lab.state / "rabtui.db")
    try:
        return [tuple(r) for r in conn.execute(sql)]
    finally:
        conn.close()


BACKUPS = "SELECT id, medium, name, status FROM backups WHERE status<>'failed' ORDER BY id"


def _damage(db: Path, how: str) -> None:
    if how == "garbage":
        db.write_bytes(os.urandom(64 * 1024))
    elif how == "truncated":
        with open(db, "r+b") as f:
            f.truncate(os.path.getsize(db) // 2)
    else:                  # deleted, its -wal left beside it
        conn = sqlite3.connect(db)
        conn.execute("PRAGMA wal_autocheckpoint=0")
        conn.execute("INSERT INTO meta(key, value) VALUES ('left', 'in the wal')")
        conn.commit()
        db.unlink()
        conn.close()


@pytest.mark.parametrize("how", ["garbage", "truncated", "deleted"])
def test_a_damaged_state_is_rebuilt_without_another_servers_disk_at_a_medium_path(servers, how):
    one, two = servers
    backups = _rows(two, BACKUPS)
    labels = _rows(two, "SELECT id, label FROM media ORDER BY id")
    _damage(two.state / "rabtui.db", how)
    _swap(one.media[1][1], two.media[1][1])        # server two's m2 path holds server one's m2 disk
    theirs = snapshot(two.media[1][1])

    done = _rabtui(two, "rebuild-state")
    out = done.stdout + done.stderr
    assert done.returncode == 3 and "Traceback" not in out, out
    assert OTHER in done.stdout and "not read" in done.stdout, out
    assert _rows(two, BACKUPS) == [b for b in backups if b[1] == "m1"]     # none of the other server's
    assert _rows(two, "SELECT id, label FROM media ORDER BY id") == labels
    assert snapshot(two.media[1][1]) == theirs
    refused = _rabtui(two, "backup", "loc", "--medium", "m2")
    assert refused.returncode == 1 and OTHER in refused.stdout, refused.stdout + refused.stderr
    assert snapshot(two.media[1][1]) == theirs

    _swap(one.media[1][1], two.media[1][1])        # each disk back on its own server
    done = _rabtui(two, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert _rows(two, BACKUPS) == backups
    assert _rows(two, "SELECT number, status FROM checkpoints") == [(1, "completed")]
    assert _rows(two, "SELECT id, label FROM media ORDER BY id") == labels
    for lab in (one, two):
        again = _rabtui(lab, "backup", "loc", "--medium", "m2")
        assert again.returncode == 0, again.stdout + again.stderr
    _swap(one.media[1][1], two.media[1][1])        # and the other server's disk is refused again
    refused = _rabtui(two, "backup", "loc", "--medium", "m2")
    assert refused.returncode == 1 and OTHER in refused.stdout, refused.stdout + refused.stderr


def test_a_medium_away_during_a_rebuild_keeps_its_label(servers):
    """m2's disk is away (an empty directory at its path) while rebuild-state runs: the database
    made anew remembers the label m2's disk had, so another server's m2 disk plugged in afterwards
    is refused, and m2's own disk is used as before."""
    one, two = servers
    own = two.tmp / "m2-disk"
    two.media[1][1].rename(own)
    two.media[1][1].mkdir()
    done = _rabtui(two, "rebuild-state")
    assert done.returncode == 3 and "medium m2: no labelled medium at" in done.stdout, done.stdout + done.stderr

    two.media[1][1].rmdir()
    one.media[1][1].rename(two.media[1][1])         # the other server's m2 disk, plugged in by mistake
    theirs = snapshot(two.media[1][1])
    refused = _rabtui(two, "backup", "loc", "--medium", "m2")
    assert refused.returncode == 1 and OTHER in refused.stdout, refused.stdout + refused.stderr
    assert snapshot(two.media[1][1]) == theirs
    two.media[1][1].rename(one.media[1][1])
    own.rename(two.media[1][1])
    again = _rabtui(two, "backup", "loc", "--medium", "m2")
    assert again.returncode == 0, again.stdout + again.stderr


def test_backups_on_a_state_made_anew_before_rebuild_state_take_no_other_disk_for_a_medium(servers):
    """The database is deleted and cron backs up before rebuild-state is run (a new, empty database
    is made): another server's disk at m2's path is refused all the same, and so is the empty
    directory at m1's path (its disk not mounted), which is not labelled afresh; with the disks in
    place, the backups go on and rebuild-state brings every backup back."""
    one, two = servers
    backups = _rows(two, BACKUPS)
    for name in os.listdir(two.state):
        if name.startswith("rabtui.db"):
            os.unlink(two.state / name)
    _swap(one.media[1][1], two.media[1][1])        # server two's m2 path holds server one's m2 disk
    theirs = snapshot(two.media[1][1])
    refused = _rabtui(two, "backup", "loc", "--medium", "m2")
    assert refused.returncode == 1 and OTHER in refused.stdout, refused.stdout + refused.stderr
    assert snapshot(two.media[1][1]) == theirs
    own = two.tmp / "m1-disk"
    two.media[0][1].rename(own)                    # m1's disk not mounted: an empty directory
    two.media[0][1].mkdir()
    refused = _rabtui(two, "backup", "loc", "--medium", "m1")
    assert refused.returncode == 1 and "refusing to label it again" in refused.stdout, refused.stdout
    assert os.listdir(two.media[0][1]) == []

    two.media[0][1].rmdir()
    own.rename(two.media[0][1])
    _swap(one.media[1][1], two.media[1][1])
    for medium in ("m1", "m2"):
        done = _rabtui(two, "backup", "loc", "--medium", medium)
        assert done.returncode == 0, done.stdout + done.stderr
    done = _rabtui(two, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    after = _rows(two, BACKUPS)
    assert [b[1:] for b in after[:len(backups)]] == [b[1:] for b in backups] and len(after) == len(backups) + 2


def test_a_rebuild_with_nothing_to_check_a_disk_against_says_so(tmp_path):
    """The whole state directory is lost: a rebuild can tell no disk from another server's with the
    same medium id, and says which disk it took as each medium."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    created = json.loads((lab.media[0][1] / ".rabtui-medium").read_text())["created"]
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0 and "is taken as it" not in done.stdout, done.stdout + done.stderr
    shutil.rmtree(lab.state)
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"medium m1: the disk at {lab.media[0][1]} (labelled on {created}) is taken as it: no label" in done.stdout


def test_a_medium_that_was_a_mount_point_at_the_rebuild_is_refused_when_it_is_not_one_later(tmp_path):
    """rebuild-state reads each medium mounted where it is used: the new database remembers that
    its path was a mount point, as the one replaced did, so that the directory under it (a copy of
    the label left there) is not taken for the medium once the disk is unmounted."""
    import subprocess

    from rabtui.cli import main

    lab = Lab(tmp_path, media_count=1)
    mount_point = lab.media[0][1]
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        cfg = lab.local()
        write_files(lab.src / "data", {"a": b"on the disk"})
        assert lab.backup(cfg, medium_id="m1").status == "completed"
        label = (mount_point / ".rabtui-medium").read_bytes()
        assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
        subprocess.run(["umount", str(mount_point)], check=True)
        (mount_point / ".rabtui-medium").write_bytes(label)     # the same label, on the parent file system
        result = lab.backup(cfg, medium_id="m1")
        assert result.status == "failed"
        assert "was a mount point when the medium was last used" in result.reason
        assert os.listdir(mount_point) == [".rabtui-medium"]
    finally:
        if os.path.ismount(mount_point):
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)
