"""A source's transfer options: what check-config accepts and refuses (file:line, exit 2), the rsync
argv they give, and the allow-list and bwlimit rules held against the real rsync."""

from __future__ import annotations

import subprocess

import pytest

from rabtui import rsync
from rabtui.config import transfer_options
from rabtui.backup import transfer
from rabtui.cli import main
from rabtui.config import Directory, Source
from tests.test_config import FULL, assert_error, folder, line_no, write  # noqa: F401 (fixture)

WEB1 = 'id = "web1"\n'


def _with(keys: str) -> str:
    return FULL.replace(WEB1, WEB1 + keys, 1)


# --- the argv -------------------------------------------------------------------------------------


def test_build_argv_adds_each_option_before_the_paths():
    argv = rsync.build_argv("backup@web1:/srv/", "/m/web/b/data/srv/", rsh="ssh", io_timeout=120,
                            one_file_system=True, bwlimit="5M", rsync_path="sudo rsync",
                            extra=["--compress", "--checksum"])
    options = argv[: argv.index("--")]
    for flag in ("--timeout=120", "-x", "--bwlimit=5M", "--rsync-path=sudo rsync", "--compress", "--checksum"):
        assert options.count(flag) == 1, flag
    assert argv[-3:] == ["--", "backup@web1:/srv/", "/m/web/b/data/srv/"]
    plain = rsync.build_argv("/srv", "/m/d/srv")
    assert not any(a.startswith(("--timeout", "--bwlimit", "--rsync-path")) or a == "-x" for a in plain)


def test_directory_argv_of_a_remote_and_a_local_source():
    d = Directory("/srv")
    remote = Source("web", (d,), host="web1", bwlimit="800", rsync_path="nice -n 19 rsync", one_file_system=True,
                    rsync_options=("--checksum",))
    argv = transfer.directory_argv(remote, d, "/m/x", rsh="ssh", link_dest=None, compare_dest=None,
                                   rsync_path="/usr/bin/rsync")
    assert argv[0] == "/usr/bin/rsync"
    assert {"--timeout=600", "-x", "--bwlimit=800", "--rsync-path=nice -n 19 rsync", "--checksum"} <= set(argv)
    # a local source runs its rsync_path as the command itself, split as a shell would
    local = Source("here", (d,), rsync_path="nice -n 19 '/opt/my rsync'", io_timeout=30)
    argv = transfer.directory_argv(local, d, "/m/x", rsh=None, link_dest=None, compare_dest=None,
                                   rsync_path="/usr/bin/rsync")
    assert argv[:4] == ["nice", "-n", "19", "/opt/my rsync"] and argv[4] == "-aH"
    assert "--timeout=30" in argv and not any(a.startswith("--rsync-path") for a in argv)
    assert "-x" not in argv and not any(a.startswith("--bwlimit") for a in argv)


# --- check-config ---------------------------------------------------------------------------------


def test_the_keys_load_with_their_defaults(folder):  # noqa: F811
    from rabtui import config as configmod

    web1 = configmod.load(write(folder, FULL)).source("web1")
    assert (web1.bwlimit, web1.rsync_path, web1.one_file_system, web1.io_timeout, web1.rsync_options) == \
        (None, None, False, 600, ())
    text = _with('bwlimit = 500\nrsync_path = "sudo rsync"\none_file_system = true\nio_timeout = 90\n'
                 'rsync_options = ["--compress", "--checksum", "--compress-level=3"]\n')
    web1 = configmod.load(write(folder, text)).source("web1")
    assert (web1.bwlimit, web1.rsync_path, web1.one_file_system, web1.io_timeout) == ("500", "sudo rsync", True, 90)
    assert web1.rsync_options == ("--compress", "--checksum", "--compress-level=3")
    assert configmod.load(write(folder, _with('bwlimit = "1.5M"\n'))).source("web1").bwlimit == "1.5M"
    for path in ("sudo -u rsync rsync", "sudo -u rsyncbackup /usr/bin/rsync", "nice -n 19 ionice -c3 rsync",
                 "rsync --bwlimit=5M --timeout=30 -x --compress", "flock /run/lock/rsync.lock rsync",
                 "flock -w 60 /run/lock/rsync.lock nice -n 19 rsync", "/opt/bin/rsync-3.4.1"):
        assert configmod.load(write(folder, _with(f'rsync_path = "{path}"\n'))).source("web1").rsync_path == path


