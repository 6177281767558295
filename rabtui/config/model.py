"""The configuration's model: every table and key, written once. Each field says its TOML type,
default, allowed values and one line of help (keys.py); the parser, the starter file, the source
form's writer, the JSON Schema and the README's table of keys are made from these classes.

Adding a key is one edit: a field here, with `key(...)`.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
from dataclasses import dataclass
from pathlib import Path

from rabtui import fmt
from rabtui.config import transfer_options
from rabtui.config.disc_types import DISC_SECTORS, parse_disc
from rabtui.config.keys import key, tables
from rabtui.errors import ConfigError

ID_LONGEST = 64
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,%d}$" % (ID_LONGEST - 1))
MOST_DISCS = 64      # discs of one checkpoint
DIRECTORY_KINDS = ("standard", "archive")


def default_path() -> Path:
    env = os.environ.get("RABTUI_CONFIG")
    if env:
        return Path(env)
    import platformdirs

    return Path(platformdirs.user_config_dir("rabtui")) / "rabtui.toml"


def command_for(path: Path | str) -> str:
    """`rabtui`, with the --config that names this file when it is not the one found without."""
    if Path(path) == default_path():
        return "rabtui"
    return f"rabtui --config {shlex.quote(str(path))}"


def default_state_dir() -> Path:
    import platformdirs

    return Path(platformdirs.user_state_dir("rabtui"))


# --- checks and conversions of single values --------------------------------------------------------


def resolve(base: Path, value: str) -> Path:
    """A path of the config: `~` expanded, relative to the config file's folder."""
    p = Path(os.path.expanduser(value))
    return p if p.is_absolute() else (base / p)


def resolve_drive(value: str, base: Path) -> str:
    """A drive as given: an images: drive's folder made absolute, relative to `base` (the config
    file's folder; a command line's working directory)."""
    if value.startswith("images:"):
        return "images:" + str(resolve(base, value[len("images:"):]))
    return value


NAME_MAX = 255      # bytes of one name, on Linux's file systems


def name_too_long(path: str | os.PathLike) -> str | None:
    """Why no file system here can hold `path`: a name on it longer than NAME_MAX bytes (every look
    at it would fail with "File name too long")."""
    for part in Path(path).parts:
        if len(os.fsencode(part)) > NAME_MAX:
            return f"the name {part[:40]}... is {len(os.fsencode(part))} bytes long: a file system holds {NAME_MAX} at most"
    return None


def drive_problem(value: str) -> str | None:
    if value == "images:":      # resolved against the config file's folder, ISO files would land there
        return ('"images:" names no folder for the ISO files: write one after the colon, as'
                ' "images:/srv/rabtui/iso"')
    try:
        value.encode()
    except UnicodeEncodeError:     # a name on the command line: the state database keeps drives as text
        return f"{fmt.name(value)} is not UTF-8: name the folder or device in UTF-8 (rename it, or a symlink to it)"
    if value.startswith("images:"):
        folder = value[len("images:"):]
        return name_too_long(folder) or _images_too_deep(folder) or _home_problem(folder)
    return None


# libburn keeps a drive's address ("stdio:" and the image's path) in 1024 bytes: xorriso aborts past it
IMAGE_PATH_MAX = 1017
IMAGES_DIR_MAX = IMAGE_PATH_MAX - len("/RAB1000000000D64.iso.writing")


def _images_too_deep(folder: str) -> str | None:
    """An images: folder whose images xorriso cannot name (a relative one: once resolved)."""
    length = len(os.fsencode(os.path.normpath(folder)))
    if folder.startswith("/") and length > IMAGES_DIR_MAX:
        return (f"the folder {fmt.name(folder[:40])}... is {length} bytes long: xorriso takes a disc image's path of at"
                f" most {IMAGE_PATH_MAX} bytes (a folder of at most {IMAGES_DIR_MAX})")
    return None


def _place_problem(value: str) -> str | None:
    """An empty path would be the config file's folder (relative to it), never what was meant."""
    if not value.strip():
        return "must not be empty (a path relative to the config file's folder, or from /)"
    return _home_problem(value)


def _home_problem(value: str) -> str | None:
    """`~USER` of a user this machine does not know: left as it is by expanduser, it was a folder
    named "~USER" beside the config (a state directory made there)."""
    if value.startswith("~") and os.path.expanduser(value) == value:
        first = value.split("/", 1)[0]
        return f"{first} names no user of this machine (~USER is that user's home folder; ./{first} a folder so named)"
    return None


