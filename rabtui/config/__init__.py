"""The configuration: TOML in, frozen dataclasses out, and back to TOML with tomli-w.

Every error names the file, the line and the key (`rabtui.toml:14: sources[1].port: ...`).
Relative paths are relative to the config file.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


from rabtui.config import safety as config_safety
from rabtui.config import transfer_options
from rabtui.config.lines import KeyLines
from rabtui.config.disc_types import parse_disc
from rabtui.errors import ConfigError

DIRECTORY_KINDS = ("standard", "archive")
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


@dataclass(frozen=True)
class Settings:
    state_dir: Path
    command_timeout: int = 3600        # seconds for each pre/post command
    max_parallel: int = 4              # sources backed up at once by `backup --all` and `run-due`


@dataclass(frozen=True)
class CheckpointSettings:
    disc: str = "cd-700"
    drive: str = "/dev/sr0"
    max_discs: int = 64
    max_changed_files: int = 10000
    max_days: int = 90


@dataclass(frozen=True)
class RetentionSettings:
    keep_all_days: int = 7
    keep_daily_days: int = 31
    keep_weekly_weeks: int = 8
    keep_monthly_months: int = 4
    keep_yearly_years: int = 2
    max_size_mb: int = 5000


@dataclass(frozen=True)
class NotifySettings:
    command: str | None = None
    apprise_urls: tuple[str, ...] = ()


@dataclass(frozen=True)
class Medium:
    id: str
    path: Path
    device: str | None = None


@dataclass(frozen=True)
class Directory:
    path: str                          # absolute path on the source, no trailing slash
    kind: str = "standard"             # "standard" | "archive"
    excludes: tuple[str, ...] = ()
    max_changed_files: int | None = None
    max_days: int | None = None
    allow_empty: bool = False          # a missing or emptied directory is accepted, not a failure


@dataclass(frozen=True)
class Source:
    id: str
    directories: tuple[Directory, ...] = ()
    host: str | None = None            # None: the local machine
    user: str | None = None
    port: int | None = None            # None: ssh's default (22, or ~/.ssh/config)
    identity_file: Path | None = None
    excludes: tuple[str, ...] = ()
    pre_backup_commands: tuple[str, ...] = ()
    post_backup_commands: tuple[str, ...] = ()
    schedule: str | None = None
    pause_notifications_until: dt.date | None = None
    acls: bool = True                  # rsync -A
    xattrs: bool = True                # rsync -X
    bwlimit: str | None = None         # rsync --bwlimit, as rsync reads it ("5M"; a bare number is KiB/s)
    rsync_path: str | None = None      # the source's rsync command ("sudo rsync")
    one_file_system: bool = False      # rsync -x
    io_timeout: int = transfer_options.IO_TIMEOUT   # rsync --timeout, seconds
    rsync_options: tuple[str, ...] = ()   # extra flags from transfer_options.ALLOWED

    @property
    def is_local(self) -> bool:
        return self.host is None

    @property
    def has_commands(self) -> bool:
        return bool(self.pre_backup_commands or self.post_backup_commands)

    def directory(self, path: str) -> Directory:
        for d in self.directories:
            if d.path == path:
                return d
        raise KeyError(path)


@dataclass(frozen=True)
class Config:
    path: Path | None
    rabtui: Settings
    checkpoint: CheckpointSettings = field(default_factory=CheckpointSettings)
    retention: RetentionSettings = field(default_factory=RetentionSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    media: tuple[Medium, ...] = ()
    sources: tuple[Source, ...] = ()

    @property
    def state_dir(self) -> Path:
        return self.rabtui.state_dir

    def source(self, source_id: str) -> Source:
        for s in self.sources:
            if s.id == source_id:
                return s
        raise ConfigError(f"no source with id {source_id!r} in {self.path}")

    def medium(self, medium_id: str) -> Medium:
        for m in self.media:
            if m.id == medium_id:
                return m
        raise ConfigError(f"no medium with id {medium_id!r} in {self.path}")

    def max_changed_files(self, directory: Directory) -> int:
        if directory.max_changed_files is not None:
            return directory.max_changed_files
        return self.checkpoint.max_changed_files

    def max_days(self, directory: Directory) -> int:
        if directory.max_days is not None:
            return directory.max_days
        return self.checkpoint.max_days


def default_path() -> Path:
    env = os.environ.get("RABTUI_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("rabtui")) / "rabtui.toml"


def default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("rabtui"))


# --- reading -------------------------------------------------------------------------------------

# Each table: key -> (types accepted, required). bool is excluded from int explicitly below.
_STR, _INT, _LIST, _DATE, _BOOL = (str,), (int,), (list,), (dt.date,), (bool,)
_TABLES: dict[str, dict[str, tuple[tuple[type, ...], bool]]] = {
    "rabtui": {"state_dir": (_STR, False), "command_timeout": (_INT, False), "max_parallel": (_INT, False)},
    "checkpoint": {
        "disc": (_STR, False),
        "drive": (_STR, False),
        "max_discs": (_INT, False),
        "max_changed_files": (_INT, False),
        "max_days": (_INT, False),
    },
    "retention": {
        "keep_all_days": (_INT, False),
        "keep_daily_days": (_INT, False),
        "keep_weekly_weeks": (_INT, False),
        "keep_monthly_months": (_INT, False),
        "keep_yearly_years": (_INT, False),
        "max_size_mb": (_INT, False),
    },
    "notify": {"command": (_STR, False), "apprise_urls": (_LIST, False)},
    "media": {"id": (_STR, True), "path": (_STR, True), "device": (_STR, False)},
    "sources": {
        "id": (_STR, True),
        "host": (_STR, False),
        "user": (_STR, False),
        "port": (_INT, False),
        "identity_file": (_STR, False),
        "excludes": (_LIST, False),
        "pre_backup_commands": (_LIST, False),
        "post_backup_commands": (_LIST, False),
        "schedule": (_STR, False),
        "pause_notifications_until": (_DATE, False),
        "acls": (_BOOL, False),
        "xattrs": (_BOOL, False),
        "bwlimit": ((str, int), False),
        "rsync_path": (_STR, False),
        "one_file_system": (_BOOL, False),
        "io_timeout": (_INT, False),
        "rsync_options": (_LIST, False),
        "directories": (_LIST, False),
    },
    "directories": {
        "path": (_STR, True),
        "kind": (_STR, False),
        "excludes": (_LIST, False),
        "max_changed_files": (_INT, False),
        "max_days": (_INT, False),
        "allow_empty": (_BOOL, False),
    },
}
_TOP = {"rabtui": dict, "checkpoint": dict, "retention": dict, "notify": dict, "media": list, "sources": list}
_TYPE_NAMES = {bool: "true or false", str: "a string", int: "an integer", list: "a list", dt.date: "a date (YYYY-MM-DD)", dict: "a table"}


class _Reader:
    def __init__(self, path: Path, text: str):
        self.path = path
        self.lines = KeyLines(text)

    def error(self, keypath: tuple, message: str) -> ConfigError:
        line = self.lines.line_of(keypath)
        where = f"{self.path}:{line}" if line else f"{self.path}"
        return ConfigError(f"{where}: {_dotted(keypath)}: {message}")

    def table(self, name: str, data: Any, keypath: tuple) -> dict:
        if not isinstance(data, dict):
            raise self.error(keypath, "must be a table")
        spec = _TABLES[name]
        for key, value in data.items():
            if key not in spec:
                allowed = ", ".join(spec)
                raise self.error(keypath + (key,), f"unknown key (allowed here: {allowed})")
            types, _ = spec[key]
            wrong = not isinstance(value, bool) if types == _BOOL else (
                isinstance(value, (bool, dt.datetime)) or not isinstance(value, types))
            if wrong:
                raise self.error(keypath + (key,), f"must be {' or '.join(_TYPE_NAMES[t] for t in types)}, not {value!r}")
            if types == _LIST and key != "directories":
                for i, item in enumerate(value):
                    if not isinstance(item, str):
                        raise self.error(keypath + (key,), f"item {i + 1} must be a string, not {item!r}")
        for key, (_, required) in spec.items():
            if required and key not in data:
                raise self.error(keypath, f"missing required key {key!r}")
        return data

    def non_negative(self, data: dict, keypath: tuple, *keys: str) -> None:
        for key in keys:
            if key in data and data[key] < 0:
                raise self.error(keypath + (key,), "must not be negative")


def error_at(path: Path, keypath: tuple, message: str) -> ConfigError:
    """An error about a key of a loaded config file, found after loading (file:line: key: message)."""
    return _Reader(path, Path(path).read_text(encoding="utf-8")).error(keypath, message)


def _dotted(keypath: tuple) -> str:
    out = ""
    for part in keypath:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + part
    return out or "(top)"


def _resolve(base: Path, value: str) -> Path:
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p)


def load(path: str | os.PathLike | None = None, *, check_media: bool = True) -> Config:
    """Read and validate the config file; ConfigError (exit 2) names file, line and key."""
    path = Path(path) if path is not None else default_path()
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(
            f"{path}: no configuration file", hint="write a starter one with: rabtui init"
        ) from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    try:
        text = raw.decode("utf-8")
        data = tomllib.loads(text)
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(_toml_message(path, exc)) from None
    return parse(data, path=path, text=text, check_media=check_media)


def _toml_message(path: Path, exc: tomllib.TOMLDecodeError) -> str:
    """tomllib's "Invalid value (at line 6, column 13)" as "FILE:6: column 13: invalid TOML: Invalid value"."""
    msg = str(exc)
    m = re.search(r"\(at line (\d+), column (\d+)\)", msg)
    if m:
        return f"{path}:{m.group(1)}: column {m.group(2)}: invalid TOML: {msg[: m.start()].strip()}"
    m = re.search(r"\(at end of document\)", msg)
    if m:
        return f"{path}: at the end: invalid TOML: {msg[: m.start()].strip()}"
    return f"{path}: invalid TOML: {msg}"


