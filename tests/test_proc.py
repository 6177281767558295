"""proc.py, the one runner: reading a process that writes many small records, with naps."""

from __future__ import annotations

import sys
import threading

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
    # 500 writes a millisecond apart come in about one read per nap (some 25), not one per write; a
    # loaded machine stretches the writer's sleeps too, so only "far fewer than one per write" is said
    assert len(reads) < 250


def test_a_nap_ends_when_the_process_does():
    # an hour's nap would hold the run that long if the end of the process did not cut it short
    lines: list[bytes] = []
    result: list = []
    runner = threading.Thread(target=lambda: result.append(
        proc.run([sys.executable, "-c", "print('only line')"], on_stdout=lines.append, nap=3600)), daemon=True)
    runner.start()
    runner.join(120)
    assert not runner.is_alive(), "the run was still napping after its process had ended"
    assert lines == [b"only line"] and result[0].returncode == 0


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return not f.read().split(") ", 1)[1].startswith("Z")
    except FileNotFoundError:
        return False


def test_a_silent_process_is_killed_with_its_group_and_a_talking_one_is_not(tmp_path):
    import os
    import time

    import pytest

    from rabtui.errors import Stalled

    pid_file, finished = tmp_path / "child", tmp_path / "finished"
    # the child in the background (same group) must die too: it would hold the pipes open; the
    # shell, killed, never gets to leave its mark after the child's 60 s
    script = f"sleep 60 & echo $! > '{pid_file}'; echo started; wait; touch '{finished}'"
    with pytest.raises(Stalled, match="wrote nothing for 1 s"):
        proc.run(["/bin/sh", "-c", script], on_stdout=lambda _: None, silence=1)
    child = int(pid_file.read_text())
    end = time.monotonic() + 30      # the kill takes effect soon: a deadline for it, not a measure
    while alive(child):
        assert time.monotonic() < end, "the background child outlived its group's kill"
        time.sleep(0.05)
    assert not finished.exists()
    # output (on stderr too) every 0.3 s for 2 s: never silent for 1 s
    talker = "for i in 1 2 3 4 5 6 7; do echo $i >&2; sleep 0.3; done"
    assert proc.run(["/bin/sh", "-c", talker], silence=1).returncode == 0
