"""Output records of a process: its output split on both `\\r` and `\\n`, because rsync's and
xorriso's progress records end in `\\r`."""

from __future__ import annotations

import re
from collections.abc import Callable

LineCallback = Callable[[bytes], None]
DataCallback = Callable[[bytes], None]
_RECORD_END = re.compile(rb"[\r\n]")
# a record longer than this is passed on in pieces of it: none of the tools writes one (a line of
# rsync's or xorriso's with a 4,000-byte path escaped is some 16 KiB), and a command that writes
# megabytes without a line end (a binary dump to stderr) is then neither held whole nor scanned again
RECORD_MAX = 1 << 20


class LineSplitter:
    """Feeds bytes in, calls back once per record ending in `\r` or `\n` (empty records dropped)."""

    def __init__(self, callback: LineCallback):
        self._callback = callback
        self._pending: list[bytes] = []     # the unended record's pieces, none with a record end
        self._size = 0

    def feed(self, chunk: bytes) -> None:
        parts = _RECORD_END.split(chunk)
        if len(parts) > 1:
            self._pending.append(parts[0])
            first = b"".join(self._pending)
            self._pending, self._size = [], 0
            for part in (first, *parts[1:-1]):
                if part:
                    self._callback(part)
        if parts[-1]:
            self._pending.append(parts[-1])
            self._size += len(parts[-1])
        while self._size > RECORD_MAX:
            pending = b"".join(self._pending)
            self._callback(pending[:RECORD_MAX])
            rest = pending[RECORD_MAX:]
            self._pending, self._size = [rest] if rest else [], len(rest)

    def close(self) -> None:
        if self._pending:
            self._callback(b"".join(self._pending))
            self._pending, self._size = [], 0


def split_records(data: bytes) -> list[bytes]:
    """Pure form of LineSplitter, for tests and small outputs."""
    out: list[bytes] = []
    splitter = LineSplitter(out.append)
    splitter.feed(data)
    splitter.close()
    return out
