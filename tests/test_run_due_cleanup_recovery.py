"""run-due and the cleanup's recovery of killed runs: a state database that fails while the cleanup
records a killed run (its state directory filling up) fails the cleanup, said and notified, and
run-due goes on to its health check; a source whose lock that recovery holds when its time comes is
left to the next run-due, said as what it is. Real processes, killed and stopped at their fault points."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

from rabtui import faults
from tests import held, preloaded
from tests.test_kill_anywhere import _killed, rabtui
from tests.test_state_dir_full import _run_filling_at
from tests.trees import Lab, write_files


def _killed_run(lab: Lab, extra: str = "") -> None:
    """A local source `loc` (`extra`: more lines of its table) whose backup onto m1 was killed as it
    made its directory: a `running` row the next backup or cleanup recovers."""
    lab.local(extra=extra)
    write_files(lab.src / "data", {"a": b"a"})
    _killed(rabtui(lab, "backup", "loc", "--medium", "m1", point="backup.dir_made"))
    assert lab.store().one("SELECT status FROM backups ORDER BY id DESC LIMIT 1")["status"] == "running"


def _full_at_recovery(tmp_path, tmpfs, alert: str):
    """A killed run of `loc` (with a checkpoint config: it is due), its state directory on a small
    tmpfs, `alert` the notify command's script (the file the events go to: NOTIFIED, the filler:
    FILLER); then run-due, the state directory filled up as its cleanup is about to record the
    killed run. (lab, run-due's result, the kind, check and level of each event notified)."""
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=6m") / "state"
    notified, script = tmp_path / "notified", tmp_path / "alert.sh"
    script.write_text(alert.replace("NOTIFIED", str(notified)).replace("FILLER", str(lab.state.parent / "filler")))
    lab.local()
    write_files(lab.src / "data", {"b": b"b"})
    assert rabtui(lab, "backup", "loc").returncode == 0      # a checkpoint of it is due
    _killed_run(lab)
    lab.with_discs("4MiB", more=f'[notify]\ncommand = "sh {script}"\n')
    done = _run_filling_at(lab, "cleanup.recovering", "run-due")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stdout + done.stderr
    assert "rabtui: cleanup: the state database" in done.stderr and "cannot be written" in done.stderr, done.stderr
    events = [json.loads(line) for line in notified.read_text().splitlines() if line.strip()]
    return lab, done, [(e["kind"], e["data"].get("check"), e["level"]) for e in events]


def test_a_state_database_failing_in_the_cleanups_recovery_leaves_run_due_its_health_check(tmp_path, tmpfs):
    """The state directory fills up as run-due's cleanup records a killed run: the cleanup fails
    (said, notified: the operator's alert script frees the room), and the health check runs after
    it (its changes notified). The database error ended run-due whole, the health check skipped."""
    lab, done, events = _full_at_recovery(tmp_path, tmpfs, "cat >> NOTIFIED; echo >> NOTIFIED; rm -f FILLER\n")
    kinds = [kind for kind, _check, _level in events]
    assert kinds[0] == "cleanup_failed" and "health" in kinds[1:], kinds
    assert lab.store().one("SELECT COUNT(*) FROM health WHERE level!='ok'")[0] > 0
    assert "checkpoint due: loc:" in done.stdout, done.stdout

    again = rabtui(lab, "cleanup")      # room back: the killed run is recovered now
    assert again.returncode == 0, again.stdout + again.stderr
    assert lab.store().one("SELECT status FROM backups ORDER BY id DESC LIMIT 1")["status"] == "abandoned"


def test_a_health_check_the_full_state_directory_cannot_record_is_said_and_run_due_goes_on(tmp_path, tmpfs):
    """The state directory stays full: the health check cannot record its changes either; said as
    the health check's failure, and the checkpoints due are named all the same. Its changes are
    notified still, `full:state` among them, with the database's failure (`state`); they were not,
    the full directory keeping its own alert from the operator."""
    _lab, done, events = _full_at_recovery(tmp_path, tmpfs, "cat >> NOTIFIED; echo >> NOTIFIED\n")
    assert events[0][0] == "cleanup_failed", events
    health = {(check, level) for kind, check, level in events[1:] if kind == "health"}
    assert {("full:state", "critical"), ("state", "critical")} <= health, events
    assert "rabtui: health check: the state database" in done.stderr, done.stderr
    assert done.stderr.count("cannot be written") == 2, done.stderr
    assert "checkpoint due: loc:" in done.stdout, done.stdout


def test_a_source_whose_killed_runs_a_cleanup_recovers_is_left_to_the_next_run_due_said_so(tmp_path):
    """run-due comes while a cleanup holds the lock of a scheduled source to recover its killed run:
    it says the cleanup holds it (pid, command), not that a backup of it is under way, and the next
    run-due backs it up."""
    lab = Lab(tmp_path, media_count=1)
    _killed_run(lab, extra='schedule = "0 2 * * *"')
    env = {k: v for k, v in os.environ.items() if k != faults.ENV} | {faults.STOP_ENV: "cleanup.recovering"}
    cleanup = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "cleanup"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                              stdin=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while cleanup.poll() is None and time.monotonic() < deadline:
            if held.stopped(cleanup.pid):    # not once it has ended, which its waiter may say after /proc does
                break
            time.sleep(0.05)
        assert cleanup.poll() is None, cleanup.communicate()
        due = rabtui(lab, "run-due")
    finally:
        cleanup.send_signal(signal.SIGCONT)
        out, err = cleanup.communicate(timeout=60)
    assert cleanup.returncode == 0, out + err
    said = due.stdout + due.stderr
    assert due.returncode == 0, said
    assert f"and a cleanup recovering loc's interrupted backups (pid {cleanup.pid}" in said, said
    assert "holds its lock: left to the next run-due" in said and "a backup of it is under way" not in said, said
    assert lab.store().one("SELECT COUNT(*) FROM backups")[0] == 1

    after = rabtui(lab, "run-due")
    assert after.returncode == 0, after.stdout + after.stderr
    assert [r["status"] for r in lab.store().all("SELECT status FROM backups ORDER BY id")] == \
        ["abandoned", "completed"]
