"""Reading the configuration: TOML in, the model's frozen dataclasses out, every key checked as the
model describes it (type, range, choices, its own check). Every error names the file, the line and
the key (`rabtui.toml:14: sources[1].port: ...`). Relative paths are relative to the config file.
"""

from __future__ import annotations

import datetime as dt
import difflib
import os
import re
import stat
import sys
import tomllib
from pathlib import Path
from typing import Any

from rabtui.config import keys as K
from rabtui.config import safety as config_safety
from rabtui.config.lines import KEY, KeyLines
from rabtui.config.model import Config, Directory, Medium, Source, command_for, default_path, name_too_long, resolve
from rabtui.errors import ConfigError


class _Reader:
    def __init__(self, path: Path, text: str, base: Path):
        self.path = path
        self.lines = KeyLines(text)
        self.base = base

    def error(self, keypath: tuple, message: str) -> ConfigError:
        line = self.lines.line_of(keypath)
        where = f"{self.path}:{line}" if line else f"{self.path}"
        return ConfigError(f"{where}: {dotted(keypath)}: {message}")

    def table(self, cls: type, data: Any, keypath: tuple) -> dict[str, Any]:
        """The keyword arguments of `cls` for one TOML table (its sub-tables left to the caller)."""
        if not isinstance(data, dict):
            raise self.error(keypath, "must be a table")
        described = {f.name: f for f in K.fields(cls)}
        for name, value in data.items():
            f = described.get(name)
            if f is None:
                raise self.error(keypath + (name,),
                                 f"unknown key{_meant(name, described)} (allowed here: {', '.join(described)})")
            if f.is_key:
                self.check_type(f.spec, value, keypath + (name,))
            elif not isinstance(value, list):
                raise self.error(keypath + (name,), f"must be {K.TYPES['strings'][1]}, not {value!r}")
        for f in described.values():
            if f.is_key and f.spec.required and f.name not in data:
                raise self.error(keypath, f"missing required key {f.name!r}")
        out: dict[str, Any] = {}
        for f in K.keys(cls):
            if f.name in data:
                out[f.name] = self.value(f.spec, data[f.name], keypath + (f.name,))
        return out

    def check_type(self, k: K.Key, value: Any, keypath: tuple) -> None:
        types, _ = K.TYPES[k.type]
        if k.type == "boolean":
            wrong = not isinstance(value, bool)
        else:
            wrong = isinstance(value, (bool, dt.datetime)) or not isinstance(value, types)
        if wrong:   # a secret is not copied into the error (a terminal, cron's mail, the journal)
            shown = f"a {_toml_type(value)}" if k.secret else repr(value)
            raise self.error(keypath, f"must be {K.TYPES[k.type][1]}, not {shown}")
        if k.type == "strings":
            for i, item in enumerate(value):
                if not isinstance(item, str):
                    raise self.error(keypath, f"item {i + 1} must be a string, not {item!r}")

    def value(self, k: K.Key, value: Any, keypath: tuple) -> Any:
        problem = None
        if any("\0" in item for item in (value if isinstance(value, list) else [value]) if isinstance(item, str)):
            problem = "must not contain a NUL character (no path, name or command can hold one)"
        elif k.type == "integer":
            problem = K.range_problem(k, value)
        if problem is None and k.choices is not None and value not in k.choices:
            problem = f"must be one of {', '.join(k.choices)}, not {value!r}"
        if problem is None and k.check is not None:
            problem = k.check(value)
        if problem:
            raise self.error(keypath, problem)
        if k.convert is not None:
            value = k.convert(value, self.base)
        elif k.type == "path":
            value = resolve(self.base, value)
        elif k.type == "strings":
            value = tuple(value)
        if k.type == "path" and value is not None:
            problem = name_too_long(value)
            if problem:
                raise self.error(keypath, problem)
        return value


_TOML_TYPES = ((bool, "boolean"), (str, "string"), (int, "integer"), (float, "float"), (dict, "table"),
               (list, "array"), (dt.datetime, "date-time"), (dt.date, "date"), (dt.time, "time"))


def _toml_type(value: Any) -> str:
    """The TOML type of a value read: what an error says of a secret's value in its stead."""
    return next((name for t, name in _TOML_TYPES if isinstance(value, t)), "value")


