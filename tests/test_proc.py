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
