"""Browse's "dir" level: the open backup's tree, listed a page at a time (the first page with the
listing, the next ones as the cursor nears the end), each entry new, changed or a hard link into
the backup before it; a backup that cannot be listed says why (its medium away, or deleted)."""

from __future__ import annotations

import os

from rich.text import Text
from textual import work
from textual.worker import get_current_worker
from textual.widgets import DataTable

from rabtui import fmt
from rabtui.errors import Cancelled, RabtuiError
from rabtui.tui import threads, tree
from rabtui.state import queries
from rabtui.state.unread_paths import Unread

STATE_STYLE = {"new": "bold green", "changed": "bold yellow", "link": "dim", "added": "green",
               "removed": "red", "unreadable": "bold magenta", "readable again": "magenta",
               tree.NOT_WRITTEN: "bold magenta"}
STATE_WORD = {"new": "new", "changed": "new (changed)", "link": "hard link"}


class TreeLevel:
    """BrowseScreen's listing of the open backup's directories (see browse.py for the levels)."""

    def open_backup(self, backup: dict, rel: bytes = b"", select: bytes | None = None) -> None:
        if self.reads_wait():
            return
        self.backup, self.prev = backup, None     # the backup before it comes with the listing
        self.open_dir(rel, select)

    def open_dir(self, rel: bytes, select: bytes | None = None) -> None:
        """List the directory `rel` of the open backup; `select`: the name to put the cursor on
        (its page and the ones before it are loaded with the first)."""
        if self.reads_wait():
            return
        self._go("dir", rel)
        self.loading = True
        self._list_dir(self.backup, self.source, rel, select)

    @work(thread=True, exclusive=True, group="browse", exit_on_error=False)
    @threads.counted("_reads")
    def _list_dir(self, backup: dict, source: str, rel: bytes, select: bytes | None = None) -> None:
        """Everything read here (the database too) comes to the screen with the listing: a listing
        superseded meanwhile changes nothing the newer one shows."""
        cancel = get_current_worker().cancelled_event
        away = self._another_medium(backup, source)
        if away:   # its files may still be there (a label replaced): they are not this medium's
            self._deliver(self._list_failed, rel, None, away)
            return
        from rabtui.actions import archive_view

        store, merged, cfg = self.app.store, bool(backup.get("root")), self.app.cfg
        prev = None if merged else queries.previous_backup(store, backup)
        root = tree.data_root(backup)
        extra, warnings = None, []
        try:
            # an archive directory in a backup: the union as of it (as restore has it)
            as_of = None if merged else archive_view.listing(cfg, store, source, backup, rel, warnings)
            if as_of is not None:
                names, ndirs = as_of[:2]
            else:
                names, ndirs = tree.list_names(root, rel, cancel)
                if merged:     # what only kept data saved, which the union lacks
                    names, ndirs, extra = tree.with_extra(
                        names, ndirs, archive_view.merged_extra(cfg, store, source, backup["medium"], rel, warnings))
            at = tree.position(names, ndirs, select) if select is not None else None
            upto = tree.PAGE if at is None else (at // tree.PAGE + 1) * tree.PAGE
            first = tree.as_of_page(as_of, names[:upto]) if as_of is not None else \
                tree.details(root, rel, tree.data_root(prev), names[:upto], ndirs, compare=not merged, cancel=cancel,
                             extra=extra)
        except Cancelled:
            return
        except OSError as exc:   # not in this backup (an archive directory holds only what was new)
            self._deliver(self._list_failed, rel, exc, *self._why_unreadable(backup))
            return
        unlisted = not merged and Unread(store, backup["id"]).listing(rel) is not None
        self._deliver(self._show_dir, tree.Listing(rel, names, ndirs, prev, as_of, extra, warnings, unlisted), first, at)

    def _medium_away(self, backup: dict) -> str | None:
        """From a worker: why the backup's medium is not at hand now (None: it is mounted, with its
        own label), as a restore would find it."""
        from rabtui.actions.restore import medium_problem

        try:
            return medium_problem(self.app.cfg.medium(backup["medium"]), self.app.store)
        except RabtuiError as exc:   # a medium no longer in the config
            return str(exc)

    def _another_medium(self, backup: dict, source: str) -> str | None:
        """From a worker, before reading the backup of `source`: why the disk mounted at its
        medium's path is another one (None: it is the medium, or nothing is mounted there and the
        read says so). A medium no longer in the config: its backup is read where the catalog has
        it, once the label at the medium root there says it is that medium."""
        from rabtui.actions.restore import another_there, unconfigured_problem

        try:
            medium = self.app.cfg.medium(backup["medium"])
        except RabtuiError:
            return unconfigured_problem(backup["medium"], source, backup["name"], backup["path"], self.app.store)
        return another_there(medium, self.app.store)

    def _why_unreadable(self, backup: dict) -> tuple[str | None, bool]:
        """From a worker, after a listing failed: why the backup's medium cannot be read now (None:
        it is mounted), and whether the backup itself is gone from it (deleted by a cleanup)."""
        away = self._medium_away(backup)
        return away, away is None and not os.path.isdir(tree.data_root(backup))

    def _list_failed(self, rel: bytes, exc: OSError | None, away: str | None = None, gone: bool = False) -> None:
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
        self.extra, self.unlisted = listing.extra, listing.unlisted
        table = self._table("name", "size", "modified", "in this backup")
        self.loaded = 0
        self._add_entries(first)
        self.loading = False
        self._where_dir()
        if at is not None:
            table.move_cursor(row=at, animate=False)
        for said in listing.warnings:     # the entries left out: never in silence
            self.notify(f"/{tree.display(listing.rel)}: {said}", severity="warning", timeout=15)

    def _where_dir(self) -> None:
        b = self.backup
        shown = f"{self.loaded} of {len(self.names)}" if self.loaded < len(self.names) else str(len(self.names))
        if b.get("root"):
            prev = f"every archive file on {b['medium']}"
        elif self.as_of is not None:
            prev = f"every archive file saved on {b['medium']} up to this backup"
        else:
            prev = f"vs {self.prev['name']}" if self.prev else "first backup on this medium"
        # what it held is not in this backup, yet was not deleted on the source
        unlisted = "; could not be listed on the source" if self.unlisted else ""
        self._where(f"{self.source} › {b['name']} › /{tree.display(self.rel)}  ({fmt.count(shown, 'entry')}, {prev}{unlisted})")

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
        if self.level != "dir" or self.loading or self.loaded >= len(self.names) or self._reads.full():
            return
        if event.cursor_row >= self.loaded - 40:
            self.loading = True
            self._next_page(self.rel, self.loaded)

    @work(thread=True, group="page", exit_on_error=False)
    @threads.counted("_reads")
    def _next_page(self, rel: bytes, start: int) -> None:
        """A page of the listing shown: any other listing, diff or find cancels it (BrowseScreen._go),
        so it adds no row to, and its failure changes nothing of, what is shown then (_deliver)."""
        cancel = get_current_worker().cancelled_event
        backup, prev, as_of, extra, source = self.backup, self.prev, self.as_of, self.extra, self.source
        names = self.names[start: start + tree.PAGE]
        if as_of is not None:
            self._deliver(self._got_page, rel, start, tree.as_of_page(as_of, names))
            return
        away = self._another_medium(backup, source)
        if away:
            self._deliver(self._list_failed, rel, None, away)
            return
        try:
            page = tree.details(tree.data_root(backup), rel, tree.data_root(prev), names, max(0, self.ndirs - start),
                                compare=not backup.get("root"), cancel=cancel, extra=extra)
        except Cancelled:
            return
        except OSError as exc:
            self._deliver(self._list_failed, rel, exc, *self._why_unreadable(backup))
            return
        self._deliver(self._got_page, rel, start, page)

    def _got_page(self, rel: bytes, start: int, page: list) -> None:
        self.loading = False
        if self.level == "dir" and rel == self.rel and start == self.loaded:
            self._add_entries(page)
            self._where_dir()
