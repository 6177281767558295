"""The terminal front of a running backup: a rich progress bar (bytes, rate, ETA, current file) and
the step list on a terminal; plain timestamped lines otherwise (cron, logs).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from rabtui import fmt
from rabtui.events import ERROR, ITEM, LOG, PROGRESS, RESULT, STEP, WARNING, Emit, Event

_STATE_MARK = {"ok": "ok", "failed": "FAILED", "warning": "warning", "skipped": "skipped", "running": "..."}


def combine(*emits: Emit) -> Emit:
    """One emit that hands each event to all of `emits`."""

    def emit(event: Event) -> None:
        for e in emits:
            e(event)

    return emit


class PlainDisplay:
    """Timestamped lines, one per step change, warning, error and result (and log lines with verbose)."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False):
        self.stream = stream or sys.stdout
        self.verbose = verbose

    def emit(self, event: Event) -> None:
        if event.kind in (PROGRESS, ITEM):
            return
        if event.kind == STEP and event.data.get("state") == "running":
            return
        if event.kind == LOG and not self.verbose:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.ts))
        label = {WARNING: "warning: ", ERROR: "error: "}.get(event.kind, "")
        text = fmt.name(event.message)
        if event.kind == RESULT:
            text += f": total {fmt.size(event.data.get('total_bytes'))}, new {fmt.size(event.data.get('new_bytes'))}"
        self.stream.write(f"{stamp} {label}{text}\n")
        self.stream.flush()

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class RichDisplay:
    """A live progress bar under the step lines (only on a terminal)."""

    def __init__(self, verbose: bool = False):
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn, TransferSpeedColumn

        self.verbose = verbose
        self._escape = escape          # the progress columns read their fields as markup
        self.console = Console(stderr=False)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[what]}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TransferSpeedColumn(),
            TimeRemainingColumn(),
            TextColumn("{task.fields[current]}", style="dim"),
            console=self.console,
            transient=True,
        )
        self.task = None
        self.progress.start()

    def _task(self):
        if self.task is None:
            self.task = self.progress.add_task("rsync", total=None, what="rsync", current="")
        return self.task

    def emit(self, event: Event) -> None:
        if event.kind == PROGRESS:
            d = event.data
            what = d.get("dir") or "rsync"
            if d.get("dirs", 1) > 1:
                what = f"{what} ({d.get('dir_index', 0) + 1}/{d['dirs']})"
            self.progress.update(self._task(), completed=d.get("done_bytes") or 0, total=d.get("total_bytes"),
                                 what=self._escape(fmt.name(what)[-30:]))
            return
        if event.kind == ITEM:
            if self.task is not None:
                name = fmt.name(event.data.get("name", event.message))
                self.progress.update(self.task, current=self._escape(name[-40:]))
            return
        if event.kind == STEP:
            state = event.data.get("state")
            if state == "running":
                return
            style = {"ok": "green", "failed": "bold red", "warning": "yellow", "skipped": "dim"}.get(state, "")
            self.console.print(fmt.name(event.message), style=style, highlight=False, markup=False)
            if event.data.get("step") == 5 and self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
            return
        if event.kind == LOG and not self.verbose:
            return
        if event.kind in (WARNING, ERROR):
            style = "yellow" if event.kind == WARNING else "bold red"
            self.console.print(f"{event.kind}: {fmt.name(event.message)}", style=style, highlight=False, markup=False)
            return
        if event.kind == RESULT:
            d = event.data
            line = f"{fmt.name(event.message)}: total {fmt.size(d.get('total_bytes'))}, new {fmt.size(d.get('new_bytes'))}"
            self.console.print(line, highlight=False, markup=False)
            return
        self.console.print(fmt.name(event.message), highlight=False, markup=False)

    def close(self) -> None:
        self.progress.stop()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def terminal_emit(verbose: bool = False, tty: bool | None = None):
    """A display for the current stdout: RichDisplay on a terminal, PlainDisplay otherwise.

    Use it as a context manager; its `.emit` is the engine's callback.
    """
    if tty is None:
        tty = sys.stdout.isatty()
    return RichDisplay(verbose=verbose) if tty else PlainDisplay(verbose=verbose)
