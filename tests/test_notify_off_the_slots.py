"""Notifications of a run are delivered off the backups' threads, in order: a slow or hung
notify command holds neither a source's turn nor its job's end, and the run waits for them, bounded,
at its very end, saying what was not delivered. Real processes, real rsync."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time

import pytest

from rabtui.cli import main
from rabtui import faults
from rabtui.ops import notify_outbox
from tests import preloaded
from tests.test_parallel import _sources
from tests.trees import Lab
from tests.held import stopped as _stopped

RUNS = [["backup", "--all"], ["run-due", "--now", "2026-10-01T03:00"]]


def _failing_pair(lab: Lab, tmp_path, script_text: str) -> None:
    """Sources a and b, both failing at their pre-backup command (b's touches `gate` first), run one at
    a time; notify.command is `script_text` run by sh."""
    gate = tmp_path / "gate"
    _sources(lab, ["a", "b"], files=1, rabtui="max_parallel = 1", extra={
        "a": 'schedule = "0 2 * * *"\npre_backup_commands = ["exit 4"]',
        "b": f'schedule = "0 2 * * *"\npre_backup_commands = ["touch {gate}; exit 4"]'})
    script = tmp_path / "alert.sh"
    script.write_text(script_text.replace("GATE", str(gate)))
    lab.config_path.write_text(lab.config_path.read_text() + f'\n[notify]\ncommand = "sh {script}"\n')


@pytest.mark.parametrize("argv", RUNS)
def test_a_notification_waiting_on_the_next_source_does_not_hold_its_turn(tmp_path, capsys, argv):
    """a's notification is delivered only once b's backup has begun (its command makes the gate): it
    was sent in a's turn, which b waited for, so it timed out (here, the script gives up after 10 s)
    and was said undelivered."""
    lab = Lab(tmp_path, media_count=1)
    notified = tmp_path / "notified"
    _failing_pair(lab, tmp_path, f"""ev=$(cat)
case "$ev" in *'"source": "a"'*)
  for i in $(seq 200); do [ -e GATE ] && break; sleep 0.05; done
  [ -e GATE ] || exit 1;;
