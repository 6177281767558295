"""A medium mounted by one process alone, its users not counted (mounting.mounted without a state
directory: a restore whose mounting lock files cannot be made, or a look): at its end only its own
mount is unmounted. A killed restore's read-only mount, a reader of it living on, is made writable
for a backup all the same. Real loop mounts of an ext2 image (root)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from rabtui.config import Medium
from rabtui.events import WARNING
from rabtui.media import mounting
from tests.procs import signalled
from tests.test_device_medium_mounts import T0, _old_on_m2_newest_on_device_m1, _on
from tests.test_restore_state_no_inodes import _out_of_inodes
from tests.trees import unmounted, write_files


def test_a_mount_made_by_hand_over_a_lone_users_mount_is_left_and_named(tmp_path, disk_image):
    path = tmp_path / "m1"
    medium = Medium(id="m1", path=path, device=str(disk_image))
    said = []
    try:
        with mounting.mounted(medium, said.append, read_only=True):
            subprocess.run(["mount", "-t", "tmpfs", "by-hand", str(path)], check=True)
            (path / "the operator's").write_bytes(b"x")
        assert os.path.ismount(path) and (path / "the operator's").exists(), "the mount made by hand was unmounted"
        assert any(e.kind == WARNING and f"umount {path}" in e.message for e in said), said
    finally:
        unmounted(path)


_KILLED_WITH_ITS_READER = """
import subprocess, sys, time
from rabtui.config.parse import load
from rabtui.media import mounting
cfg = load(sys.argv[1], check_media=False)
with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir, read_only=True) as medium:
    reader = subprocess.Popen(["sleep", "600"], cwd=medium.path, start_new_session=True)   # killed by the test
    print(reader.pid, flush=True)
    time.sleep(60)
