"""A login the server dropped before its greeting while others of this run logged in to it, tried
again a moment later.

sshd takes only so many logins at once that have not authenticated yet (MaxStartups; by default it
drops new ones at random past 10): sources on one host backed up at once (max_parallel) meet it
together, and so do their pre- and post-backup commands. sshd then closes the connection before its
greeting (saying "Exceeded MaxStartups"), which OpenSSH and paramiko report as they report any
server that closes at once (one that does not speak SSH, say): so a login is tried again, after a
pause of random length (those dropped together do not come back together) and a few times at most,
only when another login of this process to the same host and port was under way beside it.
"""

from __future__ import annotations

import random
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from rabtui.errors import Cancelled

PAUSES = (0.5, 1.0, 2.0, 4.0)     # seconds before each new try (each taken between half and 1.5 times)

_lock = threading.Lock()
_under_way: dict[tuple[str, int], list[list[bool]]] = {}     # (host, port) -> the logins' "crowded" marks


@contextmanager
def logging_in(host: str, port: int) -> Iterator[list[bool]]:
    """A login to host:port under way for the block; yields its mark, [True] once another login of
    this process to the same host and port was under way beside it at any moment of the block."""
    key, mark = (host, port), [False]
    with _lock:
        others = _under_way.setdefault(key, [])
        if others:
            for m in (*others, mark):
                m[0] = True
        others.append(mark)
    try:
        yield mark
    finally:
        with _lock:
            _under_way[key].remove(mark)
            if not _under_way[key]:
                del _under_way[key]


def wait(pause: float, cancel: threading.Event | None = None) -> None:
    """The pause before the next try (Cancelled when `cancel` is set meanwhile)."""
    seconds = random.uniform(pause / 2, pause * 1.5)
    if cancel is None:
        time.sleep(seconds)
    elif cancel.wait(seconds):
        raise Cancelled("cancelled")


def by_openssh(stderr: list[str]) -> bool:
    """Whether OpenSSH's own words say the server closed the connection before its greeting
    ("kex_exchange_identification: Connection closed by remote host", "... read: Connection reset by
    peer"; ssh_exchange_identification before OpenSSH 8.2)."""
    return any("exchange_identification" in line and ("closed" in line or "reset" in line) for line in stderr)


def by_paramiko(exc: BaseException, elapsed: float, timeout: float) -> bool:
    """Whether paramiko's connect failed so: the connection closed before a greeting was read (not
    its wait for the greeting timed out: a server that accepts and stays silent drops no login)."""
    if isinstance(exc, (EOFError, ConnectionResetError)):
        return True
    return "Error reading SSH protocol banner" in str(exc) and elapsed < 0.9 * timeout
