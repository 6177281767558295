"""Add or edit a source: every key of a [[sources]] table, directories one per line.

The form shows the source as the file has it (a relative path stays relative) and saves through
`rabtui.config.edit`: only this source's table changes, and only its keys that changed; the file
is validated as check-config would, never written over changes made on disk meanwhile (the
operator sees what changed, and reloads or goes back), and replaced atomically. A validation
error is shown beside the field it names, never as a traceback.
"""

from __future__ import annotations

from functools import partial

from textual import work
from textual.worker import Worker, WorkerState, get_current_worker
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Button, Input, Label, Static, TextArea

from rabtui.config import edit as config_edit
from rabtui.config import Config
from rabtui.errors import ConfigError, UsageError
from rabtui.state import queries
from rabtui.tui.dialogs.base import Dialog
from rabtui.tui.dialogs.common import ConfirmDialog
from rabtui.tui.dialogs.source_fields import (AREAS, FIELDS, FieldError, escaped_fields, field_of, form_texts,
                                               missing_local_directories, source_from_form)
from rabtui.tui import threads
from rabtui.tui.safe_text import glance, middle_cut, plain

RELOAD, BACK = "reload", "back"
FIELD_ERROR_MAX = 480      # characters of an error beside a field: six lines at 80 columns


class SourceForm(Dialog[str | None]):
    """Dismisses with the saved source id, RELOAD when the file changed on disk and the operator
    chose to reload it, or None when cancelled."""

    # the fields scroll between the title and the buttons, so Save is on screen at any size
    DEFAULT_CSS = """
    SourceForm #dialog.form { width: 96; height: 90%; }
    SourceForm #form-fields { height: 1fr; }
    SourceForm .field { height: auto; margin-bottom: 1; }
    SourceForm .field-label { width: 17; }
    SourceForm .field Input { width: 1fr; }
    SourceForm TextArea { height: 5; }
    SourceForm #escaped-note { color: $warning; height: auto; }
    SourceForm .field-error { color: $error; height: auto; padding-left: 17; display: none; }
    SourceForm Input.invalid { background: $error 30%; }      /* a border would hide the one line it has */
    SourceForm TextArea.invalid { border: tall $error; }
    """

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="source_form.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="source_form.cancel"),
    ]

    def __init__(self, cfg: Config, source_id: str | None, snapshot: config_edit.Snapshot):
        """`snapshot`: the file as read just now (config_edit.read, in a worker: see SourcesScreen)."""
        super().__init__()
        self.cfg = cfg
        self.source_id = source_id
        self.snapshot = snapshot
        self.source = self.snapshot.source_values(source_id) if source_id else None

    def compose(self) -> ComposeResult:
        s = self.source
        with Vertical(id="dialog", classes="form"):
            yield Label("Edit source" if s else "Add source", classes="title")
            escaped = escaped_fields(s)
            if escaped:
                yield Static(plain(f"{', '.join(sorted(escaped))}: shown escaped, the file holds control characters"
                                   " there (\\033 is ESC, \\\\ one backslash); kept as they are unless edited"),
                             id="escaped-note")
            yield from self._fields()
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

    def _fields(self) -> ComposeResult:
        texts = form_texts(self.source)
        with VerticalScroll(id="form-fields"):
            for key, title, placeholder in FIELDS:
                with Horizontal(classes="field"):
                    yield Label(title, classes="field-label")
                    yield Input(texts[key], placeholder=placeholder, id=f"f-{key}", compact=True)
                yield Static("", id=f"e-{key}", classes="field-error")
            for key, title in AREAS:
                yield Label(title, classes="area-label")
                yield TextArea(texts[key], id=f"f-{key}", soft_wrap=False, show_line_numbers=False)
                yield Static("", id=f"e-{key}", classes="field-error")

    def on_mount(self) -> None:
        self._opened_with = self.values()

    def edited(self) -> bool:
        """Whether a field holds something else than when the form opened."""
        return self.values() != getattr(self, "_opened_with", None)

    def values(self) -> dict[str, str]:
        out = {key: self.query_one(f"#f-{key}", Input).value for key, _, _ in FIELDS}
        for key, _ in AREAS:
            out[key] = self.query_one(f"#f-{key}", TextArea).text
        return out

    def show_error(self, field: str | None, message: str) -> None:
        for key in [k for k, _, _ in FIELDS] + [k for k, _ in AREAS]:
            self.query_one(f"#e-{key}", Static).update("")
            self.query_one(f"#e-{key}", Static).display = False
            self.query_one(f"#f-{key}").remove_class("invalid")
        if field is None or not self.query(f"#e-{field}"):
            self.notify(message, severity="error", timeout=8)
            return
        # it quotes what was typed: a value of many words (an id of 9,000 characters) loses its middle
        self.query_one(f"#e-{field}", Static).update(plain(middle_cut(glance(message), FIELD_ERROR_MAX), lines=True))
        self.query_one(f"#e-{field}", Static).display = True
        widget = self.query_one(f"#f-{field}")
        widget.add_class("invalid")
        widget.focus()

    def action_save(self) -> None:
        try:
            source = source_from_form(self.values(), self.source)
            if source["id"] != self.source_id and source["id"] in self.snapshot.source_ids():
                raise FieldError("id", f"a source {source['id']!r} exists already")
        except FieldError as exc:
            self.show_error(exc.field, str(exc))
            return
        if self.source_id is None or not source["id"] or source["id"] == self.source_id:
            self._save(source)
        else:   # checked as saving checks it, before the question
            self._start(source, config_edit.check)

    def _save(self, source: dict) -> None:
        self._start(source, config_edit.save)

    def _start(self, source: dict, how) -> None:
        if self._pending:     # one check or save at a time: the file is written once
            self.notify("still checking the form (a directory that does not answer?): wait, or close the form")
            return
        if self.CHECKS.full():
            self.notify("still checking forms closed before (a directory that does not answer?): wait")
            return
        self._pending = True
        self._in_thread(source, how)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.worker.group == "save" and event.state == WorkerState.ERROR:
            self._pending = False
            self.show_error(None, f"cannot save: {event.worker.error}")

    _pending = False
    CHECKS = threads.Outstanding(2)     # of every form: one closed leaves its check running (threads.py)

    @work(thread=True, group="save", exit_on_error=False)
    @threads.counted("CHECKS")
    def _in_thread(self, source: dict, how) -> None:
        """`how` (config_edit.check, or .save) of the file with `source` put in, off the UI thread:
        the check looks at the local directories typed (one on an NFS mount whose server is away
        hangs), so a form closed meanwhile saves nothing. A check for a rename goes on with the
        database read here: one that cannot be read may hold backups (None)."""
        cancel = get_current_worker().cancelled_event
        failed = self._failed(source, config_edit.check)
        if failed is None and how is config_edit.save and not cancel.is_set():
            failed = self._failed(source, how)
        if failed is not None or cancel.is_set():
            self._answer(cancel, failed)
        elif how is config_edit.save:
            left = config_edit.left_not_run(self.snapshot.path, self.snapshot.put_source(source, self.source_id))
            self._answer(cancel, self._saved, source, missing_local_directories(source), left)
        else:
            try:
                backups = queries.source_backup_count(self.app.store, self.source_id)
            except Exception:
                backups = None
            self._answer(cancel, self._renaming, source, backups)

    def _answer(self, cancel, then, *args) -> None:
        """From _in_thread: `then(*args)` on the UI thread, unless the form was closed meanwhile."""
        def answer() -> None:
            self._pending = False
            if not cancel.is_set() and then is not None:
                then(*args)

        self.app.call_from_thread(answer)

    def _renaming(self, source: dict, backups: int | None) -> None:
        if backups == 0:
            self._save(source)
        else:
            self._confirm_rename(source, backups)

    def _confirm_rename(self, source: dict, backups: int | None) -> None:
        """Backups are filed by source id, on the media and in the catalog: they keep the old one."""
        old, new = self.source_id, source["id"]
        which = f"The {backups} backup(s) of {old}" if backups else f"The backups of {old}, if any,"

        def answered(ok: bool | None) -> None:
            if ok:
                self._save(source)

        self.app.push_screen(ConfirmDialog(
            "Rename source",
            f"Rename source {old} to {new}?\n\n"
            f"{which} keep its id on the media and in the catalog:\n"
            f"- the next backup of {new} is a full one (no earlier backup of {new} to link to);\n"
            f"- cleanup no longer deletes {old}'s backups (it only looks at configured sources);\n"
            f"- they stay restorable: rabtui restore {old} PATH --to DIR.",
            yes="Rename", no="Back"), answered)

    def _failed(self, source: dict, how):
        """From a worker: `how` (config_edit.save, or .check) given the file with `source` put in;
        None, or what shows on the form what went wrong (for the UI thread)."""
        try:
            how(self.snapshot, self.snapshot.put_source(source, self.source_id))
        except ConfigError as exc:
            ids = self.snapshot.source_ids()
            field = field_of(exc, ids.index(self.source_id) if self.source_id in ids else len(ids))
            return partial(self.show_error, field, str(exc).split(": ", 2)[-1] if field else str(exc))
        except config_edit.ChangedOnDisk as exc:
            return partial(self._changed_on_disk, exc, self._untouched_now())
        except config_edit.ConflictKept as exc:     # saved: a hand edit of that instant is kept aside
            return partial(self._saved_beside, source, exc)
        except UsageError as exc:
            return partial(self.show_error, None, str(exc))
        except OSError as exc:
            return partial(self.show_error, None, f"cannot write {self.cfg.path}: {exc.strerror}")
        return None

    def _saved_beside(self, source: dict, conflict) -> None:
        self.notify(str(conflict), severity="warning", timeout=20)
        # said: the next start names it no more (off the UI thread, as every look at the config's directory)
        self.app.run_worker(conflict.said, thread=True, group="config-said", exit_on_error=False)
        self.dismiss(source["id"])

    def _saved(self, source: dict, missing: list[str], left: str | None = None) -> None:
        if missing:
            self.notify(f"saved, but these directories do not exist here: {', '.join(missing)}",
                        severity="warning", timeout=10)
        if left:    # a command the file held already: check-config refuses the file as saved
            self.notify(left_said(left), severity="warning", timeout=20)
        self.dismiss(source["id"])

    def _untouched_now(self) -> config_edit.Snapshot | None:
        """From a worker: the file as it is now when the change made on disk left this form's source
        as the form read it (a new source: always), else None."""
        try:
            now = config_edit.read(self.snapshot.path)
            if self.source_id is None or (self.source_id in now.source_ids()
                                          and now.source_values(self.source_id) == self.source):
                return now
        except (ConfigError, UsageError):
            pass
        return None

    def _changed_on_disk(self, exc: config_edit.ChangedOnDisk, now: config_edit.Snapshot | None) -> None:
        """Reload or back; when the change left this source alone, what was typed may be saved onto
        the file as it is now instead (checked and saved as any save, the change kept)."""
        def chosen(yes: bool | None) -> None:
            if yes and now is None:
                self.dismiss(RELOAD)
            elif yes:
                self.snapshot = now
                self.action_save()

        lines = exc.diff.splitlines()
        shown = "\n".join(lines[:30] + ([f"... {len(lines) - 30} more lines"] if len(lines) > 30 else []))
        said = f"{self.cfg.path} was changed since this form read it; nothing was saved.\n\n{shown}\n\n"
        if now is None:
            question, yes = "Reload it (what you typed here is dropped), or go back to the form?", "Reload"
        else:
            which = f"source {self.source_id}" if self.source_id else "the sources this form read"
            question = (f"That change left {which} as it was: save what you typed onto the file as it is"
                        " now (the change stays), or go back to the form?")
            yes = "Save onto it"
        self.app.push_screen(ConfirmDialog("The file changed on disk", said + question, yes=yes, no="Back"), chosen)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.action_cancel()

    def action_cancel(self) -> None:
        """Closes the form; one holding edits asks first (escape is pressed to close any dialog)."""
        def close() -> None:
            self.workers.cancel_group(self, "save")   # a check still under way saves nothing now
            self.dismiss(None)

        self.unless_kept(close, "Close the form")

    def unless_kept(self, then, what: str) -> None:
        """`then()`, at once when nothing was typed, else when the operator drops the edits."""
        if not self.edited():
            then()
            return

        def answered(drop: bool | None) -> None:
            if drop:
                then()

        question = ConfirmDialog(
            what, f"{what} and drop what you typed? Nothing is saved ({self.cfg.path} stays as it is).",
            yes="Drop", no="Back")
        question.drops_edits = True
        self.app.push_screen(question, answered)


def left_said(left: str) -> str:
    """A note that the file was saved with a command check-config refuses (config_edit.left_not_run)."""
    return f"saved, but check-config refuses the file (a command it held already, not run): {left}"