def _optional_path(value: str, base: Path) -> Path | None:
    return resolve(base, value) if value else None


def _disc_problem(value: str) -> str | None:
    try:
        parse_disc(value)
    except ValueError as exc:
        return str(exc)
    return None


def _id_problem(what: str):
    def problem(value: str) -> str | None:
        if ID_RE.fullmatch(value):   # match would take a newline at the end ($)
            return None
        said = f"{value!r} is not a valid {what} id"
        if not re.fullmatch(r"[A-Za-z0-9._-]+", value):
            return f"{said} (letters, digits, '.', '_', '-')"
        if not value[0].isalnum():
            return f"{said}: it must begin with a letter or a digit, not {value[0]!r}"
        return f"{said}: {len(value)} characters, at most {ID_LONGEST}"
    return problem


def _option_problem(value: str, program: str) -> str | None:
    if value.startswith("-"):
        return f"{value!r} must not begin with '-' ({program} would read it as an option)"
    return None


def _ssh_word_problem(value: str) -> str | None:
    """Why a host or user cannot be handed to ssh and rsync's remote shell as one argument."""
    if any(c.isspace() or not c.isprintable() for c in value):
        return f"{value!r}: no spaces or control characters"
    return _option_problem(value, "ssh")


def _device_problem(value: str) -> str | None:
    """Why `mount DEVICE PATH` (run as root) would not take `value` as the device."""
    if not value.isprintable():
        return f"{value!r}: no control characters"
    return _option_problem(value, "mount")


def _host_problem(value: str) -> str | None:
    if not value.strip():
        return "must not be empty (omit it for the local machine)"
    return _ssh_word_problem(value)


def _cron_problem(value: str) -> str | None:
    from croniter import CroniterBadDateError, croniter

    if not croniter.is_valid(value):
        return f"{value!r} is not a valid cron expression"
    if len(value.split()) == 6:
        # croniter reads a sixth field as seconds, last; schedulers that take six (Spring, Quartz)
        # put seconds first: "0 0 2 * * *", meant daily at 02:00, would run at midnight on the 2nd
        return (f"{value!r} has six fields, read two ways (seconds last or first): write cron's five"
                " (minute hour day-of-month month day-of-week), e.g. \"0 2 * * *\"")
    if any(re.fullmatch(r"[Rr](\(.*\))?", field) for field in value.split()):
        # croniter draws it again at each reading: run-due would find a new time due at each call
        return f"{value!r}: R (a random value) is not supported: write the value"
    try:     # from the first year croniter knows to past its last (2099)
        croniter(value, dt.datetime(1970, 1, 1), max_years_between_matches=130).get_next(dt.datetime)
    except CroniterBadDateError:
        return f"{value!r} names no time that exists (a day no month has, such as 31 February)"
    return None


def _rsync_options_problem(options: list[str]) -> str | None:
    return next(filter(None, map(transfer_options.rsync_option_problem, options)), None)


def directory_path_problem(value: str) -> str | None:
    if not value.startswith("/"):
        return f"must be an absolute path on the source, not {value!r}"
    if any(part in (".", "..") for part in value.split("/")):
        return "must not contain '.' or '..'"
    if "\0" in value:
        return "must not contain a NUL character"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:      # a lone surrogate (a record edited by hand): no path, no text kept
        return "is no text (a lone surrogate)"
    return None


def directory_path(value: str) -> str:
    """A source directory's path as the config keeps it: no empty part, no slash at its end."""
    return "/" + "/".join(p for p in value.split("/") if p)


def _directory_path(value: str, base: Path) -> str:
    return directory_path(value)


# --- the tables ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Settings:
    state_dir: Path = key(default_factory=default_state_dir, help="database, logs, locks",
                          type="path", check=_place_problem, default_doc="the user's state folder (platformdirs)",
                          example="/var/lib/rabtui", starter=True)
    command_timeout: int = key(3600, type="integer", minimum=1, unit="seconds",
                               help="seconds for each pre/post command")
    max_parallel: int = key(4, type="integer", minimum=1, unit="sources at once",
                            help="sources backed up at once by `backup --all` and `run-due`; fewer when the"
                                 " open-file limit (ulimit -n) leaves room for fewer, said in a warning")


