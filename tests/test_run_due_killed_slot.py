"""A run-due killed after its backup ended: the schedule time it was for counts as done as one
whose run-due lived counts it, once the backup is recorded complete (by the next run's recovery of
it, or at once where its row said so already); one killed before its backup was complete leaves the
time due (its data kept when its transfer had ended whole), and the next run-due backs the source up
again. Real run-dues, killed at fault points."""

from __future__ import annotations

import pytest

from tests.test_kill_anywhere import _killed, rabtui
from tests.trees import Lab, write_files

NIGHT, LATER = "2026-10-01T02:05", "2026-10-01T02:20"


def _statuses(lab: Lab) -> list[str]:
    return [r["status"] for r in lab.store().all("SELECT status FROM backups ORDER BY id")]


@pytest.mark.parametrize("point", ["backup.json_written", "run_due.backup_ended"])
def test_a_run_due_killed_once_its_backup_was_complete_is_not_followed_by_another_that_night(tmp_path, point):
    lab = Lab(tmp_path, media_count=1)
    lab.local(extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    _killed(rabtui(lab, "run-due", "--now", NIGHT, point=point))

    again = rabtui(lab, "run-due", "--now", LATER)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _statuses(lab) == ["completed"], again.stdout + again.stderr
    if point == "backup.json_written":      # recovered complete by the run-due after it
        assert "loc: backed up by a run-due that was killed once the backup was complete" in again.stdout
    assert "loc: due" not in rabtui(lab, "run-due", "--now", LATER).stdout


def test_a_run_due_killed_before_its_backup_was_complete_leaves_the_time_due(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    lab.local(extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    _killed(rabtui(lab, "run-due", "--now", NIGHT, point="backup.catalog"))

    again = rabtui(lab, "run-due", "--now", LATER)
    assert again.returncode == 0, again.stdout + again.stderr
    assert _statuses(lab) == ["kept", "completed"], again.stdout + again.stderr


def test_the_time_a_killed_run_due_backed_up_outlives_its_job_row(tmp_path):
    """The time is marked as one whose run-due lived marks it: it stays done once the killed run's
    job row is gone (the job's record of the time is no mark of it)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local(extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    _killed(rabtui(lab, "run-due", "--now", NIGHT, point="run_due.backup_ended"))
    again = rabtui(lab, "run-due", "--now", LATER)
    assert again.returncode == 0 and "loc: due" not in again.stdout, again.stdout + again.stderr

    store = lab.store()
    store.execute("UPDATE backups SET job_id=NULL")
    store.execute("DELETE FROM jobs")
    store.close()
    last = rabtui(lab, "run-due", "--now", LATER)
    assert last.returncode == 0 and "loc: due" not in last.stdout, last.stdout + last.stderr
    assert _statuses(lab) == ["completed"]


def test_a_time_a_killed_run_due_began_is_backed_up_again_onto_the_medium_it_began_on(tmp_path):
    """Killed (a power cut) as it backed up the second night onto m2, the next in the rotation:
    the run-due after it the same night (the timer again, after the reboot) took m2 for used and
    went on to m1, the night before's medium (on the shelf by then, in a rotation of disks)."""
    lab = Lab(tmp_path, media_count=2)
    lab.local(extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    assert rabtui(lab, "run-due", "--now", NIGHT).returncode == 0
    _killed(rabtui(lab, "run-due", "--now", "2026-10-02T02:05", point="backup.step5"))
    again = rabtui(lab, "run-due", "--now", "2026-10-02T02:40")
    assert again.returncode == 0, again.stdout + again.stderr
    rows = [(r["medium"], r["status"]) for r in lab.store().all("SELECT medium, status FROM backups ORDER BY id")]
    assert rows == [("m1", "completed"), ("m2", "kept"), ("m2", "completed")], again.stdout + again.stderr
