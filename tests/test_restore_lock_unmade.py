"""A restore whose reading lock file cannot be made (the state directory out of inodes: a real
small tmpfs) holds the source's directory on the medium instead (an flock, no new file); its other
lock files unmade too, it runs alone: a cleanup run once there is room is refused, and the backup
the restore reads stays (it deleted it under the restore before, which only warned). Real rsync backups, a restore stopped at a fault point, `rabtui cleanup` run
beside it."""

from __future__ import annotations

import os
import signal
import subprocess
from contextlib import contextmanager
from typing import Iterator

from tests.test_cleanup_while_reading import LATER
from tests.test_medium_identity import _killed, _stopped_at
from tests.test_restore_state_no_inodes import _out_of_inodes
from tests.test_state_dir_full import _lab_on, _rabtui
from rabtui.state.store import Store
from tests.trees import Lab, ssh_source_lines, write_files


def _two_backups_out_of_inodes(tmp_path, tmpfs) -> tuple[Lab, str, Store]:
    """Two backups of loc, the older (returned) due for deletion at LATER; the state directory's
    file system then out of inodes (its fillers in tmp_path/small/inode-*), the database held open
    (returned: a console running, say), its -wal and -shm there: others open it as usual."""
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=16m,nr_inodes=400") / "state"
    lab.local()
    lab.keep_a_day()
    write_files(lab.src / "data", {"a": 300, "b/c": b"x"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    old = sorted(os.listdir(lab.media[0][1] / "loc"))[0]
    write_files(lab.src / "data", {"later": b"later"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    _out_of_inodes(tmp_path / "small")
    return lab, old, store


def _restore_locks_unmade(lab) -> None:
    """The lock files a restore makes (its source's, where it restores) gone, as a state directory
    out of inodes never made them."""
    for name in os.listdir(lab.state / "locks"):
        if name.startswith(("source-", "restoring-")):
            os.unlink(lab.state / "locks" / name)


@contextmanager
def restoring_alone(lab, tmp_path) -> Iterator[subprocess.Popen]:
    """A restore of loc's data/a onto the source, its lock files never made and the state directory
    (a tmpfs at tmp_path/small) out of inodes, stopped as it puts its entries; room made again, it
    is yielded, then let go and waited for (output in tmp_path/restore.out)."""
    _restore_locks_unmade(lab)
    data = lab.src / "data"
    os.unlink(data / "a")
    store = lab.store()     # held open: its -wal there, the others open it (test_a_cleanup_keeps_...)
    _out_of_inodes(tmp_path / "small")
    restoring = None
    try:
        restoring = _stopped_at(lab, "restore.entries_put", "restore", "loc", str(data), "--to-source", "--overwrite",
                                out=open(tmp_path / "restore.out", "wb"))
        _room_again(tmp_path)
        yield restoring
        restoring.send_signal(signal.SIGCONT)
        restoring.wait(timeout=120)
    finally:
        _killed(restoring)
        store.close()


def _room_again(tmp_path) -> None:
    for name in os.listdir(tmp_path / "small"):
        if name.startswith("inode-"):
            os.unlink(tmp_path / "small" / name)


def test_a_cleanup_keeps_the_backup_a_restore_without_its_lock_file_reads(tmp_path, tmpfs):
    lab, old, store = _two_backups_out_of_inodes(tmp_path, tmpfs)
    restoring = None
    try:
        restoring = _stopped_at(lab, "restore.entries_put", "restore", "loc", str(lab.src / "data"), "--backup", old,
                                "--to", str(tmp_path / "out"))
        _room_again(tmp_path)
        # its places' lock file unmade too: it runs alone, and the cleanup is refused whole (it
        # kept that backup before, the restore's flock on its source's directory on m1 seen)
        cleanup = _rabtui(lab, "cleanup", "--now", LATER)
        assert cleanup.returncode == 1 and "Traceback" not in cleanup.stderr, cleanup.stdout + cleanup.stderr
        assert f"a cleanup cannot run now: a restore that could not make its lock files (the state directory full)" \
               f" is running alone (pid {restoring.pid})" in cleanup.stderr, cleanup.stdout + cleanup.stderr
        assert old in os.listdir(lab.media[0][1] / "loc")
        restoring.send_signal(signal.SIGCONT)
        out = restoring.communicate(timeout=120)[0].decode()
    finally:
        _killed(restoring)
        store.close()
    assert restoring.returncode == 0 and "Traceback" not in out, out     # recorded: the -wal was there
    assert "reading-loc.lock" not in out and "could delete loc's backup" not in out, out
    assert (tmp_path / "out" / str(lab.src / "data").lstrip("/") / "b/c").read_bytes() == b"x"
    again = _rabtui(lab, "cleanup", "--now", LATER)
    assert again.returncode == 0 and old not in os.listdir(lab.media[0][1] / "loc"), again.stdout + again.stderr


def test_a_restore_without_room_for_its_lock_files_runs_alone(tmp_path, tmpfs):
    """Onto the source, its backup lock file never made (a state directory rebuilt, say) and the
    state directory out of inodes: the restore was refused; now it restores, alone: a backup and
    another restore begun meanwhile, once there is room, are refused naming it (the backup ran,
    saving a half-restored tree; the other restore wrote into the same place). Once it has ended
    they run."""
    lab = _lab_on(tmp_path, tmpfs, "size=16m,nr_inodes=400")
    data = lab.src / "data"
    with restoring_alone(lab, tmp_path) as restoring:
        for argv in (("backup", "loc"), ("restore", "loc", str(data / "a"), "--to-source")):
            done = _rabtui(lab, *argv)
            assert done.returncode != 0 and "Traceback" not in done.stderr, done.stdout + done.stderr
            assert f"is running alone (pid {restoring.pid})" in done.stderr, done.stderr
    out = (tmp_path / "restore.out").read_text()
    assert restoring.returncode == 0 and "Traceback" not in out, out
    assert "this restore runs alone" in out and "restored without that lock" not in out, out
    assert len((data / "a").read_bytes()) == 300
    assert _rabtui(lab, "backup", "loc").returncode == 0


def test_a_restore_from_a_device_medium_whose_lock_files_were_never_made_restores(tmp_path, tmpfs, disk_image):
    """The medium's mounting locks never made there (a state directory rebuilt since, say) and no
    inode left: the restore was refused ("mounting or unmounting medium m1 cannot run"); now it
    mounts the medium itself, alone, reads it and leaves it unmounted as it found it."""
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=16m,nr_inodes=400") / "state"
    lab.local()
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    write_files(lab.src / "data", {"a": b"on the disk"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    assert not os.path.ismount(m1)
    for name in os.listdir(lab.state / "locks"):
        if name.startswith(("mounting-", "users-of-medium-")):
            os.unlink(lab.state / "locks" / name)
    _out_of_inodes(tmp_path / "small")
    done = _rabtui(lab, "restore", "loc", str(lab.src / "data/a"), "--to", str(tmp_path / "out"))
    assert done.returncode == 3 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert "this restore runs alone" in done.stdout + done.stderr, done.stdout + done.stderr
    assert (tmp_path / "out" / str(lab.src / "data/a").lstrip("/")).read_bytes() == b"on the disk"
    assert not os.path.ismount(m1)


def test_a_cleanup_keeps_the_backup_a_restore_not_alone_reads_without_its_reading_lock_file(tmp_path, tmpfs, sshd):
    """Onto a source over SSH, its other lock files there from an earlier restore, only its
    reading lock file unmade: the restore does not run alone, a cleanup runs beside it, and keeps
    the backup it reads for a later cleanup, seeing the restore's flock on web's directory on m1."""
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=16m,nr_inodes=400") / "state"
    remote = tmp_path / "remote"
    write_files(remote, {"a": b"first", "b/c": b"x"})
    lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{remote}"\nkind = "standard"\n')
    lab.trust(sshd)
    lab.keep_a_day()
    assert _rabtui(lab, "backup", "web").returncode == 0
    old = sorted(os.listdir(lab.media[0][1] / "web"))[0]
    write_files(remote, {"later": b"later"})
    assert _rabtui(lab, "backup", "web").returncode == 0
    first = _rabtui(lab, "restore", "web", str(remote / "a"), "--to-source", "--overwrite")
    assert first.returncode == 0, first.stdout + first.stderr
    os.unlink(lab.state / "locks" / "reading-web.lock")
    store = lab.store()
    _out_of_inodes(tmp_path / "small")
    restoring = None
    try:
        restoring = _stopped_at(lab, "restore.sending", "restore", "web", str(remote), "--backup", old,
                                "--to-source", "--overwrite", out=open(tmp_path / "restore.out", "wb"))
        _room_again(tmp_path)
        cleanup = _rabtui(lab, "cleanup", "--now", LATER)
        assert cleanup.returncode == 0 and "Traceback" not in cleanup.stderr, cleanup.stdout + cleanup.stderr
        assert f"kept web {old} on m1 for a later cleanup: a restore reads web's backups on m1 now" in cleanup.stdout, \
            cleanup.stdout
        assert old in os.listdir(lab.media[0][1] / "web")
        restoring.send_signal(signal.SIGCONT)
        restoring.wait(timeout=120)
    finally:
        _killed(restoring)
        store.close()
    out = (tmp_path / "restore.out").read_text()
    assert restoring.returncode == 0 and "runs alone" not in out, out
    again = _rabtui(lab, "cleanup", "--now", LATER)
    assert again.returncode == 0 and old not in os.listdir(lab.media[0][1] / "web"), again.stdout + again.stderr
