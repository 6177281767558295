"""A backup whose post-backup command failed is kept: its data whole and restorable. The age of a
source's data is judged by the newest backup that holds it, kept ones too (check's stale and clock
rules, the Prometheus gauge and RabtuiBackupTooOld, status's last complete backup); the command's
failure is a warning of its own (failed:SOURCE)."""

from __future__ import annotations

import json
import shutil
from datetime import datetime

from rabtui.cli import main
from rabtui.ops import health
from tests.trees import Lab, ssh_source_lines, write_files


def _problems(lab: Lab, at: str) -> dict[str, str]:
    return {p.check_id: p.level for p in health.run_checks(lab.load(), lab.store(), datetime.fromisoformat(at))}


def test_a_source_whose_post_command_fails_every_night_is_judged_by_its_kept_backups(tmp_path, sshd, capsys):
    """Daily at 02:00 over SSH: `web`'s post command fails from the second night on, `only`'s every
    night (its only backups kept). Neither is stale, nor never backed up, while last night's data is
    safe: each says its failed command (failed:SOURCE), the gauge gives the kept backup's start, and
    status gives it as the last complete; a night missed is stale as before."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"a": b"a"})
    flag = tmp_path / "post-fails"
    dirs = f'schedule = "0 2 * * *"\n[[sources.directories]]\npath = "{data}"\n'
    lab.write(ssh_source_lines(sshd, "web") + f"post_backup_commands = [\"test ! -e '{flag}'\"]\n" + dirs
              + ssh_source_lines(sshd, "only") + 'post_backup_commands = ["exit 1"]\n' + dirs)
    lab.trust(sshd)
    for path in (lab.state, lab.state / "known_hosts"):
        path.chmod(0o700)
    args = ["--config", str(lab.config_path)]
    assert main([*args, "run-due", "--now", "2026-10-01T02:05"]) == 1
    flag.touch()
    assert main([*args, "run-due", "--now", "2026-10-02T02:05"]) == 1
    store = lab.store()
    assert sorted((r["source"], r["started"], r["status"]) for r in store.all("SELECT * FROM backups")) == [
        ("only", datetime(2026, 10, d, 2, 5).timestamp(), "kept") for d in (1, 2)] + [
        ("web", datetime(2026, 10, 1, 2, 5).timestamp(), "completed"), ("web", datetime(2026, 10, 2, 2, 5).timestamp(), "kept")]
    store.execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?",      # no checkpoint due
                  (datetime(2026, 10, 2, 3).timestamp(),))
    capsys.readouterr()

    assert _problems(lab, "2026-10-03T03:00") == {"failed:web": "warning", "failed:only": "warning"}
    prom = tmp_path / "rabtui.prom"
    assert main([*args, "check", "--now", "2026-10-03T03:00", "--prometheus", str(prom)]) == 1
    kept_at = datetime(2026, 10, 2, 2, 5).timestamp()
    for source in ("web", "only"):
        assert f'rabtui_last_backup_timestamp_seconds{{source="{source}"}} {kept_at:.0f}' in prom.read_text()
    capsys.readouterr()
    assert main([*args, "status", "--json"]) == 0
    status = {s["id"]: s for s in json.loads(capsys.readouterr().out)["sources"]}
    for source in ("web", "only"):
        assert status[source]["last_complete"]["status"] == "kept", status[source]
        assert status[source]["last_complete"]["name"] == status[source]["last"]["name"], status[source]

    # the night after missed: stale (critical) by the kept backup's age, and the alert says it
    assert _problems(lab, "2026-10-04T03:00") == {"failed:web": "warning", "failed:only": "warning",
                                                  "stale:web": "critical", "stale:only": "critical"}
    assert main([*args, "check", "--now", "2026-10-04T03:00", "--prometheus", str(prom)]) == 2
    assert "source only: newest backup is 2.0 days old, none made for its scheduled time 2026-10-03 02:00" \
        in capsys.readouterr().out
    if shutil.which("promtool"):
        from tests.test_prometheus_rules import _duration, _expect, _promtool_test, _test_group

        age = _duration(int(datetime(2026, 10, 4, 3).timestamp() - kept_at))
        _promtool_test(tmp_path, _test_group("kept", prom.read_text(), {"10m": {
            "RabtuiBackupTooOld": [_expect("RabtuiBackupTooOld", source="only", _value=age),
                                   _expect("RabtuiBackupTooOld", source="web", _value=age)],
            "RabtuiBackupFailed": [_expect("RabtuiBackupFailed", check="failed:only"),
                                   _expect("RabtuiBackupFailed", check="failed:web")]}}))


def test_a_kept_backup_made_for_a_time_counts_for_the_edited_schedules_time_as_run_due_counts_it(tmp_path, capsys):
    """run-due made a backup for 02:00 whose post command failed; the schedule then moved to 03:00.
    run-due counts that backup for 03:00 (no second backup that day), and so does check: not stale
    for 03:00 (it was, a day later: the time a kept backup was made for counted for nothing)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"\npost_backup_commands = ["exit 1"]')
    write_files(lab.src / "data", {"a": b"a"})
    args = ["--config", str(lab.config_path)]
    assert main([*args, "run-due", "--now", "2026-10-02T02:05"]) == 1
    lab.config_path.write_text(lab.config_path.read_text().replace('"0 2 * * *"', '"0 3 * * *"'))
    capsys.readouterr()
    assert main([*args, "run-due", "--now", "2026-10-02T03:05"]) == 0
    assert "loc:" not in capsys.readouterr().out
    lab.store().execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?",      # no checkpoint due
                        (datetime(2026, 10, 2, 3).timestamp(),))
    assert _problems(lab, "2026-10-03T04:00") == {"failed:loc": "warning"}


