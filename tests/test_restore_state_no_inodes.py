"""A restore when the state directory's file system has no inode left (room in bytes all the same:
a real small tmpfs of few inodes, real rsync backups): the lock files it takes that are not there
yet cannot be made. It was refused as "a cleanup of loc's backups cannot run" (exit 1); it now
restores as with a state directory out of bytes (test_restore_state_full.py), saying that it runs
alone (no backup nor other restore meanwhile: test_restore_lock_unmade.py), exit 3."""

from __future__ import annotations

import errno
import os
import subprocess

from tests.test_state_dir_full import _lab_on, _rabtui


def _out_of_inodes(directory) -> None:
    n = 0
    try:
        while True:
            os.close(os.open(os.path.join(directory, f"inode-{n}"), os.O_WRONLY | os.O_CREAT))
            n += 1
    except OSError as exc:
        assert exc.errno == errno.ENOSPC


def test_a_restore_whose_lock_files_cannot_be_made_restores_alone(tmp_path, tmpfs):
    lab = _lab_on(tmp_path, tmpfs, "size=16m,nr_inodes=400")
    lab.store().close()
    _out_of_inodes(lab.state.parent)
    data = lab.src / "data"
    os.unlink(data / "a")
    into = _rabtui(lab, "restore", "loc", str(data / "b"), "--to", str(tmp_path / "out"))
    onto = _rabtui(lab, "restore", "loc", str(data / "a"), "--to-source")
    for done in (into, onto):
        assert done.returncode == 3 and "Traceback" not in done.stderr, done.stdout + done.stderr
        assert "a cleanup of loc's backups cannot run" not in done.stderr, done.stderr
        assert "restore's record could not be written" in done.stderr, done.stderr
        said = (done.stdout + done.stderr).replace("\n", " ")
        assert "(No space left on device; the state directory is full): this restore runs alone" in said, said
        assert "restored without that lock" not in said, said
    assert (tmp_path / "out" / str(data).lstrip("/") / "b/c").read_bytes() == b"x"
    assert len((data / "a").read_bytes()) == 300


def test_a_restore_on_a_read_only_state_directory_is_refused_naming_it(tmp_path, tmpfs):
    """Read-only (EROFS) is not full: no lock is gone without there, the restore is refused (exit 1),
    naming the state directory, nothing restored."""
    lab = _lab_on(tmp_path, tmpfs, "size=16m")
    lab.store().close()
    data = lab.src / "data"
    subprocess.run(["mount", "-o", "remount,ro", str(tmp_path / "small")], check=True)
    try:
        done = _rabtui(lab, "restore", "loc", str(data / "b"), "--to", str(tmp_path / "out"))
    finally:
        subprocess.run(["mount", "-o", "remount,rw", str(tmp_path / "small")], check=True)
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert f"the state directory {lab.state} is read-only" in done.stderr, done.stderr
    assert "restored without that lock" not in done.stdout + done.stderr
    assert not (tmp_path / "out").exists()
