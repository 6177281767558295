"""Pre/post commands: command_timeout, and on timeout or cancel no process of theirs is left on
the source (real sshd); their output is bounded, and old events go with cleanup."""

from __future__ import annotations

import functools
import os
import random
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import replace
from types import SimpleNamespace

import pytest

from rabtui import proc_started
from rabtui.backup import source_commands
from rabtui.cli import main
from rabtui.errors import Cancelled, WorkFailed
from tests.sshd import start_sshd
from tests.trees import Lab, ssh_source_lines, write_files


def _lab(tmp_path, request, commands: str, timeout: int | None = None) -> tuple[Lab, object, str]:
    lab = Lab(tmp_path)
    write_files(lab.src / "data", {"a": b"1"})
    if request.param == "ssh":
        sshd = request.getfixturevalue("sshd")
        lab.trust(sshd)
        head, source_id = ssh_source_lines(sshd), "web"
    else:
        head, source_id = '[[sources]]\nid = "loc"\n', "loc"
    cfg = lab.write(head + commands + f'\n[[sources.directories]]\npath = "{lab.src / "data"}"\n')
    if timeout is not None:
        lab.config_path.write_text(lab.config_path.read_text().replace(
            "[rabtui]\n", f"[rabtui]\ncommand_timeout = {timeout}\n", 1))
        cfg = lab.load()
    return lab, cfg, source_id


@pytest.fixture(params=["local", "ssh"])
def where(request):
    return request


def _sleeper() -> tuple[str, str]:
    """A command that leaves a child and a grandchild sleeping, and the pattern that finds them."""
    seconds = f"{1000 + random.random():.6f}"
    return f"sh -c 'sleep {seconds}' & sleep {seconds}; wait", f"sleep {seconds}"


def _left(pattern: str) -> list[str]:
    done = subprocess.run(["pgrep", "-a", "-f", f"^{pattern}$"], capture_output=True, text=True)
    return done.stdout.splitlines()


def _kill_left(pattern: str) -> None:
    """SIGKILL to each process `_left` finds, by its pid: nothing stays behind for the next tests."""
    for line in _left(pattern):
        os.kill(int(line.split()[0]), signal.SIGKILL)


def _wait_gone(pattern: str, seconds: float = 10) -> list[str]:
    """The processes still there after `seconds` (the group gets SIGTERM, SIGKILL later)."""
    end = time.monotonic() + seconds
    while _left(pattern) and time.monotonic() < end:
        time.sleep(0.1)
    return _left(pattern)


@pytest.mark.parametrize("output", ["kept", "redirected"])
def test_a_command_that_runs_too_long_is_killed_on_the_source(tmp_path, where, output):
    command, pattern = _sleeper()
    if output == "redirected":       # the limit holds once the command has handed its output elsewhere
        command = f"exec >/dev/null 2>&1; {command}"
    lab, cfg, source_id = _lab(tmp_path, where, f'pre_backup_commands = ["{command}"]', timeout=2)
    assert cfg.rabtui.command_timeout == 2
    started = time.monotonic()
    result = lab.backup(cfg, source_id, medium_id="m1")
    assert result.status == "failed", result.reason
    assert "pre-backup command timed out after 2 s (command_timeout; its processes were killed)" in result.reason
    assert time.monotonic() - started < 30
    assert _left(pattern) == []              # gone when the backup returns, not later


def _cancel_during(lab: Lab, cfg, source_id: str, command: str) -> None:
    """Run `command` as a pre-backup command and cancel it 1.5 s in: Cancelled, saying its processes were killed."""
    cancel = threading.Event()
    timer = threading.Timer(1.5, cancel.set)
    timer.start()
    try:
        with pytest.raises(Cancelled, match="its processes were killed"):
            source_commands.run_commands(cfg, cfg.source(source_id), [command], emit=lab.emit, cancel=cancel)
    finally:
        timer.cancel()


def test_cancel_kills_the_command_on_the_source(tmp_path, where):
    command, pattern = _sleeper()
    lab, cfg, source_id = _lab(tmp_path, where, "")
    _cancel_during(lab, cfg, source_id, command)
    assert _left(pattern) == []


