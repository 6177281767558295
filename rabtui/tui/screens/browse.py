"""Browse: sources -> backups -> the backup's tree, loaded a page at a time (browse_tree.py); diff
(from the catalog, browse_diff.py); find by name (browse_find.py); restore the selected file or
directory (a detached job, browse_restore.py)."""

from __future__ import annotations

import os

from rich.text import Text
from textual import work
from textual.worker import Worker, WorkerState, get_current_worker
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from rabtui import fmt
from rabtui.actions import archive_view, runs_shown
from rabtui.state.store import COMPLETE
from rabtui.tui import threads
from rabtui.tui.safe_text import plain
from rabtui.tui.screens.base import RabtuiScreen
from rabtui.tui.screens.browse_diff import DiffLevel
from rabtui.tui.screens.browse_find import FindLevel
from rabtui.tui.screens.browse_restore import RestoreFromBrowse
from rabtui.tui.screens.browse_tree import TreeLevel
from rabtui.tui.screens.dashboard import status_text
from rabtui.tui.widgets.table import Table


class BrowseScreen(TreeLevel, DiffLevel, FindLevel, RestoreFromBrowse, RabtuiScreen):
    """The table and the path line above it, the levels sources and backups, and moving between
    levels; the classes before RabtuiScreen hold the other levels and the restores."""

    SUB_TITLE = "Browse"
    # the table takes the height left between the path line and the status line (a long directory
    # scrolls inside it), so the status line and the footer stay where they are at any size; the
    # path line takes at most WHERE_LINES lines (a path of 4,000 bytes is cut in its middle)
    WHERE_LINES = 2
    DEFAULT_CSS = """
    BrowseScreen #browse-where { height: auto; padding: 0 1; color: $text-muted; }
    BrowseScreen #browse { height: 1fr; }
    """
    BINDINGS = [
        Binding("backspace,escape", "up", "Up", id="browse.up"),
        Binding("d", "diff", "Diff", tooltip="Diff with the previous backup", id="browse.diff"),
        Binding("slash", "find", "Find", id="browse.find"),
        Binding("r", "restore", "Restore", id="browse.restore"),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.level = ""
        self._reads = threads.Outstanding(2)   # listings of media still waiting (threads.py)
        self._before: tuple[str, bytes] = ("", b"")   # the level the table shows until a listing comes
        self._sources_of = None             # the config whose sources the table shows
        self.source: str | None = None
        self.backup: dict | None = None
        self.prev: dict | None = None
        self.rel = b""                      # directory below the backup's data/
        self.names: list[bytes] = []
        self.ndirs = 0
        self.as_of = None   # an archive directory's listing as of the open backup (actions.archive_view.listing)
        self.extra = None   # the merged view's entries that only kept data saved (tree.with_extra)
        self.unlisted = False   # the open directory could not be listed by its backup (tree.Listing.unlisted)
        self.loaded = 0
        self.loading = False
        self.keys: list = []
        self._shown: tuple = ()             # the place (_place) the table shows
        self.restores: dict[int, str] = {}  # restore jobs started here, until they end: id -> title

    def compose_body(self) -> ComposeResult:
        yield Static("", id="browse-where")
        yield Table(id="browse", cursor_type="row", zebra_stripes=True)

    def on_mount(self) -> None:
        self.query_one("#browse", DataTable).focus()

    # --- levels ----------------------------------------------------------------------------------

    def reload(self) -> None:
        if self.level in ("", "sources"):
            self.show_sources()
        elif self.level == "backups":
            self.show_backups(self.source)

    def _table(self, *columns: str) -> DataTable:
        table = self.query_one("#browse", DataTable)
        table.clear(columns=True)
        table.add_columns(*columns)
        self.keys = []
        self._shown = self._place()
        return table

    def _place(self) -> tuple:
        return self.level, self.rel

    def on_the_way(self) -> bool:
        """Whether the table still shows the place before the one asked for (its listing, diff or
        find is being read): a key that acts on a row then acts on nothing, and says so (the row is
        of another directory, or a backup where a file is expected)."""
        if self._shown == self._place():
            return False
        self.notify("still reading what was asked for: wait for it, or go up", timeout=4)
        return True

    def _where(self, text: str) -> None:
        """Where the table is (names in it come escaped: tree.display), with the middle of a line too
        long for WHERE_LINES lines left out: its start and its end (the directory, its counts) stay."""
        width = max(20, self.size.width - 2)
        shown, room = Text(text), self.WHERE_LINES * width
        while room > width and len(shown.wrap(self.app.console, width)) > self.WHERE_LINES:   # words wrap early
            room -= width // 4
            head = room // 3
            shown = Text(text[:head] + "…" + text[len(text) - (room - head - 1):])
        self.query_one("#browse-where", Static).update(shown)

    def show_sources(self) -> None:
        if self.level == "sources" and self._sources_of is self.app.cfg:   # shown already, as they are
            return
        self.level, self._sources_of = "sources", self.app.cfg
        table = self._table("source", "host", "directories")
        for s in self.app.cfg.sources:
            table.add_row(plain(s.id), plain(s.host or "local"), plain(", ".join(d.path for d in s.directories)))
            self.keys.append(s.id)
        self._where("Sources · enter: its backups · /: find a file by name")

    def show_backups(self, source: str) -> None:
        if self.reads_wait():
            return
        self._go("backups")
        self.source = source
        self._load_backups(source)

    @work(thread=True, exclusive=True, group="browse", exit_on_error=False)
    @threads.counted("_reads")
    def _load_backups(self, source: str) -> None:
        rows = runs_shown.source_backups(self.app.cfg, self.app.store, source)
        for m in self.app.cfg.media:   # archive directories: every file saved on the medium, merged
            union = archive_view.merged_root(m.path, source)
            if union is not None:
                # restored from the newest complete backup there (an archive file it lacks comes
                # from the union tree, see rabtui.restore.in_backup.backup_source_path)
                newest = next((b for b in rows if b["medium"] == m.id and b["status"] in COMPLETE), None)
                rows.append({"id": None, "medium": m.id, "name": ".archive (merged)", "path": str(union),
                             "root": str(union), "status": "archive", "files": None, "total_bytes": None,
                             "new_bytes": None, "started": 0, "restore_from": newest and newest["name"],
                             "restore_from_id": newest and newest["id"]})
        self._deliver(self._show_backups, source, rows)

    def _show_backups(self, source: str, rows: list) -> None:
        table = self._table("backup", "medium", "status", "files", "total", "new")
        for b in rows:
            table.add_row(plain(b["name"]), plain(b["medium"]), status_text(b["status"]), str(b["files"] or "-"),
                          fmt.size(b["total_bytes"]), fmt.size(b["new_bytes"]))
            self.keys.append(b)
        self._where(f"{source} › backups · enter: open · backspace: up")

    def reads_wait(self) -> bool:
        """Whether reads of the media started before still wait (a medium on a file system that
        hangs): then this one is not started, and the operator is told why."""
        if self._reads.full():
            self.notify("the medium does not answer (a file system that hangs?): the reads asked before still"
                        " wait; try again when it answers", severity="warning", timeout=8)
        return self._reads.full()

    def _go(self, level: str, rel: bytes | None = None) -> None:
        """The level a worker of the "browse" group is about to show; until it does (and when it
        fails) the table shows the one before."""
        self.workers.cancel_group(self, "page")   # a page of the listing shown: not of the one to come
        self._before = (self.level, self.rel)
        self.level = level
        if rel is not None:
            self.rel = rel

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """Before RabtuiScreen's handler says why (Textual calls both)."""
        if event.state == WorkerState.ERROR and not event.worker.is_cancelled:   # a superseded one: nothing shown
            if event.worker.group in ("browse", "page"):
                self.loading = False
            if event.worker.group == "browse":     # the keys go on with what the table shows
                self.level, self.rel = self._before

    def _deliver(self, callback, *args) -> None:
        """From a worker of the "browse" or "page" group: hand its result to the UI thread, unless a
        newer listing, diff or find superseded it meanwhile (checked on the UI thread, where the
        superseding happens, so no stale result can land after the check)."""
        cancel = get_current_worker().cancelled_event

        def deliver() -> None:
            if not cancel.is_set():
                callback(*args)

        self.app.call_from_thread(deliver)

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        i = event.cursor_row
        if i < 0 or i >= len(self.keys) or self.on_the_way():
            return
        key = self.keys[i]
        if self.level == "sources":
            self.show_backups(key)
        elif self.level == "backups":
            self.open_backup(key)
        elif self.level == "dir" and key.is_dir:
            self.open_dir(os.path.join(self.rel, key.name) if self.rel else key.name)
        elif self.level == "find":
            self._open_found(key)

    def action_up(self) -> None:
        if self.level == "dir" and self.rel:
            self.open_dir(os.path.dirname(self.rel))
        elif self.level in ("dir", "diff"):
            if self.level == "diff":
                self.open_dir(self.rel)
            else:
                self.show_backups(self.source)
        elif self.level == "backups":
            self.show_sources()
        elif self.level == "find":
            self.show_sources()

