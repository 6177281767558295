"""How a config key is described: `key(...)` puts a `Key` into a dataclass field's metadata, and
`tables(...)` nests a table or an array of tables. The model (model.py) is written with them once;
the parser, the starter file, the writer, the JSON Schema and the README's table read them back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterator

# TOML value types a key may hold: name -> (Python types accepted from tomllib, how an error names it)
TYPES: dict[str, tuple[tuple[type, ...], str]] = {
    "string": ((str,), "a string"),
    "path": ((str,), "a string"),              # `~` expanded, relative to the config file
    "integer": ((int,), "an integer"),
    "boolean": ((bool,), "true or false"),
    "date": ((dt.date,), "a date (YYYY-MM-DD)"),
    "strings": ((list,), "a list"),
    "string or integer": ((str, int), "a string or an integer"),
}

MISSING = dataclasses.MISSING


@dataclass(frozen=True)
class Key:
    """One key of a table: what it holds, what it may be, what it is for."""

    help: str                                   # one line, for the starter file, the README and editors
    type: str = "string"                        # a name of TYPES
    required: bool = False
    minimum: int | None = None
    maximum: int | None = None
    unit: str = ""                              # what a number counts ("seconds"), named in range errors
    choices: dict[str, str] | None = None       # allowed values -> what each means
    check: Callable[[Any], str | None] | None = None   # the value's problem, in words, or None
    convert: Callable[[Any, Path], Any] | None = None  # TOML value, config folder -> the model's value
    example: Any = None                         # shown where there is no default worth showing
    default_doc: str = ""                       # the default, in words, when the model computes it
    starter: bool = False                       # written uncommented in the starter file
    form: bool = False                          # a key the UI's source form edits (config/form_keys.py)
    label: str = ""                             # its name in the form, when not the key's own words
    form_list: str = ""                         # a list in the form: "lines" (a text area), "commas" or "words"
    secret: bool = False                        # holds credentials: an error names its value's type, never the value


@dataclass(frozen=True)
class Tables:
    """A field that holds a table ([name]) or an array of tables ([[name]]) of another dataclass."""

    cls: type
    array: bool
    help: str = ""
    starter_items: tuple[dict[str, Any], ...] = ()   # array items of the starter file (key -> value)


def key(default: Any = MISSING, *, default_factory: Any = MISSING, **description: Any) -> Any:
    return dataclasses.field(default=default, default_factory=default_factory,
                             metadata={"rabtui": Key(**description)})


def tables(cls: type, *, array: bool, help: str = "", starter_items: tuple = ()) -> Any:
    factory = tuple if array else cls
    return dataclasses.field(default_factory=factory,
                             metadata={"rabtui": Tables(cls, array, help, tuple(starter_items))})


@dataclass(frozen=True)
class Field:
    """A described field of a model class, with its default as the model has it."""

    name: str
    spec: Key | Tables
    default: Any                                # MISSING when the model requires it or computes it

    @property
    def is_key(self) -> bool:
        return isinstance(self.spec, Key)


def fields(cls: type) -> Iterator[Field]:
    """The described fields of a model class, in its order (undescribed fields are not keys)."""
    for f in dataclasses.fields(cls):
        spec = f.metadata.get("rabtui")
        if spec is None:
            continue
        yield Field(f.name, spec, f.default)


def keys(cls: type) -> list[Field]:
    return [f for f in fields(cls) if f.is_key]


def subtables(cls: type) -> list[Field]:
    return [f for f in fields(cls) if not f.is_key]


def range_problem(k: Key, value: int) -> str | None:
    """The range error of a number, worded as the config's errors always were."""
    low, high = k.minimum, k.maximum
    if (low is None or value >= low) and (high is None or value <= high):
        return None
    if low is not None and high is not None:
        return f"must be between {low} and {high}"
    if low == 0:
        return "must not be negative"
    if low is not None:
        return f"must be at least {low}" + (f" ({k.unit})" if k.unit else "")
    return f"must be at most {high}"
