"""Bad input on the command line gets one clear `rabtui: ...` line and exit 2, never a traceback:
ids and numbers the state database cannot hold, backup names that are not UTF-8 (checked against
the backup-name pattern before any lookup), a Prometheus file in a directory that does not exist,
a name that begins with a dash (taken for an option: the message says how to write it).
Each runs `python -m rabtui` as the operator would, with a real backup in the state."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.trees import Lab, write_files
from tests import preloaded

ROOT = Path(__file__).resolve().parent.parent
HUGE = str(2 ** 70)


def _rabtui(config, *args):
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(config), *args],
                         capture_output=True, cwd=ROOT, stdin=subprocess.DEVNULL, timeout=120)


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("bad_input"), media_count=1)
    lab.local()
    write_files(lab.src / "data", {"a": b"one", "-rf": b"dashed"})
    assert _rabtui(lab.config_path, "backup", "loc").returncode == 0
    return lab


def _refused(done) -> str:
    """The command's error output, after checking it is a usage error said in one `rabtui:` line."""
    err = done.stderr.decode(errors="replace")
    assert b"Traceback" not in done.stderr, err[-600:]
    assert done.returncode == 2, (done.returncode, err[-600:])
    assert err.startswith("rabtui: ") or "\nrabtui: " in err, err
    return err


@pytest.mark.parametrize("args", [
    ["checkpoint", "verify", HUGE],
    ["checkpoint", "verify", "1", "--disc", HUGE],
    ["checkpoint", "resume", HUGE],
    ["checkpoint", "abandon", HUGE],
    ["jobs", "follow", HUGE],
    ["jobs", "answer", HUGE, "ready"],
    ["jobs", "cancel", HUGE],
    ["jobs", "cancel", "0"],
    ["restore", "--checkpoint", HUGE, "loc", "{data}", "--to", "{work}/nowhere"],
    ["backup", "loc", "--job-id", HUGE],
], ids=lambda a: " ".join(a[:3]))
def test_an_id_the_state_database_cannot_hold(lab, args):
    err = _refused(_rabtui(lab.config_path, *[a.replace("{data}", str(lab.src / "data")).replace("{work}", str(lab.tmp))
                                              for a in args]))
    assert "out of range: give a number from 1 to 9223372036854775807" in err


def test_an_id_that_is_no_number(lab):
    assert "not a whole number: \"x\"" in _refused(_rabtui(lab.config_path, "jobs", "follow", "x"))


@pytest.mark.parametrize("args", [
    [b"diff", b"loc", b"backup-20000101000000", b"backup-\xff"],
    [b"diff", b"loc", b"1", HUGE.encode()],
    [b"restore", b"--backup", b"backup-\xff", b"loc", b"{data}", b"--to", b"{work}/nowhere"],
], ids=["diff, not UTF-8", "diff, an id too large", "restore --backup, not UTF-8"])
def test_a_backup_name_that_cannot_name_a_backup(lab, args):
    err = _refused(_rabtui(lab.config_path, *[a.replace(b"{data}", bytes(lab.src / "data"))
                                              .replace(b"{work}", bytes(lab.tmp)) for a in args]))
    assert "not a backup's name (backup-YYYYmmddHHMMSS[-N]) or id" in err
    assert not (lab.tmp / "nowhere").exists()
    # the restore was refused before it became a job
    listed = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "jobs", "list"],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert "restore" not in listed.stdout, listed.stdout


def test_prometheus_file_in_a_missing_directory(lab, tmp_path):
    target = tmp_path / "no" / "such" / "x.prom"
    err = _refused(_rabtui(lab.config_path, "check", "--prometheus", str(target)))
    assert f"rabtui: --prometheus {target}: {target.parent} does not exist: make it" in err
    (tmp_path / "no").write_text("")
    err = _refused(_rabtui(lab.config_path, "check", "--prometheus", str(tmp_path / "no" / "x.prom")))
    assert f"rabtui: --prometheus {tmp_path / 'no' / 'x.prom'}: {tmp_path / 'no'} is not a directory" in err


