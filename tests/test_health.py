"""Health checks: each problem and its exit code, the health table and the notification on change,
prometheus textfile, and notify_command receiving the JSON event."""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import time
from datetime import date, datetime, timedelta

import pytest

from rabtui.ops import health, health_changes
from rabtui.ops import notify
from rabtui.cli import main
from tests.trees import Lab, ssh_source_lines, write_files

T0 = datetime(2026, 8, 10, 3, 0)


def _notify_script(tmp_path):
    """A notify_command: a small script that appends its stdin to a file."""
    out = tmp_path / "events.jsonl"
    script = tmp_path / "alert.py"
    script.write_text(f"import sys\nopen({str(out)!r}, 'a').write(sys.stdin.read())\n")
    return f"{sys.executable} {script}", out


def _lab(tmp_path, extra: str = "", media_count=1):
    lab = Lab(tmp_path, media_count=media_count)
    cmd, out = _notify_script(tmp_path)
    lab.local([("data", "standard")], extra=extra)
    text = lab.config_path.read_text().replace("[[media]]", f'[notify]\ncommand = "{cmd}"\n\n[[media]]', 1)
    lab.config_path.write_text(text)
    return lab, lab.load(), out


def _ids(problems):
    return {p.check_id: p.level for p in problems}


def test_stale_backup_exit_codes_and_notification_on_change(tmp_path, capsys):
    lab, cfg, events = _lab(tmp_path)
    store = lab.store()
    # never backed up: warning
    assert _ids(health.run_checks(cfg, store, T0)) == {"stale:loc": "warning"}
    write_files(lab.src / "data", {"a": b"a"})
    res = lab.backup(cfg, now=T0)
    store.execute("UPDATE backups SET started=? WHERE id=?", (T0.timestamp(), res.backup_id))
    store.execute("UPDATE media SET last_used=?", (T0.timestamp(),))
    store.execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?", (T0.timestamp(),))
    args = ["--config", str(lab.config_path), "check", "--now"]
    assert main(args + [(T0 + timedelta(days=1)).isoformat()]) == 0
    assert "OK" in capsys.readouterr().out
    events.unlink(missing_ok=True)
    code = main(args + [(T0 + timedelta(days=3)).isoformat(), "--prometheus", str(tmp_path / "rabtui.prom")])
    out = capsys.readouterr().out
    assert code == 2 and "CRITICAL: source loc: newest backup is 3.0 days old" in out
    sent = [json.loads(line) for line in events.read_text().splitlines()]
    assert [(e["kind"], e["level"], e["source"], e["data"]["check"]) for e in sent] == [
        ("health", "critical", "loc", "stale:loc")]
    prom = (tmp_path / "rabtui.prom").read_text()
    assert "rabtui_health_status 2" in prom and 'rabtui_check_status{check="stale:loc"} 2' in prom
    # the same state again: no new notification; back to normal: one
    main(args + [(T0 + timedelta(days=3, hours=1)).isoformat()])
    assert len(events.read_text().splitlines()) == 1
    main(args + [(T0 + timedelta(hours=5)).isoformat()])
    last = json.loads(events.read_text().splitlines()[-1])
    assert (last["level"], last["data"]["previous"]) == ("ok", "critical")
    assert store.one("SELECT level FROM health WHERE check_id='stale:loc'")["level"] == "ok"