@pytest.mark.parametrize("keys, needle, key, what", [
    ('bwlimit = "5X"\n', "bwlimit", "bwlimit", "not a rate rsync reads"),
    ('bwlimit = "100B"\n', "bwlimit", "bwlimit", "too small"),
    ("bwlimit = -5\n", "bwlimit", "bwlimit", "not a rate rsync reads"),
    ("bwlimit = true\n", "bwlimit", "bwlimit", "must be a string or an integer"),
    ('rsync_path = ""\n', "rsync_path", "rsync_path", "must name a command"),
    ("rsync_path = \"sudo 'rsync\"\n", "rsync_path", "rsync_path", "cannot be split"),
    ('one_file_system = "yes"\n', "one_file_system", "one_file_system", "must be true or false"),
    ("io_timeout = 0\n", "io_timeout", "io_timeout", "between 1 and 2147483647"),
    ("io_timeout = 2147483648\n", "io_timeout", "io_timeout", "between 1 and 2147483647"),
    ('rsync_options = ["--block-size=999999999"]\n', "rsync_options", "rsync_options", "largest block"),
    ('rsync_options = ["--checksum-choice=bogus"]\n', "rsync_options", "rsync_options", "valid value"),
    ('rsync_options = ["--compress-choice=bogus"]\n', "rsync_options", "rsync_options", "valid value"),
    ('rsync_path = "rsync --remove-source-files -L"\n', "rsync_path", "rsync_path", "delete the files on the source"),
    ('rsync_path = "sudo rsync -zL"\n', "rsync_path", "rsync_path", "not in the allow-list"),
    ('rsync_path = "rsync /etc"\n', "rsync_path", "rsync_path", "only rsync's flags may follow it"),
    ('rsync_path = "rsync rsync"\n', "rsync_path", "rsync_path", "only rsync's flags may follow it"),
    ('rsync_path = "rsync --bwlimit"\n', "rsync_path", "rsync_path", "write --bwlimit=RATE"),
    ('rsync_path = "rsync --bwlimit=lots"\n', "rsync_path", "rsync_path", "not a rate rsync reads"),
    ('rsync_path = "rsync --timeout"\n', "rsync_path", "rsync_path", "write --timeout=SECONDS"),
    ('rsync_path = "rsync --one-file-system=yes"\n', "rsync_path", "rsync_path", "takes no value"),
    ('rsync_path = "sudo -u rsync rsync -L"\n', "rsync_path", "rsync_path", "follow symlinks"),
    ('rsync_path = "nice -n19 rsync --inplace --skip-compress=gz/rsync"\n', "rsync_path", "rsync_path",
     "older backups share"),
    ('rsync_path = "ionice -t rsync /tmp/outside/rsync"\n', "rsync_path", "rsync_path",
     "only rsync's flags may follow it"),
    # rsync hands the value to ssh as a word after the host, which ssh reads as an option of its own
    # (the backup failed with ssh's usage text)
    ('rsync_path = "-oProxyCommand=touch /tmp/x rsync"\n', "rsync_path", "rsync_path", "must begin with a command"),
    ('rsync_path = " --inplace rsync"\n', "rsync_path", "rsync_path", "must begin with a command"),
    # a wrapper not named rsync: what follows it is what rsync gets
    ('rsync_path = "sudo /usr/local/bin/backup-wrapper --remove-source-files"\n', "rsync_path", "rsync_path",
     "delete the files on the source"),
    ('rsync_path = "/usr/bin/rsync.real -L"\n', "rsync_path", "rsync_path", "follow symlinks"),
    # over SSH the source's shell runs rsync_path: it ran `touch /tmp/x`, then the backup's rsync
    ('rsync_path = "touch /tmp/x; rsync"\n', "rsync_path", "rsync_path", "';' is an operator of the source's shell"),
    ('rsync_path = "sudo rsync|tee /tmp/x"\n', "rsync_path", "rsync_path", r"'\|' is an operator"),
    ('rsync_path = "nice rsync 2>/dev/null"\n', "rsync_path", "rsync_path", "'>' is an operator"),
    ('rsync_path = "X=$(touch /tmp/x) rsync"\n', "rsync_path", "rsync_path", r"'\$\(': the source's shell would run"),
    ('rsync_path = "`touch /tmp/x` rsync"\n', "rsync_path", "rsync_path", "'`': the source's shell would run"),
    ('rsync_path = "touch /tmp/x\\nrsync"\n', "rsync_path", "rsync_path", "control character"),
    ('io_timeout = "600"\n', "io_timeout", "io_timeout", "must be an integer"),
    ('rsync_options = "--compress"\n', "rsync_options", "rsync_options", "must be a list"),
    ('rsync_options = ["--compress-level"]\n', "rsync_options", "rsync_options", "VALUE"),
    ('rsync_options = ["--checksum=1"]\n', "rsync_options", "rsync_options", "takes no value"),
    ('rsync_options = ["--sparse"]\n', "rsync_options", "rsync_options", "not in the allow-list"),
    ('rsync_options = ["-zc"]\n', "rsync_options", "rsync_options", "not in the allow-list"),
])
def test_bad_values_name_the_line_and_key(folder, keys, needle, key, what):  # noqa: F811
    assert_error(folder, _with(keys), needle, f"sources[0].{key}", what)


