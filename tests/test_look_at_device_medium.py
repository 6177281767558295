"""The look at a medium with a `device` left unmounted (for backups the state database lacks,
media/look_mount.py): read-only, read where its file system is mounted already, unmounted after
whatever fails, and only its own mount unmounted. Real mounts of an ext2 image (root)."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
from pathlib import Path

from rabtui.cli import main
from rabtui.media import unknown_backups
from tests.test_restore_unknown_backups import _newest_on_an_unmounted_device_unknown

UNKNOWN = "medium m1 holds 1 backup of loc the state database does not know"


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_the_look_mounts_read_only(tmp_path, capsys, disk_image):
    """A rw mount of ext2 writes its superblock (mount count, time): the look leaves the disk as it was."""
    lab, path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    before = _digest(disk_image)
    assert main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
    assert UNKNOWN in capsys.readouterr().err
    assert _digest(disk_image) == before
    assert not os.path.ismount(lab.media[0][1])


def test_a_device_mounted_elsewhere_is_looked_at_there_not_mounted_again(tmp_path, disk_image):
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    elsewhere = tmp_path / "by-hand"
    elsewhere.mkdir()
    subprocess.run(["mount", str(disk_image), str(elsewhere)], check=True)
    try:
        said = []
        lines = unknown_backups.not_known(lab.load(), lab.store(), {"loc"}, said.append)
        assert any(UNKNOWN in line for line in lines), lines
        assert any(f"is mounted at {elsewhere}: looked at there" in e.message for e in said), said
        assert not any("mounted " in e.message and str(lab.media[0][1]) in e.message for e in said), said
        assert os.path.ismount(elsewhere) and not os.path.ismount(lab.media[0][1])
    finally:
        subprocess.run(["umount", str(elsewhere)], check=True)


def test_a_state_directory_too_full_to_record_the_look_leaves_the_medium_unmounted(tmp_path, disk_image):
    """The state directory on a full tmpfs (no inode, no block left) while the look mounts the medium."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    kept = tmp_path / "state-kept"
    subprocess.run(["cp", "-a", str(lab.state), str(kept)], check=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m,nr_inodes=200", "tmpfs", str(lab.state)], check=True)
    try:
        subprocess.run(["cp", "-a", f"{kept}/.", str(lab.state)], check=True)
        store = lab.store()
        cfg = lab.load()
        _fill(lab.state)
        lines = unknown_backups.not_known(cfg, store, {"loc"}, lambda e: None)
        assert any(UNKNOWN in line for line in lines), lines
        assert not os.path.ismount(lab.media[0][1])
        store.close()
    finally:
        subprocess.run(["umount", "-l", str(lab.state)], check=True)


def _fill(directory: Path) -> None:
    """No inode and no block left on the file system of `directory`."""
    n = 0
    try:
        while True:
            (directory / f"filler-{n}").write_bytes(b"")
            n += 1
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    try:
        with open(directory / "filler-0", "ab") as f:
            while True:
                f.write(bytes(1 << 16))
                f.flush()
    except OSError as exc:
        assert exc.errno == errno.ENOSPC


def test_a_mount_made_by_hand_over_the_medium_during_the_look_is_left_and_named(tmp_path, capsys, disk_image,
                                                                                   monkeypatch):
    lab, path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = lab.media[0][1]
    names = unknown_backups.unknown_names

    def a_mount_by_hand_meanwhile(medium, store, source_ids):
        found = names(medium, store, source_ids)
        if medium.id != "m1" or os.path.exists(m1 / "by-hand"):
            return found
        subprocess.run(["mount", "-t", "tmpfs", "by-hand", str(m1)], check=True)
        (m1 / "by-hand").write_bytes(b"")
        return found

    monkeypatch.setattr(unknown_backups, "unknown_names", a_mount_by_hand_meanwhile)
    try:
        assert main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
        err = capsys.readouterr().err
        assert UNKNOWN in err
        assert (m1 / "by-hand").exists(), "the mount made by hand was unmounted"
        assert f"another mount was made at {m1} while it was looked at" in err, err
    finally:
        while os.path.ismount(m1):
            subprocess.run(["umount", str(m1)], check=True)
