"""The program a timer of root runs: `schedule install` names no program, interpreter or module
another user could change (their checkout in their home, a `__pycache__` a umask of 000 left open
to all): root's timer would run their code, which reads and rewrites every backup. `check` says
it as critical."""

from __future__ import annotations

import os
import pwd
import re
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


def test_units_are_not_written_where_another_user_can_change_them(open_base, tmp_path, capsys):
    """A unit directory in a folder of another user's: they could rewrite the service's ExecStart
    once written, which root's timer then runs."""
    lab = Lab(tmp_path)
    lab.local()
    theirs = open_base / "alice"
    theirs.mkdir()
    os.chown(theirs, NOBODY.pw_uid, NOBODY.pw_gid)
    units = theirs / "units"

    code, out = _install(lab, units, capsys)

    assert code == 2, out
    assert f"{theirs} belongs to user nobody" in out and "Traceback" not in out, out
    assert not units.exists()


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
    """Python makes `__pycache__` 0777 less the umask as it first imports a module (before rabtui
    sets its own): a checkout run first from a shell of umask 000 lets anyone put compiled code of
    theirs there. Made so here by hand (a run under umask 000 would do it to the test's venv too)."""
    copy = tmp_path / "code"
    shutil.copytree(Path(__file__).resolve().parent.parent / "rabtui", copy / "rabtui",
                    ignore=shutil.ignore_patterns("__pycache__"))
    copy.chmod(0o755)
    tmp_path.chmod(0o755)
    open_cache = copy / "rabtui" / "__pycache__"
    open_cache.mkdir()
    open_cache.chmod(0o777)
    lab = Lab(tmp_path)
    lab.local()
    # one interpreter of the copy: schedule install, check, then schedule install once it is closed
    code = (f"import os, sys\nfrom rabtui.cli import main\nconfig = ['--config', {str(lab.config_path)!r}]\n"
            "for args in (['schedule', 'install'], ['check'], 'close', ['schedule', 'install']):\n"
            "    if args == 'close':\n"
            f"        os.chmod({str(open_cache)!r}, 0o755)\n"
            "        continue\n"
            "    code = main(config + args)\n"
            "    print(f'== {code}', flush=True)\n"
            "    print(f'== {code}', file=sys.stderr, flush=True)\n")
    done = subprocess.run([sys.executable, "-c", code], env={**os.environ, "PYTHONPATH": str(copy)},
                          capture_output=True, text=True, cwd=copy)
    out, err = (re.split(r"^== (\d+)\n", text, flags=re.M) for text in (done.stdout, done.stderr))
    assert out[1::2] == ["2", "2", "0"], done.stdout + done.stderr
    outs, errs = out[0::2], err[0::2]
    assert f"{open_cache} is writable by everyone" in errs[0] and "ExecStart" not in outs[0], done.stderr
    assert f"rabtui's program: {open_cache} is writable by everyone" in outs[1], outs[1]
    assert "ExecStart" in outs[2], done.stdout + done.stderr     # closed (the fix it names): written
