"""Restore from discs written by the real checkpoint code (images: drive): a tree with hostile names
and a file cut across discs; then the state database is lost and rebuilt from the same ISOs."""

from __future__ import annotations

import threading

from rabtui.rebuild import scan as rebuild
from rabtui.restore import run as R
from rabtui.checkpoint import prepare, run
from rabtui.events import READY, ScriptedPrompter
from rabtui.state.store import Store
from tests.test_disc_verify_metadata import burn_one
from tests.trees import Lab, hostile_tree, snapshot, write_files


def test_restore_from_burned_checkpoint_and_after_rebuild(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"big/huge.bin": 5_000_000, "small": b"s"})
    hostile_tree(lab.src / "data" / "names")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    parts = store.all("SELECT disc, part, parts FROM disc_files WHERE CAST(path AS TEXT) GLOB '*/huge.bin'")
    assert len(parts) >= 2 and len({p["disc"] for p in parts}) >= 2

    data = str(lab.src / "data")
    R.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out")
    assert snapshot(tmp_path / "out" / data.lstrip("/")) == snapshot(lab.src / "data")

    store.close()
    lab.lose_database()
    store = Store(lab.state)
    report = rebuild.rebuild(cfg, store)
    assert report.checkpoints == [number] and report.unmatched == []
    R.restore(cfg, store, "loc", data + "/big/huge.bin", checkpoint=number, to=tmp_path / "again")
    assert (tmp_path / "again" / data.lstrip("/") / "big/huge.bin").read_bytes() == \
        (lab.src / "data/big/huge.bin").read_bytes()


def test_restore_from_discs_reads_no_xorriso_startup_file(tmp_path, monkeypatch):
    """xorriso reads ~/.xorrisorc (and files below /etc) unless told -no_rc: one that bans restoring,
    or changes how files are extracted, must not decide what a restore from the discs gives."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a.txt": b"a", "sub/b.txt": b"b" * 3000})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    home = tmp_path / "home"
    home.mkdir()
    (home / ".xorrisorc").write_text("-osirrox banned\n")
    monkeypatch.setenv("HOME", str(home))
    data = str(lab.src / "data")
    R.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out")
    assert snapshot(tmp_path / "out" / data.lstrip("/")) == snapshot(lab.src / "data")
