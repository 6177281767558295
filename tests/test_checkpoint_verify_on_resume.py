"""A disc that a killed run left written, not verified, is verified when the burn resumes, against
what it was written from: an archive directory's files in the backups that saved the versions
the checkpoint recorded, though a backup made since shows newer ones in the union. Real backups,
a real SIGKILL at burn.written, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from datetime import timedelta

import pytest

from rabtui import faults
from rabtui.checkpoint import questions, run
from rabtui.events import ABORT, READY, ScriptedPrompter
from rabtui.media import medium_layout
from tests.test_checkpoint import _record
from tests.test_checkpoint_holds_what_it_recorded import T0
from tests.trees import Lab
from tests import preloaded

M = 315_532_800          # 1980-01-01, as zip and many build tools set it


def _put(lab, cfg, data: bytes, note: bytes, day: int) -> None:
    f = lab.src / "arch" / "f"
    f.write_bytes(data)
    os.setxattr(f, "user.note", note)
    os.utime(f, (M, M))
    r = lab.backup(cfg, now=T0 + timedelta(days=day))
    assert r.status == "completed", r.reason


@pytest.mark.parametrize("later", ["newer", "same size and mtime"])
def test_a_disc_left_written_by_a_killed_run_is_verified_against_the_backup_it_was_read_from(tmp_path, later):
    """The archive file f is recorded (A, xattr user.note=first); the run writing its disc is
    killed once the disc is written; then a backup saves a newer f with another xattr value (of
    another size; or, after one of another size, of A's size and mtime: C). Resumed, the disc is
    verified, its xattrs compared with the backup that saved A (as when it is verified right after
    it is written): not said "not checked" for the union's newer f, nor failed against C's."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("arch", "archive")])
    _put(lab, cfg, b"A" * 1000, b"first", 0)
    store = lab.store()
    number = _record(lab, cfg, store)
    killed = preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "checkpoint",
                            "resume", str(number), "--yes"], env={**os.environ, faults.ENV: "burn.written"},
                           capture_output=True, timeout=120, stdin=subprocess.DEVNULL)
    assert killed.returncode == -9, killed.stderr
    assert store.one("SELECT state FROM discs WHERE number=? AND disc=1", (number,))["state"] == "written"
    _put(lab, cfg, b"B" * 2000, b"second", 1)
    if later != "newer":
        _put(lab, cfg, b"C" * 1000, b"third", 2)
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch")) / "f"
    assert os.getxattr(union, "user.note") != b"first"

    prompter = ScriptedPrompter(lambda q: ABORT if q.kind == questions.FAILED else READY)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    failed = [q.text for q in prompter.asked if q.kind == questions.FAILED]
    assert not failed and res.status == "completed", failed or res.message
    assert "was written but not verified" in prompter.asked[0].text
    disc = store.one("SELECT state, message FROM discs WHERE number=? AND disc=1", (number,))
    assert (disc["state"], disc["message"]) == ("verified", f"RAB{number}D01 verified"), disc["message"]
