"""The command lines of a killed run's rsync processes that cannot be stopped, as the next backup
names them: a name in them with control characters and bytes that are not UTF-8 (another's file,
say) is shown escaped as `ls -b` shows it (`\\033`, `\\377`), never as raw control characters nor
with those bytes lost; processes that differ only in such bytes are told apart; and however long
the command line, what is said of it stays short. A real rsync, frozen (see
test_killed_run_writers_named)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rabtui import faults
from tests.test_kill_anywhere import _files, _killed, rabtui
from tests.test_killed_run_writers_named import FREEZER, _frozen
from tests.trees import Lab


def _rabtui_bytes(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    return subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                          env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def test_hostile_command_lines_of_writers_left_are_said_escaped_and_short(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    _files(lab.src / "data", {"a": b"a1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _files(lab.src / "data", {"a": b"a2" * 100})
    _killed(rabtui(lab, "backup", "loc", point="backup.catalog"))
    killed = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    into = os.fsencode(killed["path"]) + b"/data/b\xff\x1b]0;owned\x07\x1b[2J"
    big = tmp_path / "big"
    big.write_bytes(b"b" * 200_000)
    argv = [b"rsync", b"--bwlimit=1", b"--inplace", b"--out-format=" + b"\x01" * 3000, os.fsencode(big), into]
    with _frozen(FREEZER / f"rabtui-test-{os.getpid()}", argv, started=lambda: os.path.exists(into)):
        busy = _rabtui_bytes(lab, "backup", "loc")
        said = busy.stdout + busy.stderr
        assert busy.returncode == 0 and b"Traceback" not in said, said
        assert b"\x1b" not in said and b"\x07" not in said, said
        assert b"\xff" not in said and "\ufffd".encode() not in said, said
        line = said.split(b"`")[1]
        assert line.startswith(b"rsync --bwlimit=1 --inplace "), line
        assert line.endswith(b"/data/b\\377\\033]0;owned\\a\\033[2J"), line
        assert len(line.decode()) <= 160, line
        # in the state database, as the TUI reads it, with those bytes kept too
        events = [r[0] for r in lab.store().all("SELECT message FROM events WHERE message LIKE '%could not be stopped%'")]
        assert events and all("\ufffd" not in m for m in events), events
