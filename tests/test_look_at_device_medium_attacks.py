"""The look at a device medium left unmounted (media/look_mount.py) as a hostile operator and a
hostile machine meet it: its file system mounted elsewhere but hidden there, odd names, two finds at
once, a look killed, hung or followed by mounts made by hand, rebuild-state after it, a symlinked
medium path. Real loop mounts (root)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from rabtui.cli import main
from rabtui.media import mounting, unknown_backups
from tests.trees import unmounted
from tests.test_look_at_device_medium import UNKNOWN, kill_a_look
from tests.test_restore_unknown_backups import _newest_on_an_unmounted_device_unknown


def test_a_device_mounted_elsewhere_under_another_mount_is_not_read_through_what_hides_it(tmp_path, disk_image):
    """Its mount point shows another file system (mounted over it): the look must not read that one
    for the medium (no label there: the medium passed over in silence, the newest backup missed)."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    elsewhere = tmp_path / "by-hand"
    elsewhere.mkdir()
    subprocess.run(["mount", str(disk_image), str(elsewhere)], check=True)
    try:
        subprocess.run(["mount", "-t", "tmpfs", "over", str(elsewhere)], check=True)
        said = []
        lines = unknown_backups.not_known(lab.load(), lab.store(), {"loc"}, said.append)
        assert any("medium m1" in line for line in lines), (lines, said)
        assert not any(f"is mounted at {elsewhere}: looked at there" in e.message for e in said), said
        assert not os.path.ismount(lab.media[0][1])
    finally:
        unmounted(elsewhere)


def test_an_image_whose_name_ends_in_a_line_break_mounted_elsewhere_is_looked_at_there(tmp_path, disk_image):
    """The configured device a symlink to it (a config names no control character): /sys/block/loop*/
    loop/backing_file ends the name with a line break of its own."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    odd = disk_image.with_name("usb.img\n")
    disk_image.rename(odd)
    (tmp_path / "usb-link").symlink_to(odd)
    lab.config_path.write_text(lab.config_path.read_text().replace(f'device = "{disk_image}"',
                                                                   f'device = "{tmp_path / "usb-link"}"'))
    elsewhere = tmp_path / "by-hand"
    elsewhere.mkdir()
    subprocess.run(["mount", str(odd), str(elsewhere)], check=True)
    try:
        said = []
        lines = unknown_backups.not_known(lab.load(), lab.store(), {"loc"}, said.append)
        assert any(UNKNOWN in line for line in lines), (lines, said)
        assert any(f"is mounted at {elsewhere}: looked at there" in e.message for e in said), said
    finally:
        subprocess.run(["umount", str(elsewhere)], check=True)
        odd.rename(disk_image)


_HELD_LOOK = """
import os, sys, time
from rabtui.config.parse import load
from rabtui.media import mounting, unknown_backups
from rabtui.state.store import Store
names = unknown_backups.unknown_names
def held(medium, store, *ids):
    if medium.id == "m1":
        open(sys.argv[2], "w").close()
        while os.path.exists(sys.argv[2]):
            time.sleep(0.02)
    return names(medium, store, *ids)
