"""The look at a medium with a `device` left unmounted (for backups the state database lacks,
media/look_mount.py): read-only, read where its file system is mounted already, unmounted after
whatever fails, and only its own mount unmounted. Real mounts of an ext2 image (root)."""

from __future__ import annotations

import errno
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rabtui.actions import find as find_actions
from rabtui.cli import main
from rabtui.media import unknown_backups
from tests.trees import unmounted
from tests.test_restore_unknown_backups import _newest_on_an_unmounted_device_unknown, _old_on_m2_newest_on_device_m1

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

    def a_mount_by_hand_meanwhile(medium, store, *ids):
        found = names(medium, store, *ids)
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
        unmounted(m1)


def test_find_and_browse_look_at_a_device_medium_left_unmounted_check_does_not_mount_it(tmp_path, capsys,
                                                                                        disk_image):
    """rabtui leaves a medium with a `device` unmounted between runs: find and Browse's find look at
    it as a restore does, so the newest backup a database put back from an older copy lacks is named,
    not missed. check, run every few minutes by monitoring, leaves the disk alone."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    run = ["--config", str(lab.config_path)]
    capsys.readouterr()
    assert main([*run, "find", "a.txt"]) == 0
    assert UNKNOWN in capsys.readouterr().err
    before = _digest(disk_image)
    main([*run, "check"])
    assert "does not know" not in capsys.readouterr().out
    assert _digest(disk_image) == before
    said: list[str] = []
    find_actions.find_with_newest_backup(lab.load(), lab.store(), "a.txt", said=said)
    assert any(UNKNOWN in line for line in said), said
    assert not os.path.ismount(lab.media[0][1])


def test_find_says_a_copy_on_a_device_medium_left_unmounted_is_read_by_a_restore(tmp_path, capsys, disk_image):
    """Not "not mounted" as of a disk away: it is plugged in, and a restore mounts it (CLI, --json, Browse)."""
    lab, _data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    run = ["--config", str(lab.config_path)]
    capsys.readouterr()
    assert main([*run, "find", "a.txt"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any("m1" in line and line.endswith("(plugged in, not mounted: a restore mounts it)") for line in lines), lines
    assert not any("m2" in line and "(" in line for line in lines), lines
    assert main([*run, "find", "--json", "a.txt"]) == 0
    where = {loc["medium"]: loc for v in json.loads(capsys.readouterr().out) for loc in v["locations"]}
    assert (where["m1"]["at_hand"], where["m1"]["plugged_in"]) == (False, True)
    assert (where["m2"]["at_hand"], where["m2"]["plugged_in"]) == (True, False)
    rows = find_actions.find_with_newest_backup(lab.load(), lab.store(), "a.txt")
    assert any("(plugged in, not mounted: a restore mounts it)" in r["where"] for r in rows), rows
    disk_image.rename(disk_image.with_name("unplugged.img"))
    assert main([*run, "find", "a.txt"]) == 0
    assert any("m1" in line and line.endswith("(not mounted)") for line in capsys.readouterr().out.splitlines())


_KILLED_LOOK = """
import sys, time
from rabtui.config.parse import load
from rabtui.media import unknown_backups
from rabtui.state.store import Store
names = unknown_backups.unknown_names
def held(medium, store, *ids):
    if medium.id == "m1":
        open(sys.argv[2], "w").close()
        time.sleep(60)
    return names(medium, store, *ids)
unknown_backups.unknown_names = held
cfg = load(sys.argv[1], check_media=False)
unknown_backups.not_known(cfg, Store(cfg.state_dir), {"loc"}, lambda e: None)
"""


def kill_a_look(lab, tmp_path) -> Path:
    """A look at m1 SIGKILLed while it holds the medium mounted read-only: m1's mount point."""
    m1 = lab.media[0][1]
    inside = tmp_path / "looking"
    inside.unlink(missing_ok=True)
    look = subprocess.Popen([sys.executable, "-c", _KILLED_LOOK, str(lab.config_path), str(inside)],
                            env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    try:
        deadline = time.monotonic() + 30
        while not inside.exists() and look.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert inside.exists() and os.path.ismount(m1)
    finally:
        look.kill()
        look.wait()
    return m1


def test_a_look_killed_while_the_medium_is_mounted_does_not_fail_the_next_backup_onto_it(tmp_path, disk_image):
    """The read-only mount a SIGKILLed look leaves: the next backup onto the medium writes there, and unmounts it."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = kill_a_look(lab, tmp_path)
    assert lab.backup(lab.load(), medium_id="m1").status == "completed"
    assert not os.path.ismount(m1)
