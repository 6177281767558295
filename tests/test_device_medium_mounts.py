"""Who mounts a medium with a `device`, how, and whose mount rabtui unmounts (media/mounting.py): a
restore mounts it read-only, or reads it where its disk is mounted already; a backup meeting that
mount makes it writable or says why not; a note of a mount proves it is this boot's, that mount;
the wait for another's mount can be cancelled. Real loop mounts of an ext2 image (root)."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from datetime import timedelta
from pathlib import Path

import pytest

from rabtui.cli import main
from rabtui.media import mounting, unknown_backups
from rabtui.media.device_mounts import mount_at
from rabtui.restore import run as restore_run
from rabtui.state import locks
from tests.test_look_at_device_medium import kill_a_look
from tests.test_restore_unknown_backups import (T0, _newest_on_an_unmounted_device_unknown,
                                                _old_on_m2_newest_on_device_m1)
from tests.trees import unmounted, write_files


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _until(done, seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not done() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert done()


def _restored(lab, data: Path, out: Path) -> bytes:
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / "a.txt"), "--to", str(out)]) == 0
    return (out / str(data / "a.txt").lstrip("/")).read_bytes()


def test_a_restore_mounts_the_device_medium_read_only(tmp_path, disk_image):
    """A read-write mount of ext2 writes its superblock (mount count, time): a restore only reads."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    before = _digest(disk_image)
    assert _restored(lab, data, tmp_path / "out") == b"newest"
    assert _digest(disk_image) == before
    assert not os.path.ismount(lab.media[0][1])


def test_a_restore_reads_a_disk_mounted_elsewhere_through_that_mount_read_only(tmp_path, disk_image, monkeypatch):
    """Not a second read-write mount of its file system at the medium's path."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    elsewhere = tmp_path / "by-hand"
    elsewhere.mkdir()
    subprocess.run(["mount", str(disk_image), str(elsewhere)], check=True)
    seen = []
    ready = restore_run._medium_ready

    def as_read(medium, *args):
        seen.append((os.path.ismount(m1), bool(os.statvfs(m1).f_flag & os.ST_RDONLY)))
        return ready(medium, *args)

    monkeypatch.setattr(restore_run, "_medium_ready", as_read)
    try:
        assert _restored(lab, data, tmp_path / "out") == b"newest"
        assert seen == [(True, True)]
        assert not os.path.ismount(m1) and os.path.ismount(elsewhere)
    finally:
        unmounted(elsewhere)


@pytest.fixture
def loop_device(disk_image):
    """The image set up as a block device of its own (/dev/loopN), as a USB disk is one."""
    loop = subprocess.run(["losetup", "-f", "--show", str(disk_image)], capture_output=True, text=True)
    if loop.returncode != 0:
        pytest.skip(f"no loop device: {loop.stderr.strip()}")
    yield loop.stdout.strip()
    subprocess.run(["losetup", "-d", loop.stdout.strip()], check=False)


def _on(lab, disk_image, device) -> None:
    lab.config_path.write_text(lab.config_path.read_text().replace(f'device = "{disk_image}"', f'device = "{device}"'))


def test_a_backup_while_a_restore_reads_the_medium_makes_its_mount_writable(tmp_path, disk_image, loop_device):
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    _on(lab, disk_image, loop_device)
    cfg = lab.load()
    m1 = lab.media[0][1]
    try:
        with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir, read_only=True):
            assert os.statvfs(m1).f_flag & os.ST_RDONLY
            write_files(data, {"a.txt": b"newer"})
            assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "completed", lab.messages()
            assert os.path.ismount(m1), "unmounted under the restore"
            assert any(f"remounted {m1} read-write" in m for m in lab.messages()), lab.messages()
        assert not os.path.ismount(m1)
    finally:
        unmounted(m1)


def test_a_backup_while_a_restore_reads_an_image_it_cannot_make_writable_fails_saying_so(tmp_path, disk_image):
    """An image mounted read-only is on a read-only loop device: not writable until the restore ends."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    cfg = lab.load()
    m1 = lab.media[0][1]
    try:
        with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir, read_only=True):
            assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "failed"
            assert any("mounted read-only for a restore" in m and "cannot be made writable" in m
                       for m in lab.messages()), lab.messages()
            assert os.path.ismount(m1) and os.statvfs(m1).f_flag & os.ST_RDONLY
        assert not os.path.ismount(m1)
        assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "completed"
    finally:
        unmounted(m1)


_KILLED_RESTORE = """
import sys, time
from rabtui.config.parse import load
from rabtui.media import mounting, unknown_backups
cfg = load(sys.argv[1], check_media=False)
with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir, read_only=True):
    open(sys.argv[2], "w").close()
    time.sleep(60)
"""