def test_kept_data_that_left_files_out_says_both(tmp_path, sshd, open_base, capsys):
    """rsync could not read a file (rsync 23) and the post command failed: the backup is kept, and
    check says both, the files left out (partial:SOURCE, RabtuiBackupIncomplete) beside the failed
    command (only the latter was said, night after night while the command failed)."""
    lab = Lab(tmp_path, media_count=1)
    data = open_base / "data"
    write_files(data, {"open.txt": b"o", "secret.db": b"s"})
    for path, mode in ((data, 0o755), (data / "open.txt", 0o644), (data / "secret.db", 0o600)):
        path.chmod(mode)
    lab.write(ssh_source_lines(sshd) + 'rsync_path = "setpriv --reuid=nobody --regid=nogroup --clear-groups rsync"\n'
              + f'post_backup_commands = ["exit 1"]\n[[sources.directories]]\npath = "{data}"\n')
    lab.trust(sshd)
    for path in (lab.state, lab.state / "known_hosts"):
        path.chmod(0o700)
    assert lab.backup(lab.load(), "web").status == "failed"
    store = lab.store()
    assert store.one("SELECT status FROM backups")["status"] == "kept"
    store.execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?", (datetime.now().timestamp(),))
    problems = health.run_checks(lab.load(), store)
    assert {p.check_id: p.level for p in problems} == {"failed:web": "warning", "partial:web": "warning"}, problems
    assert "secret.db" in next(p.message for p in problems if p.check_id == "partial:web")


def test_status_says_the_last_complete_backup_is_a_kept_one(tmp_path, capsys):
    """The last run failed, the one before kept (its post command failed, the data whole): status
    named the latter "last complete" as if nothing had failed in it."""
    lab = Lab(tmp_path, media_count=1)
    flag = tmp_path / "pre-fails"
    cfg = lab.local([("data", "standard")], extra=f"pre_backup_commands = [\"test ! -e '{flag}'\"]\n"
                                                  'post_backup_commands = ["exit 1"]')
    write_files(lab.src / "data", {"a": b"a"})
    assert lab.backup(cfg).status == "failed"
    flag.touch()
    assert lab.backup(cfg).status == "failed"
    assert [r["status"] for r in lab.store().all("SELECT status FROM backups ORDER BY id")] == ["kept", "failed"]
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "status"]) == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  loc "))
    assert line.startswith("  loc (local): failed ") and line.endswith(
        " ago (kept: the data saved whole, then its run failed)") and "; last complete " in line, line
