"""The source form's fields as text and back: each key of a [[sources]] table shown as the operator
types it (lists on one line, directories one per line), read back into the table the file keeps,
and the form field a config error names."""

from __future__ import annotations

import os
import re
import shlex

from rabtui.config import Directory
from rabtui.config import keys as K
from rabtui.config.form_keys import SOURCE_FIELDS
from rabtui.errors import ConfigError
from rabtui.tui.safe_text import editable, unescaped


FORM_KEYS = SOURCE_FIELDS     # the keys the form edits, as the model describes them
JOINED = {"commas": ", ", "words": " "}    # how a list is written on one line


def _label(f: K.Field) -> str:
    return f.spec.label or f.name.replace("_", " ")


def _hint(f: K.Field) -> str:
    """What an empty field shows: what the key is for, with an example or its default."""
    k = f.spec
    if k.type == "boolean":
        return f"true or false: {k.help} (default {'true' if f.default else 'false'})"
    if k.example is not None:
        example = JOINED[k.form_list].join(k.example) if k.form_list else k.example
        return f"{k.help}, e.g. {example}"
    if f.default not in (None, (), K.MISSING):
        return f"{k.help} (default {f.default})"
    return k.help


FIELDS = tuple((f.name, _label(f), _hint(f)) for f in FORM_KEYS if f.spec.form_list != "lines")
AREAS = (
    ("directories", "directories: one per line: KIND PATH [max_changed_files=N] [max_days=N] [allow_empty] [exclude=PATTERN]"),
    *((f.name, f"{_label(f)}, one per line") for f in FORM_KEYS if f.spec.form_list == "lines"),
)


class FieldError(Exception):
    def __init__(self, field: str, message: str):
        super().__init__(message)
        self.field = field


def _items(value) -> list[str]:
    """A list of the file as the form shows its items; a value of another type (written by hand
    meanwhile: check-config refuses it on save) as one item."""
    return [str(v) for v in value] if isinstance(value, list) else [str(value)]


def escaped_fields(source: dict | None) -> set[str]:
    """The fields whose value in the file holds a character a terminal would act on (an ESC, a
    newline in a path, a bidi override: a file written by hand or by another tool). The form shows
    them escaped (safe_text.editable) and reads what is typed there back through `unescaped`."""
    def unsafe(values) -> bool:
        return any(isinstance(v, str) and not v.isprintable() for v in values)

    s = source or {}
    out = {key for key, v in s.items() if key != "directories" and unsafe(v if isinstance(v, list) else [v])}
    if any(unsafe([*d.values(), *_items(d.get("excludes", []))]) for d in s.get("directories", [])):
        out.add("directories")
    return out


def directories_text(dirs: list[dict], escaped: bool = False) -> str:
    """Directories as the file has them (dicts of its keys), one line each (`escaped`: each line as
    safe_text.editable shows it)."""
    lines = []
    for d in dirs:
        parts = [str(d.get("kind", "standard")), shlex.quote(d["path"])]
        for key in ("max_changed_files", "max_days"):
            if d.get(key) is not None:
                parts.append(f"{key}={d[key]}")
        if d.get("allow_empty"):
            parts.append("allow_empty")
        parts += [f"exclude={shlex.quote(e)}" for e in _items(d.get("excludes", []))]
        lines.append(editable(" ".join(parts)) if escaped else " ".join(parts))
    return "\n".join(lines)


def whole_number(word: str) -> int | None:
    """`word` as a whole number when it is written in ASCII digits ("²" and "٣" are digits to
    str.isdigit) that Python converts (4300 of them at most), else None."""
    if not (word.isascii() and word.isdigit()):
        return None
    try:
        return int(word)
    except ValueError:
        return None


def parse_directories(text: str, escaped: bool = False) -> tuple[Directory, ...]:
    dirs = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        if escaped:
            line = unescaped(line)
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
                opts[key] = whole_number(value)
                if opts[key] is None:
                    raise FieldError("directories", f"line {n}: {key} must be a number")
            elif word == "allow_empty":
                opts["allow_empty"] = True
            elif key == "exclude" and value:
                opts["excludes"].append(value)
            else:
                raise FieldError("directories", f"line {n}: unknown option {word!r}")
        dirs.append(Directory(path=path, kind=kind, excludes=tuple(opts["excludes"]),
                              max_changed_files=opts.get("max_changed_files"), max_days=opts.get("max_days"),
                              allow_empty=opts.get("allow_empty", False)))
    return tuple(dirs)


