"""The terminal front of a running backup: a rich progress bar (bytes, files, rate, current file; no
time left: rsync counts the files linked from the backup before as still to copy) and
the step list on a terminal; plain timestamped lines otherwise (cron, logs). Several sources at
once: one live line per running source on a terminal; otherwise plain lines, each prefixed with
its source id.

A display's `emit_for(source_id)` is the engine's callback for that source's backup.
"""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

from rabtui import fmt
from rabtui.events import ERROR, ITEM, LOG, PROGRESS, RESULT, STEP, WARNING, Emit, Event

from .common import output_gone, say

_STATE_MARK = {"ok": "ok", "failed": "FAILED", "warning": "warning", "skipped": "skipped", "running": "..."}


def combine(*emits: Emit) -> Emit:
    """One emit that hands each event to all of `emits`."""

    def emit(event: Event) -> None:
        for e in emits:
            e(event)

    return emit


class _Display:
    """A display is a context manager that closes itself."""

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


class PlainDisplay(_Display):
    """Timestamped lines, one per step change, warning, error and result (and a source's log lines
    with verbose); with `several`, each after the id of its source, and the run's own log lines
    (what it deleted before the backups, a wait for the medium's lock) always, as run-due says them."""

    def __init__(self, stream: TextIO | None = None, verbose: bool = False, several: bool = False):
        self.stream = stream or sys.stdout
        self.verbose = verbose
        self.several = several
        self._lock = threading.Lock()

    def emit_for(self, source_id: str | None) -> Emit:
        if not self.several:
            return self.emit
        if source_id is None:
            return lambda event: self.emit(event, run_s_own=True)
        return lambda event: self.emit(event, f"{fmt.name(source_id)}: ")

    def emit(self, event: Event, prefix: str = "", run_s_own: bool = False) -> None:
        if event.kind in (PROGRESS, ITEM):
            return
        if event.kind == STEP and event.data.get("state") == "running":
            return
        if event.kind == LOG and not self.verbose and not run_s_own:
            return
        stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(event.ts))
        label = {WARNING: "warning: ", ERROR: "error: "}.get(event.kind, "")
        text = _result_line(event, bool(prefix)) if event.kind == RESULT else fmt.name(event.message)
        with self._lock:
            say(f"{stamp} {prefix}{label}{text}", self.stream)


class RichDisplay(_Display):
    """A live progress bar under the step lines (only on a terminal)."""

    def __init__(self, verbose: bool = False):
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.verbose = verbose
        self._escape = escape          # the progress columns read their fields as markup
        self.console = Console(stderr=False)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[what]}"),
            BarColumn(),
            DownloadColumn(binary_units=True),
            TextColumn("{task.fields[files]}"),
            TransferSpeedColumn(),
            TextColumn("{task.fields[current]}", style="dim"),
            console=self.console,
            transient=True,
        )
        self.task = None
        self.progress.start()

    def emit_for(self, source_id: str | None) -> Emit:
        return self.emit

    def _task(self):
        if self.task is None:
            self.task = self.progress.add_task("rsync", total=None, what="rsync", files="", current="")
        return self.task

    def emit(self, event: Event) -> None:
        if event.kind == PROGRESS:
            d = event.data
            what = d.get("dir") or "rsync"
            if d.get("dirs", 1) > 1:
                what = f"{what} ({d.get('dir_index', 0) + 1}/{d['dirs']})"
            self.progress.update(self._task(), completed=d.get("done_bytes") or 0, total=d.get("total_bytes"),
                                 what=self._escape(fmt.name(what)[-30:]), files=fmt.files(d))
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
            _printed(self.console, fmt.name(event.message), style)
            if event.data.get("step") == 5 and self.task is not None:
                self.progress.remove_task(self.task)
                self.task = None
            return
        if event.kind == LOG and not self.verbose:
            return
        if event.kind in (WARNING, ERROR):
            style = "yellow" if event.kind == WARNING else "bold red"
            _printed(self.console, f"{event.kind}: {fmt.name(event.message)}", style)
            return
        if event.kind == RESULT:
            _printed(self.console, _result_line(event, False))
            return
        _printed(self.console, fmt.name(event.message))

    def close(self) -> None:
        _stopped(self.progress)


