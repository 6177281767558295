"""A backup's own log, `backup.log` in its directory: each step, log line, warning, error and
result of the run, after its time. What is said before the directory exists is kept, and written
first once it does."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

from rabtui.events import ERROR, LOG, RESULT, STEP, WARNING, Event

LOGGED_KINDS = (STEP, LOG, WARNING, ERROR, RESULT)


class RunLog:
    def __init__(self) -> None:
        self._file = None
        self._early: list[str] = []

    def write(self, event: Event) -> None:
        if event.kind not in LOGGED_KINDS:
            return
        line = f"{datetime.fromtimestamp(event.ts):%Y-%m-%d %H:%M:%S} {event.kind:7} {event.message}\n"
        if self._file is None:
            self._early.append(line)
            return
        try:
            self._file.write(line)
            self._file.flush()
        except OSError:   # the medium went away: the database still gets the events
            self._file = None

    def open(self, directory: Path) -> None:
        self._file = open(directory / "backup.log", "a", encoding="utf-8", errors="replace")
        self._file.writelines(self._early)
        self._early.clear()

    def close(self) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:
                pass
            self._file = None
