"""Browse's "find" level: file versions found by name in every backup; enter opens a version's
directory in the newest backup holding it."""

from __future__ import annotations

import os

from rich.text import Text
from textual import work
from textual.worker import get_current_worker

from rabtui import fmt
from rabtui.errors import Cancelled
from rabtui.tui import tree
from rabtui.actions import find as find_actions
from rabtui.tui.dialogs.common import TextDialog
from rabtui.tui.safe_text import plain


class FindLevel:
    """BrowseScreen's search by name (see browse.py)."""

    def action_find(self) -> None:
        def entered(pattern: str | None) -> None:
            if pattern:
                self._go("find")
                self._find(pattern)

        self.app.push_screen(TextDialog("Find files by name in every backup", "part of a name, e.g. passwd"), entered)

    @work(thread=True, exclusive=True, group="browse", exit_on_error=False)
    def _find(self, pattern: str) -> None:
        said: list[str] = []
        try:
            rows = find_actions.find_with_newest_backup(self.app.cfg, self.app.store, pattern,
                                                        cancel=get_current_worker().cancelled_event, said=said)
        except Cancelled:
            return
        self._deliver(self._show_found, pattern, rows, said)

    def _show_found(self, pattern: str, rows: list, said: list[str] = ()) -> None:
        for line in said:       # a medium that may hold more than is listed
            self.notify(fmt.name(line), severity="warning", timeout=30)
        table = self._table("source", "path", "size", "modified", "where")
        for r in rows:
            size = fmt.size(r["size"]) if r["kind"] == "file" else r["kind"]     # a symlink, a FIFO, ...
            table.add_row(plain(r["source"]), Text("/" + tree.display(r["path"])), size, fmt.stamp(r["mtime"]),
                          plain(r["where"]))
            self.keys.append(r)
        self._where(f"{fmt.count(len(rows), 'version')} matching {pattern!r}{' (first 500)' if len(rows) >= 500 else ''}"
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
