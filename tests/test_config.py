"""The configuration: the documented example round-trips, every error names file:line and key,
relative paths follow the config file, `rabtui init` / `check-config` behave as the contract says."""

from __future__ import annotations

import datetime as dt
import os
import re
import shlex
import textwrap
from pathlib import Path

import pytest

from rabtui import config as configmod
from rabtui.config import edit as config_edit
from rabtui.config import safety as config_safety
from rabtui.cli import main
from rabtui.config.lines import KeyLines
from rabtui.errors import ConfigError
from tests.lines_run import lines_run
from tests.trees import fill_up

# The example of DESIGN.md, with its media path made relative (to the test's folder).
FULL = """\
[rabtui]
state_dir = "/var/lib/rabtui"          # database, logs, locks
command_timeout = 600                  # seconds for each pre/post command
[checkpoint]
disc = "cd-700"                        # cd-650 cd-700 dvd+r dvd-r dvd+r-dl dvd-r-dl dvd-ram bd-r-25 bd-r-50, or "700MiB"
drive = "/dev/sr0"                     # or "images:/srv/rabtui/iso"
max_discs = 64
max_changed_files = 10000              # trigger: new or modified files since the last checkpoint
max_days = 90                          # trigger: days since the last checkpoint
[retention]                            # laravel-backup-server's defaults
keep_all_days = 7
keep_daily_days = 31
keep_weekly_weeks = 8
keep_monthly_months = 4
keep_yearly_years = 2
max_size_mb = 5000                     # per source and medium; oldest deleted first, never the newest
[notify]
command = "/usr/local/bin/backup-alert"  # optional: gets one JSON event on stdin per failure
apprise_urls = []                        # optional, with the apprise extra installed
[[media]]
id = "dvdram-a"
path = "media/a"                       # where the medium's filesystem is
device = "/dev/sr1"                    # optional: mounted at path before use, unmounted after
[[media]]
id = "usb-b"
path = "media/b"
[[sources]]
id = "web1"
host = "web1.example.com"              # omit for the local machine
user = "backup"
port = 22
identity_file = "~/.ssh/id_ed25519"
excludes = ["*.tmp", "cache/"]
pre_backup_commands = ["mysqldump --all-databases > /var/backups/db.sql"]
post_backup_commands = ["rm -f /var/backups/db.sql"]
schedule = "0 2 * * *"                 # cron expression, optional
pause_notifications_until = 2026-12-01 # optional
[[sources.directories]]
path = "/etc"
kind = "standard"
[[sources.directories]]
path = "/srv/photos"
kind = "archive"
max_changed_files = 500                # per-directory override of a checkpoint trigger
max_days = 14
allow_empty = true                     # an empty or missing directory fails the backup unless true
[[sources]]
id = "db2"
host = "db2.example.com"
[[sources.directories]]
path = "/var/lib/postgresql/dumps"
excludes = ["*.partial"]
[[sources.directories]]
path = "/home"
kind = "archive"
"""


@pytest.fixture
def folder(tmp_path) -> Path:
    (tmp_path / "media" / "a").mkdir(parents=True)
    (tmp_path / "media" / "b").mkdir(parents=True)
    return tmp_path


def write(folder: Path, text: str, name: str = "rabtui.toml") -> Path:
    path = folder / name
    path.write_text(text)
    path.chmod(0o600)
    return path


def line_no(text: str, needle: str, nth: int = 1) -> int:
    hits = [i for i, line in enumerate(text.splitlines(), start=1) if needle in line]
    return hits[nth - 1]


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as exc:
        configmod.load(path)
    return str(exc.value)


# --- a valid config -------------------------------------------------------------------------------