def test_a_killed_restores_read_only_mount_is_made_writable_by_the_next_backup(tmp_path, disk_image):
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    inside = tmp_path / "reading"
    restore = subprocess.Popen([sys.executable, "-c", _KILLED_RESTORE, str(lab.config_path), str(inside)],
                               env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    try:
        _until(lambda: inside.exists() or restore.poll() is not None)
        assert inside.exists() and os.path.ismount(m1)
    finally:
        restore.kill()
        restore.wait()
    assert lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1").status == "completed", lab.messages()
    assert not os.path.ismount(m1)


def _note(lab, suffix: str) -> Path:
    return locks.medium_users_lock(lab.state, "m1").path.with_suffix(suffix)


# a note as a run that died before the last reboot left it
_BEFORE_REBOOT = "00000000-0000-0000-0000-000000000000 48 10000\n"


def test_a_note_left_before_a_reboot_does_not_unmount_a_mount_made_by_hand(tmp_path, disk_image):
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    _note(lab, ".mounted").write_text(_BEFORE_REBOOT)
    subprocess.run(["mount", str(disk_image), str(m1)], check=True)
    try:
        assert lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1").status == "completed"
        assert os.path.ismount(m1), "the mount made by hand was unmounted"
    finally:
        unmounted(m1)


def test_a_looks_note_left_before_a_reboot_does_not_unmount_a_read_only_mount_made_by_hand(tmp_path, disk_image):
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    _note(lab, ".looked").write_text(_BEFORE_REBOOT)
    subprocess.run(["mount", "-o", "ro,nosuid,nodev,noexec", str(disk_image), str(m1)], check=True)
    by_hand = mount_at(m1)
    try:
        lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1")
        assert mount_at(m1) == by_hand and os.statvfs(m1).f_flag & os.ST_RDONLY, "the mount made by hand was replaced"
    finally:
        unmounted(m1)


def test_a_killed_looks_mount_replaced_by_hand_with_its_flags_is_left_to_its_maker(tmp_path, disk_image):
    """Mount ids are reused at once: the note names the mount by the id the kernel never reuses."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = kill_a_look(lab, tmp_path)
    subprocess.run(["umount", str(m1)], check=True)
    subprocess.run(["mount", "-o", "ro,nosuid,nodev,noexec", str(disk_image), str(m1)], check=True)
    by_hand = mount_at(m1)
    try:
        lab.backup(lab.load(), medium_id="m1")
        assert mount_at(m1) == by_hand and os.statvfs(m1).f_flag & os.ST_RDONLY, "the mount made by hand was replaced"
    finally:
        unmounted(m1)


def test_the_wait_for_another_process_mounting_the_medium_is_cancelled_at_once(tmp_path, disk_image):
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    cfg = lab.load()
    cancel = threading.Event()
    done = []
    with locks.mounting_lock(cfg.state_dir, "m1").acquire():
        backup = threading.Thread(target=lambda: done.append(lab.backup(cfg, medium_id="m1", cancel=cancel)))
        backup.start()
        _until(lambda: any("to release the lock of" in m for m in lab.messages()))
        cancel.set()
        backup.join(timeout=mounting.MOUNT_WAIT / 4)     # a bound far from the wait's, not a measure of speed
        assert not backup.is_alive(), "the cancel did not end the wait for the mounting lock"
    backup.join()
    assert done[0].status == "cancelled"


def test_a_mount_interrupted_while_mount_runs_is_unmounted_by_the_next_user(tmp_path, disk_image, monkeypatch):
    """The kernel may make the mount after rabtui was interrupted: its note is kept, as a look keeps its own."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    cfg = lab.load()
    m1 = lab.media[0][1]
    bin_dir = tmp_path / "slow-bin"
    bin_dir.mkdir()
    gate = tmp_path / "gate"
    (bin_dir / "mount").write_text(f"""#!/bin/sh
echo $$ > '{gate}.pid'
setsid /bin/sh -c 'echo > "$0.asked"; until [ -e "$0.go" ]; do sleep 0.02; done; exec '{shutil.which("mount")}' "$@"' \\
  '{gate}' "$@" &
kill -STOP $$
""")
    (bin_dir / "mount").chmod(0o755)

    def interrupted(*_):
        raise KeyboardInterrupt

    was = signal.signal(signal.SIGUSR1, interrupted)
    try:
        with monkeypatch.context() as slow:
            slow.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
            threading.Thread(target=lambda: (_until(lambda: Path(f"{gate}.asked").exists()),
                                             os.kill(os.getpid(), signal.SIGUSR1))).start()
            with pytest.raises(KeyboardInterrupt):
                with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir):
                    pass
    finally:
        signal.signal(signal.SIGUSR1, was)
        Path(f"{gate}.go").touch()      # the kernel makes the mount now
        try:
            os.kill(int(Path(f"{gate}.pid").read_text()), signal.SIGKILL)
        except (ProcessLookupError, OSError, ValueError):
            pass
    _until(lambda: os.path.ismount(m1))
    try:
        write_files(data, {"a.txt": b"newer"})
        assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "completed", lab.messages()
        assert not os.path.ismount(m1), "the mount made after the interrupt is left for good"
    finally:
        unmounted(m1)


