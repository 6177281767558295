"""Restore a file or directory of a backup: where to (a local directory or the source itself) and
whether existing files may be replaced. The dialog only asks; the restore runs as a detached job
(`rabtui restore ... --job-id N`), so it goes on when the UI quits."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from rich.text import Text
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet, Static
from textual.worker import Worker, WorkerState, get_current_worker

from rabtui import fmt
from rabtui.actions.restore import target_of
from rabtui.errors import RabtuiError
from rabtui.tui import threads
from rabtui.tui.dialogs.base import Dialog
from rabtui.tui.safe_text import plain


@dataclass(frozen=True)
class RestoreRequest:
    source: str
    path: bytes             # on the source, relative to /
    backup: str | None      # the backup's name (None: from the checkpoint)
    to: str | None          # a local directory, or None: back onto the source
    overwrite: bool = False
    checkpoint: int | None = None   # from this checkpoint's discs instead of a backup
    backup_id: int | None = None    # the backup's id: its name alone may be another medium's backup too

    def origin(self) -> str:
        return self.backup if self.checkpoint is None else f"checkpoint {self.checkpoint}"

    def args(self) -> list[str]:
        """The `rabtui` arguments of the job (the job runner adds --config and --job-id)."""
        argv = ["restore", self.source, "/" + os.fsdecode(self.path)]
        ref = self.backup if self.backup_id is None else str(self.backup_id)
        argv += ["--backup", ref] if self.checkpoint is None else ["--checkpoint", str(self.checkpoint)]
        argv += ["--to", self.to] if self.to is not None else ["--to-source"]
        if self.overwrite:
            argv.append("--overwrite")
        return argv

    def title(self) -> str:
        where = self.to if self.to is not None else "the source"
        return f"restore /{shown(self.path)} of {self.source} from {self.origin()} to {where}"


def shown(path: bytes) -> str:
    return fmt.name(path)


def default_target(source: str, backup: str) -> str:
    """A fresh directory in the operator's home: the original path is kept below it."""
    return str(Path.home() / "rabtui-restores" / f"{source}-{backup}")


def check_target(text: str) -> str:
    """The directory typed in the dialog, absolute (`~` expanded); ValueError says why not. A `..`
    stays for the restore to take as the kernel does (after a symlink: the parent of where it leads),
    and for the dialog's check of the target (target_of) likewise."""
    text = text.strip()
    if not text:
        raise ValueError("give a directory to restore into")
    path = os.path.expanduser(text)
    if not os.path.isabs(path):
        raise ValueError("give an absolute directory (or one starting with ~)")
    return path.rstrip("/") or "/"