def _meant(name: str, known) -> str:
    """The known key `name` is likely a typo of, said as ": did you mean 'excludes'?", or ""."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.75)
    return f": did you mean {close[0]!r}?" if close else ""


def error_at(path: Path, keypath: tuple, message: str, text: str | None = None) -> ConfigError:
    """An error about a key of a loaded config file, found after loading (file:line: key: message);
    `text`: the file's, when not the one on disk (an edit not saved)."""
    text = (Path(path).read_text(encoding="utf-8") if text is None else text).removeprefix(BOM)
    return _Reader(path, text, Path(path).parent).error(keypath, message)


def dotted(keypath: tuple) -> str:
    out = ""
    for part in keypath:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top)"


def load(path: str | os.PathLike | None = None, *, check_media: bool = True) -> Config:
    """Read and validate the config file; ConfigError (exit 2) names file, line and key."""
    path = Path(path) if path is not None else default_path()
    text, data = read_toml(path)
    return parse(data, path=path, text=text.removeprefix(BOM), check_media=check_media)


BOM = "\ufeff"    # some editors begin a UTF-8 file with it; TOML is read after it
LARGEST = 16 << 20     # bytes: no configuration is near it


def _read_file(path: Path) -> bytes:
    """The config file's bytes, when it is a regular file (through symlinks) of a config's size: a
    FIFO named by mistake would be waited on for ever, /dev/zero read until memory ends."""
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"{path}: not a regular file: a configuration is a TOML file")
        if st.st_size > LARGEST:
            raise ConfigError(f"{path}: {st.st_size} bytes: too large for a configuration")
        with os.fdopen(os.dup(fd), "rb") as f:
            return f.read(LARGEST + 1)
    finally:
        os.close(fd)