def test_the_documented_example_loads(folder, isolated_home):
    cfg = configmod.load(write(folder, FULL))
    assert cfg.state_dir == Path("/var/lib/rabtui")
    assert cfg.checkpoint == configmod.CheckpointSettings("cd-700", "/dev/sr0", 64, 10000, 90)
    assert cfg.retention.max_size_mb == 5000 and cfg.retention.keep_yearly_years == 2
    assert cfg.notify == configmod.NotifySettings(command="/usr/local/bin/backup-alert", apprise_urls=())
    assert [m.id for m in cfg.media] == ["dvdram-a", "usb-b"]
    assert cfg.medium("dvdram-a") == configmod.Medium("dvdram-a", folder / "media" / "a", "/dev/sr1")
    web1 = cfg.source("web1")
    assert (web1.host, web1.user, web1.port) == ("web1.example.com", "backup", 22)
    assert web1.identity_file == isolated_home / ".ssh" / "id_ed25519"
    assert web1.excludes == ("*.tmp", "cache/") and web1.schedule == "0 2 * * *"
    assert web1.pause_notifications_until == dt.date(2026, 12, 1)
    photos = web1.directory("/srv/photos")
    assert photos.kind == "archive"
    assert cfg.max_changed_files(photos) == 500 and cfg.max_days(photos) == 14
    etc = web1.directory("/etc")
    assert cfg.max_changed_files(etc) == 10000 and cfg.max_days(etc) == 90
    db2 = cfg.source("db2")
    assert db2.port is None and db2.user is None and not db2.is_local
    assert db2.directories[0] == configmod.Directory("/var/lib/postgresql/dumps", "standard", ("*.partial",))
    assert cfg.rabtui.command_timeout == 600 and cfg.source("web1").directories[1].allow_empty
    assert not cfg.source("web1").directories[0].allow_empty


def test_acls_and_xattrs_default_on_and_can_be_turned_off(folder):
    cfg = configmod.load(write(folder, FULL))
    assert all(s.acls and s.xattrs for s in cfg.sources)
    text = FULL.replace('id = "web1"\n', 'id = "web1"\nacls = false\nxattrs = false\n')
    off = configmod.load(write(folder, text)).source("web1")
    assert not off.acls and not off.xattrs
    # the source form: turning them on again removes the keys (true is the default), nothing else moves
    path = write(folder, text)
    snap = config_edit.read(path)
    values = snap.source_values("web1")
    assert values["acls"] is False and values["xattrs"] is False
    values.update(acls=True, xattrs=True)
    assert snap.put_source(values, "web1") == FULL
    assert_error(folder, FULL.replace('id = "web1"\n', 'id = "web1"\nacls = 1\n'), "acls = 1",
                 "sources[0].acls", "must be true or false, not 1")
    assert_error(folder, FULL.replace('id = "web1"\n', 'id = "web1"\nxattrs = "yes"\n'), "xattrs",
                 "sources[0].xattrs", "must be true or false")


def test_minimal_config_and_local_source(folder, isolated_home):
    path = write(folder, '[[sources]]\nid = "here"\n[[sources.directories]]\npath = "//srv//data/"\n')
    cfg = configmod.load(path)
    assert cfg.sources[0].is_local and cfg.sources[0].directories[0].path == "/srv/data"
    assert cfg.media == () and cfg.checkpoint == configmod.CheckpointSettings()
    assert str(cfg.state_dir).startswith(str(isolated_home))   # platformdirs, under HOME


def test_relative_paths_resolve_against_the_config_folder(folder, tmp_path, monkeypatch):
    sub = folder / "etc" / "rabtui"
    (sub / "m").mkdir(parents=True)
    path = write(sub, textwrap.dedent("""\
        [rabtui]
        state_dir = "state"
        [checkpoint]
        drive = "images:iso"
        [[media]]
        id = "m"
        path = "m"
        [[sources]]
        id = "s"
        host = "h"
        identity_file = "keys/id"
    """))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    cfg = configmod.load(Path("..") / path.relative_to(tmp_path))
    assert cfg.state_dir == sub / "state"
    assert cfg.checkpoint.drive == f"images:{sub / 'iso'}"
    assert cfg.media[0].path == sub / "m"
    assert cfg.sources[0].identity_file == sub / "keys" / "id"


def test_check_media_false_skips_the_existence_check(folder):
    text = FULL.replace('path = "media/b"', 'path = "media/missing"')
    cfg = configmod.load(write(folder, text), check_media=False)
    assert cfg.medium("usb-b").path == folder / "media" / "missing"


# --- errors name file:line and key ----------------------------------------------------------------


def assert_error(folder: Path, text: str, needle: str, key: str, what: str, nth: int = 1) -> str:
    path = write(folder, text)
    msg = config_error(path)
    expected = f"{path}:{line_no(text, needle, nth)}: {key}: "
    assert msg.startswith(expected), f"{msg!r} does not start with {expected!r}"
    assert re.search(what, msg), msg
    assert "\n" not in msg
    return msg


def test_unknown_key_at_the_top(folder):
    assert_error(folder, "colour = 1\n" + FULL, "colour", "colour", "unknown table or key")
    assert_error(folder, FULL + "[colours]\nred = 1\n", "[colours]", "colours", "unknown table or key")


def test_unknown_key_in_a_table(folder):
    text = FULL.replace("max_discs = 64", "max_discs = 64\nmax_disks = 3")
    assert_error(folder, text, "max_disks", r"checkpoint.max_disks", r"unknown key: did you mean 'max_discs'\? \(allowed here: disc, drive")


