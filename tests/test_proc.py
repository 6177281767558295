"""proc.py, the one runner: reading a process that writes many small records, with naps."""

from __future__ import annotations

import sys

from rabtui import proc

# one record per write, a millisecond apart: a reader blocked on the pipe would wake for each
WRITER = """
import os, sys, time
for i in range(int(sys.argv[1])):
    os.write(1, b"record %d\\n" % i)
    time.sleep(0.001)
os.write(2, b"done\\n")
"""


def test_napping_reader_gets_every_record_in_order_a_few_reads_at_a_time():
    reads: list[bytes] = []
    done = proc.run([sys.executable, "-c", WRITER, "500"], on_stdout_data=reads.append, nap=0.02)
    assert done.returncode == 0 and done.stderr_tail == ["done"]
    assert proc.split_records(b"".join(reads)) == [b"record %d" % i for i in range(500)]
    # 500 writes over at least half a second come in about one read per nap, not one per write
    assert len(reads) < 150


def test_a_nap_ends_when_the_process_does():
    # a 30-second nap would hold the run that long if the end of the process did not cut it short
    lines: list[bytes] = []
    done = proc.run([sys.executable, "-c", "print('only line')"], on_stdout=lines.append, nap=30)
    assert lines == [b"only line"] and done.returncode == 0
    assert done.seconds < 20


def test_a_silent_process_is_killed_with_its_group_and_a_talking_one_is_not(tmp_path):
    import os
    import time

    import pytest

    from rabtui.errors import Stalled

    pid_file = tmp_path / "child"
    # the child in the background (same group) must die too: it would hold the pipes open
    script = f"sleep 60 & echo $! > '{pid_file}'; echo started; wait"
    started = time.monotonic()
    with pytest.raises(Stalled, match="wrote nothing for 1 s"):
        proc.run(["/bin/sh", "-c", script], on_stdout=lambda _: None, silence=1)
    assert time.monotonic() - started < 20
    child = int(pid_file.read_text())
    time.sleep(0.2)
    assert not os.path.exists(f"/proc/{child}") or " Z " in open(f"/proc/{child}/stat").read()
    # output (on stderr too) every 0.3 s for 2 s: never silent for 1 s
    talker = "for i in 1 2 3 4 5 6 7; do echo $i >&2; sleep 0.3; done"
    assert proc.run(["/bin/sh", "-c", talker], silence=1).returncode == 0
