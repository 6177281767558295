"""A file that grew while rsync read it: rsync itemizes it with the size it listed, writes what it
read and sets the listed time. The medium's copy is the one the backup made: a checkpoint plan of
the archive directory does not refuse it as written into since (the backup
says it saved the file as read, and records what it holds). Real rsync (slowed by bwlimit, so
the appending goes on while it reads the big file listed before)."""

from __future__ import annotations

import os
import threading

import pytest

from rabtui.checkpoint import prepare
from rabtui.errors import WorkFailed
from tests.trees import Lab


def test_a_file_grown_while_rsync_read_it_is_not_refused(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source([("data", "archive")], 'bwlimit = "4000"', "loc")
                    + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    data = lab.src / "data"
    (data / "a.bin").write_bytes(os.urandom(3_000_000))     # about 0.75 s at 4000 KiB/s
    (data / "z.txt").write_bytes(b"z\n")
    stop = threading.Event()

    def grow():
        while not stop.wait(0.01):
            with open(data / "z.txt", "ab") as f:
                f.write(b"more\n")

    writer = threading.Thread(target=grow)
    writer.start()
    try:
        done = lab.backup(cfg)
    finally:
        stop.set()
        writer.join()
    assert done.status in ("completed", "warnings"), done.reason
    try:
        prepare.compute(cfg, lab.store(), asked={"*"})
    except WorkFailed as exc:
        pytest.fail(str(exc))