class RichSourcesDisplay(_Display):
    """Several sources at once on a terminal: one live line per running source (its id, its step,
    its rsync's bytes, rate and current file); warnings, errors and each result printed above the
    lines, after the source's id, and the run's own log lines (PlainDisplay). A source's line goes
    when its result comes."""

    def __init__(self, verbose: bool = False):
        from rich.console import Console
        from rich.markup import escape
        from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

        self.verbose = verbose
        self._escape = escape
        self.console = Console(stderr=False)
        self.progress = Progress(
            TextColumn("[bold]{task.fields[what]}"),
            TextColumn("{task.fields[step]}"),
            BarColumn(bar_width=20),
            DownloadColumn(binary_units=True),
            TextColumn("{task.fields[files]}"),
            TransferSpeedColumn(),
            TextColumn("{task.fields[current]}", style="dim"),
            console=self.console,
            transient=True,
        )
        self._tasks: dict[str, object] = {}
        self._lock = threading.Lock()
        self.progress.start()

    def emit_for(self, source_id: str | None) -> Emit:
        if source_id is None:
            return lambda event: self._print(event, "", run_s_own=True)
        return lambda event: self._emit(source_id, event)

    def _task(self, source_id: str):
        with self._lock:
            task = self._tasks.get(source_id)
            if task is None:
                task = self._tasks[source_id] = self.progress.add_task(
                    source_id, total=None, what=self._escape(fmt.cut_middle(fmt.name(source_id), 20)), step="starting",
                    files="", current="")
            return task

    def _emit(self, source_id: str, event: Event) -> None:
        if event.kind == PROGRESS:
            d = event.data
            self.progress.update(self._task(source_id), completed=d.get("done_bytes") or 0, total=d.get("total_bytes"),
                                 files=fmt.files(d))
            return
        if event.kind == ITEM:
            name = fmt.name(event.data.get("name", event.message))
            self.progress.update(self._task(source_id), current=self._escape(name[-30:]))
            return
        if event.kind == STEP:
            d = event.data
            step = f"{d.get('step')}/7 {d.get('name')} {_STATE_MARK.get(d.get('state'), d.get('state'))}"
            self.progress.update(self._task(source_id), step=self._escape(fmt.name(step)), current="")
            if d.get("state") not in ("failed", "warning"):
                return
        if event.kind == RESULT:
            with self._lock:
                task = self._tasks.pop(source_id, None)
            if task is not None:
                self.progress.remove_task(task)
        self._print(event, f"{fmt.name(source_id)}: ")

    def _print(self, event: Event, prefix: str, run_s_own: bool = False) -> None:
        if event.kind == LOG and not self.verbose and not run_s_own:
            return
        style = {WARNING: "yellow", ERROR: "bold red"}.get(event.kind, "")
        if event.kind == STEP:
            style = "bold red" if event.data.get("state") == "failed" else "yellow"
        text = _result_line(event, True) if event.kind == RESULT else fmt.name(event.message)
        if event.kind in (WARNING, ERROR):
            text = f"{event.kind}: {text}"
        _printed(self.console, prefix + text, style)

    def close(self) -> None:
        _stopped(self.progress)


def _printed(console, text: str, style: str = "") -> None:
    """A line above the live progress lines. A terminal gone (hung up: its SIGHUP cancels the run)
    takes the display with it, not the backups: they end as cancelled, their post-backup commands
    run (an error there failed them, and could skip the commands that undo the pre-backup ones)."""
    try:
        console.print(text, style=style, highlight=False, markup=False)
    except OSError:
        output_gone(console.file)


def _stopped(progress) -> None:
    try:
        progress.stop()
    except OSError:
        output_gone(progress.console.file)


def terminal_emit(verbose: bool = False, tty: bool | None = None, several: bool = False):
    """A display for the current stdout: RichDisplay on a terminal (RichSourcesDisplay for several
    sources at once), PlainDisplay otherwise.

    Use it as a context manager; its `.emit_for(source_id)` is the engine's callback.
    """
    if tty is None:
        tty = sys.stdout.isatty()
    if not tty:
        return PlainDisplay(verbose=verbose, several=several)
    return RichSourcesDisplay(verbose=verbose) if several else RichDisplay(verbose=verbose)


def _result_line(event: Event, under_its_name: bool) -> str:
    """A backup's final line; under its source's name (several at once), without that name again."""
    d = event.data
    text = fmt.name(event.message)
    if under_its_name and d.get("status"):
        text = fmt.name(d["status"] + (f" ({d['reason']})" if d.get("reason") else ""))
    return f"{text}: total {fmt.size(d.get('total_bytes'))}, new {fmt.size(d.get('new_bytes'))}"