esac
printf '%s\\n' "$ev" >> {notified}
""")
    code = main(["--config", str(lab.config_path), *argv])
    err = capsys.readouterr().err
    assert code == 1 and "not delivered" not in err and "notify command" not in err, err
    sent = [json.loads(line) for line in notified.read_text().splitlines()]
    assert [e["source"] for e in sent if e["kind"] == "backup_failed"] == ["a", "b"], sent
    rows = lab.store().all("SELECT target, status FROM jobs ORDER BY id")
    assert [tuple(r) for r in rows] == [("a", "failed"), ("b", "failed")]


def test_a_hung_notify_command_is_waited_for_at_the_run_end_only_and_said(tmp_path, capsys, monkeypatch):
    """Every notification hangs: the run ends once it has waited its bound for them, the one under
    way stopped, each said as not delivered with what it was about."""
    monkeypatch.setattr(notify_outbox, "WAIT_AT_END", 0.5)
    lab = Lab(tmp_path, media_count=1)
    pids = tmp_path / "pids"
    _failing_pair(lab, tmp_path, f"cat >/dev/null; echo $$ >> {pids}; exec sleep 50\n")
    code = main(["--config", str(lab.config_path), "backup", "--all"])
    err = capsys.readouterr().err
    assert code == 1, err
    assert "notification not delivered (backup_failed: backup of a failed: " in err, err
    assert "still being delivered when the run ended (0.5 s waited for its notifications), and stopped" in err, err
    assert "notification not delivered (backup_failed: backup of b failed: " in err, err
    assert "waiting its turn" in err, err
    rows = lab.store().all("SELECT target, status FROM jobs ORDER BY id")
    assert [tuple(r) for r in rows] == [("a", "failed"), ("b", "failed")]
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) == 1      # b's never began: a's was under way
    deadline = time.monotonic() + 60      # the command under way is stopped, not left behind
    while time.monotonic() < deadline and os.path.exists(f"/proc/{started[0]}"):
        time.sleep(0.1)
    assert not os.path.exists(f"/proc/{started[0]}")


def test_the_changes_of_a_check_are_waited_for_within_one_bound(tmp_path, capsys, monkeypatch):
    """`check` with several changes to notify and a hung notify command: each waited its own
    timeout, one after another (four took 242 s); they now share the run's one bound, each one
    not delivered said as such."""
    from rabtui.ops import notify

    monkeypatch.setattr(notify, "COMMAND_TIMEOUT", 3)
    monkeypatch.setattr(notify_outbox, "WAIT_AT_END", 0.5)
    lab = Lab(tmp_path, media_count=1)
    _failing_pair(lab, tmp_path, "cat >/dev/null; exec sleep 50\n")   # never backed up: a change each
    main(["--config", str(lab.config_path), "check"])
    err = capsys.readouterr().err
    said = [line for line in err.splitlines() if "notification not delivered (health: " in line]
    assert len(said) >= 2 and "notify command failed" not in err, err



def _started(tmp_path, argv: list[str]) -> tuple[subprocess.Popen, object]:
    """`rabtui ARGV` started, to stop itself where it is about to wait for its notifications;
    (the process, its stderr's file)."""
    err_file = tmp_path / "err"
    with open(err_file, "wb") as err:
        child = preloaded.Popen([sys.executable, "-m", "rabtui", *argv], stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=err, start_new_session=True,
                                env={**os.environ, faults.STOP_ENV: "notify.waiting"})
    return child, err_file


def _until(child: subprocess.Popen, err_file, done) -> None:
    deadline = time.monotonic() + 60
    while not done():
        assert child.poll() is None and time.monotonic() < deadline, err_file.read_text()
        time.sleep(0.05)


def _gone(pid: int) -> bool:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and os.path.exists(f"/proc/{pid}"):
        time.sleep(0.1)
    return not os.path.exists(f"/proc/{pid}")


def test_a_ctrl_c_while_the_run_waits_for_its_notifications_ends_the_wait(tmp_path):
    """The run waiting at its end for a hung notify command (up to a minute): the operator's Ctrl-C
    ends the wait (it went on waiting), the notification said as not delivered, its command stopped,
    and the run's outcome reported."""
    lab = Lab(tmp_path, media_count=1)
    pids = tmp_path / "pids"
    _failing_pair(lab, tmp_path, f"cat >/dev/null; echo $$ >> {pids}; exec sleep 50\n")
    child, err_file = _started(tmp_path, ["--config", str(lab.config_path), "backup", "a"])
    try:
        _until(child, err_file, lambda: _stopped(child.pid))
        child.send_signal(signal.SIGINT)
        child.send_signal(signal.SIGCONT)
        assert child.wait(timeout=30) == 1, err_file.read_text()
    finally:
        child.kill()
        child.wait()
    err = err_file.read_text()
    assert "notification not delivered (backup_failed: backup of a failed: " in err, err
    assert "still being delivered when the run was cancelled, and stopped" in err, err
    assert not pids.exists() or _gone(int(pids.read_text().split()[0]))


def test_a_second_ctrl_c_while_the_run_waits_for_its_notifications_says_them(tmp_path):
    """A Ctrl-C while b's backup ran (a's notification hung meanwhile) leaves the run waiting for
    the notifications; a second Ctrl-C ends rabtui at once, and the notifications not delivered
    are said (they were dropped unsaid), their command stopped."""
    lab = Lab(tmp_path, media_count=1)
    pids, gate = tmp_path / "pids", tmp_path / "gate"
    _failing_pair(lab, tmp_path, f"cat >/dev/null; echo $$ >> {pids}; exec sleep 50\n")
    lab.config_path.write_text(lab.config_path.read_text().replace(f"touch {gate}; exit 4", f"touch {gate}; sleep 30"))
    child, err_file = _started(tmp_path, ["--config", str(lab.config_path), "backup", "--all"])
    try:
        _until(child, err_file, gate.exists)
        child.send_signal(signal.SIGINT)
        _until(child, err_file, lambda: _stopped(child.pid))
        child.send_signal(signal.SIGINT)
        child.send_signal(signal.SIGCONT)
        assert child.wait(timeout=30) == 130, err_file.read_text()
    finally:
        child.kill()
        child.wait()
    err = err_file.read_text()
    assert "rabtui: interrupted" in err, err
    assert "notification not delivered (backup_failed: backup of a failed: " in err, err
    assert "still being delivered when the run was interrupted, and stopped" in err, err
    assert _gone(int(pids.read_text().split()[0]))