def parse(data: dict, *, path: Path, text: str = "", check_media: bool = True) -> Config:
    path = Path(path)
    r = _Reader(path, text)
    base = path.parent.resolve() if path.parent else Path.cwd()
    for key, value in data.items():
        if key not in _TOP:
            raise r.error((key,), f"unknown table or key (allowed at the top: {', '.join(_TOP)})")
        if not isinstance(value, _TOP[key]):
            kind = "[[" + key + "]]" if _TOP[key] is list else "[" + key + "]"
            raise r.error((key,), f"must be written as {kind}")

    rab = r.table("rabtui", data.get("rabtui", {}), ("rabtui",))
    state_dir = _resolve(base, rab["state_dir"]) if "state_dir" in rab else default_state_dir()
    if rab.get("command_timeout", 1) < 1:
        raise r.error(("rabtui", "command_timeout"), "must be at least 1 (seconds)")
    if rab.get("max_parallel", 1) < 1:
        raise r.error(("rabtui", "max_parallel"), "must be at least 1 (sources at once)")

    cp = r.table("checkpoint", data.get("checkpoint", {}), ("checkpoint",))
    r.non_negative(cp, ("checkpoint",), "max_changed_files", "max_days")
    if "disc" in cp:
        try:
            parse_disc(cp["disc"])
        except ValueError as exc:
            raise r.error(("checkpoint", "disc"), str(exc)) from None
    if "max_discs" in cp and not 1 <= cp["max_discs"] <= 64:
        raise r.error(("checkpoint", "max_discs"), "must be between 1 and 64")
    checkpoint = CheckpointSettings(**{k: v for k, v in cp.items()})
    if checkpoint.drive.startswith("images:"):
        checkpoint = dataclasses.replace(
            checkpoint, drive="images:" + str(_resolve(base, checkpoint.drive[len("images:"):]))
        )

    ret = r.table("retention", data.get("retention", {}), ("retention",))
    r.non_negative(ret, ("retention",), *ret.keys())
    retention = RetentionSettings(**ret)

    nt = r.table("notify", data.get("notify", {}), ("notify",))
    notify = NotifySettings(command=nt.get("command"), apprise_urls=tuple(nt.get("apprise_urls", ())))

    media: list[Medium] = []
    seen: set[str] = set()
    for i, m in enumerate(data.get("media", [])):
        kp = ("media", i)
        m = r.table("media", m, kp)
        _check_id(r, kp, m["id"], seen, "medium")
        mpath = _resolve(base, m["path"])
        for other in media:
            if os.path.normpath(other.path) == os.path.normpath(mpath):
                raise r.error(kp + ("path",), f"{mpath} is already the path of medium {other.id!r}")
        if check_media and not mpath.is_dir():
            raise r.error(kp + ("path",), f"{mpath} does not exist or is not a directory")
        media.append(Medium(id=m["id"], path=mpath, device=m.get("device")))

    sources: list[Source] = []
    seen = set()
    for i, s in enumerate(data.get("sources", [])):
        kp = ("sources", i)
        s = r.table("sources", s, kp)
        _check_id(r, kp, s["id"], seen, "source")
        if "port" in s and not 1 <= s["port"] <= 65535:
            raise r.error(kp + ("port",), "must be between 1 and 65535")
        if "host" in s and not s["host"].strip():
            raise r.error(kp + ("host",), "must not be empty (omit it for the local machine)")
        if "schedule" in s:
            _check_cron(r, kp + ("schedule",), s["schedule"])
        _check_transfer_options(r, kp, s)
        dirs: list[Directory] = []
        dir_seen: set[str] = set()
        for j, d in enumerate(s.get("directories", [])):
            dkp = kp + ("directories", j)
            d = r.table("directories", d, dkp)
            r.non_negative(d, dkp, "max_changed_files", "max_days")
            dpath = d["path"]
            if not dpath.startswith("/"):
                raise r.error(dkp + ("path",), f"must be an absolute path on the source, not {dpath!r}")
            norm = "/" + "/".join(p for p in dpath.split("/") if p)
            if any(part in (".", "..") for part in norm.split("/")):
                raise r.error(dkp + ("path",), "must not contain '.' or '..'")
            if norm in dir_seen:
                raise r.error(dkp + ("path",), f"duplicate directory {norm!r} in this source")
            dir_seen.add(norm)
            kind = d.get("kind", "standard")
            if kind not in DIRECTORY_KINDS:
                raise r.error(dkp + ("kind",), f"must be one of {', '.join(DIRECTORY_KINDS)}, not {kind!r}")
            dirs.append(
                Directory(
                    path=norm,
                    kind=kind,
                    excludes=tuple(d.get("excludes", ())),
                    max_changed_files=d.get("max_changed_files"),
                    max_days=d.get("max_days"),
                    allow_empty=d.get("allow_empty", False),
                )
            )
        for a in dirs:
            for jb, b in enumerate(dirs):
                if a is not b and (b.path + "/").startswith(a.path.rstrip("/") + "/"):
                    raise r.error(kp + ("directories", jb, "path"), f"{b.path} lies inside {a.path}: list only one of them")
        identity = s.get("identity_file")
        sources.append(
            Source(
                id=s["id"],
                directories=tuple(dirs),
                host=s.get("host"),
                user=s.get("user"),
                port=s.get("port"),
                identity_file=_resolve(base, identity) if identity else None,
                excludes=tuple(s.get("excludes", ())),
                pre_backup_commands=tuple(s.get("pre_backup_commands", ())),
                post_backup_commands=tuple(s.get("post_backup_commands", ())),
                schedule=s.get("schedule"),
                pause_notifications_until=s.get("pause_notifications_until"),
                acls=s.get("acls", True),
                xattrs=s.get("xattrs", True),
                bwlimit=str(s["bwlimit"]) if "bwlimit" in s else None,
                rsync_path=s.get("rsync_path"),
                one_file_system=s.get("one_file_system", False),
                io_timeout=s.get("io_timeout", transfer_options.IO_TIMEOUT),
                rsync_options=tuple(s.get("rsync_options", ())),
            )
        )
    problem = config_safety.overlap_problem(media, sources, state_dir)
    if problem:
        raise r.error(*problem)
    return Config(
        path=path,
        rabtui=Settings(state_dir=state_dir, command_timeout=rab.get("command_timeout", 3600),
                        max_parallel=rab.get("max_parallel", 4)),
        checkpoint=checkpoint,
        retention=retention,
        notify=notify,
        media=tuple(media),
        sources=tuple(sources),
    )


def _check_id(r: _Reader, kp: tuple, value: str, seen: set[str], what: str) -> None:
    if not ID_RE.match(value):
        raise r.error(kp + ("id",), f"{value!r} is not a valid {what} id (letters, digits, '.', '_', '-')")
    if value in seen:
        raise r.error(kp + ("id",), f"duplicate {what} id {value!r}")
    seen.add(value)


def _check_transfer_options(r: _Reader, kp: tuple, s: dict) -> None:
    problems = [
        ("bwlimit", "bwlimit" in s and transfer_options.bwlimit_problem(s["bwlimit"])),
        ("rsync_path", "rsync_path" in s and transfer_options.rsync_path_problem(s["rsync_path"])),
        ("io_timeout", s.get("io_timeout", 1) < 1 and "must be at least 1 (seconds)"),
        *(("rsync_options", transfer_options.rsync_option_problem(o)) for o in s.get("rsync_options", ())),
    ]
    for key, problem in problems:
        if problem:
            raise r.error(kp + (key,), problem)


def _check_cron(r: _Reader, kp: tuple, expr: str) -> None:
    from croniter import croniter

    if not croniter.is_valid(expr):
        raise r.error(kp, f"{expr!r} is not a valid cron expression")