def _typed(f: K.Field, text: str, escaped: bool = False):
    """A field's text as the key's value in the file (None: the key is left out; `escaped`: the
    field shows its text as safe_text.editable does)."""
    k, word = f.spec, unescaped(text.strip()) if escaped else text.strip()
    if k.form_list:
        items = {"lines": text.splitlines(), "commas": text.split(","), "words": text.split()}[k.form_list]
        # blanks trimmed as shown, before unescaping: an item's own U+00A0, U+3000 at its ends stay
        items = [item.strip() if k.form_list != "lines" else item for item in items]
        return [unescaped(item) if escaped else item for item in items if item.strip()]
    if k.type == "boolean":
        if not word:
            return f.default
        if word.lower() in ("true", "yes", "on"):
            return True
        if word.lower() in ("false", "no", "off"):
            return False
        raise FieldError(f.name, "write true or false")
    if not word:
        return None
    if k.type == "integer":
        number = whole_number(word)
        if number is None:
            raise FieldError(f.name, "must be a number" + (f" of {k.unit}" if k.unit else ""))
        problem = K.range_problem(k, number)
        if problem:
            raise FieldError(f.name, problem)
        return number
    if k.type == "string or integer":
        number = whole_number(word)
        return word if number is None else number
    return word


def form_texts(source: dict | None) -> dict[str, str]:
    """What each field shows of a source as the file has it (`Snapshot.source_values`); all empty
    for a new one."""
    s = source or {}
    escaped = escaped_fields(source)
    texts = {}
    for f in FORM_KEYS:
        v = s.get(f.name)
        shown = editable if f.name in escaped else str
        if isinstance(v, bool):
            texts[f.name] = "true" if v else "false"
        elif f.spec.form_list and v is not None:
            joined = "\n" if f.spec.form_list == "lines" else JOINED[f.spec.form_list]
            texts[f.name] = joined.join(shown(item) for item in _items(v))
        else:
            texts[f.name] = "" if v is None else shown(str(v))
    texts["directories"] = directories_text(s.get("directories", []), "directories" in escaped)
    return texts


def source_from_form(values: dict[str, str], source: dict | None = None) -> dict:
    """The source's keys as they go into the file: what was typed, nothing resolved. A field left
    as it showed `source` (the file's values) keeps the file's value: a list the form cannot show
    item by item (a command of several lines, an exclude with a comma) is not split on a save that
    changed something else."""
    shown = form_texts(source) if source is not None else {}
    same = {key for key, text in shown.items() if values[key] == text}
    escaped = escaped_fields(source)
    out = {f.name: source.get(f.name) if f.name in same else _typed(f, values[f.name], f.name in escaped)
           for f in FORM_KEYS}
    out["id"] = out["id"] or ""
    if "directories" in same:
        out["directories"] = source.get("directories", [])
    else:
        out["directories"] = [
            {"path": d.path, "kind": d.kind, "excludes": list(d.excludes), "max_changed_files": d.max_changed_files,
             "max_days": d.max_days, "allow_empty": d.allow_empty or None}
            for d in parse_directories(values["directories"], "directories" in escaped)]
    return out


def missing_local_directories(source: dict) -> list[str]:
    """Directories of a local source that are not there (a warning: they may be mounted later)."""
    if source["host"]:
        return []
    return [d["path"] for d in source["directories"] if not os.path.isdir(d["path"])]


def field_of(error: ConfigError, index: int) -> str | None:
    """Which form field a config error names (`...: sources[2].port: must be ...` -> port), when it
    is one of the form's source, the file's sources[index] (another's key is no field of the form)."""
    m = re.search(r"sources\[(\d+)\](?:\.(?:directories(?:\[\d+\])?\.)?(\w+)|: missing required key '(\w+)')",
                  str(error))
    if m is None or int(m.group(1)) != index:
        return None
    key = m.group(2) or m.group(3)
    if "directories" in m.group(0) or key in ("path", "kind", "max_changed_files", "max_days"):
        return "directories"
    return key