def test_a_directory_planted_at_the_note_leaves_the_medium_mounted_after_use_said(tmp_path, disk_image):
    """The note cannot be written: the medium is left mounted as one mounted by hand, never unmounted
    unproved, and the backup completes."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    (_note(lab, ".mounted") / "in the way").mkdir(parents=True)
    try:
        assert lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1").status == "completed"
        assert os.path.ismount(m1)
        assert any(f"medium m1 stays mounted at {m1} after use" in m for m in lab.messages("warning")), lab.messages()
    finally:
        unmounted(m1)


_HELD_MOUNT = """
import os, sys, time
from rabtui.config.parse import load
from rabtui.media import mounting, unknown_backups
cfg = load(sys.argv[1], check_media=False)
with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir):
    open(sys.argv[2], "w").close()
    while os.path.exists(sys.argv[2]):
        time.sleep(0.02)
"""


def test_check_reading_a_mounted_device_medium_is_not_unmounted_under(tmp_path, disk_image, monkeypatch):
    """A backup (here a user of the medium in another process) ends while check reads the medium it
    mounted: it unmounted it under check, which read an empty mount point and missed the backups the
    state database does not know."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = lab.media[0][1]
    gate = tmp_path / "using"
    user = subprocess.Popen([sys.executable, "-c", _HELD_MOUNT, str(lab.config_path), str(gate)],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    try:
        _until(lambda: gate.exists() or user.poll() is not None)
        assert gate.exists() and os.path.ismount(m1)
        names = unknown_backups.unknown_names

        def the_user_ends(medium, store, *ids):
            if medium.id == "m1":
                gate.unlink()
                try:
                    user.wait(timeout=1)
                except subprocess.TimeoutExpired:     # it waits for check to end before it unmounts
                    pass
            return names(medium, store, *ids)

        monkeypatch.setattr(unknown_backups, "unknown_names", the_user_ends)
        found = {m.id: names for m, names in unknown_backups.unknown_media(lab.load(), lab.store())}
        assert list(found) == ["m1"] and len(found["m1"]) == 1, found
        user.wait(timeout=20)
        assert not os.path.ismount(m1)
    finally:
        gate.unlink(missing_ok=True)
        user.kill()
        user.wait()
        unmounted(m1)


def test_a_mount_made_by_hand_over_rabtuis_is_left_and_named_at_the_end_of_use(tmp_path, disk_image):
    """Not unmounted in place of rabtui's under it (which the note no longer proves), and not in silence."""
    lab, _data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    cfg = lab.load()
    m1 = lab.media[0][1]
    said = []
    try:
        with mounting.mounted(cfg.medium("m1"), said.append, cfg.state_dir):
            subprocess.run(["mount", "-t", "tmpfs", "by-hand", str(m1)], check=True)
            (m1 / "by-hand").write_bytes(b"")
        assert (m1 / "by-hand").exists(), "the mount made by hand was unmounted"
        assert any(f"the mount at {m1} is not the one rabtui made" in e.message for e in said), said
    finally:
        unmounted(m1)


def _super_options(point: Path) -> list[str]:
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split(" ")
        if fields[4] == str(point):
            return fields[fields.index("-") + 3].split(",")
    raise AssertionError(f"{point} is not mounted")


def test_a_backup_never_makes_a_disk_mounted_read_only_elsewhere_writable(tmp_path, disk_image, loop_device):
    """A restore reads it through that mount (shown read-only at the medium's path): a backup
    starting meanwhile must not turn its file system read-write under the read-only mount made by hand."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    _on(lab, disk_image, loop_device)
    cfg = lab.load()
    m1 = lab.media[0][1]
    elsewhere = tmp_path / "by-hand"
    elsewhere.mkdir()
    subprocess.run(["mount", "-o", "ro", loop_device, str(elsewhere)], check=True)
    try:
        with mounting.mounted(cfg.medium("m1"), state_dir=cfg.state_dir, read_only=True):
            assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "failed"
            assert any("cannot be made writable" in m for m in lab.messages()), lab.messages()
            assert "ro" in _super_options(elsewhere)
        assert not os.path.ismount(m1) and os.path.ismount(elsewhere)
    finally:
        for point in (m1, elsewhere):
            unmounted(point)


def test_a_restore_from_a_disk_whose_journal_must_be_replayed_mounts_it_read_write_said(tmp_path, capsys,
                                                                                      disk_image):
    """An image's read-only mount is on a read-only loop device, where a journal cannot be replayed:
    the restore reads it all the same, mounted read-write, rather than passing over the newest copy.
    (The look for backups the database lacks, read-only alone, names the medium as not looked at.)"""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    subprocess.run(["tune2fs", "-j", str(disk_image)], check=True, capture_output=True)
    subprocess.run(["debugfs", "-w", "-R", "feature needs_recovery", str(disk_image)], check=True, capture_output=True)
    capsys.readouterr()
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data / "a.txt"), "--to", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 3 and "could not be mounted to look for backups" in err, err
    assert "mounting it read-write to be read instead" in err, err
    assert (tmp_path / "out" / str(data / "a.txt").lstrip("/")).read_bytes() == b"newest"
    assert not os.path.ismount(lab.media[0][1])