def test_size_space_rotation_checkpoint_and_jobs(tmp_path):
    lab, cfg, _ = _lab(tmp_path, media_count=2)
    store = lab.store()
    now = T0.timestamp()
    store.execute("INSERT INTO backups(source, medium, name, path, status, started, new_bytes) VALUES"
                  " ('loc','m1','backup-20260810020000',?,'completed',?,?)",
                  (str(lab.media[0][1] / "loc" / "backup-20260810020000"), now - 3600, 6000 * 1024 * 1024))
    store.execute("INSERT INTO backup_dirs(backup_id, path, kind) VALUES (1, ?, 'standard')", (str(lab.src / "data"),))
    # m1 recorded as 99% full (it is not mounted as itself here), m2 unused for 30 days
    store.execute("INSERT INTO media(id, last_used, total_bytes, free_bytes, total_inodes, free_inodes) VALUES"
                  " ('m1', ?, 1000, 10, 100, 90)", (now - 3600,))
    store.execute("INSERT INTO media(id, last_used, total_bytes, free_bytes) VALUES ('m2', ?, 1000, 900)",
                  (now - 30 * 86400,))
    (lab.media[0][1] / ".rabtui-medium").write_text('{"id": "other"}')
    (lab.media[1][1] / ".rabtui-medium").write_text('{"id": "other"}')
    store.execute("INSERT INTO dir_state(source, path, changed_since_checkpoint) VALUES ('loc', ?, 20000)",
                  (str(lab.src / "data"),))
    # a job whose process (this one) runs, with no heartbeat since it began: stuck 11 minutes later
    # (its heartbeat is of this process's lifetime: a pid's process that began later is another's)
    began = datetime.now().timestamp()
    store.execute("INSERT INTO jobs(kind, title, pid, status, started, heartbeat) VALUES"
                  " ('backup', 'stuck one', ?, 'running', ?, ?)", (os.getpid(), began, began))
    store.execute("INSERT INTO jobs(kind, title, pid, status, started, heartbeat) VALUES"
                  " ('backup', 'dead one', 999999, 'running', ?, ?)", (now - 60, now - 60))
    found = _ids(health.run_checks(cfg, store, T0))
    assert found == {
        "size:loc:m1": "warning",
        "space:m1": "critical",
        "rotation:m2": "warning",
        f"checkpoint:loc:{lab.src / 'data'}": "warning",
        "job:2": "critical",
    }
    assert _ids(health.run_checks(cfg, store, datetime.fromtimestamp(began + 660)))["job:1"] == "warning"
    problems = health.run_checks(cfg, store, T0)
    assert health.exit_code(problems) == 2
    assert health.exit_code([p for p in problems if p.level == "warning"]) == 1
    assert any("99% of its space" in p.message for p in problems)


def test_notify_pause_and_failures_never_raise(tmp_path):
    lab, cfg, events = _lab(tmp_path, extra="pause_notifications_until = 2026-09-01")
    ev = notify.make_event("backup_failed", "failed", "it broke", source="loc")
    assert notify.send(cfg, ev, today=date(2026, 8, 31)) == [] and not events.exists()
    assert notify.send(cfg, ev, today=date(2026, 9, 1)) == []
    got = json.loads(events.read_text())
    assert (got["kind"], got["source"], got["message"]) == ("backup_failed", "loc", "it broke")
    # a broken command is reported, not raised
    import dataclasses

    broken = dataclasses.replace(cfg, notify=dataclasses.replace(cfg.notify, command="/nonexistent/alert"))
    problems = notify.send(broken, notify.make_event("health", "warning", "x"))
    # a path is not a package to install
    assert problems == ["notify command failed: /nonexistent/alert: no such file"], problems
    assert notify.command_argv("/usr/bin/alert --to 'ops team'") == ["/usr/bin/alert", "--to", "ops team"]


def test_a_notify_command_that_queues_its_mail_in_the_background_is_not_waited_for(tmp_path):
    # a mailer that forks and keeps the command's output open: the notification was handed over
    lab, cfg, events = _lab(tmp_path)
    seconds = f"{1000 + random.random():.6f}"
    script = tmp_path / "alert.sh"
    script.write_text(f"cat > {events}; sleep {seconds} & echo queued\n")
    import dataclasses

    cfg = dataclasses.replace(cfg, notify=dataclasses.replace(cfg.notify, command=f"sh {script}"))
    started = time.monotonic()
    try:
        problems = notify.send(cfg, notify.make_event("health", "warning", "x"))
        took = time.monotonic() - started
        left = subprocess.run(["pgrep", "-f", f"^sleep {seconds}$"], capture_output=True, text=True).stdout.split()
    finally:
        subprocess.run(["pkill", "-KILL", "-f", f"^sleep {seconds}$"])
    assert (problems, len(left)) == ([], 1), (problems, left)
    assert took < 10, f"the notification took {took:.1f} s"
    assert json.loads(events.read_text())["message"] == "x"


