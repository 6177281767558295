"""Each lock is its own file: no id a configuration allows makes one lock's file another's (medium
`users-a`'s lock was medium `a`'s users' lock: a backup onto one refused as busy by the other, and a
medium left mounted, its users taken to be still there)."""

from __future__ import annotations

import fcntl
import itertools
import os

import pytest

from rabtui.errors import LockBusy
from rabtui.state import locks

IDS = ["a", "users-a", "users-of-medium-a", "of-medium-a", "medium-a", "1", "a.b", "a_b", "a-b"]


def test_no_two_locks_of_any_ids_share_a_file(tmp_path):
    made = {}
    for i in IDS:
        for kind, lock in (("source", locks.source_lock(tmp_path, i)),
                           ("medium", locks.medium_lock(tmp_path, i, "a backup")),
                           ("mounting", locks.mounting_lock(tmp_path, i)),
                           ("users", locks.medium_users_lock(tmp_path, i)),
                           ("reading", locks.reading_lock(tmp_path, i)),
                           ("union", locks.union_lock(tmp_path, i))):
            made[(kind, i)] = lock.path
    for (a, pa), (b, pb) in itertools.combinations(made.items(), 2):
        assert pa != pb, f"{a} and {b} share {pa.name}"


def test_a_lock_looked_at_without_proc_locks_is_never_opened_through_a_symlink(tmp_path, monkeypatch):
    """Where the kernel's table of locks cannot be read, a lock is tried for an instant: a symlink
    planted in its place (say to a device, which an open may act on) is not followed."""
    lock = locks.source_lock(tmp_path, "web1")
    lock.dir.mkdir()
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"")
    held = os.open(elsewhere, os.O_RDONLY)
    fcntl.flock(held, fcntl.LOCK_EX)
    os.symlink(elsewhere, lock.path)
    monkeypatch.setattr(locks.Lock, "live_pids", lambda self: None)
    try:
        assert lock.is_held() is False
    finally:
        os.close(held)


def test_a_drive_is_one_lock_however_its_folder_or_device_is_spelt(tmp_path):
    """images:/x, images:/y/../x, images:/x/ and a symlink to x are one folder: one lock, so that
    a second burn into it is refused while the first holds it; so are a device and a symlink to it
    (/dev/cdrom -> sr0). Another folder is another lock."""
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    os.symlink("x", tmp_path / "link")
    (tmp_path / "sr0").touch()
    os.symlink("sr0", tmp_path / "cdrom")
    state = tmp_path / "state"
    held = locks.drive_lock(state, f"images:{tmp_path / 'x'}").acquire()
    try:
        for spelt in (f"images:{tmp_path}/y/../x", f"images:{tmp_path}/x/", f"images:{tmp_path}/link",
                      f"images:{tmp_path}//x"):
            with pytest.raises(LockBusy, match="a checkpoint on"):
                locks.drive_lock(state, spelt).acquire()
        locks.drive_lock(state, f"images:{tmp_path / 'y'}").acquire().release()
        with locks.drive_lock(state, str(tmp_path / "sr0")):
            with pytest.raises(LockBusy):
                locks.drive_lock(state, str(tmp_path / "cdrom")).acquire()
    finally:
        held.release()


def test_a_drive_in_a_long_folder_path_has_a_lock_of_its_own_that_fits(tmp_path):
    """A lock file's name is one name in locks/: an `images:` folder 300 bytes deep made a name
    longer than a file name can be, and the burn failed before it began. Such a lock is a short
    readable name with a hash of the whole folder; a short one its whole readable name and a
    short hash."""
    deep = tmp_path
    while len(os.fsencode(deep)) < 300:
        deep = deep / ("d" * 40)
    deep.mkdir(parents=True)
    other = deep.parent / ("e" * 40)
    other.mkdir()
    state = tmp_path / "state"
    held = locks.drive_lock(state, f"images:{deep}").acquire()
    try:
        assert held.path.parent == state / "locks" and len(os.fsencode(held.path.name)) <= 255
        with pytest.raises(LockBusy, match="a checkpoint on"):
            locks.drive_lock(state, f"images:{deep}/").acquire()
        locks.drive_lock(state, f"images:{other}").acquire().release()     # another deep folder: its own lock
    finally:
        held.release()
    assert sorted(p.name for p in (state / "locks").iterdir())[0].startswith("drive-images__")
    short = locks.drive_lock(state, f"images:{tmp_path}")
    assert short.path.name.startswith(f"drive-images_{str(tmp_path).replace('/', '_')}~")
    assert len(short.path.name) == len(f"drive-images_{tmp_path}~.lock") + 17


def test_a_key_with_slashes_or_bytes_not_utf8_makes_one_file_in_locks(tmp_path):
    """'/' and bytes not UTF-8 (a folder named in another encoding) never make a subdirectory or a
    name that cannot be written; a long such key is hashed on its bytes."""
    odd = os.fsdecode(b"caf\xe9")
    for name in (f"a/../b/{odd}", "/" * 300 + odd, odd * 300):
        with locks.Lock(tmp_path, name) as lock:
            assert lock.path.parent == tmp_path / "locks" and lock.path.exists()
            assert len(os.fsencode(lock.path.name)) <= 255
    assert locks.Lock(tmp_path, odd * 300).path != locks.Lock(tmp_path, odd * 299 + "x").path


def test_drives_whose_names_differ_only_in_what_a_file_name_cannot_hold_have_locks_of_their_own(tmp_path):
    """`images:/a b`, `images:/a_b`, `images:/a/b` and `images:/a:b` made one file name each
    (drive-images__a_b): a burn into one was refused as busy while another burned, the refusal
    naming the other drive. Each folder is its own lock now; one spelt two ways still one."""
    state = tmp_path / "state"
    folders = [tmp_path / "a b", tmp_path / "a_b", tmp_path / "a" / "b", tmp_path / "a:b", tmp_path / "a\u00e9b"]
    held = [locks.drive_lock(state, f"images:{folder}").acquire() for folder in folders]
    try:
        assert len({lock.path for lock in held}) == len(folders)
        with pytest.raises(LockBusy, match="a checkpoint on"):
            locks.drive_lock(state, f"images:{folders[0]}/").acquire()
    finally:
        for lock in held:
            lock.release()
