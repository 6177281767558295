"""Test source against a host that accepts the connection and never speaks (the SSH handshake
hangs): the UI answers keys meanwhile, the test ends with a clear message within the connect
timeout (not twice it), and leaving the screen or quitting meanwhile does no harm."""

from __future__ import annotations

import socket
import time

import pytest

from rabtui.ssh import endpoint
from rabtui.tui.app import make_app
from rabtui.tui.dialogs.help import HelpScreen
from rabtui.tui.screens.media import MediaScreen
from rabtui.tui.screens.sources import SourcesScreen
from tests.sshd import ssh_children_to
from tests.tui.conftest import ready, run, texts, wait_for

TIMEOUT = 2     # seconds: the connect timeout for this test (15 in use; no key races it: see below)
HUNG = 60       # seconds: the connect timeout of the login that the keys are pressed during


@pytest.fixture
def silent_host(tmp_path, write_config, monkeypatch):
    """A config whose source is a TCP listener on 127.0.0.1 that never answers; its port; the
    listener (see `_logins`)."""
    monkeypatch.setattr(endpoint, "CONNECT_TIMEOUT", TIMEOUT)
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)             # the kernel completes the connections; nobody ever speaks on them
    port = server.getsockname()[1]
    path = write_config(f"""
        [rabtui]
        state_dir = "{tmp_path}/state"
        [[sources]]
        id = "mute"
        host = "127.0.0.1"
        port = {port}
        user = "nobody"
        [[sources.directories]]
        path = "/etc"
    """)
    yield path, port, server
    server.close()


def _said(app, port: int) -> list[str]:
    return [n.message for n in app._notifications if f"127.0.0.1:{port}" in n.message]


def _logins(server: socket.socket) -> int:
    """How many connections were made to the silent host since this was last asked (each login
    attempt is one: the kernel completes it, nobody ever speaks on it)."""
    server.setblocking(False)
    count = 0
    while True:
        try:
            conn, _ = server.accept()
        except BlockingIOError:
            return count
        conn.close()
        count += 1


def _new(app, port: int, earlier: list) -> list[str]:
    """What was said of the host since the notifications `earlier` were (counting them would not
    do: shown ones expire)."""
    return [n.message for n in app._notifications
            if f"127.0.0.1:{port}" in n.message and not any(n is e for e in earlier)]


async def _react(app, pilot, key: str, screen_type, within: float = 1.0) -> None:
    await pilot.press(key)
    await wait_for(pilot, lambda: ready(app, screen_type), timeout=within, what=f"{key} -> {screen_type.__name__}")


def test_a_host_that_never_speaks(silent_host, monkeypatch):
    path, port, server = silent_host

    async def go():
        app = make_app(path, poll_interval=0.2)
        async with app.run_test(size=(80, 24)) as pilot:
            await pilot.press("2")
            await wait_for(pilot, lambda: ready(app, SourcesScreen) and "mute" in texts(app, "#sources-list"))
            await pilot.press("t")
            await wait_for(pilot, lambda: "testing mute" in texts(app, "#status-line"), timeout=1, what="testing")
            await wait_for(pilot, lambda: _said(app, port), what="the outcome")
            said = _said(app, port)[0]
            assert said.startswith(f"cannot reach 127.0.0.1:{port} as user nobody: no SSH handshake within {TIMEOUT} s"
                                   "; is this port an SSH server?"), said
            # one login and its timeout, not one of ssh and then one of paramiko (twice the timeout);
            # counted at the host, as the time taken grows with the machine's load
            assert _logins(server) == 1
            assert "no SSH handshake" in texts(app, "#status-line")

            earlier = list(app._notifications)
            await pilot.press("t")                      # again, then away to Media before it ends
            await _react(app, pilot, "3", MediaScreen)
            await wait_for(pilot, lambda: _new(app, port, earlier), what="the second outcome")
            assert isinstance(app.screen, MediaScreen) and _logins(server) == 1

            # a login that hangs for longer than the keys below take on any machine (they raced the
            # short timeout above, and lost under load): the keys go on while it waits, and quitting
            # ends it instead of waiting for its timeout
            monkeypatch.setattr(endpoint, "CONNECT_TIMEOUT", HUNG)
            await _react(app, pilot, "2", SourcesScreen)
            earlier = list(app._notifications)
            await pilot.press("t")
            await wait_for(pilot, lambda: ssh_children_to(port), timeout=1, what="the login under way")
            await pilot.press("t")                      # again while it waits: no second login
            await wait_for(pilot, lambda: any("still testing mute" in n.message for n in app._notifications),
                           timeout=2, what="t refused")
            await _react(app, pilot, "question_mark", HelpScreen)
            await _react(app, pilot, "escape", SourcesScreen)
            await _react(app, pilot, "3", MediaScreen)
            await _react(app, pilot, "2", SourcesScreen)
            assert not _new(app, port, earlier) and len(ssh_children_to(port)) == 1     # all that while the login hung
        return time.monotonic()

    quit_at = run(go())               # with its threads done, as the program's end waits for them
    quit_took = time.monotonic() - quit_at
    assert quit_took < HUNG / 2, quit_took   # quitting ended the login instead of waiting for its timeout
    assert not ssh_children_to(port)
