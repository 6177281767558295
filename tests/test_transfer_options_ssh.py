"""A source's transfer options in real backups over the test sshd (and one local source): the
source's rsync command, the bandwidth limit, one file system, and the I/O timeout of a stalled
transfer."""

from __future__ import annotations

import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rabtui.media import medium_layout
from tests.trees import Lab, ssh_source_lines


def _ssh_lab(tmp_path, sshd, keys: str) -> tuple[Lab, object, Path]:
    lab = Lab(tmp_path)
    data = lab.src / "data"
    data.mkdir()
    cfg = lab.write(ssh_source_lines(sshd) + keys + f'[[sources.directories]]\npath = "{data}"\n')
    lab.trust(sshd)
    return lab, cfg, data


def _rsync_argvs(lab: Lab) -> list[list[str]]:
    return [e.data["argv"] for e in lab.events if "argv" in e.data]


def test_nice_rsync_path_backs_up(tmp_path, sshd):
    lab, cfg, data = _ssh_lab(tmp_path, sshd, 'rsync_path = "nice -n 19 rsync"\n')
    (data / "a").write_text("hello\n")
    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    assert (medium_layout.backup_data_path(result.path, str(data)) / "a").read_text() == "hello\n"
    # wrapped by the looks for symlinks that go into the transfer's session (source_top.session_command)
    [remote] = [a for a in _rsync_argvs(lab)[0] if a.startswith("--rsync-path=")]
    assert remote.startswith("--rsync-path=sh -c 'l=$(nice -n 19 rsync --list-only ") and remote.endswith("' sh nice -n 19 rsync")


def test_rsync_path_is_what_runs_on_the_source(tmp_path, sshd):
    marker = tmp_path / "ran"
    wrapper = tmp_path / "my rsync"
    wrapper.write_text(f'#!/bin/sh\necho "$PPID" > \'{marker}\'\nexec rsync "$@"\n')
    wrapper.chmod(0o755)
    lab, cfg, data = _ssh_lab(tmp_path, sshd, f'rsync_path = "\'{wrapper}\'"\n')
    (data / "a").write_text("hello\n")
    result = lab.backup(cfg, "web", medium_id="m1")
    assert result.status == "completed", result.reason
    assert marker.exists()
    assert (medium_layout.backup_data_path(result.path, str(data)) / "a").read_text() == "hello\n"


def test_rsync_path_of_a_local_source_is_the_command_itself(tmp_path):
    marker = tmp_path / "ran"
    wrapper = tmp_path / "my rsync"
    wrapper.write_text(f'#!/bin/sh\ntouch \'{marker}\'\nexec rsync "$@"\n')
    wrapper.chmod(0o755)
    lab = Lab(tmp_path)
    cfg = lab.local(extra=f'rsync_path = "nice -n 5 \'{wrapper}\'"')
    (lab.src / "data" / "a").write_text("hello\n")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason
    assert marker.exists()
    assert _rsync_argvs(lab)[0][:4] == ["nice", "-n", "5", str(wrapper)]


def test_a_wrapper_not_named_rsync_passes_on_no_refused_flag(tmp_path, capsys):
    """The words after a wrapper that is not named rsync reach rsync as its own flags: they are held
    to the allow-list too (--remove-source-files emptied the source)."""
    from rabtui.cli import main
    from rabtui.config import ConfigError

    wrapper = tmp_path / "backup-wrapper"
    wrapper.write_text('#!/bin/sh\nexec rsync "$@"\n')
    wrapper.chmod(0o755)
    lab = Lab(tmp_path)
    with pytest.raises(ConfigError):    # the file is written, then refused
        lab.local(extra=f'rsync_path = "{wrapper} --remove-source-files"')
    (lab.src / "data" / "a").write_text("hello\n")
    assert main(["--config", str(lab.config_path), "backup", "loc"]) == 2
    assert "delete the files on the source" in capsys.readouterr().err
    assert (lab.src / "data" / "a").read_text() == "hello\n"
    assert not list(lab.media[0][1].glob("loc/backup-*"))
    cfg = lab.local(extra=f'rsync_path = "{wrapper} --checksum"')
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason
    assert (medium_layout.backup_data_path(result.path, str(lab.src / "data")) / "a").read_text() == "hello\n"
    assert _rsync_argvs(lab)[0][:2] == [str(wrapper), "--checksum"]


