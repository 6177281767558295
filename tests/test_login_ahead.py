"""A backup's login started ahead, from the memory of the command line's last run (login_ahead.py):
the program runs for real (`python -m rabtui backup`) against a real sshd."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from rabtui.store import Store
from tests.sshd import start_sshd
from tests.test_shared_ssh import _lab, _log_sessions, _processes_mentioning

AHEAD = "the login was started ahead"


def _program(lab, sockets: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", "web", "--medium", "m1"]
    return subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "TMPDIR": str(sockets)},
                          stdin=subprocess.DEVNULL, timeout=120)


def _last_job_log(lab) -> list[str]:
    store = Store(lab.state)
    try:
        job = store.one("SELECT MAX(id) AS id FROM jobs")["id"]
        return [r["message"] for r in store.all("SELECT message FROM events WHERE job_id=?", (job,))]
    finally:
        store.close()


def _memory(home: Path) -> Path:
    return home / ".cache" / "rabtui" / "logins.json"


def _all_closed(sockets: Path) -> None:
    """No socket directory left, and no ssh process still holding one."""
    deadline = time.monotonic() + 15
    while _processes_mentioning(str(sockets)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _processes_mentioning(str(sockets)) == []
    assert os.listdir(sockets) == []


def _sockets(tmp_path: Path) -> Path:
    where = tmp_path / "t"
    where.mkdir()
    return where


def test_the_next_run_of_a_command_line_takes_over_the_login_started_ahead(tmp_path, isolated_home):
    server = start_sshd(tmp_path / "sshd")
    try:
        sessions = _log_sessions(server, tmp_path)
        lab, _ = _lab(tmp_path, server)
        sockets = _sockets(tmp_path)
        first = _program(lab, sockets)
        assert first.returncode == 0, first.stderr
        assert not any(AHEAD in m for m in _last_job_log(lab))
        memory = _memory(isolated_home)
        assert memory.stat().st_mode & 0o777 == 0o600
        _all_closed(sockets)

        second = _program(lab, sockets)
        assert second.returncode == 0, second.stdout + second.stderr
        assert any(AHEAD in m for m in _last_job_log(lab))
        # the login started ahead runs nothing on the source: still one session per directory
        assert [s.split()[:2] for s in sessions.read_text().splitlines()] == [["rsync", "--server"]] * 4
        _all_closed(sockets)
        backups = sorted(p for p in (tmp_path / "medium1" / "web").iterdir() if p.name.startswith("backup-"))
        assert len(backups) == 2
    finally:
        server.stop()


def test_an_outdated_memory_costs_a_login_never_a_wrong_backup(tmp_path, sshd, isolated_home):
    """The remembered login differs from the one the configuration gives (here: its ConnectTimeout):
    the early login, which did log in, is closed, the backup logs in as always, and the memory is
    brought up to date."""
    lab, _ = _lab(tmp_path, sshd, dirs=1)
    sockets = _sockets(tmp_path)
    assert _program(lab, sockets).returncode == 0
    memory = _memory(isolated_home)
    text = memory.read_text()
    assert "ConnectTimeout=15" in text
    memory.write_text(text.replace("ConnectTimeout=15", "ConnectTimeout=14"))

    done = _program(lab, sockets)
    assert done.returncode == 0, done.stderr
    assert not any(AHEAD in m for m in _last_job_log(lab))
    _all_closed(sockets)
    assert "ConnectTimeout=14" not in memory.read_text() and "ConnectTimeout=15" in memory.read_text()
    assert _program(lab, sockets).returncode == 0
    assert any(AHEAD in m for m in _last_job_log(lab))


def test_the_memory_is_used_only_as_it_was_left(tmp_path, sshd, isolated_home):
    """A remembered login is started only while the configuration file is the one it was made
    with, and only from a memory file nobody else may write; a garbled memory is no memory. The
    probe: a remembered argv that leaves a mark when it runs."""
    lab, _ = _lab(tmp_path, sshd, dirs=1)
    sockets = _sockets(tmp_path)
    assert _program(lab, sockets).returncode == 0
    memory = _memory(isolated_home)
    mark = tmp_path / "ran"
    probe = tmp_path / "probe"
    probe.write_text(f"#!/bin/sh\ntouch {mark}\nexit 255\n")
    probe.chmod(0o755)

    def remember_probe() -> None:
        entries = json.loads(memory.read_text())
        for entry in entries.values():
            entry["argv"][0] = str(probe)
        memory.write_text(json.dumps(entries))
        memory.chmod(0o600)

    def backup_and_mark() -> bool:
        mark.unlink(missing_ok=True)
        done = _program(lab, sockets)
        assert done.returncode == 0, done.stderr
        assert not any(AHEAD in m for m in _last_job_log(lab))
        _all_closed(sockets)
        return mark.exists()

    remember_probe()
    assert backup_and_mark()            # the probe works: the memory held, so it ran (and was discarded)

    remember_probe()
    memory.chmod(0o620)
    assert not backup_and_mark()        # others may write the memory

    remember_probe()
    lab.config_path.write_text(lab.config_path.read_text() + "\n")
    assert not backup_and_mark()        # the configuration changed since

    memory.write_text("{not json")
    memory.chmod(0o600)
    assert not backup_and_mark()
    assert json.loads(memory.read_text())    # and rewritten whole


def test_a_login_started_ahead_and_not_taken_is_closed_with_its_shared_connection(tmp_path, sshd, isolated_home,
                                                                                  monkeypatch):
    """An early login that nothing takes over (the command failed before step 1, say) is closed at
    the end, even once it has logged in and left its shared connection in the background."""
    from rabtui import login_ahead

    lab, _ = _lab(tmp_path, sshd, dirs=1)
    sockets = _sockets(tmp_path)
    assert _program(lab, sockets).returncode == 0
    monkeypatch.setattr(login_ahead, "_key", None)    # this process's command line, restored after
    login_ahead.start(["--config", str(lab.config_path), "backup", "web", "--medium", "m1"])
    try:
        deadline = time.monotonic() + 15
        while not list(sockets.glob("rabtui-ssh-*/mux")) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert list(sockets.glob("rabtui-ssh-*/mux")), "the login started ahead did not log in"
    finally:
        login_ahead.discard()
    _all_closed(sockets)
