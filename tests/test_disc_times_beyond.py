"""A time no disc holds (Rock Ridge: years 1900..2155): the disc gets the nearest one it holds,
the burn says so, and a restore from the discs gives the entry its own time again (the catalog's,
to the second). Real backups, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import threading

from rabtui.checkpoint import prepare, questions, run
from rabtui.events import LOG, READY, ScriptedPrompter
from rabtui.restore import run as R
from tests.test_disc_verify_metadata import _lab
from tests.trees import Lab, burn_due, write_files

FAR = 8_835_955_200              # 2250-01-01 00:00:00 UTC
LAST_ON_A_DISC = 5_869_583_999   # 2155-12-31 23:59:59 UTC


def test_a_file_dated_past_2155_comes_back_from_the_discs_with_its_own_time(tmp_path):
    lab, cfg = _lab(tmp_path)
    data = lab.src / "data"
    os.utime(data / "sub" / "g", (FAR, FAR))
    os.utime(data / "empty", (FAR + 7, FAR + 7))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    said = []
    number = prepare.record(cfg, store, prepare.compute(cfg, store, emit=said.append), drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=said.append, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY if q.kind == questions.INSERT else "abort"))
    assert res.status == "completed", res.message
    logs = [e.message for e in said if e.kind == LOG and "1900-2155" in e.message]
    assert len(logs) == 1 and "2 entries" in logs[0], logs
    out = tmp_path / "out"
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=out)
    assert not res.written.problems(), res.summary
    back = out / str(data).lstrip("/")
    assert os.stat(back / "sub" / "g").st_mtime == FAR
    assert os.stat(back / "empty").st_mtime == FAR + 7
    assert os.stat(back / "f").st_mtime == os.stat(data / "f").st_mtime
    # the disc itself holds the nearest time it can
    res = R.restore(cfg, store, "loc", str(data / "sub" / "g"), checkpoint=number, to=tmp_path / "one")
    assert not res.written.problems(), res.summary
    assert os.stat(tmp_path / "one" / str(data / "sub" / "g").lstrip("/")).st_mtime == FAR


def test_a_file_cut_into_parts_dated_past_2155_comes_back_with_its_own_time(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"big.bin": 6_000_000})
    os.utime(data / "big.bin", (FAR, FAR))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    assert store.one("SELECT MAX(parts) FROM disc_files")[0] == 2
    for what, to in ((data, "out"), (data / "big.bin", "one")):
        res = R.restore(cfg, store, "loc", str(what), checkpoint=number, to=tmp_path / to)
        assert not res.written.problems(), res.summary
        got = tmp_path / to / str(data / "big.bin").lstrip("/")
        assert got.read_bytes() == (data / "big.bin").read_bytes()
        assert os.stat(got).st_mtime == FAR
