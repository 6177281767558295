"""A run-due killed once its backup was complete on a medium that has a `device`, the medium then
unmounted (a reboot): the next run-due mounts it to recover the killed run before it decides the
schedule time is still due. Real run-dues, a real disk image mounted by rabtui."""

from __future__ import annotations

import os

from tests.test_kill_anywhere import killed_on_a_device, rabtui
from tests.test_run_due_killed_slot import LATER, NIGHT, _statuses


def test_a_killed_run_due_s_medium_that_needs_mounting_is_recovered_before_the_check(tmp_path, disk_image):
    lab, m1 = killed_on_a_device(tmp_path, disk_image, "run-due", "--now", NIGHT, extra='schedule = "0 2 * * *"')

    again = rabtui(lab, "run-due", "--now", LATER)
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    assert _statuses(lab) == ["completed"], out
    assert "loc: backed up by a run-due that was killed once the backup was complete" in out, out
    said = [r["message"] for r in lab.store().all("SELECT message FROM events WHERE kind='warning'"
                                                  " AND message LIKE 'found an interrupted backup of loc%'")]
    assert len(said) == 1 and "recorded as such" in said[0], said
    assert not os.path.ismount(m1), out


def test_a_killed_backup_s_medium_that_needs_mounting_is_recovered_once_said_once(tmp_path, disk_image):
    """`backup` after a killed one, its medium unmounted since: the killed run is recovered once the
    backup has mounted the medium, and said once (it was said first left as it was, its medium not
    there, then recovered)."""
    lab, m1 = killed_on_a_device(tmp_path, disk_image, "backup", "loc")

    again = rabtui(lab, "backup", "loc")
    out = again.stdout + again.stderr
    assert again.returncode == 0, out
    assert _statuses(lab) == ["completed", "completed"], out
    said = [r["message"] for r in lab.store().all("SELECT message FROM events WHERE kind='warning'"
                                                  " AND message LIKE 'found an interrupted backup of loc%'")]
    assert len(said) == 1 and "recorded as such" in said[0], said


def test_a_run_killed_as_its_mount_of_the_medium_ends_leaves_it_to_the_next_user_to_unmount(tmp_path, disk_image):
    """Killed once `mount` has mounted the medium, before the process noted that rabtui mounted it
    (a kill while `mount` runs: the kernel makes the mount all the same): the next backup took the
    mount for one made by hand and left the medium mounted for ever."""
    lab, m1 = killed_on_a_device(tmp_path, disk_image, "backup", "loc", point="medium.mounted", unmount=False)
    assert os.path.ismount(m1)

    again = rabtui(lab, "backup", "loc")
    assert again.returncode == 0, again.stdout + again.stderr
    assert not os.path.ismount(m1), again.stdout + again.stderr