"""


def test_a_killed_restores_read_only_mount_its_reader_outliving_it_is_made_writable_for_a_backup(
        tmp_path, disk_image):
    """The restore SIGKILLed, something reads on there (a shell in it, a process of the restore not
    gone yet): the mount cannot be unmounted to be mounted again read-write; it is remounted
    read-write under that reader (the backup failed: "cannot be unmounted to be mounted read-write")."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    loop = subprocess.run(["losetup", "-f", "--show", str(disk_image)], capture_output=True, text=True, check=True)
    device = loop.stdout.strip()
    _on(lab, disk_image, device)
    m1 = lab.media[0][1]
    restore = subprocess.Popen([sys.executable, "-c", _KILLED_WITH_ITS_READER, str(lab.config_path)],
                               stdout=subprocess.PIPE,
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    reader = None
    try:
        reader = int(restore.stdout.readline())
        restore.kill()
        restore.wait()
        assert os.path.ismount(m1) and os.statvfs(m1).f_flag & os.ST_RDONLY
        write_files(data, {"a.txt": b"newer"})
        done = lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1")
        assert done.status == "completed", lab.messages()[-6:]
        assert any(f"remounted {m1} read-write" in m for m in lab.messages()), lab.messages()
    finally:
        if reader is not None:
            signalled(reader, signal.SIGKILL)      # its minute may be over on a loaded machine
        restore.kill()
        restore.wait()
        for _ in range(50):
            if not os.path.ismount(m1) or subprocess.run(["umount", str(m1)]).returncode == 0:
                break
            time.sleep(0.1)
        subprocess.run(["losetup", "-d", device], check=False)


_KILLED_ALONE = """
import sys, time
from rabtui.config.parse import load
from rabtui.media import mounting
cfg = load(sys.argv[1], check_media=False)
with mounting.mounted(cfg.medium("m1"), read_only=True):
    open(sys.argv[2], "w").close()
    time.sleep(60)
"""


def _reading_alone(lab, tmp_path, code: str) -> subprocess.Popen:
    """`code` (a lone restore's mount, _KILLED_ALONE) run on the lab's config, once it has mounted m1."""
    inside = tmp_path / "reading"
    restore = subprocess.Popen([sys.executable, "-c", code, str(lab.config_path), str(inside)],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    deadline = time.monotonic() + 60      # an interpreter's start and a mount, on a loaded machine
    while not inside.exists() and restore.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    if not inside.exists():
        restore.kill()
        restore.wait()
        raise AssertionError("the lone mount was not made")
    return restore


def test_a_killed_lone_restores_read_only_mount_is_left_and_named_by_the_backup_it_fails(tmp_path, disk_image):
    """A restore run alone (its mounting lock files unmade: no note of its mount) SIGKILLed: its
    read-only mount cannot be told from one made by hand, so it is left; the backup it fails said
    only "not writable: Read-only file system", not where that came from nor what to do."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    restore = _reading_alone(lab, tmp_path, _KILLED_ALONE)
    try:
        assert os.path.ismount(m1)
        restore.kill()
        restore.wait()
        done = lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1")
        assert done.status != "completed"
        assert os.path.ismount(m1) and os.statvfs(m1).f_flag & os.ST_RDONLY, "a mount not proved rabtui's was touched"
        said = " ".join(lab.messages())
        assert f"mounted read-only at {m1}" in said and "ran alone" in said and f"umount {m1}" in said, \
            lab.messages()[-6:]
    finally:
        restore.kill()
        restore.wait()
        unmounted(m1)


_KILLED_ALONE_NOTED = _KILLED_ALONE.replace("read_only=True)", "read_only=True, alone_in=cfg.state_dir)")


def test_a_killed_lone_restores_read_only_mount_noted_in_run_is_taken_over_by_the_next_backup(tmp_path, disk_image):
    """The same restore, its mount noted in /run before mount ran (the state directory full, no
    note there): the note proves the mount rabtui's (this boot, that very mount), so the next backup
    takes it over: made writable, the backup done, unmounted at its end, the note gone. It failed,
    "not writable", the mount left for the operator to unmount."""
    from rabtui.media import alone_mounts

    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    note = alone_mounts.note_path(lab.state, "m1")
    assert note is not None
    restore = _reading_alone(lab, tmp_path, _KILLED_ALONE_NOTED)
    try:
        assert os.path.ismount(m1) and os.statvfs(m1).f_flag & os.ST_RDONLY
        assert note.exists()
        restore.kill()
        restore.wait()
        write_files(data, {"a.txt": b"newer"})
        done = lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1")
        assert done.status == "completed", lab.messages()[-6:]
        assert any("a restore running alone made and did not unmount" in m for m in lab.messages()), lab.messages()
        assert not os.path.ismount(m1) and not note.exists()
    finally:
        restore.kill()
        restore.wait()
        unmounted(m1)
        alone_mounts.remove(note)


_CHECKPOINT = """
import sys, time
from rabtui.state import locks
with locks.checkpoints_lock(sys.argv[1]).acquire(shared=True):
    print("holding", flush=True)
    time.sleep(60)
"""


def test_a_lone_restores_mount_is_left_to_a_checkpoint_running_uncounted(tmp_path, tmpfs, disk_image):
    """The medium's mounting lock files unmade (no inode left), a restore mounts it alone; a
    checkpoint running reads it without being counted (it could not make them either). umount
    fails busy only while a file is open there: between two files, the lone restore's end unmounted
    the medium under the checkpoint (its burn failed). Now left mounted while a checkpoint runs, said."""
    from rabtui.restore import locks_unmade

    state = tmpfs(tmp_path / "small", "size=4m,nr_inodes=64") / "state"
    (state / "locks").mkdir(parents=True)
    checkpoint = subprocess.Popen([sys.executable, "-c", _CHECKPOINT, str(state)], stdout=subprocess.PIPE,
                                  env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    path = tmp_path / "m1"
    medium = Medium(id="m1", path=path, device=str(disk_image))
    said = []
    try:
        assert checkpoint.stdout.readline() == b"holding\n"
        _out_of_inodes(tmp_path / "small")
        with locks_unmade.mounted(medium, said.append, state, None):
            assert os.path.ismount(path)
            subprocess.run(["cat", "-"], cwd=path, input=b"", check=True)     # a reader, between two files
        assert os.path.ismount(path), "unmounted under a checkpoint that may read it"
        assert any(e.kind == WARNING and f"pid {checkpoint.pid}" in e.message and f"umount {path}" in e.message
                   for e in said), said
    finally:
        checkpoint.kill()
        checkpoint.wait()
        unmounted(path)
