"""Add or edit a source: every key of a [[sources]] table, directories one per line.

The form builds a new `Config` and saves it with `rabtui.config_write.save` (tomli-w, validated by
reading it back). A validation error is shown under the field it names, never as a traceback.
"""

from __future__ import annotations

import dataclasses
import re
import shlex
from pathlib import Path

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, TextArea

from rabtui import config_write
from rabtui.config import Config, Directory, Source
from rabtui.errors import ConfigError

FIELDS = (
    ("id", "id", "letters, digits, '.', '_', '-'"),
    ("host", "host", "empty for the local machine"),
    ("user", "user", "ssh user"),
    ("port", "port", "22"),
    ("identity_file", "identity file", "~/.ssh/id_ed25519"),
    ("schedule", "schedule", "cron expression, e.g. 0 2 * * *"),
    ("excludes", "excludes", "comma-separated patterns, e.g. *.tmp, cache/"),
    ("acls", "ACLs", "true or false: keep POSIX ACLs (rsync -A)"),
    ("xattrs", "xattrs", "true or false: keep extended attributes and capabilities (rsync -X)"),
)
_FLAGS = ("acls", "xattrs")
AREAS = (
    ("directories", "directories: one per line: KIND PATH [max_changed_files=N] [max_days=N] [exclude=PATTERN]"),
    ("pre_backup_commands", "pre-backup commands, one per line"),
    ("post_backup_commands", "post-backup commands, one per line"),
)


class FieldError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def directories_text(dirs) -> str:
    lines = []
    for d in dirs:
        parts = [d.kind, shlex.quote(d.path)]
        if d.max_changed_files is not None:
            parts.append(f"max_changed_files={d.max_changed_files}")
        if d.max_days is not None:
            parts.append(f"max_days={d.max_days}")
        parts += [f"exclude={shlex.quote(e)}" for e in d.excludes]
        lines.append(" ".join(parts))
    return "\n".join(lines)


def parse_directories(text: str) -> tuple[Directory, ...]:
    dirs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            words = shlex.split(line)
        except ValueError as exc:
            raise FieldError("directories", f"line {n}: {exc}") from None
        if len(words) < 2:
            raise FieldError("directories", f"line {n}: write KIND PATH, e.g. standard /etc")
        kind, path, rest = words[0], words[1], words[2:]
        opts: dict = {"excludes": []}
        for word in rest:
            key, _, value = word.partition("=")
            if key in ("max_changed_files", "max_days"):
                if not value.isdigit():
                    raise FieldError("directories", f"line {n}: {key} must be a number")
                opts[key] = int(value)
            elif key == "exclude" and value:
                opts["excludes"].append(value)
            else:
                raise FieldError("directories", f"line {n}: unknown option {word!r}")
        dirs.append(Directory(path=path, kind=kind, excludes=tuple(opts["excludes"]),
                              max_changed_files=opts.get("max_changed_files"), max_days=opts.get("max_days")))
    return tuple(dirs)


def _flag(values: dict[str, str], key: str) -> bool:
    word = values.get(key, "").strip().lower()
    if word in ("", "true", "yes", "on"):
        return True
    if word in ("false", "no", "off"):
        return False
    raise FieldError(key, "write true or false")


def source_from_form(values: dict[str, str]) -> Source:
    port = values["port"].strip()
    if port and not port.isdigit():
        raise FieldError("port", "must be a number between 1 and 65535")
    ident = values["identity_file"].strip()
    return Source(
        id=values["id"].strip(),
        host=values["host"].strip() or None,
        user=values["user"].strip() or None,
        port=int(port) if port else None,
        identity_file=Path(ident).expanduser() if ident else None,
        schedule=values["schedule"].strip() or None,
        excludes=tuple(p.strip() for p in values["excludes"].split(",") if p.strip()),
        directories=parse_directories(values["directories"]),
        pre_backup_commands=tuple(c for c in values["pre_backup_commands"].splitlines() if c.strip()),
        post_backup_commands=tuple(c for c in values["post_backup_commands"].splitlines() if c.strip()),
        acls=_flag(values, "acls"),
        xattrs=_flag(values, "xattrs"),
    )


