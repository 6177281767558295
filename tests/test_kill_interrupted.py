"""A second Ctrl-C (a real SIGINT to rabtui's process) while a local pre/post command's group is
being killed: what the kill stopped is not left stopped for good, and what ignored SIGTERM is not
left running, the SIGKILL of the grace's end never sent (faults.KILL_POINTS hold rabtui there)."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from rabtui import faults
from tests.procs import kill_naming, sleeping, stat_fields

RUNNER = """
import sys
from rabtui import proc
try:
    proc.run_shell(sys.argv[1], timeout=1)
except KeyboardInterrupt:
    sys.exit(130)
"""



@pytest.mark.parametrize("point", faults.KILL_POINTS)
def test_a_second_ctrl_c_during_the_kill_of_a_command_leaves_nothing_of_it(point):
    word = f"{1000 + random.random():.6f}"
    # in the group, out of it (setsid), and one of each that ignores SIGTERM (ignored through exec)
    command = (f"sleep {word} & setsid sleep {word} & (trap '' TERM; exec sleep {word}) &"
               f" setsid sh -c \"trap '' TERM; exec sleep {word}\" & wait")
    runner = subprocess.Popen([sys.executable, "-c", RUNNER, command],
                              env={**os.environ, faults.STOP_ENV: point})
    try:
        while stat_fields(runner.pid)[0] != "T":      # held at the point (SIGSTOP of its own)
            assert runner.poll() is None
            time.sleep(0.02)
        # all stopped; or in the grace, those that ignored SIGTERM (the others may take a moment to end)
        held = 4 if point == "proc.tree_stopped" else 2
        end = time.monotonic() + 10
        while len(sleeping(word.encode())) > held and time.monotonic() < end:
            time.sleep(0.05)
        assert len(sleeping(word.encode())) == held
        os.kill(runner.pid, signal.SIGINT)            # pending until it runs again
        os.kill(runner.pid, signal.SIGCONT)
        assert runner.wait(timeout=60) == 130
        end = time.monotonic() + 10                   # what got SIGKILL may take a moment to be gone
        while sleeping(word.encode()) and time.monotonic() < end:
            time.sleep(0.05)
        left = sleeping(word.encode())
    finally:
        runner.kill()
        kill_naming(word.encode())
    assert left == []
