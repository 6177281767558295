"""Processes held at a fault point (faults.STOP_ENV stops them with SIGSTOP there)."""

from __future__ import annotations


def stopped(pid: int) -> bool:
    """Whether the process is stopped (SIGSTOP); one that has ended is not."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[0] == b"T"
    except (FileNotFoundError, ProcessLookupError):
        return False
