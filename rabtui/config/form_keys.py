"""The keys of a [[sources]] and a [[sources.directories]] table that the UI's source form edits (any
other key is left as it is), and those with a default, which the file may leave out."""

from __future__ import annotations

from typing import Any

from rabtui.config import keys as K
from rabtui.config.model import Directory, Source

SOURCE_FIELDS = tuple(f for f in K.keys(Source) if f.spec.form)
SOURCE_KEYS = tuple(f.name for f in SOURCE_FIELDS)
DIRECTORY_KEYS = tuple(f.name for f in K.keys(Directory) if f.spec.form)


def _defaults(cls: type) -> dict[str, Any]:
    return {f.name: f.default for f in K.keys(cls) if f.spec.form and f.default not in (None, (), K.MISSING)}


SOURCE_DEFAULTS = _defaults(Source)
DIRECTORY_DEFAULTS = _defaults(Directory)
