"""The configuration's description for people and editors, made from the model: a JSON Schema
(draft 2020-12, `rabtui config schema`; TOML dates are strings of format "date" there, as editors
with TOML schema support read them) and the README's table of keys.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from rabtui.config import keys as K
from rabtui.config.model import ID_RE, Config
from rabtui.config.write import shown_value, toml_value

_TYPE_WORDS = {"strings": "list of strings", "path": "path (relative to the config file)"}
DRAFT = "https://json-schema.org/draft/2020-12/schema"
_JSON_TYPES = {"string": "string", "path": "string", "integer": "integer", "boolean": "boolean", "date": "string",
               "string or integer": ["string", "integer"]}


def _json(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json(v) for v in value]
    return value.isoformat() if isinstance(value, dt.date) else value


def _key_schema(f: K.Field) -> dict[str, Any]:
    k = f.spec
    out: dict[str, Any] = {"description": k.help}
    if k.type == "strings":
        out.update(type="array", items={"type": "string"})
    else:
        out["type"] = _JSON_TYPES[k.type]
    if k.type == "date":
        out["format"] = "date"
    if k.minimum is not None:
        out["minimum"] = k.minimum
    if k.maximum is not None:
        out["maximum"] = k.maximum
    if k.choices:
        out["enum"] = list(k.choices)
    if f.name == "id":
        out["pattern"] = ID_RE.pattern
    if f.default is not K.MISSING and f.default is not None:
        out["default"] = _json(f.default)
    if k.example is not None:
        out["examples"] = [_json(k.example)]
    return out


def _table_schema(cls: type, description: str = "") -> dict[str, Any]:
    properties = {f.name: _key_schema(f) for f in K.keys(cls)}
    for sub in K.subtables(cls):
        properties[sub.name] = _sub_schema(sub.spec)
    out: dict[str, Any] = {"type": "object"}
    if description:
        out["description"] = description
    out["properties"] = properties
    out["additionalProperties"] = False
    required = [f.name for f in K.keys(cls) if f.spec.required]
    if required:
        out["required"] = required
    return out


def _sub_schema(spec: K.Tables) -> dict[str, Any]:
    table = _table_schema(spec.cls, "" if spec.array else spec.help)
    if not spec.array:
        return table
    out: dict[str, Any] = {"type": "array", "items": table}
    if spec.help:
        out["description"] = spec.help
    return out


def json_schema() -> dict[str, Any]:
    """The JSON Schema of a rabtui.toml (as tomllib reads it, dates as ISO strings)."""
    top = _table_schema(Config)
    return {"$schema": DRAFT, "title": "rabtui configuration", **top}


# --- the README's table of keys --------------------------------------------------------------------


def _default_words(f: K.Field) -> str:
    if f.spec.default_doc:
        return f.spec.default_doc
    if f.spec.required:
        return "required"
    if f.default is K.MISSING or f.default is None:
        return "unset"
    return f"`{toml_value(f.default)}`"


def _meaning(f: K.Field) -> str:
    k = f.spec
    words = k.help
    if k.choices:
        words += ": " + "; ".join(f"`{c}` {what}" for c, what in k.choices.items())
    low, high = k.minimum, k.maximum
    if low is not None and high is not None:
        words += f" ({low} to {high})"
    elif low is not None and low > 0:
        words += f" (at least {low})"
    if k.example is not None and shown_value(f) is not None and f.default in (None, (), K.MISSING):
        words += f", e.g. `{toml_value(k.example)}`"
    return words.replace("|", "\\|")


def _rows(cls: type, prefix: str) -> list[str]:
    rows = []
    for f in K.keys(cls):
        rows.append(f"| `{prefix}{f.name}` | {_TYPE_WORDS.get(f.spec.type, f.spec.type)} | {_default_words(f)} | {_meaning(f)} |")
    for sub in K.subtables(cls):
        rows += _rows(sub.spec.cls, f"{prefix}{sub.name}{'[]' if sub.spec.array else ''}.")
    return rows


def readme_table() -> str:
    """The Markdown table of every key, as the README holds it."""
    lines = ["| key | type | default | what it is |", "|---|---|---|---|"]
    for sub in K.subtables(Config):
        lines += _rows(sub.spec.cls, f"{sub.name}{'[]' if sub.spec.array else ''}.")
    return "\n".join(lines) + "\n"
