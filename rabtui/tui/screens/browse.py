"""Browse: sources -> backups -> the backup's tree, loaded a page at a time; diff (from the
catalog); find by name; restore the selected file or directory (a detached job)."""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text
from textual import work
from textual.worker import Worker, WorkerState, get_current_worker
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from rabtui import fmt
from rabtui.state import catalog
from rabtui.errors import Cancelled, RabtuiError
from rabtui.state.store import COMPLETE
from rabtui.tui import tree
from rabtui.actions import find as find_actions
from rabtui.actions import jobs as jobviews
from rabtui.state import queries
from rabtui.tui.dialogs.common import TextDialog
from rabtui.tui.dialogs.restore import RestoreDialog, RestoreRequest
from rabtui.tui.messages import JobsPolled
from rabtui.tui.safe_text import plain
from rabtui.tui.screens.base import RabtuiScreen
from rabtui.tui.screens.dashboard import status_text
from rabtui.tui.widgets.table import Table

STATE_STYLE = {"new": "bold green", "changed": "bold yellow", "link": "dim", "added": "green",
               "removed": "red"}
STATE_WORD = {"new": "new", "changed": "new (changed)", "link": "hard link"}


class BrowseScreen(RabtuiScreen):
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
        self._before: tuple[str, bytes] = ("", b"")   # the level the table shows until a listing comes
        self._sources_of = None             # the config whose sources the table shows
        self.source: str | None = None
        self.backup: dict | None = None
        self.prev: dict | None = None
        self.rel = b""                      # directory below the backup's data/
        self.names: list[bytes] = []
        self.ndirs = 0
        self.as_of = None   # an archive directory's listing as of the open backup (catalog.archive_listing)
        self.loaded = 0
        self.loading = False
        self.keys: list = []
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
        return table

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
        self._go("backups")
        self.source = source
        self._load_backups(source)

    @work(thread=True, exclusive=True, group="browse", exit_on_error=False)
    def _load_backups(self, source: str) -> None:
        rows = queries.source_backups(self.app.store, source)
        for m in self.app.cfg.media:   # archive directories: every file saved on the medium, merged
            union = Path(m.path) / source / ".archive"
            if union.is_dir():
                # restored from the newest complete backup there (an archive file it lacks comes
                # from the union tree, see rabtui.restore.run.backup_source_path)
                newest = next((b["name"] for b in rows if b["medium"] == m.id and b["status"] in COMPLETE), None)
                rows.append({"id": None, "medium": m.id, "name": ".archive (merged)", "path": str(union),
                             "root": str(union), "status": "archive", "files": None, "total_bytes": None,
                             "new_bytes": None, "started": 0, "restore_from": newest})
        self._deliver(self._show_backups, source, rows)

    def _show_backups(self, source: str, rows: list) -> None:
        table = self._table("backup", "medium", "status", "files", "total", "new")
        for b in rows:
            table.add_row(plain(b["name"]), plain(b["medium"]), status_text(b["status"]), str(b["files"] or "-"),
                          fmt.size(b["total_bytes"]), fmt.size(b["new_bytes"]))
            self.keys.append(b)
        self._where(f"{source} › backups · enter: open · backspace: up")

    def open_backup(self, backup: dict, rel: bytes = b"", select: bytes | None = None) -> None:
        self.backup, self.prev = backup, None     # the backup before it comes with the listing
        self.open_dir(rel, select)

    def open_dir(self, rel: bytes, select: bytes | None = None) -> None:
        """List the directory `rel` of the open backup; `select`: the name to put the cursor on
        (its page and the ones before it are loaded with the first)."""
        self._go("dir", rel)
        self.loading = True
        self._list_dir(self.backup, self.source, rel, select)

    def _go(self, level: str, rel: bytes | None = None) -> None:
        """The level a worker of the "browse" group is about to show; until it does (and when it
        fails) the table shows the one before."""
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
        """From a worker of the "browse" group: hand its result to the UI thread, unless a newer
        listing, diff or find superseded it meanwhile (checked on the UI thread, where the
        superseding happens, so no stale result can land after the check)."""
        cancel = get_current_worker().cancelled_event

        def deliver() -> None:
            if not cancel.is_set():
                callback(*args)

        self.app.call_from_thread(deliver)

    @work(thread=True, exclusive=True, group="browse", exit_on_error=False)
    def _list_dir(self, backup: dict, source: str, rel: bytes, select: bytes | None = None) -> None:
        """Everything read here (the database too) comes to the screen with the listing: a listing
        superseded meanwhile changes nothing the newer one shows."""
        cancel = get_current_worker().cancelled_event
        store, merged = self.app.store, bool(backup.get("root"))
        prev = None if merged else queries.previous_backup(store, backup)
        # an archive directory in a backup: the union as of it, from the catalog (as restore has it)
        as_of = None if merged else catalog.archive_listing(
            store, source, backup, self.app.cfg.source(source).directories, rel)
        root = tree.data_root(backup)
        try:
            names, ndirs = as_of[:2] if as_of is not None else tree.list_names(root, rel, cancel)
            at = tree.position(names, ndirs, select) if select is not None else None
            upto = tree.PAGE if at is None else (at // tree.PAGE + 1) * tree.PAGE
            first = tree.as_of_page(as_of, names[:upto]) if as_of is not None else \
                tree.details(root, rel, tree.data_root(prev), names[:upto], ndirs, compare=not merged, cancel=cancel)
        except Cancelled:
            return
        except OSError as exc:   # not in this backup (an archive directory holds only what was new)
            self._deliver(self._list_failed, rel, exc, *self._why_unreadable(backup))
            return
        self._deliver(self._show_dir, tree.Listing(rel, names, ndirs, prev, as_of), first, at)

    def _why_unreadable(self, backup: dict) -> tuple[str | None, bool]:
        """From a worker, after a listing failed: why the backup's medium cannot be read now (None:
        it is mounted), and whether the backup itself is gone from it (deleted by a cleanup)."""
        from rabtui.actions.restore import medium_problem

        try:
            away = medium_problem(self.app.cfg.medium(backup["medium"]))
        except RabtuiError as exc:   # a medium no longer in the config
            away = str(exc)
        return away, away is None and not os.path.isdir(tree.data_root(backup))

    def _list_failed(self, rel: bytes, exc: OSError, away: str | None = None, gone: bool = False) -> None:
        self.loading = False
        if away or gone:
            if away:
                self.notify(f"{self.backup['name']} cannot be listed: {away}. Mount it to browse this backup, or"
                            " find the file with / and press r: the restore reads the newest copy at hand"
                            " (another medium, a verified checkpoint disc)", severity="warning", timeout=15)
            else:
                self.notify(f"{self.backup['name']} is no longer on {self.backup['medium']}: it was deleted (by a"
                            " cleanup, or by hand) since it was opened here", severity="warning", timeout=15)
            if self.level == "dir" and self.rel == rel:
                self.level, self.rel = self._before     # what the table shows, until the backups come
                self.show_backups(self.source)
            return
        what = "is not in this backup" if isinstance(exc, FileNotFoundError) else f"cannot be read: {exc.strerror}"
        self.notify(f"/{os.fsdecode(rel)} {what}", severity="warning")
        if self.level == "dir" and self.rel == rel:
            if self.keys:      # the table still shows where the operator was: so does the screen
                self.level, self.rel = self._before
            else:
                self.action_up()

    def _show_dir(self, listing: tree.Listing, first: list, at: int | None = None) -> None:
        self.names, self.ndirs, self.prev, self.as_of = listing.names, listing.ndirs, listing.prev, listing.as_of
        table = self._table("name", "size", "modified", "in this backup")
        self.loaded = 0
        self._add_entries(first)
        self.loading = False
        self._where_dir()
        if at is not None:
            table.move_cursor(row=at, animate=False)

    def _where_dir(self) -> None:
        b = self.backup
        shown = f"{self.loaded} of {len(self.names)}" if self.loaded < len(self.names) else str(len(self.names))
        if b.get("root"):
            prev = f"every archive file on {b['medium']}"
        elif self.as_of is not None:
            prev = f"every archive file saved on {b['medium']} up to this backup"
        else:
            prev = f"vs {self.prev['name']}" if self.prev else "first backup on this medium"
        self._where(f"{self.source} › {b['name']} › /{tree.display(self.rel)}  ({shown} entries, {prev})")

    def _add_entries(self, entries: list) -> None:
        table = self.query_one("#browse", DataTable)
        rows = []
        for e in entries:
            name = tree.display(e.name) + ("/" if e.is_dir else "")
            state = Text(STATE_WORD.get(e.state, ""), style=STATE_STYLE.get(e.state, ""))
            rows.append((Text(name, style="bold blue" if e.is_dir else ""), fmt.size(e.size) if e.size is not None else "",
                         fmt.stamp(e.mtime), state))
            self.keys.append(e)
        table.add_rows(rows)
        self.loaded += len(entries)

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if self.level != "dir" or self.loading or self.loaded >= len(self.names):
            return
        if event.cursor_row >= self.loaded - 40:
            self.loading = True
            self._next_page(self.rel, self.loaded)

    @work(thread=True, group="page", exit_on_error=False)
    def _next_page(self, rel: bytes, start: int) -> None:
        backup, prev, as_of, names = self.backup, self.prev, self.as_of, self.names[start: start + tree.PAGE]
        if as_of is not None:
            self.app.call_from_thread(self._got_page, rel, start, tree.as_of_page(as_of, names))
            return
        try:
            page = tree.details(tree.data_root(backup), rel, tree.data_root(prev), names, max(0, self.ndirs - start),
                                compare=not backup.get("root"))
        except OSError as exc:
            self.app.call_from_thread(self._list_failed, rel, exc, *self._why_unreadable(backup))
            return
        self.app.call_from_thread(self._got_page, rel, start, page)

    def _got_page(self, rel: bytes, start: int, page: list) -> None:
        self.loading = False
        if self.level == "dir" and rel == self.rel and start == self.loaded:
            self._add_entries(page)
            self._where_dir()

    def on_data_table_row_selected(self, event: DataTable.RowSelected) -> None:
        i = event.cursor_row
        if i < 0 or i >= len(self.keys):
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

    # --- diff ------------------------------------------------------------------------------------

    def action_diff(self) -> None:
        if self.level != "dir" or self.backup is None:
            self.notify("open a backup first, then press d to compare it with the one before")
            return
        if self.backup.get("root"):
            self.notify("the archive view merges every backup on the medium; open a backup to compare it")
            return
        if self.prev is None:
            self.notify("this is the first backup of the source on its medium: nothing to compare with")
            return
        self._go("diff")
        self._where(f"comparing /{tree.display(self.rel)} with {self.prev['name']} ...")
        self._diff(self.rel)

    @work(thread=True, exclusive=True, group="browse", exit_on_error=False)
    def _diff(self, rel: bytes) -> None:

        source = self.app.cfg.source(self.source)
        archive = source.archive_paths
        d = catalog.diff(self.app.store, dict(self.prev, source=self.source), dict(self.backup, source=self.source),
                         archive, prefix=rel)
        changes, count = tree.changes_below(d, rel)
        self._deliver(self._show_diff, changes, count)

    def _show_diff(self, changes: list, count: int) -> None:
        table = self._table("change", "path", "size")
        for c in changes:
            table.add_row(Text(c.what, style=STATE_STYLE.get(c.what, "")), plain(c.path), fmt.size(c.size))
            self.keys.append(c)
        more = f", first {len(changes)} shown" if count > len(changes) else ""
        self._where(f"{self.backup['name']} vs {self.prev['name']} below /{tree.display(self.rel)}: "
                    f"{count} changes{more} · backspace: back")

    # --- restore ---------------------------------------------------------------------------------

    def action_restore(self) -> None:
        from rabtui.actions.restore import directory_of

        table = self.query_one("#browse", DataTable)
        i = table.cursor_row
        if self.level == "find" and 0 <= i < len(self.keys):
            self._restore_found(self.keys[i])
            return
        if self.level != "dir" or self.backup is None or not (0 <= i < len(self.keys)):
            self.notify("open a backup, select a file or directory in its tree, then press r to restore it")
            return
        entry = self.keys[i]
        rel = os.path.join(self.rel, entry.name) if self.rel else entry.name
        try:
            directory_of(self.app.cfg.source(self.source), rel)
        except RabtuiError:
            self.notify(f"/{os.fsdecode(rel)} is not inside a directory of {self.source}: open it and"
                        " select a file or directory below", severity="warning")
            return
        b = self.backup
        name, note = b["name"], ""
        if b.get("root"):
            name = b.get("restore_from")
            if not name:
                self.notify(f"no complete backup of {self.source} on {b['medium']} to restore from", severity="warning")
                return
            note = f"(the archive's merged view: from {name}, or the union tree if {name} lacks it)"
        dialog = RestoreDialog(self.source, rel, name, b["medium"], entry.is_dir, note=note)

        def confirmed(req: RestoreRequest | None) -> None:
            if req is not None:
                self._start_restore(req)

        self.app.push_screen(dialog, confirmed)

    def _restore_found(self, row: dict) -> None:
        """A version found by name: restored from the newest backup holding it on a medium at hand,
        else from the newest verified checkpoint holding it (the job asks for its discs)."""
        self._find_copy(row)

    @work(thread=True, group="restore", exit_on_error=False)
    def _find_copy(self, row: dict) -> None:
        """Which copy a restore reads (the database, and which media are mounted) is looked up here."""
        from rabtui.actions.restore import copy_of_version

        try:
            copy = copy_of_version(self.app.cfg, self.app.store, self.app.cfg.source(row["source"]),
                                   bytes(row["path"]), row["size"], row["mtime"])
        except RabtuiError as exc:
            self.app.call_from_thread(self.notify, str(exc), severity="warning")
            return
        self.app.call_from_thread(self._offer_restore, row, copy)

    def _offer_restore(self, row: dict, copy) -> None:
        if copy is None:
            self.notify("no backup on a medium and no verified checkpoint disc holds this version", severity="warning")
            return

        def confirmed(req: RestoreRequest | None) -> None:
            if req is not None:
                self._start_restore(req)

        if copy.kind == "disc":
            dialog = RestoreDialog(row["source"], bytes(row["path"]), None, ", ".join(v for _, v in copy.discs),
                                   False, checkpoint=copy.checkpoint,
                                   note="the job asks for each disc that is not in the drive (a: answer)")
        else:
            dialog = RestoreDialog(row["source"], bytes(row["path"]), copy.backup["name"], copy.medium, False)
        self.app.push_screen(dialog, confirmed)

    @work(thread=True, group="restore", exit_on_error=False)
    def _start_restore(self, req: RestoreRequest) -> None:
        title = req.title()
        try:
            job_id = jobviews.start(self.app.store, self.app.cfg.path, "restore", req.source, title, req.args())
        except (RabtuiError, OSError) as exc:
            self.app.call_from_thread(self.notify, f"cannot start {title}: {exc}", severity="error", timeout=8)
            return
        self.app.call_from_thread(self._restore_started, job_id, title)

    def _restore_started(self, job_id: int, title: str) -> None:
        self.restores[job_id] = title
        self.notify(f"job {job_id} started: {title} (see Runs)")
        self.app.poll_jobs()

    def on_jobs_polled(self, message: JobsPolled) -> None:
        super().on_jobs_polled(message)
        running = {j["id"] for j in message.snapshot.running}
        ended = [j for j in self.restores if j not in running]
        if ended:
            self._restores_ended(ended)

    @work(thread=True, group="restore-end", exit_on_error=False)
    def _restores_ended(self, ids: list[int]) -> None:
        rows = [queries.job(self.app.store, j) for j in ids]
        self.app.call_from_thread(self._say_ended, [r for r in rows if r is not None])

    def _say_ended(self, rows: list[dict]) -> None:
        for r in rows:
            if r["status"] in ("running", "waiting", "queued") or r["id"] not in self.restores:
                continue
            title = self.restores.pop(r["id"])
            severity = {"completed": "information", "warnings": "warning"}.get(r["status"], "error")
            self.notify(f"job {r['id']} {r['status']}: {r['summary'] or title}", severity=severity, timeout=10)

    # --- find ------------------------------------------------------------------------------------

    def action_find(self) -> None:
        def entered(pattern: str | None) -> None:
            if pattern:
                self._go("find")
                self._find(pattern)

        self.app.push_screen(TextDialog("Find files by name in every backup", "part of a name, e.g. passwd"), entered)

    @work(thread=True, exclusive=True, group="browse", exit_on_error=False)
    def _find(self, pattern: str) -> None:
        try:
            rows = find_actions.find_with_newest_backup(self.app.cfg, self.app.store, pattern, cancel=get_current_worker().cancelled_event)
        except Cancelled:
            return
        self._deliver(self._show_found, pattern, rows)

    def _show_found(self, pattern: str, rows: list) -> None:
        table = self._table("source", "path", "size", "modified", "where")
        for r in rows:
            table.add_row(plain(r["source"]), Text("/" + tree.display(r["path"])), fmt.size(r["size"]), fmt.stamp(r["mtime"]),
                          plain(r["where"]))
            self.keys.append(r)
        self._where(f"{len(rows)} versions matching {pattern!r}{' (first 500)' if len(rows) >= 500 else ''}"
                    " · enter: open its directory in the newest backup holding it · r: restore it")

    def _open_found(self, row: dict) -> None:
        backup = row["backup"]
        if backup is None:
            self.notify("no backup on a medium holds it: r restores it from the checkpoint discs of the where column",
                        severity="warning")
            return
        self.source = row["source"]
        path = bytes(row["path"])
        self.open_backup(backup, os.path.dirname(path), select=os.path.basename(path))