def test_a_backup_that_left_files_out_is_not_ok(tmp_path, sshd, open_base, capsys):
    """rsync 23 (a file the source's rsync could not read) and a source with no directories end a
    backup "with warnings": complete, but the operator's files are not all saved; `check` says so,
    and so do the metrics and the rules, until a backup saves them."""
    from tests.test_prometheus_rules import _expect, _promtool_test, _test_group

    lab = Lab(tmp_path, media_count=1)
    data = open_base / "data"
    write_files(data, {"open.txt": b"o", "secret.db": b"s"})
    for path, mode in ((open_base, 0o755), (data, 0o755), (data / "open.txt", 0o644), (data / "secret.db", 0o600)):
        path.chmod(mode)
    nobody = 'rsync_path = "setpriv --reuid=nobody --regid=nogroup --clear-groups rsync"\n'
    # and a directory that may be missing (allow_empty), missing: the operator's choice, not a file left out
    lab.write(ssh_source_lines(sshd) + nobody + f'[[sources.directories]]\npath = "{data}"\n'
              + '[[sources]]\nid = "nodirs"\n'
              + f'[[sources]]\nid = "maybe"\n[[sources.directories]]\npath = "{lab.src / "gone"}"\nallow_empty = true\n')
    lab.state.mkdir(mode=0o700)
    (lab.state / "known_hosts").write_text(sshd.known_hosts_line())
    (lab.state / "known_hosts").chmod(0o600)
    args = ["--config", str(lab.config_path)]
    assert main([*args, "backup", "web", "nodirs", "maybe"]) == 3
    capsys.readouterr()
    store = lab.store()
    store.execute("INSERT OR IGNORE INTO dir_state(source, path) VALUES ('maybe', ?)", (str(lab.src / "gone"),))
    store.execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?", (datetime.now().timestamp(),))
    prom = tmp_path / "rabtui.prom"
    assert main([*args, "check", "--prometheus", str(prom)]) == 1
    out = capsys.readouterr().out
    assert _ids(health.run_checks(lab.load(), store)) == {"partial:web": "warning", "partial:nodirs": "warning"}, out
    assert "secret.db" in out and "Permission denied" in out and "no directories" in out, out
    if shutil.which("promtool"):
        _promtool_test(tmp_path, _test_group("partial", prom.read_text(), {"10m": {"RabtuiBackupIncomplete": [
            _expect("RabtuiBackupIncomplete", check="partial:nodirs"), _expect("RabtuiBackupIncomplete", check="partial:web")]}}))
    (data / "secret.db").chmod(0o644)
    assert main([*args, "backup", "web"]) == 0
    assert _ids(health.run_checks(lab.load(), store)) == {"partial:nodirs": "warning"}


