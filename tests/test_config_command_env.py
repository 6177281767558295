"""check-config and the console's source form judge a local source's commands, and notify.command,
as the nightly run will run them: from the working directory and with the PATH the schedule's units
give it (command_safety.SCHEDULED_CWD, SCHEDULED_PATH), not from the shell they are run in. Where only
that shell's directory or PATH makes a command refused, check-config says so in a warning (exit 0);
a backup run by hand from there still refuses it."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from rabtui import command_safety
from rabtui.cli import main
from rabtui.ops import schedule
from tests.trees import Lab, write_files

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give a folder to another user")


def _folder_of_nobody(base):
    from tests.other_user import NOBODY

    theirs = base / "alice"
    theirs.mkdir()
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    return theirs


def _check(lab: Lab, capsys) -> tuple[int, str]:
    code = main(["--config", str(lab.config_path), "check-config"])
    return code, capsys.readouterr().err


def test_a_working_directory_of_another_users_is_not_the_nightly_runs(tmp_path, open_base, monkeypatch, capsys):
    """Root in alice's home (`sudo -s`): `python3 -m platform` finds its module there first, as
    alice may put one; the nightly run starts in /, and runs it. check-config passes with a warning
    (no `chown` of her home), the form saves it, the backup run by hand from her home refuses it."""
    from rabtui.config import edit as config_edit

    theirs = _folder_of_nobody(open_base)
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local(extra='pre_backup_commands = ["python3 -m platform"]')
    write_files(lab.src / "data", {"a": b"1"})
    monkeypatch.chdir(theirs)
    code, err = _check(lab, capsys)
    assert code == 0 and "Traceback" not in err, err
    assert (f"sources[0].pre_backup_commands[0]: run by hand from {theirs} with this PATH, source loc's backup would"
            f" refuse it: it runs what another user can change: {theirs} belongs to user nobody") in err, err
    assert "the nightly run (from /, PATH /usr/local/sbin:" in err and "chown" not in err, err

    snapshot = config_edit.read(lab.config_path)
    values = snapshot.source_values("loc")
    config_edit.save(snapshot, snapshot.put_source({**values, "post_backup_commands": ["python3 -m platform"]},
                                                   "loc"))
    assert "post_backup_commands" in lab.config_path.read_text()

    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and f"{theirs} belongs to user nobody" in result.reason, result.reason
    monkeypatch.chdir("/")
    assert lab.backup(lab.load(), medium_id="m1").status == "completed"


def test_a_path_with_another_users_folder_is_not_the_nightly_runs(tmp_path, open_base, monkeypatch, capsys):
    """`su` without `-` keeps the user's PATH (~/.local/bin first): `cat` is looked for in their
    folder first. The nightly run has the schedule's PATH: check-config passes with a warning, for
    a source's command and for notify.command, and the form saves such a command."""
    from rabtui.config import edit as config_edit

    theirs = _folder_of_nobody(open_base)
    lab = Lab(tmp_path, media_count=1)
    lab.local(extra='pre_backup_commands = ["cat /dev/null"]')
    lab.config_path.write_text(lab.config_path.read_text() + '\n[notify]\ncommand = "cat /dev/null"\n')
    monkeypatch.setenv("PATH", f"{theirs}:{os.environ['PATH']}")
    code, err = _check(lab, capsys)
    assert code == 0 and "Traceback" not in err, err
    assert f"sources[0].pre_backup_commands[0]: run by hand from {os.getcwd()} with this PATH" in err, err
    assert f"notify.command: run by hand from {os.getcwd()} with this PATH, it would not be run" in err, err
    assert f"PATH's {theirs}, looked in for cat first" in err, err

    snapshot = config_edit.read(lab.config_path)
    values = snapshot.source_values("loc")
    config_edit.save(snapshot, snapshot.put_source({**values, "post_backup_commands": ["cat /dev/null --"]}, "loc"))
    assert "cat /dev/null --" in lab.config_path.read_text()

    monkeypatch.setenv("PATH", os.environ["PATH"].split(":", 1)[1])
    code, err = _check(lab, capsys)
    assert code == 0 and "warning" not in err, err


def test_what_the_nightly_run_refuses_check_config_still_refuses(tmp_path, capsys):
    """A script writable by everyone, named relatively from / as the nightly run starts there."""
    lab = Lab(tmp_path, media_count=1)
    script = tmp_path / "pre.sh"
    script.write_text("true\n")
    script.chmod(0o666)
    lab.local(extra=f'pre_backup_commands = ["sh {os.path.relpath(script, "/")}"]')
    code, err = _check(lab, capsys)
    assert code == 2 and f"{script} is writable by everyone" in err, err


def test_the_units_run_it_from_the_directory_and_with_the_path_judged(tmp_path, monkeypatch):
    """The service says both; the crontab line, run by sh from elsewhere with another PATH, runs the
    program from / with the schedule's PATH."""
    program = tmp_path / "rabtui"
    seen = tmp_path / "seen"
    program.write_text(f'#!/bin/sh\npwd > {seen}\necho "$PATH" >> {seen}\n')
    program.chmod(0o755)
    monkeypatch.setattr(sys, "argv", [str(program)])
    units = schedule.units(tmp_path / "rabtui.toml")
    search = ":".join(command_safety.SCHEDULED_PATH)
    assert f"\nWorkingDirectory=/\nEnvironment=PATH={search}\n" in units["rabtui-run-due.service"]
    command = units["crontab"].split(" ", 5)[5].removesuffix(" >/dev/null 2>&1\n")
    subprocess.run(["sh", "-c", command], cwd=tmp_path, env={"PATH": f"{tmp_path}:/usr/bin:/bin"},
                   check=True, timeout=60)
    assert seen.read_text() == f"/\n{search}\n"


def test_check_judges_the_commands_as_the_nightly_run_runs_them(tmp_path, open_base, monkeypatch, capsys):
    """`rabtui check` run by hand from alice's home says no command of the source or notify.command
    is one another user can change there where the timer runs it from / (it was CRITICAL); a
    world-writable script it runs is still said."""
    theirs = _folder_of_nobody(open_base)
    lab = Lab(tmp_path, media_count=1)
    lab.local(extra='pre_backup_commands = ["python3 -m platform"]')
    lab.config_path.write_text(lab.config_path.read_text() + '\n[notify]\ncommand = "python3 -m platform"\n')
    monkeypatch.chdir(theirs)
    main(["--config", str(lab.config_path), "check"])
    out = capsys.readouterr().out
    assert "CRITICAL: source loc: a pre/post command" not in out and "CRITICAL: notify.command" not in out, out

    script = open_base / "hook.sh"
    script.write_text("#!/bin/sh\ntrue\n")
    script.chmod(0o777)
    lab.config_path.write_text(lab.config_path.read_text().replace("python3 -m platform", str(script)))
    main(["--config", str(lab.config_path), "check"])
    out = capsys.readouterr().out
    assert f"CRITICAL: source loc: a pre/post command or rsync_path runs what another user can change: {script}" in out
    assert f"CRITICAL: notify.command: {script} is writable by everyone" in out, out
