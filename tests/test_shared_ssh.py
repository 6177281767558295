"""One SSH login per backup: step 1 opens it (OpenSSH, nothing run on the source), every rsync of the backup runs
over it, and it is closed at the end; when it is gone, rsync logs in on its own."""

from __future__ import annotations

import itertools
import os
import shutil
import tempfile
import time
from pathlib import Path

import pytest

from rabtui import proc, temp_dirs
from rabtui.backup import source_top
from rabtui.ssh import endpoint as ssh_target
from rabtui.events import LOG, STEP
from tests.sshd import free_port, start_sshd
from tests.trees import Lab, ssh_source_lines


def _lab(tmp_path: Path, server, dirs: int = 2):
    lab = Lab(tmp_path)
    text = ssh_source_lines(server)
    for i in range(dirs):
        data = lab.src / f"dir{i}"
        data.mkdir()
        (data / "file.txt").write_text(f"content {i}\n")
        text += f'[[sources.directories]]\npath = "{data}"\n'
    cfg = lab.write(text)
    lab.state.mkdir(parents=True, exist_ok=True)
    (lab.state / "known_hosts").write_text(server.known_hosts_line())
    return lab, cfg


def _when_logged_in(lab: Lab, action) -> None:
    """Run `action` as soon as step 1 has logged in."""
    record = lab.emit

    def emit(event) -> None:
        record(event)
        if event.kind == STEP and event.data["step"] == 1 and event.data["state"] == "ok":
            action()

    lab.emit = emit


def _rsync_argvs(lab: Lab) -> list[list[str]]:
    return [e.data["argv"] for e in lab.events if e.kind == LOG and "argv" in e.data]


def _processes_mentioning(text: str) -> list[int]:
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if text.encode() in cmdline:
            found.append(int(pid))
    return found


@pytest.fixture
def short_dir() -> Path:
    """A directory with a short path, whatever pytest's own (a socket's path has room for 90 bytes,
    and parallel test runs make tmp_path longer)."""
    where = Path(tempfile.mkdtemp(prefix="rt-", dir="/tmp"))
    yield where
    shutil.rmtree(where, ignore_errors=True)


def _socket_dir(short_dir: Path, monkeypatch) -> Path:
    where = short_dir / "t"
    where.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(where))
    return where


def test_every_rsync_runs_over_the_login_of_step_1(tmp_path, short_dir, monkeypatch):
    server = start_sshd(tmp_path / "sshd")   # its own sshd: this test stops it
    sockets = _socket_dir(short_dir, monkeypatch)
    try:
        lab, cfg = _lab(tmp_path, server)
        _when_logged_in(lab, server.stop)    # from here on the host takes no new login
        result = lab.backup(cfg, "web", medium_id="m1")
        assert result.status == "completed", result.reason
        for i in range(2):
            data = lab.src / f"dir{i}"
            assert (result.path / "data" / str(data).lstrip("/") / "file.txt").read_text() == f"content {i}\n"
        argvs = _rsync_argvs(lab)
        assert len(argvs) == 2 and all(any("ControlMaster=no" in a for a in argv) for argv in argvs)
        # closed at the end: no socket, and the ssh process that held it goes (it was asked to exit)
        assert os.listdir(sockets) == []
        deadline = time.monotonic() + 60
        while _processes_mentioning(str(sockets)) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert _processes_mentioning(str(sockets)) == []
        # and the host really takes no new login: the same backup now fails at step 1
        lab.emit = Lab.emit.__get__(lab)
        again = lab.backup(cfg, "web", medium_id="m1")
        assert again.status == "failed" and "refused" in again.reason.lower()
    finally:
        server.stop()


def _log_sessions(server, tmp_path: Path) -> Path:
    """Make every session on `server` write its command to a file before running it (the key's
    command= option in authorized_keys); returns that file."""
    log = tmp_path / "sessions.log"
    wrapper = tmp_path / "log-session"
    wrapper.write_text(f'#!/bin/sh\nprintf "%s\\n" "$SSH_ORIGINAL_COMMAND" >> {log}\nexec /bin/sh -c "$SSH_ORIGINAL_COMMAND"\n')
    wrapper.chmod(0o755)
    keys = server.dir / "authorized_keys"
    keys.write_text(f'command="{wrapper}" ' + keys.read_text())
    return log


