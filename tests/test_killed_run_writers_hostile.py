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
import time
from pathlib import Path

from rabtui import faults, proc_table
from tests import preloaded
from tests.test_kill_anywhere import _files, rabtui
from tests.test_killed_run_writers_named import FREEZER, _frozen, killed_run
from tests.test_lock_waits import _HOLD, _end
from tests.trees import Lab


def _rabtui_bytes(lab: Lab, *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != faults.ENV}
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         env=env, capture_output=True, timeout=120, stdin=subprocess.DEVNULL)


def test_hostile_command_lines_of_writers_left_are_said_escaped_and_short(tmp_path):
    lab, killed = killed_run(tmp_path)
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


SPAWN = """
import os, subprocess, sys, time
n, into = int(sys.argv[1]), sys.argv[2]
kids = [subprocess.Popen(["rsync", "-c", "import time; time.sleep(600)", f"{into}/" + "y" * 500 + f"{i:04}"],
                         executable=sys.executable) for i in range(n)]
time.sleep(600)
"""


def _rsyncs_in(group: Path) -> int:
    """How many processes of the cgroup `group` run as rsync (each child once it has exec'd)."""
    count = 0
    for pid in (group / "cgroup.procs").read_text().split():
        try:
            count += Path(f"/proc/{pid}/cmdline").read_bytes().startswith(b"rsync\0")
        except OSError:
            pass
    return count


def test_many_writers_left_are_said_in_a_bounded_message(tmp_path):
    """Processes another started in numbers, each with its own command line naming the killed
    run's directory, none of which can be stopped: the next backup waits for them all at once
    (GROUP_DEATH seconds, not that many for each), and its message names a few of them and says
    how many more, whatever their number."""
    lab, killed = killed_run(tmp_path)
    many = 60
    group = FREEZER / f"rabtui-test-{os.getpid()}"
    argv = [sys.executable, "-c", SPAWN, str(many), killed["path"]]
    with _frozen(group, argv, started=lambda: _rsyncs_in(group) == many) as pids:
        began = time.monotonic()
        busy = rabtui(lab, "backup", "loc", timeout=100)
        took = time.monotonic() - began
        said = busy.stdout + busy.stderr
        assert busy.returncode == 0 and "Traceback" not in said, said
        assert f"{many} rsync process(es) still write into it and could not be stopped" in said, said
        assert took < 4 * proc_table.GROUP_DEATH, took
        warning = next(line for line in said.splitlines() if "could not be stopped" in line)
        assert len(warning) < 2000, len(warning)
        shown = sorted(p for p in pids if f"pid {p} (" in warning)
        assert f"and {many - len(shown)} more" in warning and 0 < len(shown) < 10, warning


def test_a_lock_holder_with_a_huge_command_line_is_named_short(tmp_path):
    """A process holding a lock (here the union lock, stopped) whose command line is huge: the
    backup that waits for it names it by a command line cut to COMMAND_SAID characters."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")], extra="io_timeout = 1")
    _files(lab.src / "arch", {"a": b"a"})
    lab.state.mkdir(parents=True, exist_ok=True)
    holder = preloaded.Popen([sys.executable, "-c", _HOLD, str(lab.state), "loc", "\x01" * 50_000],
                             cwd=Path(__file__).resolve().parent.parent, stdin=subprocess.DEVNULL,
                             stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == b"held\n"
        result = lab.backup(cfg)
    finally:
        _end(holder)
    assert result.status == "failed", result
    said = [m for m in lab.messages() if f"pid {holder.pid}" in m]
    assert said and all(len(m) < 1000 for m in said), [len(m) for m in said]