def test_prometheus_file_named_empty(lab):
    """An empty name (an unset variable in a timer's command line) is no file: said, not a check
    that writes no metrics and looks as if it did."""
    err = _refused(_rabtui(lab.config_path, "check", "--prometheus", ""))
    assert "rabtui: give the file to write after --prometheus" in err


def test_a_checkpoint_that_was_never_made(lab):
    err = _refused(_rabtui(lab.config_path, "restore", "--checkpoint", "5", "loc", str(lab.src / "data"),
                           "--to", str(lab.tmp / "nowhere")))
    assert "rabtui: there is no checkpoint 5" in err and "checkpoint status" in err
    assert not (lab.tmp / "nowhere").exists()


def test_nothing_to_resume_or_verify_records_no_failed_job(lab):
    """Refused before any work starts, as a backup of an unknown source is: no job is recorded,
    so none stays on the dashboard as failed."""
    jobs = lab.store().one("SELECT COUNT(*) FROM jobs")[0]
    assert "rabtui: there is no unfinished checkpoint to resume" in _refused(_rabtui(lab.config_path, "checkpoint",
                                                                                    "resume"))
    assert "rabtui: there is no checkpoint 7" in _refused(_rabtui(lab.config_path, "checkpoint", "resume", "7"))
    assert "rabtui: there is no checkpoint yet" in _refused(_rabtui(lab.config_path, "checkpoint", "verify"))
    assert "rabtui: there is no checkpoint 7" in _refused(_rabtui(lab.config_path, "checkpoint", "verify", "7"))
    assert lab.store().one("SELECT COUNT(*) FROM jobs")[0] == jobs


def test_a_path_to_restore_that_names_no_place_on_the_source(lab):
    """`.` and `../x` (no path from / on the source) are bad usage, exit 2, as an empty one is."""
    for path in (".", "../x"):
        err = _refused(_rabtui(lab.config_path, "restore", "loc", path, "--to", str(lab.tmp / "nowhere")))
        assert f"rabtui: refusing to restore the unsafe name {path}" in err and "give the path on the source" in err
    assert not (lab.tmp / "nowhere").exists()


@pytest.mark.parametrize("args, what", [
    (["find", "-rf"], "PATTERN"),
    (["restore", "loc", "-rf", "--to", "{work}/dashed"], "PATH"),
], ids=["find", "restore"])
def test_a_name_that_begins_with_a_dash_is_said_how_to_write(lab, args, what):
    """argparse takes `-rf` for an option and says a PATTERN is missing: the command says instead
    that it has no such option, and the command line that gives the name (after --, the options
    first), which does."""
    args = [a.replace("{work}", str(lab.tmp)) for a in args]
    err = _refused(_rabtui(lab.config_path, *args))
    assert f"rabtui: {args[0]} has no option -rf\n" in err, err
    said = err.split(f"a {what} that begins with a dash is written after --: rabtui ", 1)[1].strip()
    again = shlex.split(said)
    assert again[:3] == ["--config", str(lab.config_path), args[0]] and "--" in again, said
    if args[0] == "find":
        done = preloaded.run([sys.executable, "-m", "rabtui", *again], capture_output=True, text=True, cwd=ROOT,
                             timeout=60)
        assert done.returncode == 0 and "/data/-rf" in done.stdout, (done.returncode, done.stdout, done.stderr)
    else:    # a path on the source is given from /: this one is refused as such, no longer for its dash
        err = _refused(_rabtui(*again[1:]))
        assert "has no option" not in err and "-rf" in err, err
        assert not (lab.tmp / "dashed").exists()


@pytest.mark.parametrize("word", ["sources", "media", "checkpoint", "config", "schedule"])
def test_a_command_without_its_action_shows_its_actions_and_is_bad_usage(word, capsys):
    """`rabtui checkpoint` alone printed its actions and exited 0, as if it had done something, and
    `rabtui schedule` alone printed the help of `rebuild-state` (the parser registered after it)."""
    from rabtui.cli import main

    assert main([word]) == 2
    out = capsys.readouterr().out
    assert out.startswith(f"usage: rabtui {word} ") and "ACTION" in out, out