def test_unknown_key_in_sources(folder):
    text = FULL.replace('user = "backup"', 'user = "backup"\nhots = "x"')
    assert_error(folder, text, "hots", r"sources[0].hots", "unknown key")


def test_unknown_key_in_a_directory_of_the_second_source(folder):
    text = FULL.replace('path = "/home"\n', 'path = "/home"\nkindd = "archive"\n')
    assert_error(folder, text, "kindd", r"sources[1].directories[1].kindd", "unknown key")


def test_unknown_dotted_key_names_its_own_line(folder):
    text = FULL.replace('host = "db2.example.com"', 'host = "db2.example.com"\nssh.port = 2')
    assert_error(folder, text, "ssh.port", "sources[1].ssh", "unknown key")


def test_wrong_types(folder):
    assert_error(folder, FULL.replace("port = 22", 'port = "22"'), 'port = "22"', "sources[0].port",
                 "must be an integer, not '22'")
    assert_error(folder, FULL.replace("max_days = 14", "max_days = true"), "max_days = true",
                 r"sources[0].directories[1].max_days", "must be an integer")
    assert_error(folder, FULL.replace('excludes = ["*.tmp", "cache/"]', 'excludes = "*.tmp"'),
                 'excludes = "*.tmp"', "sources[0].excludes", "must be a list")
    assert_error(folder, FULL.replace('excludes = ["*.partial"]', 'excludes = ["*.partial", 3]'),
                 "*.partial", r"sources[1].directories[0].excludes", "item 2 must be a string")
    assert_error(folder, FULL.replace("2026-12-01", '"2026-12-01"'), "pause_notifications_until",
                 "sources[0].pause_notifications_until", r"must be a date")
    assert_error(folder, FULL.replace("2026-12-01", "2026-12-01T10:00:00"), "pause_notifications_until",
                 "sources[0].pause_notifications_until", r"must be a date")
    assert_error(folder, FULL.replace("[rabtui]", "[[rabtui]]"), "[[rabtui]]", "rabtui",
                 r"must be written as \[rabtui\]")
    assert_error(folder, FULL.replace("[[sources]]\nid = \"web1\"", "[sources]\nid = \"web1\"")
                 .split("[[sources.directories]]")[0], "[sources]", "sources", r"must be written as \[\[sources\]\]")


def test_duplicate_ids(folder):
    text = FULL.replace('id = "db2"', 'id = "web1"')
    assert_error(folder, text, 'id = "web1"', "sources[1].id", "duplicate source id 'web1'", nth=2)
    text = FULL.replace('id = "usb-b"', 'id = "dvdram-a"')
    assert_error(folder, text, 'id = "dvdram-a"', "media[1].id", "duplicate medium id 'dvdram-a'", nth=2)
    text = FULL.replace('path = "/home"', 'path = "/var/lib/postgresql/dumps/"')
    assert_error(folder, text, "dumps/", r"sources[1].directories[1].path", "duplicate directory")


def test_source_ids_apart_by_case_alone_are_refused(folder):
    # <medium>/<id>/ holds a source's backups: one directory for both on exFAT or vfat
    text = FULL.replace('id = "db2"', 'id = "WEB1"')
    assert_error(folder, text, 'id = "WEB1"', "sources[1].id", "'WEB1' is 'web1' but for case")
    configmod.load(write(folder, FULL.replace('id = "usb-b"', 'id = "DVDRAM-A"')))   # media: their label's


def test_missing_required_keys(folder):
    text = FULL.replace('id = "db2"\n', "")
    assert_error(folder, text, "[[sources]]", "sources[1]", "missing required key 'id'", nth=2)
    text = FULL.replace('path = "media/b"\n', "")
    assert_error(folder, text, "[[media]]", "media[1]", "missing required key 'path'", nth=2)
    text = FULL.replace('path = "/etc"\n', "")
    assert_error(folder, text, "[[sources.directories]]", r"sources[0].directories[0]", "missing required key 'path'")


def test_medium_path_missing(folder):
    text = FULL.replace('path = "media/b"', 'path = "media/nope"')
    msg = assert_error(folder, text, "media/nope", "media[1].path", "does not exist or is not a directory")
    assert str(folder / "media" / "nope") in msg
    (folder / "afile").write_text("")
    assert_error(folder, FULL.replace('path = "media/b"', 'path = "afile"'), "afile", "media[1].path", "not a directory")
    assert_error(folder, FULL.replace('path = "media/b"', 'path = "media/a/"'), "media/a/", "media[1].path",
                 "already the path of medium 'dvdram-a'")


