"""The program a timer of root runs: `schedule install` names no program, interpreter or module
another user could change (their checkout in their home, a `__pycache__` a umask of 000 left open
to all): root's timer would run their code, which reads and rewrites every backup. `check` says
it as critical."""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from rabtui.cli import main
from tests.trees import Lab

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root, to give files to another user")

NOBODY = pwd.getpwnam("nobody")


def _install(lab: Lab, units: Path, capsys) -> tuple[int, str]:
    code = main(["--config", str(lab.config_path), "schedule", "install", "--write", "--unit-dir", str(units)])
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_a_program_in_another_users_directory_is_refused(open_base, tmp_path, monkeypatch, capsys):
    lab = Lab(tmp_path)
    lab.local()
    home = open_base / "alice"
    (home / "bin").mkdir(parents=True)
    program = home / "bin" / "rabtui"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o755)
    os.chown(home, NOBODY.pw_uid, NOBODY.pw_gid)     # their checkout: they may swap bin/ for theirs
    monkeypatch.setattr(sys, "argv", [str(program), "schedule", "install"])
    units = tmp_path / "units"

    code, out = _install(lab, units, capsys)

    assert code == 2, out
    assert f"{home} belongs to user nobody" in out and "Traceback" not in out, out
    assert not units.exists() or not any(units.iterdir())
    # printed alone, the units are refused likewise: they are meant to be installed
    code = main(["--config", str(lab.config_path), "schedule", "install"])
    out = capsys.readouterr()
    assert code == 2 and "ExecStart" not in out.out, out


def test_a_program_file_others_may_write_is_refused(open_base, tmp_path, monkeypatch, capsys):
    lab = Lab(tmp_path)
    lab.local()
    program = open_base / "rabtui"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o757)
    monkeypatch.setattr(sys, "argv", [str(program), "schedule", "install"])

    code, out = _install(lab, tmp_path / "units", capsys)

    assert code == 2 and f"{program} is writable by everyone" in out, out


def test_a_module_cache_left_open_by_a_umask_of_000_is_refused(tmp_path, capsys):
    """Python makes `__pycache__` 0777 less the umask as it first imports a module: a checkout run
    first from a shell of umask 000 lets anyone put compiled code of theirs there."""
    copy = tmp_path / "code"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rabtui", copy / "rabtui",
                    ignore=shutil.ignore_patterns("__pycache__"))
    copy.chmod(0o755)
    tmp_path.chmod(0o755)
    lab = Lab(tmp_path)
    lab.local()
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(copy)
    run = [sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "schedule", "install"]
    first = subprocess.run(run, env=env, capture_output=True, text=True, cwd=copy,
                           preexec_fn=lambda: os.umask(0))
    open_cache = copy / "rabtui" / "__pycache__"
    assert open_cache.stat().st_mode & 0o002, "the setting: Python made the cache open to all"
    assert first.returncode == 2, first.stdout + first.stderr
    assert f"{open_cache} is writable by everyone" in first.stderr, first.stderr
    assert "ExecStart" not in first.stdout
    check = subprocess.run([*run[:-2], "check"], env=env, capture_output=True, text=True, cwd=copy)
    assert f"rabtui's program: {open_cache} is writable by everyone" in check.stdout, check.stdout
    assert check.returncode == 2

    open_cache.chmod(0o755)    # the fix it names (each one)
    for d in copy.rglob("__pycache__"):
        d.chmod(0o755)
    again = subprocess.run(run, env=env, capture_output=True, text=True, cwd=copy)
    assert again.returncode == 0 and "ExecStart" in again.stdout, again.stderr
