"""Sources: list, add, edit, delete; test reachability (whoami) and trust an unknown host key."""

from __future__ import annotations

from functools import partial
from typing import Callable

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.worker import Worker, get_current_worker
from textual.binding import Binding
from textual.widgets import DataTable, Static

from rabtui.config import edit as config_edit
from rabtui.errors import RabtuiError
from rabtui.state import queries
from rabtui.tui import threads
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.dialogs.source_form import RELOAD, SourceForm, left_said
from rabtui.tui.safe_text import plain
from rabtui.tui.screens.base import RabtuiScreen, fill_table, selected_key
from rabtui.tui.widgets.table import Table, cells_width, cut_column


SOURCE_COLUMNS = ("source", "host", "user", "port", "dirs", "schedule")


class SourcesScreen(RabtuiScreen):
    SUB_TITLE = "Sources"
    # many sources leave the highlighted one's commands and directories on the screen at 80x24
    DEFAULT_CSS = """
    SourcesScreen #sources-list { height: auto; max-height: 50%; }
    """
    BINDINGS = [
        Binding("a", "add", "Add", id="sources.add"),
        Binding("e", "edit", "Edit", id="sources.edit"),
        Binding("delete,D", "delete", "Del", tooltip="Delete source", id="sources.delete"),
        Binding("t", "test", "Test", id="sources.test"),
        Binding("b", "backup", "Backup", tooltip="Backup now", id="sources.backup"),
    ]

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._deletes = threads.Outstanding(1)    # a deletion still saved (threads.py)
        self._tests: dict[str, Worker] = {}       # the last test of each source (by id)

    def compose_body(self) -> ComposeResult:
        yield Table(id="sources-list", cursor_type="row", zebra_stripes=True)
        yield Static("", id="source-info")
        yield Table(id="source-dirs", cursor_type="row")

    def on_mount(self) -> None:
        self.query_one("#sources-list", DataTable).add_columns(*SOURCE_COLUMNS)
        self.query_one("#source-dirs", DataTable).add_columns("directory", "kind", "max changed", "max days", "excludes")
        self.query_one("#sources-list", DataTable).focus()

    def load_data(self):
        return self.app.cfg

    def show_data(self, cfg) -> None:
        rows, keys = [], []
        for s in cfg.sources:
            rows.append((s.id, s.host or "local", s.user or "", str(s.port or ""), str(len(s.directories)), s.schedule or ""))
            keys.append(s.id)
        table = self.query_one("#sources-list", DataTable)
        width = cells_width(table, self.size.width, len(rows))
        # the host cut first, then the source's id (its middle): the schedule is not pushed out of view
        rows = cut_column(rows, SOURCE_COLUMNS.index("host"), width, SOURCE_COLUMNS)
        fill_table(table, cut_column(rows, 0, width, SOURCE_COLUMNS, middle=True), keys)
        self._show_source()

    def _current(self):
        key = selected_key(self.query_one("#sources-list", DataTable))
        if key is None:
            return None
        try:
            return self.app.cfg.source(key)
        except Exception:
            return None

    def _show_source(self) -> None:
        s = self._current()
        info = self.query_one("#source-info", Static)
        table = self.query_one("#source-dirs", DataTable)
        if s is None:
            info.update("no sources yet: press a to add one")
            table.clear()
            return
        text = Text.assemble(plain(s.id, style="bold"), plain(f"  excludes: {', '.join(s.excludes) or '-'}"))
        if s.pre_backup_commands:
            text.append(plain(f"\npre: {' ; '.join(s.pre_backup_commands)}", lines=True))
        if s.post_backup_commands:
            text.append(plain(f"\npost: {' ; '.join(s.post_backup_commands)}", lines=True))
        info.update(text)
        cfg = self.app.cfg
        fill_table(table, [(d.path, d.kind, str(cfg.max_changed_files(d)), str(cfg.max_days(d)), ", ".join(d.excludes))
                           for d in s.directories])

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "sources-list":
            self._show_source()

    # --- actions ---------------------------------------------------------------------------------

    def _saved(self, source_id: str | None) -> None:
        if source_id == RELOAD:
            self.app.reload_config(lambda ok: ok and self.notify(f"{self.app.cfg.path} reloaded: edit the source again",
                                                                 timeout=6))
        elif source_id:
            self.app.reload_config()
            self.notify(f"source {source_id} saved to {self.app.cfg.path}")

    _reading = False

    def _with_file(self, then: Callable[[config_edit.Snapshot], None]) -> None:
        """`then(snapshot)` of the config file, read in a thread (one on a file system that hangs,
        an NFS server away, keeps no key waiting), when the screen is still the one in front."""
        if self._reading:
            self.notify(f"still reading {self.app.cfg.path} (a file system that does not answer?)")
            return
        self._reading = True
        self._read_file(self.app.cfg.path, then)

    @work(thread=True, group="read", exit_on_error=False)
    def _read_file(self, path, then) -> None:
        try:
            snapshot = config_edit.read(path)
        except (RabtuiError, OSError) as exc:    # edited by hand meanwhile into something that is not TOML
            self.app.call_from_thread(self._file_read, partial(
                self.notify, f"cannot edit {path}: {exc}", severity="error", timeout=8))
        except BaseException:
            self.app.call_from_thread(self._file_read, None)
            raise
        else:
            self.app.call_from_thread(self._file_read, partial(then, snapshot))

    def _file_read(self, then) -> None:
        self._reading = False
        if then is not None and self.app.screen is self:   # not over a screen gone to meanwhile
            then()

    def _form(self, source_id: str | None) -> None:
        def read(snapshot: config_edit.Snapshot) -> None:
            try:
                form = SourceForm(self.app.cfg, source_id, snapshot)
            except RabtuiError as exc:     # the source removed by hand meanwhile
                self.notify(f"cannot edit {self.app.cfg.path}: {exc}", severity="error", timeout=8)
            else:
                self.app.push_screen(form, self._saved)

        self._with_file(read)

    def action_add(self) -> None:
        self._form(None)

    def action_edit(self) -> None:
        s = self._current()
        if s is not None:
            self._form(s.id)

    def action_delete(self) -> None:
        s = self._current()
        if s is None:
            return
        if self._deletes.full():    # its check waits on a path that hangs: each held a thread
            self.notify(f"still saving {self.app.cfg.path} (a path it checks does not answer?): wait", severity="warning")
            return
        self._with_file(partial(self._ask_delete, s))

    def _ask_delete(self, s, snapshot: config_edit.Snapshot) -> None:
        self._count_then_ask(s.id, snapshot)

    @work(thread=True, group="read", exit_on_error=False)
    def _count_then_ask(self, source_id: str, snapshot: config_edit.Snapshot) -> None:
        """Its backups counted off the UI thread (a database held busy by a backup keeps no key
        waiting); one that cannot be read may hold backups (None)."""
        try:
            backups = queries.source_backup_count(self.app.store, source_id)
        except Exception:
            backups = None
        self.app.call_from_thread(self._confirm_delete, source_id, snapshot, backups)

    def _confirm_delete(self, source_id: str, snapshot: config_edit.Snapshot, backups: int | None) -> None:
        """As a rename: the backups stay filed under the id the config no longer has."""
        def confirmed(ok: bool | None) -> None:
            if ok:
                self._delete(snapshot, source_id)

        text = f"Remove source {source_id} from {self.app.cfg.path}?"
        if backups != 0:
            which = f"Its {backups} backup(s)" if backups else "Its backups, if any,"
            text += (f"\n\n{which} stay on the media and in the catalog:\n"
                     f"- cleanup no longer deletes them (it only looks at configured sources);\n"
                     f"- they stay restorable: rabtui restore {source_id} PATH --to DIR.")
        self.app.push_screen(ConfirmDialog("Delete source", text, yes="Delete", no="Back"), confirmed)

    @work(thread=True, group="delete", exit_on_error=False)
    @threads.counted("_deletes")
    def _delete(self, snapshot, source_id: str) -> None:
        """The file is checked (each medium path and local source directory resolved: one on a file
        system that hangs keeps no key waiting) and written here."""
        text = snapshot.delete_source(source_id)
        try:
            config_edit.save(snapshot, text)
        except config_edit.ConflictKept as exc:     # deleted: a hand edit of that instant is kept aside
            self.app.call_from_thread(self.notify, str(exc), severity="warning", timeout=20)
            exc.said()
        except (RabtuiError, OSError) as exc:
            self.app.call_from_thread(self.notify, f"not saved: {exc}", severity="error", timeout=8)
            return
        left = config_edit.left_not_run(snapshot.path, text)
        if left:
            self.app.call_from_thread(self.notify, left_said(left), severity="warning", timeout=20)
        self.app.call_from_thread(self._deleted, source_id)

    def _deleted(self, source_id: str) -> None:
        self.app.reload_config()
        self.notify(f"source {source_id} removed from the config (its backups stay on the media)")

    def action_backup(self) -> None:
        s = self._current()
        if s is not None:
            self.app.start_backup(s.id)

    def action_test(self) -> None:
        s = self._current()
        if s is None:
            return
        worker = self._tests.get(s.id)
        if worker is not None and not worker.is_finished:     # one login per source at a time
            doing = "checking the host key of" if worker.group == "trust" else "testing"
            self.notify(f"still {doing} {s.id}: its outcome comes when the host answers or the connect times out")
            return
        self.notify(f"testing {s.id} ...")
        self.set_status(f"testing {s.id} ...")
        self._start_test(s)

    def _start_test(self, source) -> None:
        self._tests[source.id] = self._test(source)

    @work(thread=True, exit_on_error=False, group="test")
    def _test(self, source) -> None:
        from rabtui.actions import sources as source_actions   # paramiko: loaded when first needed

        cfg = self.app.cfg
        try:   # the UI quitting meanwhile ends the login instead of waiting for its timeout
            who = source_actions.whoami(cfg, source, get_current_worker().cancelled_event).user
        except source_actions.UnknownHostKey as exc:
            self.app.call_from_thread(self._ask_trust, source, exc)
            return
        self.app.call_from_thread(self._done, f"{source.id}: reachable, logged in as {who}")

    def _done(self, message: str) -> None:
        self.notify(message)
        self.set_status(message)

    def _ask_trust(self, source, exc) -> None:
        def answered(ok: bool | None) -> None:
            if ok:
                self._tests[source.id] = self._trust(source, exc.fingerprint)
            else:
                self.set_status(f"{source.id}: host key not trusted")

        self.app.push_screen(ConfirmDialog(
            "Unknown host key",
            f"{exc.host}:{exc.port} ({source.id}) offers a host key that is not known:\n\n"
            f"  {exc.key_type}  {exc.fingerprint}\n\n"
            "Check this fingerprint with the host's administrator (ssh-keygen -lf on the host).\nTrust it?",
            yes="Trust", no="Don't trust"), answered)

    @work(thread=True, exit_on_error=False, group="trust")
    def _trust(self, source, fingerprint: str) -> None:
        from rabtui.actions import sources as source_actions
        from rabtui.errors import WorkFailed

        info = source_actions.scan_host_key(self.app.cfg, source)
        if info.fingerprint != fingerprint:
            raise WorkFailed(f"{source.id}: the host key changed while you looked at it ({info.fingerprint}); not trusted")
        path = source_actions.trust(self.app.cfg, source, info)
        self.app.call_from_thread(self._done, f"{source.id}: host key trusted (written to {path})")
        self.app.call_from_thread(self._start_test, source)
