"""A local pre/post command's kill (timeout, cancel) reaches a process orphaned during the grace:
started by one that dies at SIGTERM (in its handler), when the command's shell, their subreaper,
died at it too, it was init's child, out of the tree, and ran on. Found by the command's token
(proc_lifeline.MARK) in its environment, as over SSH."""

from __future__ import annotations

import random

import pytest

from rabtui import proc
from rabtui.errors import TimedOut
from tests.procs import kill_naming, sleeping



def test_what_a_dying_process_starts_in_the_grace_is_killed_with_the_command():
    word = f"{1000 + random.random():.6f}"
    starts = f"setsid sleep {word} & exit"      # out of the group, its parent gone at once
    command = f"sh -c 'trap \"{starts}\" TERM; while :; do sleep 0.1; done' & wait"
    try:
        with pytest.raises(TimedOut):
            proc.run_shell(command, timeout=1)
        left = sleeping(word.encode())
    finally:
        kill_naming(word.encode())
    assert left == []
