"""Media: the rotation (current, next), labels, mount state, usage, and the backups on each medium."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from rabtui import fmt
from rabtui.actions import media as media_actions
from rabtui.actions import runs_shown, status
from rabtui.errors import RabtuiError
from rabtui.tui import threads
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.screens.base import RabtuiScreen, fill_table, selected_key
from rabtui.tui.screens.dashboard import status_text
from rabtui.tui.widgets.table import Table, cells_width, cut_column

MEDIA_COLUMNS = ("medium", "rotation", "label", "mounted", "used", "free", "backups", "path")


@dataclass
class MediaData:
    media: list
    backups: list
    medium: str | None


class MediaScreen(RabtuiScreen):
    SUB_TITLE = "Media"
    # many media leave the highlighted one's backups on the screen at 80x24
    DEFAULT_CSS = """
    MediaScreen #media { height: auto; max-height: 50%; }
    """
    BINDINGS = [Binding("l", "label", "Label", tooltip="Label medium", id="media.label")]

    def compose_body(self) -> ComposeResult:
        yield Table(id="media", cursor_type="row", zebra_stripes=True)
        yield Static("", id="media-backups-title", classes="section")
        yield Table(id="media-backups", cursor_type="row", zebra_stripes=True)

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._labels = threads.Outstanding(1)    # a label still written (threads.py)

    def on_mount(self) -> None:
        self.query_one("#media", DataTable).add_columns(*MEDIA_COLUMNS)
        self.query_one("#media-backups", DataTable).add_columns("source", "backup", "status", "total", "new", "saved")
        self.query_one("#media", DataTable).focus()

    def reload(self) -> None:
        self._want = selected_key(self.query_one("#media", DataTable))
        super().reload()

    def load_data(self) -> MediaData:
        cfg, store = self.app.cfg, self.app.store
        media = status.media(cfg, store)
        medium = self._want or (media[0].id if media else None)
        return MediaData(media, runs_shown.medium_backups(cfg, store, medium) if medium else [], medium)

    def show_data(self, data: MediaData) -> None:
        rows, keys = [], []
        for m in data.media:
            used = (m.total - m.free) if m.total is not None and m.free is not None else None
            label = Text(m.label_text, style="red" if m.label is None or m.label_problem
                         else ("" if m.label_text == m.id else "bold red"))
            rows.append((m.id, Text(m.role, style="bold cyan"), label, "yes" if m.mounted else Text("no", style="yellow"),
                         fmt.size(used), fmt.size(m.free), str(m.backups), m.path))
            keys.append(m.id)
        table = self.query_one("#media", DataTable)
        # the path, last, cut in its middle: a wide label (`label not read`) no longer pushes it off the screen
        width = cells_width(table, self.size.width, len(rows))
        fill_table(table, cut_column(rows, MEDIA_COLUMNS.index("path"), width, MEDIA_COLUMNS, least=12, middle=True), keys)
        self.query_one("#media-backups-title", Static).update(f"Backups on {data.medium or '-'}")
        brows = []
        for b in data.backups:
            saved = (b["total_bytes"] - b["new_bytes"]) if b["total_bytes"] is not None and b["new_bytes"] is not None else None
            brows.append((b["source"], b["name"], status_text(b["status"]), fmt.size(b["total_bytes"]),
                          fmt.size(b["new_bytes"]), fmt.size(saved)))
        fill_table(self.query_one("#media-backups", DataTable), brows)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "media" and event.row_key is not None and event.row_key.value != getattr(self, "_want", None):
            self.reload()

    def action_label(self) -> None:
        medium_id = selected_key(self.query_one("#media", DataTable))
        if medium_id is None:
            return
        if self._labels.full():    # the one asked before waits (a medium that hangs): a thread each
            self.notify("still labelling: the medium asked before does not answer (a file system that hangs?)",
                        severity="warning")
            return
        try:
            medium = self.app.cfg.medium(medium_id)
        except RabtuiError as exc:    # reloaded without it while this screen's load of the new one runs
            self.notify(str(exc), severity="warning")
            return

        def confirmed(ok: bool | None) -> None:
            if ok:
                self._write_label(medium, force=False)

        self.app.push_screen(ConfirmDialog(
            "Label medium", f"Write the label {medium.id!r} into {medium.path}/.rabtui-medium?"), confirmed)

    def _ask_force(self, medium, reason: str) -> None:
        def confirmed(ok: bool | None) -> None:
            if ok:
                self._write_label(medium, force=True)

        self.app.push_screen(ConfirmDialog(
            "Label medium anyway?", f"{reason}\n\nLabel {medium.path} as medium {medium.id!r} anyway? Backups then"
            " go into this directory.", yes="Label anyway", no="Cancel"), confirmed)

    @work(thread=True, exit_on_error=False, group="label")
    @threads.counted("_labels")
    def _write_label(self, medium, force: bool) -> None:
        from rabtui.errors import LockBusy

        try:
            done = media_actions.label(self.app.store, medium, force=force)
        except LockBusy as exc:      # a backup onto it, or another labelling, runs: no force helps
            self.app.call_from_thread(self.notify, exc.message, severity="error")
            return
        except RabtuiError as exc:
            self.app.call_from_thread(self._ask_force, medium, exc.message)
            return
        if done.warning:     # labelled, but its label not kept beside the database: not a plain success
            self.app.call_from_thread(self.notify, f"{done.done}; warning: {done.warning}", severity="warning")
        else:
            self.app.call_from_thread(self.notify, done.done)
        self.app.call_from_thread(self.reload)