def test_a_name_too_long_or_a_file_on_the_way_is_said_never_a_traceback(lab, tmp_path, capsys):
    """--prometheus, demo --dir and --drive images: with a name longer than 255 bytes, or a file
    where a folder should be: each looked at it with a call that raised (File name too long, Not a
    directory) through to a traceback."""
    from rabtui.cli import main

    long_name = tmp_path / ("n" * 256)
    config = ["--config", str(lab.config_path)]
    assert main([*config, "check", "--prometheus", str(long_name / "x.prom")]) == 2
    assert "is not a directory" in capsys.readouterr().err
    assert main([*config, "checkpoint", "burn", "--drive", f"images:{long_name}"]) == 2
    assert "is 256 bytes long: a file system holds 255 at most" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("")
    for where, why in ((long_name, "File name too long"), (tmp_path / "a-file" / "demo", "Not a directory")):
        assert main(["demo", "--dir", str(where), "--no-open"]) == 2
        err = capsys.readouterr().err
        assert f"rabtui: {where}: {why}" in err and "Traceback" not in err


def test_a_drive_whose_name_is_not_utf8_is_refused_before_anything_is_recorded(lab, tmp_path, capsys):
    """`checkpoint burn --drive images:<folder named in Latin-1>` recorded the checkpoint, then
    ended in a traceback (the state database keeps a drive as text), leaving it unfinished."""
    from rabtui.cli import main

    folder = os.fsencode(tmp_path) + b"/iso\xff"
    os.mkdir(folder)
    drive = "images:" + os.fsdecode(folder)
    own = tmp_path / "rabtui.toml"     # the module's lab, with a checkpoint table
    own.write_text(lab.config_path.read_text() + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    own.chmod(0o600)
    config = ["--config", str(own)]
    for args in (["checkpoint", "burn", "--yes", "--now"], ["checkpoint", "resume", "1", "--yes"],
                 ["checkpoint", "verify", "1", "--yes"], ["rebuild-state"]):
        assert main([*config, *args, "--drive", drive]) == 2, args
        err = capsys.readouterr().err
        assert "is not UTF-8" in err and "Traceback" not in err, (args, err)
    assert not os.listdir(folder) and not lab.store().all("SELECT number FROM checkpoints")


def test_an_images_folder_too_deep_for_xorriso_is_refused_before_anything_is_recorded(lab, tmp_path, capsys,
                                                                                       monkeypatch):
    """An images: folder past 988 bytes: xorriso (libburn keeps a drive's address in 1024 bytes)
    aborted on "buffer overflow detected" at each disc, the checkpoint recorded and never written."""
    from rabtui.cli import main

    folder = os.fsencode(tmp_path / "iso")
    while len(folder) < 1000:
        folder = os.path.join(folder, b"d" * 100)
    os.makedirs(folder)
    own = tmp_path / "rabtui.toml"
    own.write_text(lab.config_path.read_text() + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path}"\n')
    own.chmod(0o600)
    monkeypatch.chdir(folder)
    for drive in ("images:" + os.fsdecode(folder), "images:."):
        for args in (["checkpoint", "burn", "--yes", "--now"], ["rebuild-state"]):
            assert main(["--config", str(own), *args, "--drive", drive]) == 2, args
            err = capsys.readouterr().err
            assert "xorriso takes a disc image's path of at most 1017 bytes" in err, (args, err)
    assert not os.listdir(folder) and not lab.store().all("SELECT number FROM checkpoints")


@pytest.mark.parametrize("fresh", [[], ["--fresh"]], ids=["again", "--fresh"])
def test_demo_never_builds_over_nor_removes_a_folder_of_other_files(tmp_path, capsys, fresh):
    """`rabtui demo --dir /etc/rabtui` wrote the demo's config over the operator's, and
    `rabtui demo --fresh --dir ~` removed the whole home folder before building there."""
    from rabtui.cli import main

    home = tmp_path / "home"
    home.mkdir()
    (home / "rabtui.toml").write_text("# the operator's own\n")
    (home / "thesis.tex").write_text("years of work\n")
    assert main(["demo", "--dir", str(home), "--no-open", *fresh]) == 2
    assert f"rabtui: {home} holds other files and no demo sandbox: nothing there is written over or removed" \
        in capsys.readouterr().err
    assert sorted(p.name for p in home.iterdir()) == ["rabtui.toml", "thesis.tex"]
    assert (home / "rabtui.toml").read_text() == "# the operator's own\n"


def test_check_never_writes_its_textfile_over_another_file(lab, tmp_path, capsys):
    """`check --prometheus` named the config (a typo, a swapped argument): the config was replaced by
    the metrics, 0644; with a config that does not load, the textfile saying so replaced it too."""
    from rabtui.cli import main

    config = tmp_path / "rabtui.toml"
    config.write_bytes(lab.config_path.read_bytes())
    before = config.read_bytes()
    assert main(["--config", str(config), "check", "--prometheus", str(config)]) == 2
    assert "it holds a file that is no textfile of `rabtui check`; not written over" in capsys.readouterr().err
    broken = tmp_path / "broken.toml"
    broken.write_text("[rabtui\n")
    assert main(["--config", str(broken), "check", "--prometheus", str(config)]) == 2
    assert config.read_bytes() == before
    # the textfile of an earlier check, and an empty file made ready for it, are written
    textfile = tmp_path / "rabtui.prom"
    for _ in range(2):
        main(["--config", str(config), "check", "--prometheus", str(textfile)])
        assert textfile.read_text().startswith("# HELP rabtui_health_status")
        textfile.write_text("")


def test_a_restore_refused_for_its_arguments_records_no_failed_job(lab):
    """A path that names no place on the source, a target that is a file, a checkpoint never made:
    what the operator typed is said to them (exit 2), and no failed job is left on the dashboard
    for a restore that never ran, as none is for a checkpoint with nothing to resume."""
    jobs = lab.store().one("SELECT COUNT(*) FROM jobs")[0]
    (lab.tmp / "a-file").write_bytes(b"x")
    _refused(_rabtui(lab.config_path, "restore", "loc", "../x", "--to", str(lab.tmp / "nowhere")))
    _refused(_rabtui(lab.config_path, "restore", "loc", str(lab.src / "data" / "a"), "--to", str(lab.tmp / "a-file")))
    _refused(_rabtui(lab.config_path, "restore", "--checkpoint", "5", "loc", str(lab.src / "data"),
                     "--to", str(lab.tmp / "nowhere")))
    assert lab.store().one("SELECT COUNT(*) FROM jobs")[0] == jobs


def test_a_job_id_that_is_not_a_job_waiting_to_start_of_that_kind_is_refused(lab):
    """`--job-id` (the UI's detached jobs) takes over only its own queued row: a finished job, or a
    queued one of another kind, is refused and stays as it was (its title, start and events)."""
    store = lab.store()
    backup = store.one("SELECT * FROM jobs WHERE kind='backup' AND status='completed' ORDER BY id LIMIT 1")
    store.execute("INSERT INTO jobs(kind, target, title, argv, status, started, heartbeat)"
                  " VALUES ('checkpoint', NULL, 'checkpoint burn', '[]', 'queued', 1, 1)")
    queued = store.one("SELECT * FROM jobs WHERE kind='checkpoint' AND status='queued'")
    events = store.one("SELECT COUNT(*) FROM events WHERE job_id=?", (backup["id"],))[0]
    for row in (backup, queued):
        err = _refused(_rabtui(lab.config_path, "restore", "loc", str(lab.src / "data" / "a"),
                               "--to", str(lab.tmp / "taken"), "--job-id", str(row["id"])))
        assert f"rabtui: job {row['id']} is not a restore waiting to start" in err, err
        assert dict(lab.store().one("SELECT * FROM jobs WHERE id=?", (row["id"],))) == dict(row)
    assert lab.store().one("SELECT COUNT(*) FROM events WHERE job_id=?", (backup["id"],))[0] == events
    assert not (lab.tmp / "taken").exists()
    err = _refused(_rabtui(lab.config_path, "backup", "loc", "--job-id", str(backup["id"])))
    assert f"job {backup['id']} is not a backup waiting to start (it is a backup, completed)" in err, err
