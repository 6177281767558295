"""What every screen shares: header, status line and footer, a loader worker, refresh on show and
on job polls, and one handler for the failures of the screen's workers."""

from __future__ import annotations

import logging
import sqlite3

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static
from textual.worker import Worker, WorkerState

from rabtui.errors import RabtuiError
from rabtui.state.store_check import state_failure
from rabtui.tui.messages import ConfigChanged, JobsPolled
from rabtui.tui.safe_text import cell, plain
from rabtui.tui.ui_words import for_the_ui

log = logging.getLogger("rabtui.tui")


def failure_text(worker: Worker) -> str:
    """The reason a worker failed, in words for the operator (a traceback goes to the log only)."""
    error = worker.error
    if isinstance(error, sqlite3.Error):   # the database went bad under the UI: said as the command line says it
        error = state_failure(error, worker.node.app.store.path)
    if isinstance(error, RabtuiError):
        return str(error)
    log.error("worker %s failed", worker.name, exc_info=error)
    return f"{type(error).__name__}: {error}"


class RabtuiScreen(Screen):
    DEFAULT_CSS = """
    RabtuiScreen .section { text-style: bold; margin-top: 1; }
    RabtuiScreen #status-line { height: 1; padding: 0 1; color: $text-muted; }
    RabtuiScreen #status-line.error { color: $error; text-style: bold; }
    """
    BINDINGS = [Binding("ctrl+r", "reload", "Reload", id="screen.reload", show=False)]   # the config file too
    refresh_on_poll = False   # screens that show live job state reload on each poll

    def compose(self) -> ComposeResult:
        yield Header(icon="≡")
        yield from self.compose_body()
        yield Static("", id="status-line")
        yield Footer(compact=True, show_command_palette=False)   # 80 columns: ? and ctrl+p list the rest

    def compose_body(self) -> ComposeResult:
        return iter(())

    def on_screen_resume(self) -> None:
        # the screen as it was shown comes first (the key's answer), its fresh data right after
        self.call_after_refresh(self.reload)

    def set_status(self, text: str, error: bool = False) -> None:
        """The screen's own line of what its last action did (a notification fades, this stays)."""
        line = self.query_one("#status-line", Static)
        line.update(plain(" · ".join(part.strip() for part in for_the_ui(text).splitlines() if part.strip())))
        line.set_class(error, "error")

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Every worker the screen starts ends here when it fails (Worker.StateChanged does not
        bubble to the app): a notification with the reason and the status line."""
        if event.state != WorkerState.ERROR:
            return
        message = failure_text(event.worker)
        load = event.worker.group == "load"
        if not (load and message == self._last_failure):   # a load failing on every poll is said once
            self.app.notify(message, severity="error", timeout=8)
        self._last_failure = message
        self._load_failed = load
        self.set_status(f"failed: {message}", error=True)

    def on_config_changed(self, message: ConfigChanged) -> None:
        self.reload()

    def on_jobs_polled(self, message: JobsPolled) -> None:
        if self.refresh_on_poll:
            self.reload()

    def action_reload(self) -> None:
        self.app.reload_config()
        self.reload()

    _loading = False
    _again = False
    _last_failure = ""
    _load_failed = False

    def reload(self) -> None:
        """Load in a thread; while a load runs (a slow disk, a busy database), ask once more after it
        instead of piling up threads."""
        if self._loading:
            self._again = True
            return
        self._loading = True
        self._load()

    @work(thread=True, group="load", exit_on_error=False)
    def _load(self) -> None:
        try:
            data = self.load_data()
        except BaseException:
            self.app.call_from_thread(self._load_done, None, False)
            raise
        self.app.call_from_thread(self._load_done, data, True)

    def _load_done(self, data, ok: bool) -> None:
        self._loading = False
        if ok:
            if self._load_failed:   # loads again after failing: the status line no longer says it
                self._load_failed, self._last_failure = False, ""
                self.set_status("")
            self.show_data(data)
        if self._again:
            self._again = False
            self.reload()

    def load_data(self):
        """Runs in a thread: read the database and the files, return plain data."""
        return None

    def show_data(self, data) -> None:
        """Runs in the UI thread: put `data` on the widgets."""


def fill_table(table: DataTable, rows: list[tuple], keys: list[str] | None = None, follow_top: bool = False) -> None:
    """Replace a table's rows and keep the cursor on the same key when it is still there
    (with `follow_top`, a cursor on the first row stays on the first row: the newest item).
    Nothing is redrawn when the rows did not change (the pollers call this twice a second)."""
    signature = (tuple(tuple(str(c) for c in row) for row in rows), tuple(keys or ()))
    if getattr(table, "_rabtui_rows", None) == signature:
        return
    table._rabtui_rows = signature
    rows = [tuple(cell(c) for c in row) for row in rows]
    if follow_top and table.row_count and table.cursor_row <= 0:
        table.clear()
        for i, row in enumerate(rows):
            table.add_row(*row, key=keys[i] if keys else None)
        return
    current = None
    if table.row_count and table.cursor_row >= 0:
        try:
            current = table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
        except Exception:
            current = None
    table.clear()
    for i, row in enumerate(rows):
        table.add_row(*row, key=keys[i] if keys else None)
    if current is not None and keys and current in keys:
        table.move_cursor(row=keys.index(current), animate=False)


def selected_key(table: DataTable) -> str | None:
    if not table.row_count or table.cursor_row < 0:
        return None
    try:
        return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value
    except Exception:
        return None
