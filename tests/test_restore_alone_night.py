"""A restore that runs alone (no room for its lock files: the state directory's own flock held
whole) while the night's run-due starts: each backup it refuses is a failure said and notified, not
"a backup of it began meanwhile" logged with exit code 0 (a silent night, as many as the restore
waits at its question); so is its cleanup. Real rsync, a real small tmpfs, a restore stopped at a fault point."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.test_restore_lock_unmade import restoring_alone
from tests.test_state_dir_full import _rabtui
from tests.trees import Lab, notify_into_file, write_files

NIGHT = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%dT02:05")


def test_a_night_whose_backups_a_restore_running_alone_refuses_is_said_failed_and_notified(tmp_path, tmpfs):
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=16m,nr_inodes=400") / "state"
    lab.local(extra='schedule = "0 2 * * *"')
    sent = notify_into_file(lab, tmp_path)
    data = lab.src / "data"
    write_files(data, {"a": b"a"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    with restoring_alone(lab, tmp_path) as restoring:
        night = _rabtui(lab, "run-due", "--now", NIGHT)
    said = night.stdout + night.stderr
    assert night.returncode == 1 and "Traceback" not in said, said
    assert f"is running alone (pid {restoring.pid})" in night.stderr, said
    assert "began meanwhile" not in said, said
    # the night's cleanup refused too (it ran beside the restore before): failed, notified
    assert [e["kind"] for e in sent() if "running alone" in e.get("message", "")] == ["backup_failed",
                                                                                     "cleanup_failed"], sent()
    assert "loc: due" in _rabtui(lab, "run-due", "--now", NIGHT).stdout     # still due: its time not marked done
