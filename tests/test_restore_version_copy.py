"""Which copy Browse restores a found version of a file from (restore.copies.copy_of_version), with
a real backup on a medium that is a directory (renamed away to play "not mounted") and a real
checkpoint burnt onto ISO files by an images: drive."""

from __future__ import annotations

import os
import threading
from datetime import datetime

from rabtui.checkpoint import prepare, run
from rabtui.events import READY, ScriptedPrompter
from rabtui.restore.copies import copy_of_version
from tests.trees import Lab, write_files


def test_medium_at_hand_then_verified_checkpoint_then_medium_away(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a/1": b"one", "a/2": b"two" * 1000})
    assert lab.backup(cfg, now=datetime(2026, 3, 1, 2)).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    assert run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                               prompter=ScriptedPrompter(lambda q: READY)).status == "completed"
    source = cfg.source("loc")
    path = lab.src / "data" / "a" / "2"
    rel = str(path).lstrip("/").encode()
    st = os.stat(path)
    version = (st.st_size, int(st.st_mtime))

    def chosen():
        c = copy_of_version(cfg, store, source, rel, *version)
        return c and (c.kind, c.medium if c.kind == "backup" else c.checkpoint)

    assert chosen() == ("backup", "m1")                  # the medium is at hand
    medium = lab.media[0][1]
    medium.rename(medium.with_name("medium1-in-the-drawer"))
    assert chosen() == ("disc", number)                  # out: the verified checkpoint
    assert copy_of_version(cfg, store, source, rel, version[0] + 1, version[1]) is None   # no such version
    store.execute("UPDATE discs SET state='written' WHERE number=?", (number,))
    assert chosen() == ("backup", "m1")                  # a disc not verified is no copy: the medium is asked for
    store.execute("UPDATE discs SET state='verified' WHERE number=?", (number,))
    store.execute("UPDATE backups SET status='deleted'")
    assert chosen() == ("disc", number)                  # the backup deleted from the medium: the checkpoint