@dataclass(frozen=True)
class CheckpointSettings:
    disc: str = key("cd-700", check=_disc_problem, starter=True,
                    help=f"disc type ({' '.join(n for n in DISC_SECTORS if 'unformatted' not in n)}),"
                         " or a size such as \"700MiB\"")
    drive: str = key("/dev/sr0", check=drive_problem, convert=resolve_drive, starter=True,
                     help="a burner, or \"images:DIR\" for ISO files to burn later")
    max_discs: int = key(MOST_DISCS, type="integer", minimum=1, maximum=MOST_DISCS, starter=True,
                         help="a plan needing more discs is refused before anything is written")
    max_changed_files: int = key(10000, type="integer", minimum=0, starter=True,
                                 help="due when this many files are new or modified since the last checkpoint")
    max_days: int = key(90, type="integer", minimum=0, starter=True,
                        help="due when the last checkpoint is older than this many days")
    io_timeout: int = key(600, type="integer", minimum=1, unit="seconds",
                          help="seconds xorriso may write no new sector of a disc, or read nothing from one"
                               " (neither printing nor working), before it is stopped and the disc fails (a hung"
                               " drive or file system)")


@dataclass(frozen=True)
class RetentionSettings:
    keep_all_days: int = key(7, type="integer", minimum=0, starter=True,
                             help="every backup of these last days is kept")
    keep_daily_days: int = key(31, type="integer", minimum=0, starter=True,
                               help="then one a day for these days")
    keep_weekly_weeks: int = key(8, type="integer", minimum=0, starter=True,
                                 help="then one a week for these weeks")
    keep_monthly_months: int = key(4, type="integer", minimum=0, starter=True,
                                   help="then one a month for these months")
    keep_yearly_years: int = key(2, type="integer", minimum=0, starter=True,
                                 help="then one a year for these years")
    max_size_mb: int = key(5000, type="integer", minimum=0, starter=True,
                           help="then the oldest go while a source uses more; never the newest")


@dataclass(frozen=True)
class NotifySettings:
    command: str | None = key(None, example="/usr/local/bin/backup-alert",
                              help="gets one JSON event on stdin per failure, warning or health change")
    apprise_urls: tuple[str, ...] = key((), type="strings", example=["mailto://ops@example.com"], secret=True,
                                        help="with the apprise extra installed: mailto://, slack://, ...")


@dataclass(frozen=True)
class Medium:
    id: str = key(required=True, check=_id_problem("medium"), help="the medium's name, written in its label file")
    path: Path = key(required=True, type="path", check=_place_problem, help="where the medium's file system is")
    device: str | None = key(None, check=_device_problem, example="/dev/sdb1",
                             help="mounted at path before use, unmounted after")


@dataclass(frozen=True)
class Directory:
    path: str = key(required=True, check=directory_path_problem, convert=_directory_path, form=True,
                    help="an absolute path on the source")
    kind: str = key("standard", choices={"standard": "every backup holds the whole tree",
                                         "archive": "every backup holds only what this medium lacks"},
                    form=True, help="what each backup holds")
    excludes: tuple[str, ...] = key((), type="strings", example=["*.xmp"], form=True,
                                    help="rsync patterns, added to the source's")
    max_changed_files: int | None = key(None, type="integer", minimum=0, example=500, form=True,
                                        default_doc="`checkpoint.max_changed_files`",
                                        help="this directory's own checkpoint trigger")
    max_days: int | None = key(None, type="integer", minimum=0, example=14, form=True,
                               default_doc="`checkpoint.max_days`", help="this directory's own checkpoint trigger")
    allow_empty: bool = key(False, type="boolean", form=True,
                            help="an empty or missing directory fails the backup unless true")


