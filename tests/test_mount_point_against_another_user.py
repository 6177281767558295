"""A medium with a `device`, whose mount point lies where another user can change the way to it
(a directory of theirs, a symlink of theirs): rabtui, as root, mounted the disk where their symlink
led (over /etc, say), making the directories on the way there first. Refused before anything is
made or mounted."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.other_user import NOBODY
from tests.trees import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root")


def test_a_mount_point_another_user_can_lead_elsewhere_is_refused(open_base, disk_image):
    lab = Lab(open_base, media_count=1)
    lab.local()
    theirs = open_base / "theirs"
    theirs.mkdir()
    victim = open_base / "etc"        # stands for a system directory
    victim.mkdir()
    os.symlink(victim, theirs / "usb")
    os.lchown(theirs / "usb", NOBODY.pw_uid, NOBODY.pw_gid)
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    mount_point = theirs / "usb" / "m1"
    medium = lab.media[0][1]
    lab.config_path.write_text(lab.config_path.read_text().replace(f'"{medium}"', f'"{mount_point}"'))
    lab.on_device(mount_point, disk_image)

    try:
        done = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "loc"],
                              capture_output=True, text=True, timeout=120)
    finally:
        if os.path.ismount(victim / "m1"):
            subprocess.run(["umount", "-l", str(victim / "m1")])

    assert not (victim / "m1").exists(), "root made the mount point (and mounted the disk) where their symlink led"
    assert done.returncode != 0 and "Traceback" not in done.stdout + done.stderr, done.stderr
    assert f"{theirs} belongs to user nobody" in done.stdout + done.stderr, done.stdout + done.stderr
    assert f"mounted {disk_image}" not in done.stdout + done.stderr
