"""The SSH logins of a run's sources begun ahead of their turns (actions/logins_ahead.py): while a
source's backup runs, the next source waiting its turn logs in, and a login begun for a source whose
backup never runs (cancelled, or its source held) is ended with the run, not left in the background
until idle (real sshd, real rsync)."""

from __future__ import annotations

import os
import signal
import time

import pytest

from rabtui.actions import backup as backup_actions
from rabtui.backup import run_lock
from rabtui.cli import main
from tests.procs import processes
from tests.sshd import start_sshd
from tests.test_parallel import _start_run
from tests.trees import Lab, gate_command, ssh_source_lines, write_files


@pytest.fixture
def own_sshd(tmp_path):
    """An sshd of the test's own: the shared connections found by its port are this test's only."""
    server = start_sshd(tmp_path / "sshd")
    yield server
    server.stop()


def _logins(port: int) -> set[bytes]:
    """The sockets of the shared connections to `port` that an ssh holds or is logging in as."""
    found = set()
    for _, argv in processes():
        if argv[0].endswith(b"ssh") and b"ControlMaster=yes" in argv and str(port).encode() in argv:
            found.update(a for a in argv if a.startswith(b"ControlPath="))
    return found


def _none_left(port: int) -> set[bytes]:
    """The shared connections to `port` still there once those being closed have ended (a minute at
    most: a loaded machine may take seconds). None is taken to be left only when two looks apart find
    none: one taken as a login's ssh goes to the background misses its connection."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        left = _logins(port)
        if not left:
            time.sleep(0.2)
            left = _logins(port)
            if not left:
                break
        time.sleep(0.1)
    return left


def _open(port: int) -> set[bytes]:
    """The sockets of the shared connections to `port` that are open (gone to the background)."""
    return {p for p in _logins(port) if os.path.exists(p[len(b"ControlPath="):].strip(b'"'))}


def _ssh_sources(lab: Lab, sshd, names: str, pre: dict[str, str] | None = None, rabtui: str = "",
                 on: dict | None = None) -> None:
    """Sources `names` on `sshd`, or on the server `on` gives."""
    text = ""
    for name in names:
        write_files(lab.src / name, {f"f{i}": f"{name}{i}" for i in range(5)})
        text += (ssh_source_lines((on or {}).get(name, sshd), name) + (pre or {}).get(name, "")
                 + f'\n[[sources.directories]]\npath = "{lab.src / name}"\n')
    lab.write(text)
    if rabtui:
        lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", f"[rabtui]\n{rabtui}\n", 1))


@pytest.mark.parametrize("argv, due", [(("backup", "--all"), ""),
                                       (("run-due", "--now", "2026-10-01T03:00"), 'schedule = "0 2 * * *"\n')],
                         ids=["backup", "run-due"])
def test_the_next_source_logs_in_while_the_one_before_runs(tmp_path, own_sshd, argv, due):
    """`backup --all`, and run-due (which cron runs each night) of the sources its schedules say due."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(own_sshd)
    gate = tmp_path / "go"
    _ssh_sources(lab, own_sshd, "abc", {"a": f'{due}pre_backup_commands = ["{gate_command(gate)}"]', "b": due, "c": due},
                 "max_parallel = 1")
    child = _start_run(lab, *argv, running=1)
    try:
        # a's connection, and b's, begun as a's turn came (its ssh seen once it runs, which a loaded machine
        # may take a while to show): one login ahead of each backup under way, not c's as well. Those seen
        # in any look are counted: a look taken as ssh goes to the background misses it (the login's
        # process gone, its master's not yet listed)
        seen: set[bytes] = set()
        deadline = time.monotonic() + 60
        while len(seen) < 2 and time.monotonic() < deadline:
            seen |= _logins(own_sshd.port)
            time.sleep(0.05)
        settled = time.monotonic() + 1
        while time.monotonic() < settled:
            seen |= _logins(own_sshd.port)
            time.sleep(0.05)
        assert len(seen) == 2, seen
    finally:
        gate.touch()
    out, err = child.communicate(timeout=60)
    assert child.returncode == 0, (out, err)
    rows = lab.store().all("SELECT source, status FROM backups ORDER BY source")
    assert [(r["source"], r["status"]) for r in rows] == [("a", "completed"), ("b", "completed"), ("c", "completed")]
    assert not _none_left(own_sshd.port)


def test_a_login_begun_for_a_source_whose_turn_never_comes_ends_with_the_run(tmp_path, own_sshd):
    lab = Lab(tmp_path, media_count=1)
    lab.trust(own_sshd)
    _ssh_sources(lab, own_sshd, "abc", {"a": f'pre_backup_commands = ["sleep {30 + time.time() % 1:.6f}"]'},
                 "max_parallel = 1")
    child = _start_run(lab, "backup", "--all", running=1)
    deadline = time.monotonic() + 30
    while len(_logins(own_sshd.port)) < 2 and time.monotonic() < deadline:    # b's login, begun ahead
        time.sleep(0.05)
    child.send_signal(signal.SIGTERM)
    _, err = child.communicate(timeout=60)
    assert child.returncode == 1, err
    assert b"cancelled before it started" in err
    assert not _none_left(own_sshd.port)


