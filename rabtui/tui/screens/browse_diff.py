"""Browse's "diff" level: what changed below the open directory since the backup before, from the
catalog."""

from __future__ import annotations

from rich.text import Text
from textual import work

from rabtui import fmt
from rabtui.state import backup_diff
from rabtui.tui import tree
from rabtui.tui.safe_text import plain
from rabtui.tui.screens.browse_tree import STATE_STYLE


class DiffLevel:
    """BrowseScreen's comparison of the open backup with the one before it (see browse.py)."""

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
        d = backup_diff.diff(self.app.store, dict(self.prev, source=self.source),
                             dict(self.backup, source=self.source), archive, prefix=rel)
        changes, count = tree.changes_below(d, rel)
        self._deliver(self._show_diff, changes, count)

    def _show_diff(self, changes: list, count: int) -> None:
        table = self._table("change", "path", "size")
        for c in changes:
            table.add_row(Text(c.what, style=STATE_STYLE.get(c.what, "")), plain(c.path), c.shown())
            self.keys.append(c)
        more = f", first {len(changes)} shown" if count > len(changes) else ""
        unread = sum(c.what == "unreadable" for c in changes)
        # not in the backup for rsync could not read them: deleted on the source they were not
        unread = f" ({unread} unreadable on the source, not deleted)" if unread else ""
        if any(c.what == "unreadable" and c.path == b"." for c in changes):
            unread += " (this directory could not be listed on the source)"
        unmade = sum(c.what == tree.NOT_WRITTEN for c in changes)
        # read on the source, refused by the medium's file system (a name vfat cannot hold)
        unread += f" ({unmade} not written on the medium: its file system refused them)" if unmade else ""
        again = sum(c.what == "readable again" for c in changes)
        unread += f" ({again} readable again: the backup before could not read them)" if again else ""
        self._where(f"{self.backup['name']} vs {self.prev['name']} below /{tree.display(self.rel)}: "
                    f"{fmt.count(count, 'change')}{more}{unread} · backspace: back")