def test_a_weekly_source_is_not_stale_between_its_scheduled_times(tmp_path, capsys):
    """A source backed up on Sundays is two days old on Tuesday: its schedule says no backup was due
    since, so `check` says nothing of it and RabtuiBackupTooOld stays quiet; once a Sunday passes
    without a backup (a day to finish allowed), it is stale and both say so."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * 0"')
    write_files(lab.src / "data", {"a": b"a"})
    args = ["--config", str(lab.config_path)]
    assert main([*args, "run-due", "--now", "2026-10-04T02:05"]) == 0          # a Sunday
    lab.store().execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?",
                        (datetime(2026, 10, 4, 3).timestamp(),))
    prom = tmp_path / "rabtui.prom"
    for when, code in (("2026-10-07T12:00", 0), ("2026-10-12T01:00", 0), ("2026-10-12T03:00", 2)):
        capsys.readouterr()
        assert main([*args, "check", "--now", when, "--prometheus", str(prom)]) == code, capsys.readouterr().out
        if shutil.which("promtool"):
            from tests.test_prometheus_rules import _duration, _expect, _promtool_test, _series, _test_group

            _rows, now = _series(prom.read_text())
            age = _duration(int(now - datetime(2026, 10, 4, 2, 5).timestamp()))
            firing = {"RabtuiBackupTooOld": [_expect("RabtuiBackupTooOld", source="loc", _value=age)]} if code else {}
            _promtool_test(tmp_path, _test_group("weekly", prom.read_text(), {"10m": firing}))
    assert "CRITICAL: source loc: newest backup is 8.0 days old" in capsys.readouterr().out


def test_a_scheduled_time_passed_by_a_day_without_its_backup_is_stale_however_late_the_one_before_began(tmp_path, capsys):
    """Daily at 02:00; the machine off until 20:00, when run-due caught the day's time up; off
    again over the next day's. That time passed by a day at 02:00 the day after: stale then, not
    once the late backup was two days old (18 hours later), and RabtuiBackupTooOld fires with it. A
    backup by hand that late, the time before it missed, waits no longer; nor does an hourly source
    (a time a day ago, nothing since)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    args = ["--config", str(lab.config_path)]
    assert main([*args, "run-due", "--now", "2026-10-01T20:00"]) == 0
    assert "loc: due (schedule time 2026-10-01 02:00)" in capsys.readouterr().out

    def stale(at: datetime, schedule: str = "0 2 * * *") -> str | None:
        cfg = lab.write(lab._local_source([("data", "standard")], f'schedule = "{schedule}"', "loc"))
        return next((p.message for p in health.run_checks(cfg, lab.store(), at) if p.check_id == "stale:loc"), None)

    assert stale(datetime(2026, 10, 3, 1, 55)) is None
    assert stale(datetime(2026, 10, 3, 2, 5)) == ("source loc: newest backup is 1.3 days old, none made for its"
                                                  " scheduled time 2026-10-02 02:00")
    lab.store().execute("DELETE FROM schedule_history")     # hourly as long as known: no edit on record
    assert stale(datetime(2026, 10, 2, 20, 30), "0 * * * *") is None
    assert stale(datetime(2026, 10, 2, 21, 5), "0 * * * *") is not None
    lab.store().execute("UPDATE jobs SET due_slot=NULL")                    # as a backup by hand
    assert stale(datetime(2026, 10, 3, 1, 55)) is None and stale(datetime(2026, 10, 3, 2, 5)) is not None
    if shutil.which("promtool"):
        from tests.test_prometheus_rules import _duration, _expect, _promtool_test, _test_group

        prom = tmp_path / "rabtui.prom"
        lab.store().execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?",     # no checkpoint due
                            (datetime(2026, 10, 2).timestamp(),))
        assert main([*args, "check", "--now", "2026-10-03T02:05", "--prometheus", str(prom)]) == 2
        age = _duration(int(datetime(2026, 10, 3, 2, 5).timestamp() - datetime(2026, 10, 1, 20, 0).timestamp()))
        _promtool_test(tmp_path, _test_group("late", prom.read_text(), {"10m": {
            "RabtuiBackupTooOld": [_expect("RabtuiBackupTooOld", source="loc", _value=age)]}}))


def test_check_with_a_config_broken_by_hand_says_so_to_prometheus(tmp_path, capsys):
    """A hand edit that breaks the config stops every backup: `check` says where (exit 2), and the
    textfile says the check is critical at once, rather than keeping the last good figures."""
    lab, cfg, _ = _lab(tmp_path)
    prom = tmp_path / "rabtui.prom"
    args = ["--config", str(lab.config_path), "check", "--prometheus", str(prom)]
    assert main(args) == 1 and "rabtui_health_status 1" in prom.read_text()
    lab.config_path.write_text(lab.config_path.read_text().replace("[[sources]]", "[[sources]]\nschedul = '0 2 * * *'"))
    capsys.readouterr()
    assert main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rabtui: {lab.config_path}:") and "schedul" in err, err
    text = prom.read_text()
    assert "rabtui_health_status 2" in text and 'rabtui_check_status{check="config"} 2' in text, text
    if shutil.which("promtool"):
        from tests.test_prometheus_rules import _expect, _promtool_test, _test_group

        _promtool_test(tmp_path, _test_group("config", text, {"10m": {
            "RabtuiHealthCritical": [_expect("RabtuiHealthCritical", check="config")]}}))


def test_a_medium_mounted_read_only_is_a_warning(tmp_path, capsys):
    """A disk the kernel remounted read-only (file system errors) takes no backup in its turn:
    `check` says so while it is there, before that backup fails."""
    if os.geteuid() != 0:
        pytest.skip("a tmpfs medium needs root (mount -t tmpfs)")
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"a"})
    medium = lab.media[0][1]
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(medium)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        args = ["--config", str(lab.config_path)]
        assert main([*args, "backup", "loc"]) == 0
        lab.store().execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?", (datetime.now().timestamp(),))
        assert main([*args, "check"]) == 0
        subprocess.run(["mount", "-o", "remount,ro", str(medium)], check=True)
        capsys.readouterr()
        assert main([*args, "check"]) == 1
        assert "WARNING: medium m1 is mounted read-only" in capsys.readouterr().out
        assert main([*args, "backup", "loc"]) == 1       # as check said
    finally:
        subprocess.run(["umount", "-l", str(medium)], check=False)


