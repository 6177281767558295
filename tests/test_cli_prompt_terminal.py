"""A question asked on a real terminal (a pty) by `rabtui checkpoint resume`, left by the
operator: Ctrl-D, or SIGTERM (systemctl stop, kill, a closed SSH session's SIGHUP) while it waits.
The run stops as cancelled, says so, and leaves the checkpoint to be resumed."""

from __future__ import annotations

import os
import pty
import select
import signal
import sys
import time

import pytest

from tests.test_checkpoint_faults import _states, _two_discs


def _until(fd: int, pid: int, needle: bytes | None, out: bytearray, limit: float = 120) -> bool:
    """Read the terminal until `needle` shows (or, None, until the process ends)."""
    deadline = time.time() + limit
    while time.time() < deadline:
        if needle is not None and needle in out:
            return True
        if select.select([fd], [], [], 0.2)[0]:
            try:
                out += os.read(fd, 65536)
            except OSError:    # the process ended and closed the terminal
                return needle is None
        elif needle is None and os.waitpid(pid, os.WNOHANG)[0]:
            return True
    return False


@pytest.mark.parametrize("leave", ["ctrl-d", "sigterm"])
def test_a_prompt_left_on_the_terminal_cancels_the_run(tmp_path, leave):
    lab, cfg, store, number = _two_discs(tmp_path)
    pid, fd = pty.fork()
    if pid == 0:
        os.execv(sys.executable, [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint",
                                  "resume", str(number)])
    out = bytearray()
    try:
        assert _until(fd, pid, b"(default ready): ", out), out.decode(errors="replace")
        if leave == "ctrl-d":
            os.write(fd, b"\x04")
        else:
            os.kill(pid, signal.SIGTERM)
        _until(fd, pid, None, out)
    finally:
        try:
            os.kill(pid, signal.SIGKILL)   # only if the run did not end
        except ProcessLookupError:
            pass
        _, status = os.waitpid(pid, 0)
        os.close(fd)
    text = out.decode(errors="replace")
    assert os.waitstatus_to_exitcode(status) == 1, text
    assert "Traceback" not in text
    why = "the input ended" if leave == "ctrl-d" else "cancelled while waiting for an answer"
    assert f"checkpoint {number} stopped (" in text and why in text, text
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "aborted"
    assert set(_states(store, number).values()) == {"planned"}
    job = store.one("SELECT status FROM jobs ORDER BY id DESC LIMIT 1")
    assert job["status"] == "cancelled"
