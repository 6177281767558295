"""A timer starts run-due every 15 minutes: one with nothing due leaves a medium that has a `device`
alone (no mount, no USB disk spun up four times an hour); its cleanup runs when the night's work calls
for it: after backups due, once a backup was made by hand since, or once a day. Real run-dues, a
real disk image mounted by rabtui; its ext2 superblock counts the read-write mounts."""

from __future__ import annotations

import os
import subprocess

from tests.test_kill_anywhere import rabtui
from tests.trees import Lab, write_files

THURSDAY = "2026-10-01T03:00"     # a weekly source's night


def _mount_count(image) -> int:
    out = subprocess.run(["dumpe2fs", "-h", str(image)], capture_output=True, text=True, check=True).stdout
    return next(int(line.split(":")[1]) for line in out.splitlines() if line.startswith("Mount count:"))


def _run_due(lab: Lab, when: str) -> str:
    done = rabtui(lab, "run-due", "--now", when)
    out = done.stdout + done.stderr
    assert done.returncode == 0, out
    return out


def _weekly_on_a_device(tmp_path, disk_image):
    """A weekly source of one file, and a medium mounted from `disk_image`: the lab, its mount point."""
    lab = Lab(tmp_path, media_count=1)
    lab.local(extra='schedule = "0 2 * * 4"')
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    write_files(lab.src / "data", {"a": b"a1"})
    return lab, m1


def test_a_run_due_with_nothing_due_leaves_a_device_medium_alone(tmp_path, disk_image):
    lab, m1 = _weekly_on_a_device(tmp_path, disk_image)
    assert "loc: completed" in _run_due(lab, THURSDAY)
    after_the_night = _mount_count(disk_image)

    for when in ("2026-10-01T03:15", "2026-10-01T03:30", "2026-10-01T23:45"):
        out = _run_due(lab, when)
        assert "mounted" not in out, out
        assert _mount_count(disk_image) == after_the_night, (when, out)
    assert not os.path.ismount(m1)

    # a day after the cleanup before: what aged out of retention meanwhile goes within the day
    out = _run_due(lab, "2026-10-02T03:15")
    assert _mount_count(disk_image) == after_the_night + 1, out
    assert not os.path.ismount(m1)
    _run_due(lab, "2026-10-02T03:30")
    assert _mount_count(disk_image) == after_the_night + 1


def test_a_backup_made_by_hand_calls_for_the_next_run_due_s_cleanup(tmp_path, disk_image):
    """What a backup made by hand supersedes goes at the next run-due, not a day later."""
    lab, m1 = _weekly_on_a_device(tmp_path, disk_image)
    _run_due(lab, THURSDAY)
    made = rabtui(lab, "backup", "loc")
    assert made.returncode == 0, made.stdout + made.stderr
    by_hand = _mount_count(disk_image)

    _run_due(lab, "2026-10-01T03:15")
    assert _mount_count(disk_image) == by_hand + 1
    _run_due(lab, "2026-10-01T03:30")
    assert _mount_count(disk_image) == by_hand + 1
    assert not os.path.ismount(m1)
