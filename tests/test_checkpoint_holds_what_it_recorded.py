"""A checkpoint writes what it recorded, however long its discs wait. An operator may feed the
discs of one checkpoint over days while the nightly backups go on: an archive directory's union then
shows newer versions of files the checkpoint holds, and retention ages out the backups it reads
from. Real backups, real xorriso onto an `images:` drive; the discs are extracted and compared with
the source as it was when the checkpoint was recorded."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime, timedelta

from rabtui.backup import retention
from rabtui.backup.retention_guard import read_by_checkpoints
from rabtui.checkpoint import prepare, run
from rabtui.events import ABORT, READY, ScriptedPrompter
from rabtui.media import medium as media
from tests.test_checkpoint import _disc_tree, _extract
from tests.trees import Lab, snapshot, write_files

T0 = datetime(2026, 1, 5, 3, 0)


def _lab(tmp_path, media_count: int = 1):
    lab = Lab(tmp_path, media_count=media_count)
    for d in ("data", "arch"):
        (lab.src / d).mkdir()
    cfg = lab.write(f'''
[[sources]]
id = "loc"
[[sources.directories]]
path = "{lab.src / 'data'}"
[[sources.directories]]
path = "{lab.src / 'arch'}"
kind = "archive"

[checkpoint]
disc = "4MiB"
drive = "images:{tmp_path / 'iso'}"

[retention]
keep_all_days = 0
keep_daily_days = 0
keep_weekly_weeks = 0
keep_monthly_months = 0
keep_yearly_years = 0
''')
    return lab, cfg


def _fill(lab: Lab) -> None:
    write_files(lab.src / "data", {"d1": os.urandom(300_000)})
    # one file larger than a disc (cut into parts), several that share discs
    write_files(lab.src / "arch", {"huge.bin": os.urandom(6_000_000), "sub/a": os.urandom(900_000),
                                   "b": b"b" * 5000})


def _rewrite(lab: Lab) -> None:
    """Newer versions of every archive file, each of another size (so rsync saves them)."""
    write_files(lab.src / "arch", {"huge.bin": os.urandom(6_100_000), "sub/a": os.urandom(800_000),
                                   "b": b"B" * 6000, "new": b"n"})


def _burn(cfg, store, number, answers=lambda q: READY):
    seen = []
    prompter = ScriptedPrompter(answers)
    res = run.burn_checkpoint(cfg, store, number, emit=seen.append, cancel=threading.Event(), prompter=prompter)
    return res, prompter, [e.message for e in seen]


def _on_discs(tmp_path, prefix: bytes) -> dict[bytes, bytes]:
    discs = []
    for iso in sorted((tmp_path / "iso").glob("*.iso")):
        target = tmp_path / "x" / iso.stem
        _extract(iso, target)
        discs.append(target)
    return _disc_tree(discs, prefix)


def _prefix(lab: Lab, d: str) -> bytes:
    return b"data/loc/" + os.fsencode(str(lab.src / d).lstrip("/"))


def test_archive_files_replaced_in_the_union_after_recording_are_written_as_recorded(tmp_path):
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    recorded = snapshot(lab.src / "arch")
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)

    _rewrite(lab)
    later = lab.backup(cfg, now=T0 + timedelta(days=1))
    assert later.status == "completed", later.reason
    union = media.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert snapshot(union) == snapshot(lab.src / "arch") != recorded

    res, _, said = _burn(cfg, store, number)
    assert res.status == "completed", res.message
    assert any("archive entries are read from the backups that hold them as recorded" in m for m in said)
    assert _on_discs(tmp_path, _prefix(lab, "arch")) == recorded
    # the union still shows the newer versions: nothing was put back
    assert snapshot(union) == snapshot(lab.src / "arch")


def test_a_symlink_that_became_a_directory_after_recording_is_written_as_the_symlink(tmp_path):
    """The union makes a directory where the source now has one instead of a symlink; the disc
    gets the symlink that was recorded, and none of the directory's files."""
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    os.symlink("nowhere", lab.src / "arch" / "e")
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    recorded = snapshot(lab.src / "arch")
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    os.unlink(lab.src / "arch" / "e")
    write_files(lab.src / "arch", {"e/inside": b"not recorded"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    union = media.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert (union / "e").is_dir() and not (union / "e").is_symlink()

    res, _, _ = _burn(cfg, store, number)
    assert res.status == "completed", res.message
    # the symlink, read back as its target (a dangling one: a file to os.walk), and no e/inside
    assert _on_discs(tmp_path, _prefix(lab, "arch")) == {**recorded, b"e": b"nowhere"}


def test_a_version_that_is_gone_from_the_medium_stops_the_disc_with_what_to_do(tmp_path):
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    first = lab.backup(cfg, now=T0)
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    _rewrite(lab)
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    shutil.rmtree(media.backup_data_path(first.path, str(lab.src / "arch")))     # lost by hand

    res, prompter, _ = _burn(cfg, store, number, lambda q: ABORT if "failed" in q.text else READY)
    assert res.status == "aborted"
    failed = [q.text for q in prompter.asked if "failed" in q.text]
    assert failed and "is no longer on medium m1" in failed[0] and f"checkpoint abandon {number}" in failed[0]


def test_retention_keeps_what_an_unfinished_checkpoint_reads_until_its_discs_are_verified(tmp_path):
    """Two media. The archive's versions are first saved on m1 by b2 (a copy on m2 from b1, so the
    archive guard alone would let b2 go); b3 changes nothing and is the checkpoint's content backup;
    b4 saves newer versions into m1's union. Until the discs are verified, cleanup keeps b2 and b3."""
    lab, cfg = _lab(tmp_path, media_count=2)
    _fill(lab)
    b1 = lab.backup(cfg, now=T0, medium_id="m2")
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1")
    b3 = lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1")
    assert {b.status for b in (b1, b2, b3)} == {"completed"}
    store = lab.store()
    recorded = {d: snapshot(lab.src / d) for d in ("data", "arch")}
    c = prepare.compute(cfg, store)
    assert {d.backup_id for d in c.data} == {b3.backup_id}
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    _rewrite(lab)
    b4 = lab.backup(cfg, now=T0 + timedelta(days=3), medium_id="m1")
    assert b4.status == "completed"
    # one disc written and verified, the operator stops there
    res, _, _ = _burn(cfg, store, number, [READY, ABORT])
    assert res.status == "aborted" and res.verified == [1]

    plan = retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=400))
    going = {c.id for c in plan.delete}
    why = {k[0]: k[2] for k in plan.kept}
    assert b2.backup_id not in going and b3.backup_id not in going
    assert why[b2.backup_id] == why[b3.backup_id] == f"checkpoint {number} is not written yet and reads from it"
    retention.apply_cleanup(cfg, store, plan)

    res, _, _ = _burn(cfg, store, number)
    assert res.status == "completed", res.message
    assert _on_discs(tmp_path, _prefix(lab, "arch")) == recorded["arch"]
    assert _on_discs(tmp_path, _prefix(lab, "data")) == recorded["data"]
    # written and verified: the checkpoint holds them now, and they may go
    assert read_by_checkpoints(store, "loc") == {}
    going = {c.id for c in retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=400)).delete}
    assert {b2.backup_id, b3.backup_id} <= going