def test_a_child_that_ignores_sigterm_is_killed_too(tmp_path, where, monkeypatch):
    # the command's shell dies at SIGTERM; a child of it that ignores SIGTERM must not outlive it
    # (SIGKILL after a grace of 1 s, not 5: the same kill, sooner)
    monkeypatch.setattr(source_commands, "KILL_GRACE", 1)
    monkeypatch.setattr(proc_started, "_kill_group", functools.partial(proc_started._kill_group, grace=1.0))
    seconds = f"{1000 + random.random():.6f}"
    command, pattern = f"sh -c 'trap \"\" TERM; sleep {seconds}' & sleep {seconds}; wait", f"sleep {seconds}"
    lab, cfg, source_id = _lab(tmp_path, where, "")
    try:
        _cancel_during(lab, cfg, source_id, command)
        left = _left(pattern)
    finally:
        subprocess.run(["pkill", "-KILL", "-f", f"^{pattern}$"])     # nothing stays behind for the next tests
    assert left == []


def _escaper() -> tuple[str, str]:
    """A command that leaves processes out of its process group: one it started under `setsid`,
    and a daemon's (`setsid` in a child that ends at once: init's then, but for a subreaper)."""
    seconds = f"{1000 + random.random():.6f}"
    return f"setsid sleep {seconds} & sh -c 'setsid sleep {seconds} &'; sleep {seconds}", f"sleep {seconds}"


@pytest.mark.parametrize("stop", ["cancel", "timeout"])
def test_processes_that_left_the_command_group_are_killed_with_it(tmp_path, where, stop):
    command, pattern = _escaper()
    lab, cfg, source_id = _lab(tmp_path, where, "", timeout=2 if stop == "timeout" else None)
    try:
        if stop == "cancel":
            _cancel_during(lab, cfg, source_id, command)
        else:
            with pytest.raises(WorkFailed, match=r"timed out after 2 s \(command_timeout; its processes were killed\)"):
                source_commands.run_commands(cfg, cfg.source(source_id), [command], emit=lab.emit)
        left = _left(pattern)
    finally:
        subprocess.run(["pkill", "-KILL", "-f", f"^{pattern}$"])
    assert left == []


def test_a_source_whose_processes_cannot_be_found_by_their_token_says_so(tmp_path):
    # its grep reads no NUL-separated input (or it has no /proc/PID/environ): the kill reaches the
    # command's group alone, and the failure says that what left the group may still run there
    server = start_sshd(tmp_path / "sshd")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "grep").write_text('#!/bin/sh\ncase "$1" in -*z*) echo "grep: invalid option -- z" >&2; exit 2;; esac\n'
                                  'exec /bin/grep "$@"\n')
    (bin_dir / "grep").chmod(0o755)
    (server.home / ".bashrc").write_text(f"PATH='{bin_dir}':$PATH\n")
    command, pattern = _escaper()
    lab = Lab(tmp_path)
    lab.trust(server)
    cfg = lab.write(ssh_source_lines(server) + f'[[sources.directories]]\npath = "{lab.src}"\n')
    cfg = replace(cfg, rabtui=replace(cfg.rabtui, command_timeout=2))
    try:
        with pytest.raises(WorkFailed, match=r"timed out after 2 s \(command_timeout; its process group was killed,"
                           r" but a process of it that left the group .* may still run on the host"):
            source_commands.run_commands(cfg, cfg.source("web"), [command], emit=lab.emit)
        left = _left(pattern)
    finally:
        _kill_left(pattern)
        server.stop()
    assert len(left) == 2, left      # said so, as it is: the two under setsid


def test_what_a_process_ignoring_sigterm_starts_during_the_grace_is_killed_too(tmp_path, where, monkeypatch):
    # one out of the group (setsid) that ignores SIGTERM and keeps starting children: those it
    # started between SIGTERM and SIGKILL go with it (locally they were left, hundreds of them)
    monkeypatch.setattr(source_commands, "KILL_GRACE", 1)
    monkeypatch.setattr(proc_started, "_kill_group", functools.partial(proc_started._kill_group, grace=1.0))
    seconds = f"{1000 + random.random():.6f}"
    pattern = f"sleep {seconds}"
    command = f"setsid sh -c 'trap : TERM; while :; do {pattern} & sleep 0.05; done' & {pattern}"
    lab, cfg, source_id = _lab(tmp_path, where, "", timeout=2)
    try:
        with pytest.raises(WorkFailed, match=r"timed out after 2 s \(command_timeout; its processes were killed\)"):
            source_commands.run_commands(cfg, cfg.source(source_id), [command], emit=lab.emit)
        left = _left(pattern)
    finally:
        _kill_left(pattern)
    assert left == []