@dataclass(frozen=True)
class Source:
    id: str = key(required=True, check=_id_problem("source"), form=True, help="the source's name")
    directories: tuple[Directory, ...] = tables(
        Directory, array=True, help="The directories of the source above.",
        starter_items=({"path": "/etc", "kind": "standard"},
                       {"path": "/srv/photos", "kind": "archive", "max_changed_files": 500, "max_days": 14}))
    host: str | None = key(None, check=_host_problem, example="web1.example.com", form=True,
                           help="omit for the local machine; ~/.ssh/config aliases work")
    user: str | None = key(None, check=_ssh_word_problem, example="backup", form=True, help="the SSH login")
    port: int | None = key(None, type="integer", minimum=1, maximum=65535, example=22, form=True,
                           default_doc="ssh's (22, or ~/.ssh/config)", help="the SSH port")
    identity_file: Path | None = key(None, type="path", convert=_optional_path, check=_home_problem,
                                     example="~/.ssh/id_ed25519", form=True, help="the SSH key")
    schedule: str | None = key(None, check=_cron_problem, example="0 2 * * *", form=True,
                               help="cron expression, for `rabtui run-due`")
    excludes: tuple[str, ...] = key((), type="strings", example=["*.tmp", "cache/"], form=True, form_list="commas",
                                    help="rsync patterns left out of every directory")
    pre_backup_commands: tuple[str, ...] = key(
        (), type="strings", example=["mysqldump --all-databases > /var/backups/db.sql"], form=True, form_list="lines",
        label="pre-backup commands",
        help="shell commands run on the source before the backup; the first failure stops it")
    post_backup_commands: tuple[str, ...] = key(
        (), type="strings", example=["rm -f /var/backups/db.sql"], form=True, form_list="lines",
        label="post-backup commands",
        help="shell commands run on the source after the backup")
    pause_notifications_until: dt.date | None = key(None, type="date", example=dt.date(2026, 12, 1),
                                                    help="no notifications about this source until this date")
    acls: bool = key(True, type="boolean", form=True, label="ACLs", help="keep POSIX ACLs (rsync -A)")
    xattrs: bool = key(True, type="boolean", form=True,
                       help="keep extended attributes, capabilities included (rsync -X)")
    bwlimit: str | None = key(None, type="string or integer", check=transfer_options.bwlimit_problem,
                              convert=lambda value, base: str(value), example="5M", form=True,
                              help="rsync --bwlimit, as rsync reads it (a bare integer is KiB/s)")
    rsync_path: str | None = key(None, check=transfer_options.rsync_path_problem, example="sudo rsync",
                                 form=True, help="the source's rsync command")
    one_file_system: bool = key(False, type="boolean", form=True,
                                help="rsync -x: other file systems mounted inside stay out")
    io_timeout: int = key(transfer_options.IO_TIMEOUT, type="integer", minimum=1,
                          maximum=transfer_options.IO_TIMEOUT_MAX, unit="seconds", form=True,
                          label="I/O timeout",
                          help="seconds of source silence before backup or restore fails")
    rsync_options: tuple[str, ...] = key((), type="strings", check=_rsync_options_problem,
                                         example=["--compress"], form=True, form_list="words",
                                         help="extra rsync flags from the allow-list")

    @property
    def is_local(self) -> bool:
        return self.host is None

    @property
    def archive_paths(self) -> tuple[str, ...]:
        """The paths of its archive directories (their backups hold only what was new)."""
        return tuple(d.path for d in self.directories if d.kind == "archive")

    @property
    def has_commands(self) -> bool:
        """Commands the config makes rabtui run: pre/post commands, and rsync_path (a local
        source's rsync command itself, a command on the source over SSH)."""
        return bool(self.pre_backup_commands or self.post_backup_commands or self.rsync_path)

    def directory(self, path: str) -> Directory:
        for d in self.directories:
            if d.path == path:
                return d
        raise KeyError(path)


@dataclass(frozen=True)
class Config:
    path: Path | None
    rabtui: Settings = tables(Settings, array=False)
    checkpoint: CheckpointSettings = tables(CheckpointSettings, array=False)
    retention: RetentionSettings = tables(RetentionSettings, array=False,
                                          help="Per source and medium; laravel-backup-server's defaults.")
    notify: NotifySettings = tables(NotifySettings, array=False)
    media: tuple[Medium, ...] = tables(
        Medium, array=True, help="The media, used in turn. Each needs a label: rabtui media label ID",
        starter_items=({"id": "disk-a", "path": "/srv/rabtui/media/a"},
                       {"id": "disk-b", "path": "/srv/rabtui/media/b"}))
    sources: tuple[Source, ...] = tables(
        Source, array=True, help="The hosts to back up.",
        starter_items=({"id": "web1", "host": "web1.example.com", "user": "backup", "port": 22,
                        "identity_file": "~/.ssh/id_ed25519", "excludes": ["*.tmp", "cache/"],
                        "schedule": "0 2 * * *"},))

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