def test_the_first_source_s_login_ends_with_the_run_when_its_backup_cannot_begin(tmp_path, own_sshd, monkeypatch):
    """The first source's login begins before the medium is chosen; its source held by another
    backup (LockBusy), it was never opened, and stayed in the background until idle (2 minutes)."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(own_sshd)
    _ssh_sources(lab, own_sshd, "ab")
    monkeypatch.setattr(run_lock, "_RUNNING", {(str(lab.state), "a")})
    choose = backup_actions.day_medium

    def logged_in_first(cfg, store):
        """The medium chosen once a's login has gone to the background (its socket is there)."""
        deadline = time.monotonic() + 30
        while not _open(own_sshd.port):
            assert time.monotonic() < deadline
            time.sleep(0.05)
        return choose(cfg, store)

    monkeypatch.setattr(backup_actions, "day_medium", logged_in_first)
    assert main(["--config", str(lab.config_path), "backup", "--all"]) == 1
    rows = lab.store().all("SELECT source, status FROM backups ORDER BY source")
    assert [(r["source"], r["status"]) for r in rows] == [("b", "completed")]
    assert not _none_left(own_sshd.port)


def test_a_login_begun_ahead_whose_connection_closed_itself_idle_logs_in_again_at_its_turn(tmp_path, own_sshd,
                                                                                           monkeypatch):
    """b's login begun ahead while a's backup runs longer than a shared connection stays open idle
    (ControlPersist, 2 minutes; 1 s here): at b's turn its connection had closed itself, and b's
    rsyncs each logged in on their own, step 1 proving a login that was gone. Logged in again, b's
    rsyncs run over its shared connection."""
    from rabtui.ssh import endpoint

    lab = Lab(tmp_path, media_count=1)
    lab.trust(own_sshd)
    _ssh_sources(lab, own_sshd, "ab", {"a": 'pre_backup_commands = ["sleep 4"]'}, "max_parallel = 1")
    monkeypatch.setattr(endpoint, "SHARED_IDLE_SECONDS", 1)
    over: list[tuple[str, bool]] = []
    real = endpoint.rsync_rsh

    def rsh(cfg, source, ep=None, control=None):
        over.append((source.id, control is not None))
        return real(cfg, source, ep, control)

    monkeypatch.setattr(endpoint, "rsync_rsh", rsh)
    assert main(["--config", str(lab.config_path), "backup", "--all"]) == 0
    assert ("b", True) in over and ("b", False) not in over, over
    assert not _none_left(own_sshd.port)


def test_a_run_killed_while_a_login_begun_ahead_is_open_leaves_no_connection(tmp_path, own_sshd):
    """SIGKILL, which no handler of rabtui's sees, while a's backup runs and b's login, begun ahead
    of its turn, has gone to the background: b's connection was watched from its turn on only, and
    stayed logged in on the source for 2 minutes (ControlPersist)."""
    lab = Lab(tmp_path, media_count=1)
    lab.trust(own_sshd)
    gate = tmp_path / "go"
    _ssh_sources(lab, own_sshd, "abc", {"a": f'pre_backup_commands = ["{gate_command(gate)}"]'}, "max_parallel = 1")
    child = _start_run(lab, "backup", "--all", running=1)
    try:
        deadline = time.monotonic() + 60
        while len(_open(own_sshd.port)) < 2 and time.monotonic() < deadline:    # a's, and b's begun ahead
            time.sleep(0.05)
        assert len(_open(own_sshd.port)) == 2
        child.kill()
        child.communicate(timeout=30)
    finally:
        gate.touch()
    assert not _none_left(own_sshd.port)


def test_a_run_killed_while_a_login_begun_ahead_is_under_way_leaves_no_connection(tmp_path, own_sshd):
    """SIGKILL while b's login, begun ahead of its turn, waits for its server's greeting (that sshd
    stopped): the login, in a session of its own, went on once the server answered, and its
    connection stayed in the background for 2 minutes."""
    slow = start_sshd(tmp_path / "slow-sshd")
    try:
        lab = Lab(tmp_path, media_count=1)
        lab.trust(own_sshd)
        with (lab.state / "known_hosts").open("a") as f:
            f.write(slow.known_hosts_line())
        gate = tmp_path / "go"
        os.kill(slow.proc.pid, signal.SIGSTOP)
        try:
            _ssh_sources(lab, own_sshd, "abc", {"a": f'pre_backup_commands = ["{gate_command(gate)}"]'},
                         "max_parallel = 1", on={"b": slow})
            child = _start_run(lab, "backup", "--all", running=1)
            try:
                deadline = time.monotonic() + 30
                while not _logins(slow.port) and time.monotonic() < deadline:    # b's login, begun ahead
                    time.sleep(0.05)
                assert _logins(slow.port) and not _open(slow.port)
                child.kill()
                child.communicate(timeout=30)
            finally:
                gate.touch()
        finally:
            os.kill(slow.proc.pid, signal.SIGCONT)
        assert not _none_left(slow.port)
    finally:
        slow.stop()