def test_a_daemon_started_by_a_command_that_ends_is_left_running(tmp_path, where):
    # the command ended, exit 0: what it started on purpose, out of its group, is not killed
    command, pattern = _escaper()
    command = command.replace("; sleep", "; echo started; : sleep")
    lab, cfg, source_id = _lab(tmp_path, where, "", timeout=8)
    try:
        source_commands.run_commands(cfg, cfg.source(source_id), [command], emit=lab.emit, what="post-backup")
        left = _left(pattern)
    finally:
        subprocess.run(["pkill", "-KILL", "-f", f"^{pattern}$"])
    assert len(left) == 2, left


def test_the_output_of_a_command_is_bounded_in_the_state(tmp_path, where):
    # about 2 MB of output, on stdout and stderr: the events keep the last 64 KiB of it
    lab, cfg, source_id = _lab(tmp_path, where, 'post_backup_commands = ["seq 1 250000; seq 1 50000 >&2"]')
    assert main(["--config", str(lab.config_path), "backup", source_id]) == 0
    store = lab.store()
    rows = store.all("SELECT message FROM events WHERE data LIKE '%\"command\"%'")
    assert len(rows) == 1
    assert len(rows[0]["message"]) < 64 * 1024 + 100 and rows[0]["message"].endswith("\n50000")
    assert store.one("SELECT COUNT(*) FROM events")[0] < 200