unknown_backups.unknown_names = held
cfg = load(sys.argv[1], check_media=False)
unknown_backups.not_known(cfg, Store(cfg.state_dir), {"loc"}, lambda e: None)
"""


def test_a_find_meeting_another_finds_look_reads_the_medium_only_while_it_is_mounted(tmp_path, disk_image,
                                                                                    monkeypatch):
    """Two finds at once: the second found the medium mounted (by the first's look) and read it
    unlocked while the first unmounted it: an empty mount point, the newest backup passed over."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    gate = tmp_path / "looking"
    first = subprocess.Popen([sys.executable, "-c", _HELD_LOOK, str(lab.config_path), str(gate)],
                             env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    try:
        deadline = time.monotonic() + 30
        while not gate.exists() and first.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert gate.exists() and os.path.ismount(lab.media[0][1])
        there, names = unknown_backups.media_there, unknown_backups.unknown_names

        def the_first_ends(cfg, store=None):
            found = there(cfg, store)
            gate.unlink(missing_ok=True)
            return found

        def once_it_has_ended(medium, store, *ids):
            if medium.id == "m1":
                first.wait(timeout=20)
            return names(medium, store, *ids)

        monkeypatch.setattr(unknown_backups, "media_there", the_first_ends)
        monkeypatch.setattr(unknown_backups, "unknown_names", once_it_has_ended)
        lines = unknown_backups.not_known(lab.load(), lab.store(), {"loc"}, lambda e: None)
        assert any(UNKNOWN in line for line in lines), lines
        assert not os.path.ismount(lab.media[0][1])
    finally:
        first.kill()
        first.wait()


def test_rebuild_state_after_a_killed_look_writes_onto_the_medium_and_unmounts_it(tmp_path, capsys, disk_image):
    lab, path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = kill_a_look(lab, tmp_path)
    run = ["--config", str(lab.config_path)]
    capsys.readouterr()
    code = main([*run, "rebuild-state"])
    out, err = capsys.readouterr()
    assert code == 0, (out, err)
    assert "Read-only" not in out + err
    assert not os.path.ismount(m1)
    assert main([*run, "restore", "loc", path, "--to", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / path.lstrip("/")).read_bytes() == b"newest"


def test_a_device_medium_whose_path_is_a_symlink_is_refused_and_left_unmounted(tmp_path, capsys, disk_image):
    """mount mounts the disk where the symlink leads; the path itself is never a mount point: the
    backup refused it as "not mounted" and the disk was left mounted read-write for good."""
    lab, path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = lab.media[0][1]
    real = tmp_path / "real-medium1"
    m1.rename(real)
    m1.symlink_to(real)
    run = ["--config", str(lab.config_path)]
    capsys.readouterr()
    try:
        assert lab.backup(lab.load(), medium_id="m1").status == "failed"
        assert any(f"{m1} is a symlink" in m for m in lab.messages()), lab.messages()
        assert not os.path.ismount(real)
        assert main([*run, "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
        assert f"{m1} is a symlink" in capsys.readouterr().err
        assert not os.path.ismount(real)
    finally:
        if os.path.ismount(real):
            subprocess.run(["umount", str(real)], check=True)


def test_a_look_whose_mount_answers_only_after_it_gave_up_leaves_it_to_the_next_user(tmp_path, disk_image,
                                                                                 monkeypatch):
    """A disk slow to answer: mount is killed as hung, and the mount it asked for is made after all
    (the kernel ends it). The look's note of it was removed: the next backup met a read-only mount
    that no one unmounts, and failed on it."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = lab.media[0][1]
    bin_dir = tmp_path / "slow-bin"
    bin_dir.mkdir()
    (bin_dir / "mount").write_text(f"""#!/bin/sh
case " $* " in *" ro"*) setsid '{shutil.which("mount")}' "$@" & kill -STOP $$ ;; esac
exec '{shutil.which("mount")}' "$@"
""")
    (bin_dir / "mount").chmod(0o755)
    with monkeypatch.context() as slow:
        slow.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
        slow.setattr(mounting, "MOUNT_SILENCE", 0.5)
        lines = unknown_backups.not_known(lab.load(), lab.store(), {"loc"}, lambda e: None)
    assert any("mount did not answer" in line for line in lines), lines
    deadline = time.monotonic() + 60
    while not os.path.ismount(m1) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert os.path.ismount(m1)
    assert lab.backup(lab.load(), medium_id="m1").status == "completed", lab.messages()[-3:]
    assert not os.path.ismount(m1)


def test_a_read_only_mount_made_by_hand_after_a_killed_looks_mount_is_left_to_its_maker(tmp_path, disk_image):
    """The killed look's mount unmounted by hand, the disk mounted read-only again by hand: the
    look's note, left, no longer names what is mounted there (mounted by something other than
    rabtui: left as it is), where the next backup unmounted it and mounted the disk read-write."""
    lab, _path = _newest_on_an_unmounted_device_unknown(tmp_path, disk_image)
    m1 = kill_a_look(lab, tmp_path)
    subprocess.run(["umount", str(m1)], check=True)
    subprocess.run(["mount", "-o", "ro", str(disk_image), str(m1)], check=True)
    try:
        before = len(lab.messages())
        lab.backup(lab.load(), medium_id="m1")
        assert os.path.ismount(m1) and os.statvfs(m1).f_flag & os.ST_RDONLY
        said = lab.messages()[before:]
        assert not any(m.startswith(("unmounted ", "mounted ")) for m in said), said
    finally:
        subprocess.run(["umount", str(m1)], check=False)