REFUSED = ["--inplace", "--append", "--append-verify", "--delete", "--delete-after", "--delete-excluded",
           "-L", "--copy-links", "--remove-source-files", "--link-dest=/x", "--compare-dest=/x", "--copy-dest=/x",
           "--out-format=%n", "--info=name", "-i", "-v", "-q", "--progress", "--stats", "-h", "--files-from=/x",
           "--dry-run", "-n", "-e", "--rsh=ssh", "--rsync-path=sudo rsync", "--bwlimit=5M", "--timeout=5",
           "--exclude=*.o", "-x", "--fake-super"]


@pytest.mark.parametrize("option", REFUSED)
def test_a_refused_option_is_exit_2_with_its_line(folder, capsys, option):  # noqa: F811
    text = _with(f'rsync_options = ["--compress",\n    "{option}"]\n')
    path = write(folder, text)
    assert main(["--config", str(path), "check-config"]) == 2
    err = capsys.readouterr().err
    assert len(err.splitlines()) == 1 and "Traceback" not in err
    assert err.startswith(f"rabtui: {path}:{line_no(text, 'rsync_options')}: sources[0].rsync_options: "
                          f"{option!r} is refused: "), err


# --- held against the real rsync ------------------------------------------------------------------


def _rsync_takes_bwlimit(value: str) -> bool:
    done = subprocess.run(["rsync", f"--bwlimit={value}", "--version"], capture_output=True)
    return done.returncode == 0


@pytest.mark.parametrize("value", ["500", "0", "1", "5M", "5m", "1.5M", ".5", "5.", "800K", "800KB", "5MiB",
                                   "1kib", "512B", "0B", "1g", "2T", "16P", "5M+1", "0.5+1", "0.5",
                                   "0.4", "511B", "100b", "5X", "4E", "1e3", "1,5", " 5M", "9999P", "-1", "0.5-1",
                                   "１２", "٣M", "5.５"])      # digits Python reads, rsync does not
def test_bwlimit_is_accepted_exactly_when_rsync_accepts_it(value):
    assert (transfer_options.bwlimit_problem(value) is None) == _rsync_takes_bwlimit(value)


def _allowed_examples() -> list[str]:
    values = {"--compress-level": "3", "--compress-choice": "zlib", "--skip-compress": "gz/jpg",
              "--checksum-choice": "md5", "--block-size": "8192"}
    return [f"{flag}={values[flag]}" if pattern else flag for flag, pattern in transfer_options.ALLOWED.items()]


def test_every_allowed_option_works_with_a_backup_s_own_flags(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "f").write_bytes(b"x" * 10000)
    for option in _allowed_examples():
        assert transfer_options.rsync_option_problem(option) is None
        dest = tmp_path / option.strip("-").replace("/", "_")
        argv = rsync.build_argv(str(src), str(dest), io_timeout=60, extra=[option])
        done = subprocess.run(argv, capture_output=True, env=rsync.ENV)
        assert done.returncode == 0, (option, done.stderr)
        assert (dest / "f").read_bytes() == b"x" * 10000


@pytest.mark.parametrize("option", ["--compress-level=３", "--block-size=８192", "--block-size=\u0668K"])
def test_a_value_in_digits_other_than_ascii_is_refused_as_rsync_refuses_it(option):
    assert transfer_options.rsync_option_problem(option) is not None
    assert subprocess.run(["rsync", option, "--version"], capture_output=True).returncode != 0


def test_readme_lists_the_allow_list_and_each_key():
    from pathlib import Path

    readme = (Path(__file__).parent.parent / "README.md").read_text()
    section = readme[readme.index("**Transfer options.**"):readme.index("**Notifications.**")]
    listed = [word.strip("`,.") for word in section.split("VALUE`):")[1].split("Anything else")[0].split()
              if word.startswith("`-")]
    assert listed == list(transfer_options.ALLOWED)
    for key in ("bwlimit", "rsync_path", "one_file_system", "io_timeout", "rsync_options"):
        assert f"\n{key} = " in readme