def test_a_failed_run_removed_by_cleanup_is_still_the_last_run(tmp_path, capsys):
    """Cleanup removes a failed run's leftovers after a day; the run stays the source's last one,
    and failed until a backup of it succeeds: `check` does not say "back to normal" before."""
    lab, cfg, events = _lab(tmp_path)
    write_files(lab.src / "data", {"a": b"a"})
    args = ["--config", str(lab.config_path)]
    assert main([*args, "backup", "loc"]) == 0
    lab.store().execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?", (datetime.now().timestamp(),))
    text = lab.config_path.read_text()
    lab.config_path.write_text(text.replace('id = "loc"', 'id = "loc"\npre_backup_commands = ["exit 7"]'))
    assert main([*args, "backup", "loc"]) == 1
    soon = datetime.now() + timedelta(hours=20)
    assert main([*args, "check", "--now", soon.isoformat(timespec="seconds")]) == 1
    assert main([*args, "cleanup", "--now", (soon + timedelta(hours=6)).isoformat(timespec="seconds")]) == 0
    assert lab.store().one("SELECT COUNT(*) FROM backups WHERE status='deleted'")[0] == 1
    capsys.readouterr()
    assert main([*args, "check", "--now", (soon + timedelta(hours=7)).isoformat(timespec="seconds")]) == 1
    out = capsys.readouterr().out
    assert "WARNING: source loc: last run backup-" in out and "exit 7" in out, out
    health_events = [e for e in map(json.loads, events.read_text().splitlines()) if e["kind"] == "health"]
    assert [(e["data"]["check"], e["level"]) for e in health_events] == [("failed:loc", "warning")]   # no "back to normal"
    lab.config_path.write_text(text)
    assert main([*args, "backup", "loc"]) == 0
    assert main([*args, "check", "--now", (soon + timedelta(hours=8)).isoformat(timespec="seconds")]) == 0


def test_a_medium_named_like_another_check_is_said_in_one_series(tmp_path, capsys):
    """A medium may be called `state`: its check then has the id of the state directory's. Both
    problems are said, in one line and one series (node_exporter refuses a textfile that has the
    same series twice; the health table would keep only one of them)."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    lab.config_path.write_text(lab.config_path.read_text().replace('id = "m1"', 'id = "state"'))
    write_files(lab.src / "data", {"a": b"a"})
    args = ["--config", str(lab.config_path)]
    assert main([*args, "backup", "loc"]) == 0
    (lab.media[0][1] / "loc").chmod(0o755)
    lab.state.chmod(0o755)
    prom = tmp_path / "rabtui.prom"
    capsys.readouterr()
    assert main([*args, "check", "--prometheus", str(prom)]) == 2
    out = capsys.readouterr().out
    assert f"state directory {lab.state}: open to other users" in out and "medium state: backups open" in out, out
    series = [line for line in prom.read_text().splitlines() if line.startswith("rabtui_check_status{")]
    assert len(series) == len(set(s.rsplit(" ", 1)[0] for s in series)), series
    assert series.count('rabtui_check_status{check="private:state"} 2') == 1, series
    row = lab.store().one("SELECT message FROM health WHERE check_id='private:state'")
    assert "state directory" in row["message"] and "medium state" in row["message"], row["message"]


@pytest.mark.parametrize("check_id", ["stale:loc", "failed:loc", "partial:loc", "clock:loc", "size:loc:m1",
                                      "checkpoint:loc:/srv/data"])
def test_every_check_of_a_paused_source_is_held_back(tmp_path, check_id):
    lab, cfg, events = _lab(tmp_path, extra="pause_notifications_until = 2026-09-01")
    change = health_changes.Change(check_id, "ok", "critical", f"{check_id}: broken")
    assert health_changes.notify_changes(cfg, [change], now=T0) == [] and not events.exists()
    assert health_changes.notify_changes(cfg, [change], now=datetime(2026, 9, 1, 3, 0)) == []
    assert json.loads(events.read_text())["source"] == "loc"