def test_bad_values(folder):
    assert_error(folder, FULL.replace('kind = "archive"', 'kind = "archiv"', 1), 'kind = "archiv"',
                 r"sources[0].directories[1].kind", "must be one of standard, archive")
    assert_error(folder, FULL.replace('"0 2 * * *"', '"0 2 * *"'), "schedule", "sources[0].schedule",
                 "not a valid cron expression")
    assert_error(folder, FULL.replace('"0 2 * * *"', '"61 2 * * *"'), "schedule", "sources[0].schedule",
                 "not a valid cron expression")
    assert_error(folder, FULL.replace('disc = "cd-700"', 'disc = "dvd-9000"'), "dvd-9000", "checkpoint.disc",
                 "dvd-9000")
    assert_error(folder, FULL.replace("max_discs = 64", "max_discs = 65"), "max_discs", "checkpoint.max_discs",
                 "between 1 and 64")
    # more sectors than the state database's integers hold: a burn ended in an OverflowError
    for huge in ("9223372036854775807s", "99999999999999999999999999GiB", "8193GiB"):
        assert_error(folder, FULL.replace('disc = "cd-700"', f'disc = "{huge}"'), "disc =", "checkpoint.disc",
                     "too large")
    assert_error(folder, FULL.replace("port = 22", "port = 70000"), "port = 70000", "sources[0].port",
                 "between 1 and 65535")
    assert_error(folder, FULL.replace("keep_all_days = 7", "keep_all_days = -1"), "keep_all_days",
                 "retention.keep_all_days", "must not be negative")
    assert_error(folder, FULL.replace('id = "db2"', 'id = "db 2"'), 'id = "db 2"', "sources[1].id",
                 "not a valid source id")
    # a newline at the end would name a directory on every medium, a lock and a label with it
    assert_error(folder, FULL.replace('id = "db2"', 'id = "db2\\n"'), 'id = "db2\\n"', "sources[1].id",
                 "not a valid source id")
    assert_error(folder, FULL.replace('id = "usb-b"', 'id = "usb-b\\n"'), 'id = "usb-b\\n"', "media[1].id",
                 "not a valid medium id")
    assert_error(folder, FULL.replace('path = "/home"', 'path = "home"'), 'path = "home"',
                 r"sources[1].directories[1].path", "must be an absolute path")
    assert_error(folder, FULL.replace('path = "/home"', 'path = "/var/lib/postgresql/dumps/x"'), "dumps/x",
                 r"sources[1].directories[1].path", "lies inside /var/lib/postgresql/dumps")
    assert_error(folder, FULL.replace('host = "db2.example.com"', 'host = ""'), 'host = ""', "sources[1].host",
                 "must not be empty")
    # resolved against the config file's folder, which got the ISO files (images:iso stays as documented)
    assert_error(folder, FULL.replace('drive = "/dev/sr0"', 'drive = "images:"'), 'drive = "images:"',
                 "checkpoint.drive", "names no folder for the ISO files")
    # as "images:": the config file's folder, which a backup would have filled (it got the state: the
    # two were refused as lying in each other, but not a medium there)
    one_medium = '[rabtui]\nstate_dir = "{state}"\n[[media]]\nid = "a"\npath = "{medium}"\n'
    # a name no file system holds: every look at it was a traceback ("File name too long")
    too_long = "/srv/" + "n" * 256 + "/x"
    assert_error(folder, one_medium.format(state=too_long, medium="/srv/a"), "state_dir", "rabtui.state_dir",
                 "is 256 bytes long: a file system holds 255 at most")
    assert_error(folder, one_medium.format(state="/srv/state", medium=too_long), "path =", "media[0].path",
                 "is 256 bytes long")
    assert_error(folder, FULL.replace('drive = "/dev/sr0"', f'drive = "images:{too_long}"'), "drive =",
                 "checkpoint.drive", "is 256 bytes long")
    assert_error(folder, one_medium.format(state="/var/lib/rabtui", medium=""), 'path = ""', "media[0].path",
                 "must not be empty")
    assert_error(folder, one_medium.format(state=" ", medium="/srv/a"), 'state_dir = " "', "rabtui.state_dir",
                 "must not be empty")