class RestoreDialog(Dialog[RestoreRequest | None]):
    DEFAULT_CSS = """
    RestoreDialog #dialog { overflow-y: auto; }
    RestoreDialog #restore-what { height: auto; margin-bottom: 1; }
    RestoreDialog .restore-row { height: auto; }
    RestoreDialog .restore-key { width: 8; color: $text-muted; }
    RestoreDialog .restore-value { width: 1fr; }
    RestoreDialog RadioSet { width: 100%; border: none; padding: 0; }
    RestoreDialog Checkbox { border: none; padding: 0 1; height: auto; }
    RestoreDialog #restore-error { color: $error; height: auto; display: none; }
    RestoreDialog #restore-error.shown { display: block; }
    """
    BINDINGS = [
        Binding("escape", "cancel", "Cancel", id="restore.cancel"),
        Binding("ctrl+s", "confirm", "Restore", id="restore.confirm"),
    ]

    def __init__(self, source: str, path: bytes, backup: str | None, medium: str, is_dir: bool,
                 target: str | None = None, note: str = "", checkpoint: int | None = None,
                 backup_id: int | None = None):
        """`checkpoint`: restore from its discs (`medium` then says which discs) instead of `backup`
        (named; by `backup_id` when given, as two media may each have a backup of that name)."""
        super().__init__()
        self.source, self.path, self.backup, self.medium = source, path, backup, medium
        self.backup_id = backup_id
        self.is_dir, self.note, self.checkpoint = is_dir, note, checkpoint
        self.target = target or default_target(source, backup or f"checkpoint-{checkpoint}")

    def compose(self) -> ComposeResult:
        what = "directory" if self.is_dir else "file"
        with Vertical(id="dialog"):
            yield Label(f"Restore a {what}", classes="title")
            with Vertical(id="restore-what"):
                rows = [("source", self.source), ("path", f"/{shown(self.path)}{'/' if self.is_dir else ''}"),
                        ("backup", f"{self.backup} on {self.medium}") if self.checkpoint is None
                        else ("from", f"checkpoint {self.checkpoint} on {self.medium}")]
                if self.note:
                    rows.append(("", self.note))
                for key, value in rows:
                    with Horizontal(classes="restore-row"):
                        yield Static(key, classes="restore-key", markup=False)
                        yield Static(Text(value), classes="restore-value")   # a Text: never markup
            with RadioSet(id="restore-where"):
                yield RadioButton("to a local directory (the original path is kept below it)", value=True,
                                  id="restore-local")
                yield RadioButton("back to the source, at its original path", id="restore-source")
            yield Input(self.target, placeholder="directory", id="restore-to")
            yield Checkbox("overwrite existing files", value=False, id="restore-overwrite")
            yield Static("", id="restore-error")
            with Horizontal(classes="buttons"):
                yield Button("Restore (ctrl+s)", id="restore-go", variant="primary")
                yield Button("Cancel (esc)", id="restore-cancel")

    def on_mount(self) -> None:
        self.query_one("#restore-to", Input).focus()

    def on_radio_set_changed(self, event: RadioSet.Changed) -> None:
        event.stop()
        self.query_one("#restore-to", Input).disabled = event.pressed.id == "restore-source"

    def on_input_submitted(self, event: Input.Submitted) -> None:
        event.stop()
        self.action_confirm()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "restore-go":
            self.action_confirm()
        else:
            self.action_cancel()

    def _error(self, message: str) -> None:
        error = self.query_one("#restore-error", Static)
        error.update(plain(message))
        error.set_class(bool(message), "shown")

    def request(self) -> RestoreRequest:
        """What the form says (ValueError: what to fix), the target not yet checked (target_refusal)."""
        to_source = self.query_one("#restore-source", RadioButton).value
        to = None if to_source else check_target(self.query_one("#restore-to", Input).value)
        return RestoreRequest(self.source, self.path, self.backup, to,
                              self.query_one("#restore-overwrite", Checkbox).value, self.checkpoint, self.backup_id)

    def action_confirm(self) -> None:
        try:
            req = self.request()
        except ValueError as exc:
            self._refused(str(exc))
            return
        if req.to is None:
            self.dismiss(req)
            return
        if self._checking or self.CHECKS.full():   # ctrl+s again while a check waits on a hung mount
            self._refused("still checking a directory that does not answer (a file system that hangs?):"
                          " wait, or close this dialog")
            return
        self._error("")
        self._checking = True
        self.query_one("#restore-go", Button).disabled = True   # until the check of the target answers
        self._check(req)

    _checking = False
    CHECKS = threads.Outstanding(2)     # of every restore dialog: one closed leaves its check running

    @work(thread=True, group="target", exit_on_error=False)
    def _check(self, req: RestoreRequest) -> None:
        """The target is looked at here: one on a file system that hangs (an NFS server away) keeps
        no key waiting; the dialog still cancels."""
        cancel = get_current_worker().cancelled_event
        with self.CHECKS.held():
            problem = target_refusal(self.app.cfg, req.to, req.path)

        def checked() -> None:
            self._checking = False
            if cancel.is_set():    # the dialog closed
                return
            self.query_one("#restore-go", Button).disabled = False
            if problem:
                self._refused(problem)
            else:
                self.dismiss(req)

        self.app.call_from_thread(checked)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        if event.state == WorkerState.ERROR and event.worker.group == "target" and not event.worker.is_cancelled:
            self._checking = False
            self.query_one("#restore-go", Button).disabled = False
            self._refused(f"cannot check the directory: {event.worker.error}")

    def _refused(self, message: str) -> None:
        self._error(message)
        self.query_one("#restore-to", Input).focus()

    def action_cancel(self) -> None:
        self.dismiss(None)


def target_refusal(cfg, to: str, path: bytes) -> str | None:
    """Why the restore of `path` must not go into `to`, as `rabtui restore --to` would refuse it
    before a job is started (it reads the file system: from a worker)."""
    try:
        _, problem = target_of(cfg, to, path)
    except RabtuiError as exc:
        return str(exc).removeprefix("--to ")   # it names the target, as typed
    except OSError as exc:
        return f"cannot restore into {to}: {exc.strerror or exc}"
    return f"cannot restore into {to}: {problem}" if problem else None