def test_step_1_runs_nothing_on_the_source(tmp_path):
    """The login alone proves the source reachable: a backup opens one session per directory (its
    rsync, which the source's own rsync's listing of the directories themselves, is one a symlink?,
    comes before in each, and after in the last), and `sources test` one more for `whoami`."""
    from rabtui.ssh.shared import whoami

    server = start_sshd(tmp_path / "sshd")
    try:
        log = _log_sessions(server, tmp_path)
        lab, cfg = _lab(tmp_path, server)
        result = lab.backup(cfg, "web", medium_id="m1")
        assert result.status == "completed", result.reason
        sessions = log.read_text().splitlines()
        assert len(sessions) == 2 and all(s.startswith("sh -c 'l=$(rsync --list-only -R -d -l -- ")
                                          and "' sh rsync --server --sender -" in s
                                          for s in sessions), sessions
        assert [f"exit {source_top.SAW_AFTER}" in s for s in sessions] == [False, True], sessions
        answer = whoami(cfg, cfg.source("web"))
        assert answer == (server.user, f"{server.user}@127.0.0.1:{server.port}"), answer
        assert log.read_text().splitlines()[2:] == ["whoami"]
    finally:
        server.stop()


def test_an_account_that_runs_no_command_fails_with_its_own_words(tmp_path):
    """Step 1 runs nothing, so an account whose shell refuses commands passes it; rsync's session
    then fails, with what the account said, and `sources test` (which runs `whoami`) tells it too."""
    from rabtui.errors import WorkFailed
    from rabtui.ssh.shared import whoami

    server = start_sshd(tmp_path / "sshd")
    try:
        keys = server.dir / "authorized_keys"
        keys.write_text('command="echo This account is currently not available. >&2; exit 1" ' + keys.read_text())
        lab, cfg = _lab(tmp_path, server, dirs=1)
        result = lab.backup(cfg, "web", medium_id="m1")
        assert result.status == "failed" and "This account is currently not available." in result.reason
        assert lab.store().one("SELECT status FROM backups WHERE id=?", (result.backup_id,))["status"] == "failed"
        try:
            whoami(cfg, cfg.source("web"))
        except WorkFailed as exc:
            assert "whoami failed" in str(exc) and "currently not available" in (exc.hint or "")
        else:
            raise AssertionError("sources test passed on an account that runs no command")
    finally:
        server.stop()


def test_rsync_logs_in_itself_when_the_shared_login_is_gone(tmp_path, short_dir, sshd, monkeypatch):
    sockets = _socket_dir(short_dir, monkeypatch)
    lab, cfg = _lab(tmp_path, sshd, dirs=1)
    source = cfg.source("web")

    def close_it() -> None:
        (control,) = sockets.glob("rabtui-*/mux")
        done = proc.run(ssh_target.shared_exit_argv(cfg, source, control))
        assert done.ok, done.stderr_text()

    _when_logged_in(lab, close_it)
    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    data = lab.src / "dir0"
    assert (result.path / "data" / str(data).lstrip("/") / "file.txt").read_text() == "content 0\n"
    assert os.listdir(sockets) == []


def test_no_sharing_when_the_socket_path_would_be_too_long(tmp_path, sshd, monkeypatch):
    deep = tmp_path / ("x" * 60) / ("y" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "tempdir", str(deep))
    lab, cfg = _lab(tmp_path, sshd, dirs=1)
    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    (argv,) = _rsync_argvs(lab)
    assert not any("ControlPath" in a for a in argv)
    assert os.listdir(deep) == []


