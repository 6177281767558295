"""This machine's processes as /proc shows them, for tests that look for what a run started or left."""

from __future__ import annotations

import os
import signal
from typing import Iterator


def processes() -> Iterator[tuple[int, list[bytes]]]:
    """(pid, argv) of each process there is (one gone meanwhile is passed over)."""
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                yield int(pid), f.read().split(b"\0")
        except OSError:
            continue


def stat_fields(pid: int) -> list[str]:
    """The fields of /proc/PID/stat after the command's name: [0] its state, [1] its parent's pid.
    OSError when it is gone."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def signalled(pid: int, sig: int) -> bool:
    """Sends `sig` to process `pid`; False where it has ended (and was reaped) since it was found."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def ended(pid: int) -> bool:
    """Whether process `pid` has ended: gone from /proc, or a zombie there (read in one go: it may go
    between two looks)."""
    try:
        return stat_fields(pid)[0] == "Z"
    except OSError:
        return True


def sleeping(word: bytes) -> list[int]:
    """The processes running `sleep WORD` (zombies aside)."""
    return [pid for pid, argv in processes() if argv[:2] == [b"sleep", word] and not ended(pid)]


def kill_naming(word: bytes) -> None:
    """SIGKILL to each process (this one aside) with `word` in its argv: a test's, left stopped or running."""
    for pid, argv in processes():
        if pid != os.getpid() and any(word in arg for arg in argv):
            signalled(pid, signal.SIGKILL)
