"""A known_hosts that is not a regular file (a FIFO, a socket, a device other than /dev/null) is
refused with a message naming it and a non-zero exit, never opened in a way that waits for a writer:
`sources trust` and the host-key check of `sources test` (a backup's) hung on a FIFO for good. One
planted as a symlink where rabtui's own file is, is never written through."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests import preloaded
from tests.test_replace_file_leftovers import ROOT
from tests.test_sources_cli import conf  # noqa: F401  (the fixture)
from tests.held import stopped as _stopped


def _rabtui(config, *args):
    run = preloaded.run([sys.executable, "-m", "rabtui", "--config", config, "sources", *args], cwd=ROOT,
                        capture_output=True, text=True, timeout=60)
    return run.returncode, run.stdout + run.stderr


@pytest.mark.parametrize("where", ["own", "user's"])
def test_a_known_hosts_fifo_is_refused_not_waited_on(conf, tmp_path, where):  # noqa: F811
    config = conf()
    (tmp_path / "state").mkdir(mode=0o700)
    fifo = tmp_path / "state" / "known_hosts" if where == "own" else Path(os.path.expanduser("~/.ssh/known_hosts"))
    fifo.parent.mkdir(exist_ok=True)
    os.mkfifo(fifo, 0o600)
    for args in (("trust", "box", "--yes"), ("test", "box")):
        try:
            code, out = _rabtui(config, *args)
        except subprocess.TimeoutExpired:
            pytest.fail(f"`sources {args[0]}` waited on the FIFO {fifo}")
        assert code == 1 and f"{fifo} is not a regular file (a FIFO)" in out, out
        assert "Traceback" not in out
    assert fifo.is_fifo()


def test_a_user_known_hosts_linked_to_dev_null_reads_as_empty(conf, tmp_path, sshd):  # noqa: F811
    """`ln -s /dev/null ~/.ssh/known_hosts` (no keys kept there) is read as empty, as ssh reads it."""
    config = conf()
    user = os.path.expanduser("~/.ssh/known_hosts")
    os.makedirs(os.path.dirname(user), exist_ok=True)
    os.symlink("/dev/null", user)
    code, out = _rabtui(config, "trust", "box", "--yes")
    assert code == 0, out
    assert (tmp_path / "state" / "known_hosts").read_text() == sshd.known_hosts_line()


def test_a_symlink_planted_as_rabtuis_known_hosts_is_not_written_through(conf, tmp_path):  # noqa: F811
    config = conf()
    (tmp_path / "state").mkdir(mode=0o700)
    victim = tmp_path / "victim"
    victim.write_text("root's own\n")
    (tmp_path / "state" / "known_hosts").symlink_to(victim)
    code, out = _rabtui(config, "trust", "box", "--yes")
    assert code == 1 and f"{tmp_path / 'state' / 'known_hosts'} is not a regular file (a symlink)" in out, out
    assert victim.read_text() == "root's own\n"


@pytest.mark.parametrize("kind", ["directory", "socket", "device"])
def test_other_files_that_are_not_regular_are_refused_naming_what_they_are(tmp_path, kind):
    import socket

    from rabtui.errors import WorkFailed
    from rabtui.ssh import known_hosts

    path = tmp_path / "known_hosts"
    if kind == "directory":
        path.mkdir()
    elif kind == "socket":
        sock = socket.socket(socket.AF_UNIX)
        sock.bind(str(path))
    else:
        path.symlink_to("/dev/zero")    # read until memory ends
    with pytest.raises(WorkFailed, match=f"{path} is not a regular file \\(a {kind if kind != 'device' else 'character device'}\\)"):
        known_hosts.read([path])


def test_a_fifo_put_in_place_of_rabtuis_known_hosts_as_trust_writes_is_refused_not_waited_on(conf, tmp_path):  # noqa: F811
    """`sources trust` holds its known_hosts, reads it again, then writes: a FIFO put in its place
    at that instant is refused, where the write's open of it waited for a reader for good."""
    import signal
    import time

    from rabtui import faults

    config = conf()
    env = {k: v for k, v in os.environ.items() if k != faults.ENV} | {faults.STOP_ENV: "known_hosts.writing"}
    trust = subprocess.Popen([sys.executable, "-m", "rabtui", "--config", config, "sources", "trust", "box", "--yes"],
                             cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    own = tmp_path / "state" / "known_hosts"
    try:
        deadline = time.monotonic() + 60
        while not _stopped(trust.pid):
            assert trust.poll() is None and time.monotonic() < deadline, trust.stdout.read()
            time.sleep(0.02)
        own.unlink()
        os.mkfifo(own, 0o600)
    finally:
        trust.send_signal(signal.SIGCONT)
    try:
        out = trust.communicate(timeout=30)[0].decode()
    except subprocess.TimeoutExpired:
        trust.kill()
        trust.communicate()
        pytest.fail(f"`sources trust` waited on the FIFO {own}")
    assert trust.returncode == 1 and f"{own} is not a regular file (a FIFO)" in out, out
    assert "Traceback" not in out and own.is_fifo()


def _not_waiting(what, fifo: Path) -> BaseException | None:
    """What `what()` raised, run in a thread; a failure when it waits on `fifo` (then let go)."""
    import threading

    raised: list[BaseException | None] = []

    def run():
        try:
            what()
            raised.append(None)
        except BaseException as exc:     # noqa: BLE001 (said to the test)
            raised.append(exc)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(60)     # a FIFO's open waits for good; a loaded machine may take seconds
    if thread.is_alive():
        fd = os.open(fifo, os.O_RDWR | os.O_NONBLOCK)     # a reader and a writer: its open ends
        thread.join(10)
        os.close(fd)
        pytest.fail(f"waited on the FIFO {fifo}")
    return raised[0]


def test_a_changed_keys_rewrite_refuses_a_fifo_put_in_place_of_the_file(tmp_path):
    """Replacing a changed key rewrites rabtui's known_hosts from what it reads there: a FIFO in its
    place is refused, where its read waited for a writer for good."""
    from rabtui.errors import WorkFailed
    from rabtui.ssh import known_hosts

    fifo = tmp_path / "known_hosts"
    os.mkfifo(fifo, 0o600)
    raised = _not_waiting(lambda: known_hosts.remove_lines(fifo, {1}, b"host ssh-ed25519 AAAA\n"), fifo)
    assert isinstance(raised, WorkFailed) and f"{fifo} is not a regular file (a FIFO)" in str(raised), raised
    assert fifo.is_fifo()


def _opened(path: Path, act) -> bool:
    """Whether `act()` opened the file at `path` (inotify's IN_OPEN, which a stat does not give)."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    fd = libc.inotify_init1(os.O_NONBLOCK | os.O_CLOEXEC)
    assert fd >= 0 and libc.inotify_add_watch(fd, os.fsencode(path), 0x20) >= 0, ctypes.get_errno()   # IN_OPEN
    try:
        act()
        try:
            return bool(os.read(fd, 4096))
        except BlockingIOError:
            return False
    finally:
        os.close(fd)


@pytest.mark.parametrize("where", ["user's", "own"])
def test_a_device_in_place_of_known_hosts_is_refused_before_it_is_opened(tmp_path, where):
    """A device where known_hosts is (a symlink to a tape drive, whose open rewinds it) is refused
    without being opened; a node of /dev/zero's device stands for it here."""
    from rabtui.errors import WorkFailed
    from rabtui.ssh import known_hosts

    device = tmp_path / "tape"
    try:
        os.mknod(device, 0o600 | stat.S_IFCHR, os.stat("/dev/zero").st_rdev)
    except PermissionError:
        pytest.skip("making a device node needs CAP_MKNOD (root)")
    path = tmp_path / "known_hosts"
    if where == "own":      # rabtui's own file is never followed through a symlink: the node itself
        path = device
    else:
        path.symlink_to(device)

    def read():
        with pytest.raises(WorkFailed, match="is not a regular file \\(a character device\\)"):
            if where == "own":
                with known_hosts.held(path):
                    pass
            else:
                known_hosts.read([path])

    assert not _opened(device, read)