def replace_source(cfg: Config, old_id: str | None, source: Source) -> Config:
    sources = list(cfg.sources)
    ids = [s.id for s in sources]
    if old_id is not None and old_id in ids:
        keep = sources[ids.index(old_id)]
        source = dataclasses.replace(source, pause_notifications_until=keep.pause_notifications_until)
        sources[ids.index(old_id)] = source
    else:
        sources.append(source)
    return dataclasses.replace(cfg, sources=tuple(sources))


def field_of(error: ConfigError) -> str | None:
    """Which form field a config error names (`...: sources[2].port: must be ...` -> port)."""
    m = re.search(r"sources\[\d+\]\.(?:directories(?:\[\d+\])?\.)?(\w+)", str(error))
    if m is None:
        return None
    key = m.group(1)
    if "directories" in m.group(0) or key in ("path", "kind", "max_changed_files", "max_days"):
        return "directories"
    return key


class SourceForm(ModalScreen[str | None]):
    """Dismisses with the saved source id, or None when cancelled."""

    BINDINGS = [
        Binding("ctrl+s", "save", "Save", id="source_form.save", priority=True),
        Binding("escape", "cancel", "Cancel", id="source_form.cancel"),
    ]

    def __init__(self, cfg: Config, source: Source | None):
        super().__init__()
        self.cfg = cfg
        self.source = source

    def compose(self) -> ComposeResult:
        s = self.source
        with VerticalScroll(id="dialog", classes="form"):
            yield Label("Edit source" if s else "Add source", classes="title")
            for key, title, placeholder in FIELDS:
                value = ""
                if s is not None:
                    v = getattr(s, key)
                    value = (", ".join(v) if key == "excludes" else str(v).lower() if key in _FLAGS
                             else "" if v is None else str(v))
                with Horizontal(classes="field"):
                    yield Label(title, classes="field-label")
                    yield Input(value, placeholder=placeholder, id=f"f-{key}", compact=True)
                yield Static("", id=f"e-{key}", classes="field-error")
            for key, title in AREAS:
                if s is None:
                    value = ""
                elif key == "directories":
                    value = directories_text(s.directories)
                else:
                    value = "\n".join(getattr(s, key))
                yield Label(title, classes="area-label")
                yield TextArea(value, id=f"f-{key}", soft_wrap=False, show_line_numbers=False)
                yield Static("", id=f"e-{key}", classes="field-error")
            with Horizontal(classes="buttons"):
                yield Button("Save (ctrl+s)", id="save", variant="primary")
                yield Button("Cancel (esc)", id="cancel")

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
        self.query_one(f"#e-{field}", Static).update(message)
        self.query_one(f"#e-{field}", Static).display = True
        widget = self.query_one(f"#f-{field}")
        widget.add_class("invalid")
        widget.focus()

    def action_save(self) -> None:
        try:
            source = source_from_form(self.values())
            new_cfg = replace_source(self.cfg, self.source.id if self.source else None, source)
            if self.source is None or self.source.id != source.id:
                if [s.id for s in new_cfg.sources].count(source.id) > 1:
                    raise FieldError("id", f"a source {source.id!r} exists already")
            config_write.save(new_cfg)
        except FieldError as exc:
            self.show_error(exc.field, str(exc))
            return
        except ConfigError as exc:
            message = str(exc).split(": ", 2)[-1] if field_of(exc) else str(exc)
            self.show_error(field_of(exc), message)
            return
        except OSError as exc:
            self.show_error(None, f"cannot write {self.cfg.path}: {exc.strerror}")
            return
        self.dismiss(source.id)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        event.stop()
        if event.button.id == "save":
            self.action_save()
        else:
            self.dismiss(None)

    def action_cancel(self) -> None:
        self.dismiss(None)