def read_toml(path: Path) -> tuple[str, dict]:
    """The file's text as it is (its line ends and a byte order mark too) and its TOML data;
    ConfigError says why not."""
    try:
        raw = _read_file(path)
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no configuration file", hint=f"write a starter one with: {command_for(path)} init"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        return text, tomllib.loads(text.removeprefix(BOM))
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(f"{path}:{line}: not UTF-8 text (byte {raw[exc.start]:#04x})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_message(path, exc, text.removeprefix(BOM))) from None
    except RecursionError:   # tomllib parses nested arrays and inline tables by recursion
        raise ConfigError(f"{path}: invalid TOML: values nested too deeply") from None
    except ValueError:       # int() of a number longer than Python converts (sys.get_int_max_str_digits)
        raise ConfigError(_too_long_number(path, text)) from None


def _too_long_number(path: Path, text: str) -> str:
    """The line of the first number too long for Python to read, as its error names it."""
    limit = sys.get_int_max_str_digits()
    m = re.search(r"[0-9_]{%d,}" % (limit + 1), text)
    where = f"{path}:{text.count(chr(10), 0, m.start()) + 1}" if m else f"{path}"
    return f"{where}: invalid TOML: a number of more than {limit} digits"


def _toml_message(path: Path, exc: tomllib.TOMLDecodeError, text: str) -> str:
    """tomllib's "Invalid value (at line 6, column 13)" as "FILE:6: column 13: invalid TOML: Invalid value";
    a key written twice ("Cannot overwrite a value") with the key's name, which tomllib leaves out."""
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m:
        what = msg[: m.start()].strip()
        key = KEY.match(text.split("\n")[int(m.group(1)) - 1]) if what == "Cannot overwrite a value" else None
        if key:
            what += f" at key {key.group(1)}"
        return f"{path}:{m.group(1)}: column {m.group(2)}: invalid TOML: {what}"
    m = re.search(r"\(at end of document\)", msg)
    if m:
        return f"{path}: at the end: invalid TOML: {msg[: m.start()].strip()}"
    return f"{path}: invalid TOML: {msg}"


def parse(data: dict, *, path: Path, text: str = "", check_media: bool = True) -> Config:
    path = Path(path)
    base = path.parent.resolve() if path.parent else Path.cwd()
    r = _Reader(path, text, base)
    top = {f.name: f.spec for f in K.subtables(Config)}
    for name, value in data.items():
        spec = top.get(name)
        if spec is None:
            raise r.error((name,), f"unknown table or key{_meant(name, top)} (allowed at the top: {', '.join(top)})")
        if not isinstance(value, list if spec.array else dict):
            raise r.error((name,), f"must be written as {'[[' + name + ']]' if spec.array else '[' + name + ']'}")
    settings = {name: spec.cls(**r.table(spec.cls, data.get(name, {}), (name,)))
                for name, spec in top.items() if not spec.array}
    media = _media(r, data.get("media", []), check_media)
    sources: list[Source] = []
    source_ids: dict[str, str] = {}
    for i, item in enumerate(data.get("sources", [])):
        sources.append(_source(r, item, ("sources", i)))
        # each source's backups are in <medium>/<id>/: on a medium that ignores case (exFAT, vfat)
        # two ids apart by case alone would share one directory, and its archive union
        _check_unique(r, source_ids, sources[-1].id, ("sources", i), "source", fold=True)
    state_dir = settings["rabtui"].state_dir
    problem = config_safety.overlap_problem(media, sources, state_dir, settings["checkpoint"].drive)
    if problem:
        raise r.error(*problem)
    problem = _not_a_directory(state_dir)
    if problem:
        raise r.error(("rabtui", "state_dir"), problem)
    return Config(path=path, media=tuple(media), sources=tuple(sources), **settings)


def _not_a_directory(path: Path) -> str | None:
    """Why `path` cannot be (or become) a directory: it, or the first of its parents that exists,
    is something else (a file, a dangling symlink). None when it can, or when that cannot be told."""
    try:
        for p in (path, *path.parents):
            if p.is_dir():
                return None
            if os.path.lexists(p):
                return (f"{p} exists and is not a directory" if p == path
                        else f"{p}, on the way to {path}, is not a directory")
    except OSError:
        pass
    return None


def _media(r: _Reader, items: list, check_media: bool) -> list[Medium]:
    media: list[Medium] = []
    ids: dict[str, str] = {}
    for i, item in enumerate(items):
        kp = ("media", i)
        medium = Medium(**r.table(Medium, item, kp))
        _check_unique(r, ids, medium.id, kp, "medium")
        for other in media:
            if os.path.normpath(other.path) == os.path.normpath(medium.path):
                raise r.error(kp + ("path",), f"{medium.path} is already the path of medium {other.id!r}")
        if check_media and not medium.path.is_dir():
            raise r.error(kp + ("path",), f"{medium.path} does not exist or is not a directory")
        media.append(medium)
    return media


def _source(r: _Reader, item: Any, kp: tuple) -> Source:
    values = r.table(Source, item, kp)
    dirs: list[Directory] = []
    for j, d in enumerate(item.get("directories", [])):
        directory = Directory(**r.table(Directory, d, kp + ("directories", j)))
        if any(other.path == directory.path for other in dirs):
            raise r.error(kp + ("directories", j, "path"), f"duplicate directory {directory.path!r} in this source")
        dirs.append(directory)
    for a in dirs:
        for jb, b in enumerate(dirs):
            if a is not b and (b.path + "/").startswith(a.path.rstrip("/") + "/"):
                raise r.error(kp + ("directories", jb, "path"), f"{b.path} lies inside {a.path}: list only one of them")
    return Source(directories=tuple(dirs), **values)


def _check_unique(r: _Reader, ids: dict[str, str], item_id: str, kp: tuple, what: str, fold: bool = False) -> None:
    """`item_id` is not one of `ids`, the ids before it (by the key `fold` makes of each: a file of
    thousands of sources is checked in one pass), and is added to them. `fold`: ids apart by case
    alone count as one."""
    key = item_id.lower() if fold else item_id
    if key in ids and ids[key] != item_id:
        raise r.error(kp + ("id",), f"{what} id {item_id!r} is {ids[key]!r} but for case: on a medium whose file"
                                    " system ignores case (exFAT, vfat) their backups would share one directory")
    if key in ids:
        raise r.error(kp + ("id",), f"duplicate {what} id {item_id!r}")
    ids[key] = item_id