def test_no_sharing_when_no_temporary_directory_can_be_written(tmp_path, sshd, monkeypatch, tmpfs):
    """TMPDIR on a read-only file system (a full or read-only /tmp, say): the backup goes on, each
    rsync logging in itself, instead of failing for want of a place for the socket."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmpfs(tmp_path / "ro", "size=1m,ro")))
    lab, cfg = _lab(tmp_path, sshd, dirs=1)
    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    (argv,) = _rsync_argvs(lab)
    assert not any("ControlPath" in a for a in argv)


def test_no_sharing_through_a_temporary_directory_another_user_can_change(tmp_path, sshd, monkeypatch):
    """TMPDIR a directory of another user (a symlink of theirs planted in /tmp, say): the socket is
    not put there, where they could swap its directory for theirs and have each rsync talk through
    their socket; the backup goes on, each rsync logging in itself."""
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o777)
    os.chown(theirs, 65534, 65534)
    monkeypatch.setattr(tempfile, "tempdir", str(theirs))
    lab, cfg = _lab(tmp_path, sshd, dirs=1)
    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    (argv,) = _rsync_argvs(lab)
    assert not any("ControlPath" in a for a in argv), argv


def test_the_longest_socket_path_that_is_shared_works(tmp_path, short_dir, sshd, monkeypatch):
    """A control path of exactly SOCKET_PATH_MAX bytes is shared (ssh can bind it, with the suffix
    it adds meanwhile); one byte more, and each rsync logs in on its own."""
    from rabtui.ssh.shared import SOCKET_PATH_MAX

    lab, cfg = _lab(tmp_path, sshd, dirs=1)
    monkeypatch.setattr(temp_dirs, "_count", itertools.count(1))    # the socket's directory names a number of one digit
    for extra, shared in ((0, True), (1, False)):
        base = short_dir / f"s{extra}"
        # the socket: <base>/<padding>/rabtui-<pid>-<n>/mux
        padding = SOCKET_PATH_MAX + extra - len(os.fsencode(base)) - len(f"//rabtui-{os.getpid()}-1/mux")
        where = base / ("p" * padding)
        where.mkdir(parents=True)
        monkeypatch.setattr(tempfile, "tempdir", str(where))
        lab.events.clear()
        result = lab.backup(cfg, "web", medium_id="m1")
        assert result.status == "completed", result.reason
        (argv,) = _rsync_argvs(lab)
        assert any("ControlPath" in a for a in argv) is shared
        assert os.listdir(where) == []


def test_a_source_behind_a_proxy_jump_is_backed_up(tmp_path, sshd, isolated_home):
    """Only OpenSSH follows ProxyJump: step 1 and rsync both go through it (the jump host and the
    source are the test sshd, reached twice)."""
    (isolated_home / ".ssh").mkdir()
    known = isolated_home / ".ssh" / "known_hosts"
    known.write_text(sshd.known_hosts_line())
    entry = (f"  HostName {sshd.host}\n  Port {sshd.port}\n  User {sshd.user}\n  IdentityFile {sshd.identity_file}\n"
             f"  UserKnownHostsFile {known}\n  StrictHostKeyChecking yes\n  BatchMode yes\n")
    (isolated_home / ".ssh" / "config").write_text(f"Host jump\n{entry}Host inner\n{entry}  ProxyJump jump\n")
    lab = Lab(tmp_path)
    data = lab.src / "data"
    data.mkdir()
    (data / "file.txt").write_text("behind the jump\n")
    cfg = lab.write(f'[[sources]]\nid = "web"\nhost = "inner"\n[[sources.directories]]\npath = "{data}"\n')
    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    assert (result.path / "data" / str(data).lstrip("/") / "file.txt").read_text() == "behind the jump\n"
    step1 = lab.store().one("SELECT message FROM backup_steps WHERE backup_id=? AND step=1", (result.backup_id,))
    assert step1["message"] == f"{sshd.user} on inner"

    # the jump host refuses: OpenSSH's own words, and the way the host is reached
    (isolated_home / ".ssh" / "config").write_text(
        f"Host jump\n{entry.replace(f'Port {sshd.port}', f'Port {free_port()}')}Host inner\n{entry}  ProxyJump jump\n")
    failed = lab.backup(cfg, "web", medium_id="m1")
    assert failed.status == "failed"
    assert "OpenSSH (which rsync uses) cannot log in to inner" in failed.reason
    assert "proxyjump jump" in failed.reason
