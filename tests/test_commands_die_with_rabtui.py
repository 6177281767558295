"""A pre-backup command dies with rabtui, SIGKILL included, locally and on the source over SSH: its
shell and what the shell started (a dump, say) would otherwise go on beside the next run's own.
Real rabtui processes, a real sshd; the command's own child is watched by its pid."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from rabtui import proc, proc_table
from rabtui.backup import source_commands
from rabtui.errors import Cancelled, WorkFailed
from tests import preloaded
from tests.procs import signalled
from tests.trees import Lab, ssh_source_lines, write_files


def _lab(tmp_path, request, where: str, command: str) -> tuple[Lab, str]:
    lab = Lab(tmp_path)
    line = f'pre_backup_commands = ["{command}"]'
    if where == "local":
        lab.local(extra=line)
        write_files(lab.src / "data", {"a": b"1"})
        return lab, "loc"
    sshd = request.getfixturevalue("sshd")
    data = lab.src / "data"
    write_files(data, {"a": b"1"})
    lab.write(ssh_source_lines(sshd) + line + f'\n[[sources.directories]]\npath = "{data}"\n')
    lab.trust(sshd)
    return lab, "web"


def _pid_in(path, timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.05)
    raise AssertionError("the pre-backup command never started")


def _gone(pid: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if not proc_table.pid_alive(pid):
            return True
        time.sleep(0.1)
    return False


@pytest.mark.parametrize("where", ["local", "ssh"])
@pytest.mark.parametrize("run", ["", "setsid "])     # setsid: out of the command's group, which its kill missed
def test_a_pre_backup_command_dies_with_a_killed_rabtui(tmp_path, request, where, run):
    pidfile = tmp_path / "sleeper"
    command = f"{run}sleep 300 & echo $! > {pidfile}; wait"
    lab, sid = _lab(tmp_path, request, where, command)
    child = preloaded.Popen([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "backup", sid,
                              "--medium", "m1"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    try:
        sleeper = _pid_in(pidfile)
        assert proc_table.pid_alive(sleeper)
    finally:
        os.kill(child.pid, signal.SIGKILL)    # rabtui alone, as the kernel's OOM killer would
        child.wait()
    try:
        assert _gone(sleeper, within=120), "the pre-backup command's child outlived rabtui"
    finally:
        signalled(sleeper, signal.SIGKILL)      # unless it is gone

    lab.config_path.write_text(lab.config_path.read_text().replace(command, "true"))
    result = lab.backup(lab.load(), sid, medium_id="m1")
    assert result.status == "completed"


def test_what_a_command_leaves_running_when_it_ends_is_left_alone(tmp_path, request):
    pidfile = tmp_path / "daemon"
    lab, sid = _lab(tmp_path, request, "local", f"sleep 300 > /dev/null 2>&1 & echo $! > {pidfile}")
    try:
        assert lab.backup(lab.load(), sid, medium_id="m1").status == "completed"
        daemon = _pid_in(pidfile)
        assert not _gone(daemon, within=1)
    finally:
        if pidfile.exists():
            os.kill(int(pidfile.read_text()), signal.SIGKILL)


def test_a_command_reading_its_input_gets_none(tmp_path):
    """rabtui holds the command's shell's input open: the command itself reads /dev/null."""
    done = proc.run_shell("cat; echo read", capture=True, timeout=30)
    assert done.returncode == 0 and done.stdout == b"read\n"

def _cfg(tmp_path, request, where):
    lab = Lab(tmp_path)
    if where == "local":
        return lab.local(), "loc"
    sshd = request.getfixturevalue("sshd")
    lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{lab.src}"\n')
    lab.trust(sshd)
    return lab.load(), "web"


@pytest.mark.parametrize("where", ["local", "ssh"])
def test_cancel_kills_a_pre_command_promptly(tmp_path, request, where):
    """A `sleep` dies of SIGTERM at once, and so does the watcher of the command's input: the
    cancel does not wait for the SIGKILL five seconds later."""
    cfg, sid = _cfg(tmp_path, request, where)
    cancel = threading.Event()
    threading.Timer(1.0, cancel.set).start()
    t = time.monotonic()
    with pytest.raises(Cancelled):
        source_commands.run_commands(cfg, cfg.source(sid), ["sleep 100"], emit=lambda e: None, cancel=cancel)
    # cancelled after 1 s; waiting for the SIGKILL would take 6 s or more (3.6 s seen on a loaded machine)
    assert time.monotonic() - t < 5.0, f"cancel took {time.monotonic() - t:.1f} s"


def test_a_local_command_killed_by_a_signal_is_said_so(tmp_path, request):
    cfg, sid = _cfg(tmp_path, request, "local")
    with pytest.raises(WorkFailed) as err:
        source_commands.run_commands(cfg, cfg.source(sid), ["kill -9 $$"], emit=lambda e: None)
    assert "killed by signal 9" in err.value.message, err.value.message