def test_a_failing_command_shows_its_last_lines(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    with pytest.raises(WorkFailed) as err:
        source_commands.run_commands(cfg, cfg.source("loc"), ["seq 1 1000; exit 3"], emit=lab.emit)
    assert "failed (exit 3)" in str(err.value)
    assert err.value.hint.splitlines()[-1].strip() == "1000" and len(err.value.hint.splitlines()) == 20


def test_cleanup_prunes_events_older_than_the_oldest_kept_backup(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    store = lab.store()
    old = store.add_event(None, "log", "long ago", ts=time.time() - 86400 * 400)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    recent = store.add_event(None, "log", "now")
    assert main(["--config", str(lab.config_path), "cleanup"]) == 0
    ids = {r[0] for r in store.all("SELECT id FROM events")}
    assert old not in ids and recent in ids


def test_command_timeout_must_be_positive(tmp_path):
    from rabtui.errors import ConfigError

    lab = Lab(tmp_path)
    lab.local()
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\ncommand_timeout = 0\n"))
    with pytest.raises(ConfigError, match=r"rabtui.toml:2: rabtui.command_timeout: must be at least 1"):
        lab.load()


def test_a_service_started_by_a_command_is_left_running_and_not_waited_for(tmp_path, where):
    # `/etc/init.d/db start` in a post-backup command: the service it starts keeps the command's
    # output open. The command has ended: the backup goes on, and the service is left running.
    command, pattern = _sleeper()
    command = command.replace("; wait", " & echo started")
    lab, cfg, source_id = _lab(tmp_path, where, "", timeout=8)
    started = time.monotonic()
    try:
        source_commands.run_commands(cfg, cfg.source(source_id), [command], emit=lab.emit, what="post-backup")
        took, left = time.monotonic() - started, _left(pattern)
    finally:
        subprocess.run(["pkill", "-KILL", "-f", f"^{pattern}$"])
    assert took < 6, f"waited {took:.1f} s for the output of what the command left running"
    assert len(left) == 2, left
    assert any("started" in m for m in lab.messages())


def test_a_cancel_once_the_command_has_ended_leaves_what_it_started(tmp_path, where):
    # the service started holds the command's output open, read on for a second: a cancel then
    # (or the limit passed then) does not stop what the command left running, setsid or not
    seconds = f"{1000 + random.random():.6f}"
    pattern = f"sleep {seconds}"
    lab, cfg, source_id = _lab(tmp_path, where, "")
    cancel = threading.Event()

    def cancel_once_started() -> None:
        while len(_left(pattern)) < 2:
            time.sleep(0.05)
        time.sleep(0.3)     # the command's shell has ended: its output is read on for OUTPUT_AFTER_END
        cancel.set()

    threading.Thread(target=cancel_once_started, daemon=True).start()
    try:
        with pytest.raises(Cancelled, match="once the pre-backup command had ended"):
            source_commands.run_commands(cfg, cfg.source(source_id), [f"setsid {pattern} & {pattern} & echo started",
                                                                      "echo never"], emit=lab.emit, cancel=cancel)
        time.sleep(0.5)
        left = _left(pattern)
    finally:
        _kill_left(pattern)
    assert len(left) == 2, left
    assert not any("never" in m for m in lab.messages())


@pytest.mark.parametrize("shell", ["sh", "bash", "dash", "zsh", "fish", "tcsh"])
def test_a_command_and_its_kill_run_under_the_accounts_login_shell(tmp_path, shell):
    # what rabtui sends over SSH is read by the account's login shell (sshd runs `SHELL -c TEXT`),
    # then the command by that shell, with its quotes, $ and \\ as written: fish ended at once,
    # exit 0, the command never run; tcsh refused the kill
    path = shutil.which(shell)
    if path is None:
        pytest.skip(f"{shell} is not installed")
    env = {**os.environ, "SHELL": path, "HOME": str(tmp_path)}
    seconds = f"{1000 + random.random():.6f}"
    pattern = f"sleep {seconds}"
    lifeline, held = os.pipe()      # the channel's input, which rabtui holds open while the command runs
    try:
        ran = subprocess.run([path, "-c", source_commands.killable("echo \"a'b\" '$HOME' x\\\\y; exit 3", "t1")],
                             stdin=lifeline, capture_output=True, env=env, timeout=30)
        assert (ran.returncode, ran.stdout.splitlines()[1:]) == (3, [b"a'b $HOME x\\y"]), ran

        run = subprocess.Popen([path, "-c", source_commands.killable(f"{pattern} & setsid {pattern} & wait", "t2")],
                               stdin=lifeline, stdout=subprocess.PIPE, env=env)
        pgid = int(run.stdout.readline().split()[1])
        end = time.monotonic() + 10
        while len(_left(pattern)) < 2 and time.monotonic() < end:
            time.sleep(0.05)
        subprocess.run([path, "-c", source_commands.kill_group_command(pgid, "t2")], env=env, timeout=30)
        left = _left(pattern)
        run.wait(timeout=10)
    finally:
        os.close(held)
        os.close(lifeline)
        _kill_left(pattern)
    assert left == []


def test_a_command_whose_connection_froze_is_not_said_killed(tmp_path, sshd, monkeypatch):
    """The command freezes its own SSH session (SIGSTOP to its sshd) and runs past command_timeout:
    the kill sent then cannot be delivered, and the reason said its processes were killed all the same."""
    from rabtui.ssh import remote

    monkeypatch.setattr(remote, "CONNECT_TIMEOUT", 3)     # how long the kill's channel is waited for
    frozen = tmp_path / "frozen"
    seconds = f"{1000 + random.random():.6f}"
    command = (f"sleep 0.5; p=$$; while [ $p -gt 1 ]; do case $(cat /proc/$p/comm) in sshd*) echo $p > {frozen};"
               f" kill -STOP $p; break;; esac; p=$(cut -d' ' -f4 /proc/$p/stat); done; sleep {seconds}")
    lab, cfg, source_id = _lab(tmp_path, SimpleNamespace(param="ssh", getfixturevalue=lambda name: sshd),
                               "", timeout=2)
    try:
        with pytest.raises(WorkFailed) as err:
            source_commands.run_commands(cfg, cfg.source(source_id), [command], emit=lab.emit)
    finally:
        if frozen.exists():
            subprocess.run(["kill", "-CONT", frozen.read_text().strip()])
        subprocess.run(["pkill", "-KILL", "-f", f"^sleep {seconds}$"])
    assert frozen.exists()
    assert "timed out after 2 s" in str(err.value) and "its processes were killed" not in str(err.value), err.value
    assert "the kill of its processes could not be delivered" in str(err.value), err.value
