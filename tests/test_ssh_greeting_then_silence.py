"""A host that sends its SSH greeting and then nothing (a hung sshd, a tarpit): ssh's own
ConnectTimeout bounds the connection and the greeting only, so rabtui stops the login itself. The
test of a source and a backup's step 1 end with a clear message after one connect timeout, not
after two. Real ssh, a real listener on 127.0.0.1."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from rabtui.cli import main
from rabtui.ssh import endpoint
from tests.sshd import ssh_children_to
from tests.trees import Lab

TIMEOUT = 6     # seconds: the connect timeout for this test (15 in use)


@pytest.fixture
def greets_then_silent(monkeypatch):
    """A port on 127.0.0.1 whose server sends the SSH greeting on each connection, then nothing."""
    monkeypatch.setattr(endpoint, "CONNECT_TIMEOUT", TIMEOUT)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)
    held = []

    def serve():
        while True:
            try:
                conn, _ = server.accept()
            except OSError:
                return
            held.append(conn)
            conn.sendall(b"SSH-2.0-OpenSSH_9.2p1 Debian-2\r\n")

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()
    for conn in held:
        conn.close()


def _lab(tmp_path, port: int) -> Lab:
    lab = Lab(tmp_path, media_count=1)
    lab.write(f'[[sources]]\nid = "mute"\nhost = "127.0.0.1"\nport = {port}\nuser = "nobody"\n'
              '[[sources.directories]]\npath = "/etc"\n')
    return lab


def _said(port: int) -> str:
    return f"mute: no answer from 127.0.0.1:{port} within {TIMEOUT} s: the SSH login did not end"


def test_sources_test_ends_after_one_connect_timeout(tmp_path, greets_then_silent, capsys):
    port = greets_then_silent
    lab = _lab(tmp_path, port)
    started = time.monotonic()
    assert main(["--config", str(lab.config_path), "sources", "test", "mute"]) == 1
    took = time.monotonic() - started
    out = capsys.readouterr().out
    assert _said(port) in out and "is this port an SSH server, and is it answering?" in out, out
    assert took < 2 * TIMEOUT - 2, took
    assert not ssh_children_to(port)


def test_a_backups_step_1_ends_after_one_connect_timeout(tmp_path, greets_then_silent):
    port = greets_then_silent
    lab = _lab(tmp_path, port)
    started = time.monotonic()
    result = lab.backup(lab.load(), "mute")
    took = time.monotonic() - started
    assert result.status == "failed" and _said(port) in result.reason, result.reason
    assert took < 2 * TIMEOUT - 2, took
    assert not ssh_children_to(port)