@pytest.mark.parametrize("schedule, problem", [
    ("0 2 31 2 *", "names no time that exists"),           # run-due and check failed in croniter
    ("0 2 31 4,6,9,11 *", "names no time that exists"),
    ("0 2 29 2 * 0 2027", "names no time that exists"),
    ("R 2 * * *", "R (a random value) is not supported"),   # a new time due at each run-due
    ("0 r * * *", "R (a random value) is not supported"),
    # Spring's daily 02:00 (seconds first), which croniter read as midnight on the 2nd of each month
    ("0 0 2 * * *", "has six fields, read two ways"),
    ("0 2 * * * 30", "has six fields, read two ways"),
])
def test_a_schedule_that_names_no_time_or_a_random_one_is_refused(folder, schedule, problem):
    assert_error(folder, FULL.replace('"0 2 * * *"', f'"{schedule}"'), "schedule", "sources[0].schedule",
                 re.escape(problem))


def test_a_nul_character_in_a_value_names_its_line(folder, capsys):
    """No path, name or command can hold a NUL: the key is refused (file:line), by check-config too,
    instead of a ValueError from the first system call that meets it."""
    text = FULL.replace('state_dir = "/var/lib/rabtui"', 'state_dir = "/var/lib/rab\\u0000tui"')
    assert_error(folder, text, "state_dir", "rabtui.state_dir", "must not contain a NUL character")
    assert main(["--config", str(folder / "rabtui.toml"), "check-config"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"rabtui: {folder / 'rabtui.toml'}:{line_no(text, 'state_dir')}: rabtui.state_dir: ")
    assert_error(folder, FULL.replace('path = "/home"', 'path = "/ho\\u0000me"'), '"/ho',
                 "sources[1].directories[1].path", "must not contain a NUL character")
    assert_error(folder, FULL.replace('"*.tmp"', '"*.t\\u0000mp"'), "*.t", "sources[0].excludes",
                 "must not contain a NUL character")


@pytest.mark.parametrize("command", ["check-config", "status", "check", "run-due"])
def test_a_state_dir_that_is_a_file_names_its_line(folder, capsys, command):
    """A state_dir that is a file (or lies below one) cannot be made a directory: every command says
    so with file:line and exits 2, rather than failing as it creates the database."""
    (folder / "state").write_text("not a directory")
    for state_dir, what in ((folder / "state", f"{folder / 'state'} exists and is not a directory"),
                            (folder / "state" / "below", f"{folder / 'state'}, on the way to")):
        text = FULL.replace('state_dir = "/var/lib/rabtui"', f'state_dir = "{state_dir}"')
        path = write(folder, text)
        assert main(["--config", str(path), command]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rabtui: {path}:{line_no(text, 'state_dir')}: rabtui.state_dir: {what}"), err


def test_bad_toml_syntax_names_the_line(folder):
    text = FULL.replace("max_discs = 64", "max_discs = = 64")
    path = write(folder, text)
    msg = config_error(path)
    assert msg.startswith(f"{path}:{line_no(text, 'max_discs')}: column 13: invalid TOML")
    msg = config_error(write(folder, FULL.replace('id = "usb-b"', 'id = "usb-b')))
    assert msg.startswith(f"{folder / 'rabtui.toml'}:{line_no(FULL, 'usb-b')}: ")


@pytest.mark.parametrize("twice", ['port = 2222', '"port" = 2222'])
def test_a_key_written_twice_names_the_key_and_its_line(folder, twice):
    text = FULL.replace("port = 22\n", f"port = 22\n{twice}\n")
    msg = config_error(write(folder, text))
    line = line_no(text, "port", 2)
    assert msg == (f"{folder / 'rabtui.toml'}:{line}: column {len(twice) + 1}: invalid TOML:"
                   f" Cannot overwrite a value at key {twice.split(' ')[0]}")


def test_a_line_separator_in_a_comment_or_a_string_does_not_move_the_lines_named(folder):
    # U+2028 ends a line for str.splitlines, not for TOML
    text = FULL.replace("port = 22", "# a note\u2028on two lines\nhost = \"a\u2028b\"\nport = 0", 1)
    line = text.split("\n").index("port = 0") + 1
    msg = config_error(write(folder, text.replace("host = \"a\u2028b\"", "# and \u2028 one more")))
    assert msg.startswith(f"{folder / 'rabtui.toml'}:{line}: sources[0].port: ")
    msg = config_error(write(folder, text.replace("port = 0", "port = 22\nport = 23")))   # host: twice too
    assert msg.startswith(f"{folder / 'rabtui.toml'}:{line - 1}: ")
    assert msg.endswith("Cannot overwrite a value at key host")


def test_not_utf8_and_missing_file(folder, monkeypatch):
    path = folder / "rabtui.toml"
    path.write_bytes(b'[rabtui]\nstate_dir = "\xff"\n')
    assert config_error(path) == f"{path}:2: not UTF-8 text (byte 0xff)"
    with pytest.raises(ConfigError, match="no configuration file") as exc:
        configmod.load(folder / "none.toml")
    # the command written there makes that file, not the default one
    assert exc.value.hint == f"write a starter one with: rabtui --config {shlex.quote(str(folder / 'none.toml'))} init"
    with pytest.raises(ConfigError, match="no configuration file") as exc:
        configmod.load(folder / "it's here.toml")
    assert exc.value.hint == f"write a starter one with: rabtui --config '{folder}/it'\"'\"'s here.toml' init"
    monkeypatch.setenv("RABTUI_CONFIG", str(folder / "none.toml"))
    with pytest.raises(ConfigError, match="no configuration file") as exc:
        configmod.load(folder / "none.toml")
    assert exc.value.hint == "write a starter one with: rabtui init"


def test_line_finder_survives_multiline_strings_and_arrays():
    text = textwrap.dedent('''\
        [notify]
        command = """
        [rabtui]
        state_dir = 1
        """
        apprise_urls = [
          "a", # ] not the end
          "[b]",
        ]
        [[sources]]
        id = "a"
        [[sources.directories]]
        path = "/x"
        [[sources]]
        id = "b"
        [[sources.directories]]
        path = "/y"
        [[sources.directories]]
        path = "/z"
        kind = 'archive'
    ''')
    lines = KeyLines(text)
    assert lines.line_of(("notify", "apprise_urls")) == 6
    assert lines.line_of(("rabtui", "state_dir")) is None
    assert lines.line_of(("sources", 0, "directories", 0, "path")) == 13
    assert lines.line_of(("sources", 1, "id")) == 15
    assert lines.line_of(("sources", 1, "directories", 1, "kind")) == 20
    assert lines.line_of(("sources", 1, "directories", 1, "nope")) == 18
    assert lines.line_of(("sources",)) == 10


# --- the command line -----------------------------------------------------------------------------


def test_check_config_ok(folder, capsys):
    path = write(folder, FULL)
    assert main(["--config", str(path), "check-config"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"{path}: ok (2 sources, 4 directories, 2 media)")


def test_check_config_error_is_one_line_and_exit_2(folder, capsys):
    text = FULL.replace('path = "/home"\n', 'path = "/home"\nkindd = "archive"\n')
    path = write(folder, text)
    assert main(["check-config", "--config", str(path)]) == 2
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1 and "Traceback" not in captured.err and captured.out == ""
    assert lines[0].startswith(f"rabtui: {path}:{line_no(text, 'kindd')}: sources[1].directories[1].kindd: unknown key")
    path = write(folder, FULL.replace("max_discs = 64", "max_discs = [64"))
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "invalid TOML" in err


def test_check_config_refuses_a_writable_config_that_has_commands(folder, capsys):
    path = write(folder, FULL)
    assert config_safety.permission_problem(path) is None
    path.chmod(0o620)
    problem = config_safety.permission_problem(path)
    assert problem and "chmod go-w" in problem
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1
    assert "writable by its group or by everyone: chmod go-w" in err and "are not run" in err
    path.chmod(0o602)
    assert config_safety.permission_problem(path)
    # without commands, a warning only
    path.write_text(FULL.replace("pre_backup_commands", "# ").replace("post_backup_commands", "# ")
                    .replace('command = "/usr/local/bin/backup-alert"', "# "))
    assert main(["--config", str(path), "check-config"]) == 0
    assert "writable by its group or by everyone" in capsys.readouterr().err


def test_the_warning_of_a_writable_config_escapes_its_name(folder, capsys):
    """The path in it (resolved through symlinks another user may own) reached the terminal raw."""
    path = write(folder, FULL.replace("pre_backup_commands", "# ").replace("post_backup_commands", "# ")
                 .replace('command = "/usr/local/bin/backup-alert"', "# "), name="a\x1b]0;owned\x07.toml")
    path.chmod(0o620)
    for command in (["check-config"], ["sources", "list"]):
        assert main(["--config", str(path), *command]) == 0
        err = capsys.readouterr().err
        assert "writable by its group or by everyone" in err and "a\\033]0;owned\\a.toml" in err, err
        assert "\x1b" not in err and "\x07" not in err


def test_init_writes_a_starter_that_check_config_accepts_once_media_exist(tmp_path, capsys, monkeypatch):
    path = tmp_path / "conf" / "rabtui.toml"
    assert main(["--config", str(path), "init"]) == 0
    assert path.stat().st_mode & 0o777 == 0o600
    assert f"wrote {path}; edit it, then run: rabtui --config {path} check-config" in capsys.readouterr().out
    text = path.read_text()
    assert "#" in text and "[[sources.directories]]" in text   # commented, in the documented layout
    # the starter's media do not exist here yet: check-config says which, with the line
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert f"{path}:{line_no(text, '/srv/rabtui/media/a')}: media[0].path:" in err
    # point the media at folders that exist, as an operator would
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    path.write_text(text.replace("/srv/rabtui/media/a", str(tmp_path / "a")).replace("/srv/rabtui/media/b", str(tmp_path / "b")))
    assert main(["--config", str(path), "check-config"]) == 0
    captured = capsys.readouterr()
    assert "ok (1 source, 2 directories, 2 media)" in captured.out
    assert "labelled on first use" in captured.err
    # a second init does not overwrite it
    assert main(["--config", str(path), "init"]) == 2
    assert "exists already" in capsys.readouterr().err
    assert main(["--config", str(path), "init", "--force"]) == 0
    assert path.read_text() == text


def test_init_force_on_a_full_disk_keeps_the_old_config(tmp_path, tmpfs, capsys):
    """`init --force` writes the new file beside the old one and renames it: a full disk (or a
    crash) midway leaves the operator's config as it was, never half of the starter file."""
    disk = tmpfs(tmp_path / "full", "size=64k")
    disk.chmod(0o755)       # not sticky and open to all, as a tmpfs is made: another user's config is not replaced there
    path = disk / "rabtui.toml"
    old = "# mine\n[rabtui]\nstate_dir = '/var/lib/mine'\n"
    path.write_text(old)
    path.chmod(0o640)
    fill_up(disk / "filler")      # the disk full to the last byte
    assert main(["--config", str(path), "init", "--force"]) == 1
    err = capsys.readouterr().err
    assert f"could not write {path}" in err and "No space left on device" in err, err
    assert "Traceback" not in err
    assert path.read_text() == old and sorted(p.name for p in disk.iterdir()) == ["filler", "rabtui.toml"]
    # with room again, it is replaced whole, private, and still its owner's
    (disk / "filler").unlink()
    os.chown(path, 4242, 4343)
    assert main(["--config", str(path), "init", "--force"]) == 0
    st = path.stat()
    assert path.read_text() != old and "[rabtui]" in path.read_text()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o600, 4242, 4343)


def test_init_of_a_name_too_long_says_so(tmp_path, capsys):
    path = tmp_path / ("x" * 300)
    assert main(["--config", str(path), "init"]) == 2    # what cannot be looked at is not written
    err = capsys.readouterr().err
    assert "Traceback" not in err and err.startswith(f"rabtui: {path} is not written: ") \
        and "cannot be looked at (File name too long)" in err


def test_init_uses_rabtui_config_from_the_environment(tmp_path, monkeypatch, capsys):
    path = tmp_path / "env.toml"
    monkeypatch.setenv("RABTUI_CONFIG", str(path))
    assert main(["init"]) == 0
    assert path.exists()
    assert f"wrote {path}; edit it, then run: rabtui check-config\n" == capsys.readouterr().out
    cfg = configmod.load(path, check_media=False)
    assert cfg.source("web1").directory("/srv/photos").kind == "archive"


def test_starter_quotes_a_state_dir_with_quotes_and_backslashes(tmp_path, monkeypatch):
    state_home = tmp_path / 'st"ate \\ dir'
    monkeypatch.setenv("XDG_STATE_HOME", str(state_home))
    path = tmp_path / "rabtui.toml"
    assert main(["--config", str(path), "init"]) == 0
    cfg = configmod.load(path, check_media=False)
    assert cfg.state_dir == state_home / "rabtui"


@pytest.mark.parametrize("nested", ["[" * 5000 + "]" * 5000, "{a = " * 5000 + "1" + "}" * 5000],
                         ids=["arrays", "inline tables"])
def test_values_nested_beyond_the_parser_are_a_config_error(folder, capsys, nested):
    path = write(folder, f"x = {nested}\n" + FULL)
    assert main(["--config", str(path), "check-config"]) == 2
    assert capsys.readouterr().err.strip() == f"rabtui: {path}: invalid TOML: values nested too deeply"


@pytest.mark.parametrize("where", ["rabtui.command_timeout = {n}", "x = [1, {n}]"], ids=["key", "in a list"])
def test_a_number_too_long_for_python_is_a_config_error_with_its_line(folder, capsys, where):
    # tomllib hands such a number to int(), which refuses more than 4300 digits with a ValueError
    text = FULL + "[extra]\n" + where.format(n="9" * 5000) + "\n"
    path = write(folder, text)
    assert main(["--config", str(path), "check-config"]) == 2
    line = len(FULL.splitlines()) + 2
    assert capsys.readouterr().err.strip() == f"rabtui: {path}:{line}: invalid TOML: a number of more than 4300 digits"


@pytest.mark.parametrize("key, value, problem", [
    ("host", "db2 example.com", "no spaces or control characters"),
    ("host", "db2\\texample.com", "no spaces or control characters"),
    ("host", "-oProxyCommand=x", "must not begin with '-'"),
    ("user", "back up", "no spaces or control characters"),
    ("user", "-oProxyCommand=x", "must not begin with '-'"),
])
def test_a_host_or_user_ssh_could_not_take_is_refused_with_its_line(folder, key, value, problem):
    # each would reach ssh and rsync's remote shell as an argument; a word beginning with '-' as
    # an option where ssh reads one
    text = FULL.replace('host = "db2.example.com"', f'host = "db2.example.com"\n{key} = "{value}"'
                        if key == "user" else f'host = "{value}"')
    assert_error(folder, text, f'{key} = "{value}"', f"sources[1].{key}", problem)


def _lines_run_in_the_parser(folder: Path, sources: int) -> int:
    """How many lines of parse.py run to load a file of `sources` sources (work, counted, not timed)."""
    text = FULL + "".join(f'\n[[sources]]\nid = "s{i}"\nhost = "h{i}"\n' for i in range(sources))
    path = write(folder, text)
    return lines_run("config/parse.py", lambda: configmod.load(path, check_media=False))


@pytest.mark.parametrize("value, problem", [
    ("-a", "must not begin with '-' (mount would read it as an option)"),   # mount -a PATH: all of fstab
    ("--bind", "must not begin with '-' (mount would read it as an option)"),
    ("/dev/sdb1\\n", "no control characters"),
])
def test_a_device_mount_would_read_as_an_option_is_refused_with_its_line(folder, value, problem):
    # the medium's device is handed to mount (as root) before its path
    text = FULL.replace('device = "/dev/sr1"', f'device = "{value}"')
    assert_error(folder, text, f'device = "{value}"', "media[0].device", re.escape(problem))


def test_a_file_of_many_sources_is_checked_in_one_pass(folder):
    # the duplicate-id check compared each source with all those before it: a 10 MB file of
    # 70,000 sources took minutes to load, for every command
    assert _lines_run_in_the_parser(folder, 600) < 2.5 * _lines_run_in_the_parser(folder, 300)


@pytest.mark.parametrize("typo, meant, where", [
    ("exlcudes", "excludes", "sources[0]"), ("pre_backup_command", "pre_backup_commands", "sources[0]"),
    ("identityfile", "identity_file", "sources[0]"), ("max_disks", "max_discs", "checkpoint"),
])
def test_an_unknown_key_close_to_a_known_one_is_said_to_be_a_typo(folder, typo, meant, where):
    table = "[checkpoint]" if where == "checkpoint" else 'user = "backup"'
    text = FULL.replace(table, f"{table}\n{typo} = 1", 1)
    assert_error(folder, text, f"{typo} = 1", f"{where}.{typo}", rf"unknown key: did you mean '{meant}'\? \(allowed")


def test_an_unknown_table_close_to_a_known_one_is_said_to_be_a_typo(folder):
    assert_error(folder, FULL + "[[source]]\nid = 'x'\n", "[[source]]", "source", r"did you mean 'sources'\?")


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_a_config_that_is_no_regular_file_is_refused_at_once(tmp_path, capsys, kind):
    """`--config` naming a FIFO waited for ever, /dev/zero was read until memory ran out: each is
    refused at once, exit 2, with what it is."""
    from rabtui.cli import main

    path = tmp_path / "rabtui.toml"
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        path = Path("/dev/zero")
    else:
        path.mkdir()
    assert main(["--config", str(path), "status"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and ("not a regular file" in err or "Is a directory" in err), err


def test_init_says_the_file_it_wrote_escaped(tmp_path, capsys):
    path = tmp_path / "new\ndir" / "x\033[31m.toml"
    assert main(["--config", str(path), "init"]) == 0
    out = capsys.readouterr().out
    assert "\033" not in out and out.count("\n") == 1, out     # one line, nothing the terminal obeys
    assert "new\\ndir/x\\033[31m.toml" in out