def test_bwlimit_throttles_the_transfer(tmp_path, sshd):
    lab, cfg, data = _ssh_lab(tmp_path, sshd, "bwlimit = 500\n")
    (data / "random").write_bytes(os.urandom(2 * 1024 * 1024))   # 2 MiB at 500 KiB/s: about 4 s
    started = time.monotonic()
    result = lab.backup(cfg, "web", medium_id="m1")
    elapsed = time.monotonic() - started
    assert result.status == "completed", result.reason
    assert "--bwlimit=500" in _rsync_argvs(lab)[0]
    assert elapsed >= 3.0, elapsed


def test_one_file_system_keeps_a_mount_inside_the_source_out(tmp_path):
    lab = Lab(tmp_path)
    data = lab.src / "data"
    mnt = data / "mnt"
    mnt.mkdir(parents=True)
    (data / "own").write_text("on the source's file system\n")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "rabtui-test", str(mnt)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        (mnt / "other").write_text("on another file system\n")
        cfg = lab.local()
        both = lab.backup(cfg, medium_id="m1")
        assert both.status == "completed", both.reason
        assert (medium_layout.backup_data_path(both.path, str(data)) / "mnt" / "other").exists()

        cfg = lab.local(extra="one_file_system = true")
        one = lab.backup(cfg, medium_id="m2")
        assert one.status == "completed", one.reason
        copy = medium_layout.backup_data_path(one.path, str(data))
        assert (copy / "own").exists() and (copy / "mnt").is_dir()
        assert list((copy / "mnt").iterdir()) == []
    finally:
        subprocess.run(["umount", str(mnt)], check=True)


def _server_rsyncs(path: Path) -> list[int]:
    """pids of the source-side rsync (`rsync --server --sender`, sent its paths over the protocol)
    of this test: the one in PATH, which it reads (the listing of PATH itself before it works in its
    parent)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            cwd = os.readlink(f"/proc/{entry}/cwd")
        except OSError:
            continue
        if (os.path.basename(argv[0]) == b"rsync" and b"--server" in argv and b"--sender" in argv
                and cwd == os.fspath(path)):
            found.append(int(entry))
    return found


def test_io_timeout_fails_a_backup_whose_source_stalls(tmp_path, sshd):
    io_timeout = 5
    # throttled so that the transfer is still running when the source's rsync is stopped
    lab, cfg, data = _ssh_lab(tmp_path, sshd, f"io_timeout = {io_timeout}\nbwlimit = 100\n")
    (data / "random").write_bytes(os.urandom(4 * 1024 * 1024))
    outcome: dict = {}

    def backup():
        outcome["result"] = lab.backup(cfg, "web", medium_id="m1")
        outcome["ended"] = time.monotonic()

    runner = threading.Thread(target=backup, daemon=True)
    runner.start()
    stopped: list[int] = []
    try:
        deadline = time.monotonic() + 30
        while not stopped and time.monotonic() < deadline and runner.is_alive():
            stopped = _server_rsyncs(data)
            time.sleep(0.05)
        assert stopped, "the source's rsync never started"
        time.sleep(0.5)                      # data is flowing
        for pid in stopped:
            os.kill(pid, signal.SIGSTOP)     # the source's rsync hangs: no byte moves any more
        stalled = time.monotonic()
        runner.join(io_timeout + 30)
        assert not runner.is_alive(), "the backup hung on a stalled source"
    finally:
        for pid in stopped:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        runner.join(30)
    result = outcome["result"]
    assert result.status == "failed" and result.exit_code == 1
    assert "stalled" in result.reason and f"{io_timeout} s (io_timeout)" in result.reason, result.reason
    assert io_timeout - 1.5 <= outcome["ended"] - stalled <= io_timeout + 30
