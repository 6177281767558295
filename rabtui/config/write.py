"""The commented starter file of `rabtui init`, made from the model (a new file; edits of an existing
one go through `rabtui.config.edit`, which keeps everything the operator wrote).

Every key is in it: the model's `starter` keys and the starter items' values as settings, the others
as comments showing their default or an example, each with its line of help.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import tomli_w

from rabtui.config import keys as K
from rabtui.config.model import Config, default_state_dir

HEADER = """\
# rabtui configuration. Check it with: rabtui check-config
# Relative paths are relative to this file. A commented key shows its default or an example.
"""
COMMENT_COLUMN = 36


def toml_value(value: Any) -> str:
    """One value as TOML writes it (a list on one line)."""
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, Path):
        value = str(value)
    return tomli_w.dumps({"v": value})[len("v = "):].strip()


def shown_value(f: K.Field) -> Any:
    """What a commented-out key shows: an example where the model gives one, else its default."""
    if f.spec.example is not None:
        return f.spec.example
    return None if f.default is K.MISSING else f.default


def _line(name: str, value: Any, help: str, active: bool) -> str:
    text = f"{'' if active else '# '}{name} = {toml_value(value)}"
    if len(text) >= COMMENT_COLUMN - 1:       # too long to share its line: the help goes above
        return f"# {help}\n{text}"
    return f"{text.ljust(COMMENT_COLUMN - 1)} # {help}"


def _keys(cls: type, values: dict[str, Any], every_key: bool) -> list[str]:
    """The lines of one table: `values` set; with `every_key`, the other keys commented out."""
    out = []
    for f in K.keys(cls):
        if f.name in values:
            value = values[f.name]
            help = f.spec.choices.get(value, f.spec.help) if f.spec.choices else f.spec.help
            out.append(_line(f.name, value, help, True))
        elif every_key and shown_value(f) is not None:
            out.append(_line(f.name, shown_value(f), f.spec.help, False))
    return out


def _table(name: str, spec: K.Tables, overrides: dict[str, Any]) -> list[str]:
    values = {f.name: overrides.get(f.name, f.default if f.default is not K.MISSING else f.spec.example)
              for f in K.keys(spec.cls) if f.spec.starter}
    lines = _keys(spec.cls, values, every_key=True)
    header = f"[{name}]" if values else f"# [{name}]"
    return [header, *lines]


def _items(name: str, spec: K.Tables) -> list[str]:
    """The starter items of an array of tables, the first with every key and the sub-arrays."""
    out: list[str] = []
    for i, item in enumerate(spec.starter_items):
        out += ["", *(_help(spec) if i == 0 else []), f"[[{name}]]", *_keys(spec.cls, item, every_key=i == 0)]
        if i == 0:
            for sub in K.subtables(spec.cls):
                out += _items(f"{name}.{sub.name}", sub.spec)
    return out


def _help(spec: K.Tables) -> list[str]:
    return [f"# {spec.help}"] if spec.help else []


def starter_text(state_dir: Path | None = None) -> str:
    overrides = {"rabtui": {"state_dir": str(state_dir or default_state_dir())}}
    lines = [HEADER.rstrip("\n")]
    for f in K.subtables(Config):
        if f.spec.array:
            lines += _items(f.name, f.spec)
        else:
            lines += ["", *_help(f.spec), *_table(f.name, f.spec, overrides.get(f.name, {}))]
    return "\n".join(lines) + "\n"
