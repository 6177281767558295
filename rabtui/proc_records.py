"""Output records of a process: its output split on both `\\r` and `\\n`, because rsync's and
xorriso's progress records end in `\\r`."""

from __future__ import annotations

import re
from collections.abc import Callable

LineCallback = Callable[[bytes], None]
DataCallback = Callable[[bytes], None]
_RECORD_END = re.compile(rb"[\r\n]")


class LineSplitter:
    """Feeds bytes in, calls back once per record ending in `\\r` or `\\n` (empty records dropped)."""

    def __init__(self, callback: LineCallback):
        self._callback = callback
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        parts = _RECORD_END.split(self._pending + chunk)
        self._pending = parts.pop()
        for part in parts:
            if part:
                self._callback(part)

    def close(self) -> None:
        if self._pending:
            self._callback(self._pending)
            self._pending = b""


def split_records(data: bytes) -> list[bytes]:
    """Pure form of LineSplitter, for tests and small outputs."""
    out: list[bytes] = []
    splitter = LineSplitter(out.append)
    splitter.feed(data)
    splitter.close()
    return out
