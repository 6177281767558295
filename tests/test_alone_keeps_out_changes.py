"""A restore running alone (its lock files unmade: the state directory out of inodes, the state
directory's own flock held whole) keeps out every command that changes the state database or the
media, as it keeps out backups: rebuild-state replaced the database it records in, a cleanup
deleted and mounted, a checkpoint burnt, planned (mounting the media, recording what `--now`
asked for), abandoned and labelled beside it. Each is refused naming it,
exit 1 as a backup so refused; commands that only read go on. And a burn under way keeps such a
restore out. Real rsync, xorriso (images: drive), a real small tmpfs, runs stopped at fault points."""

from __future__ import annotations

import os
import signal

from tests.test_medium_identity import _killed, _stopped_at
from tests.test_restore_lock_unmade import _restore_locks_unmade, _room_again, restoring_alone
from tests.test_restore_state_no_inodes import _out_of_inodes
from tests.test_state_dir_full import _rabtui
from tests.trees import Lab, write_files


def _lab(tmp_path, tmpfs) -> Lab:
    """A local source with a backup on m1, its state directory on a small tmpfs, checkpoints onto
    an images: drive."""
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=16m,nr_inodes=400") / "state"
    lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": 300, "b/c": b"x"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    return lab


def test_a_restore_running_alone_refuses_the_commands_that_change_the_state_or_the_media(tmp_path, tmpfs):
    lab = _lab(tmp_path, tmpfs)
    db = lab.state / "rabtui.db"
    with restoring_alone(lab, tmp_path) as restoring:
        before = os.stat(db).st_ino
        for argv in (("rebuild-state",), ("cleanup",), ("checkpoint", "burn", "--now", "--yes"),
                     ("checkpoint", "plan", "--now"), ("checkpoint", "abandon", "1"), ("media", "label", "m1", "--force")):
            done = _rabtui(lab, *argv)
            said = done.stdout + done.stderr
            assert done.returncode == 1 and "Traceback" not in said, (argv, said)
            assert f"cannot run now: a restore that could not make its lock files (the state directory full) is" \
                   f" running alone (pid {restoring.pid})" in done.stderr, (argv, said)
        assert os.stat(db).st_ino == before, "the database the restore records in was replaced"
        assert not (tmp_path / "iso").exists() or not os.listdir(tmp_path / "iso"), "a checkpoint was burnt"
        for argv in (("find", "c"), ("status",), ("cleanup", "--dry-run")):     # they only read
            done = _rabtui(lab, *argv)
            assert done.returncode == 0, (argv, done.stdout + done.stderr)
    out = (tmp_path / "restore.out").read_text()
    assert restoring.returncode == 0 and "this restore runs alone" in out, out
    assert _rabtui(lab, "cleanup").returncode == 0


def test_a_burn_under_way_keeps_out_a_restore_that_would_run_alone(tmp_path, tmpfs):
    """A checkpoint burn stopped before it writes its disc, the restore's lock files unmade and no
    inode left: the restore ran alone beside it (and unmounted media the burn read); now it is
    refused, naming what runs, and restores once the burn has ended."""
    lab = _lab(tmp_path, tmpfs)
    data = lab.src / "data"
    burning = None
    store = lab.store()
    try:
        burning = _stopped_at(lab, "burn.before_write", "checkpoint", "burn", "--now", "--yes")
        _restore_locks_unmade(lab)
        os.unlink(data / "a")
        _out_of_inodes(tmp_path / "small")
        done = _rabtui(lab, "restore", "loc", str(data / "a"), "--to-source")
        said = done.stdout + done.stderr
        assert done.returncode == 1 and "Traceback" not in said, said
        assert "other commands that change the state or the media are running" in done.stderr \
               and f"pid {burning.pid}" in done.stderr, said
        assert not (data / "a").exists()
        _room_again(tmp_path)
        burning.send_signal(signal.SIGCONT)
        out = burning.communicate(timeout=120)[0].decode()
        assert burning.returncode == 0, out
    finally:
        _killed(burning)
        store.close()
    done = _rabtui(lab, "restore", "loc", str(data / "a"), "--to-source")
    assert done.returncode == 0 and len((data / "a").read_bytes()) == 300, done.stdout + done.stderr
