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

from rabtui.actions import cleanup as cleanup_actions
from rabtui.backup import deletion, retention
from rabtui.backup.retention_guard import read_by_checkpoints
from rabtui.checkpoint import prepare, questions, run, triggers
from rabtui.checkpoint import status as checkpoint_status
from rabtui.checkpoint.content import INSERT_MEDIUM
from rabtui.events import ABORT, READY, REWRITE, ScriptedPrompter
from rabtui.media import medium_layout
from rabtui.ops import health
from tests.test_checkpoint import _disc_tree, _extract, _not_due, _record
from tests.test_checkpoint_deep import no_room_to_extract
from tests.trees import Lab, snapshot, write_files

T0 = datetime(2026, 1, 5, 3, 0)


def _lab(tmp_path, media_count: int = 1):
    lab = Lab(tmp_path, media_count=media_count)
    cfg = lab.with_discs("4MiB", [("data", "standard"), ("arch", "archive")],
                         "\n[retention]\nkeep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                         "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
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


def _recorded(tmp_path):
    """The filled source backed up once and a checkpoint of it recorded, not burnt: (lab, cfg,
    store, the archive directory as it was recorded, the checkpoint's number)."""
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    recorded = snapshot(lab.src / "arch")
    return lab, cfg, store, recorded, _record(lab, cfg, store)


def test_archive_files_replaced_in_the_union_after_recording_are_written_as_recorded(tmp_path):
    lab, cfg, store, recorded, number = _recorded(tmp_path)

    _rewrite(lab)
    later = lab.backup(cfg, now=T0 + timedelta(days=1))
    assert later.status == "completed", later.reason
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
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
    number = _record(lab, cfg, store)
    os.unlink(lab.src / "arch" / "e")
    write_files(lab.src / "arch", {"e/inside": b"not recorded"})
    replaced = lab.backup(cfg, now=T0 + timedelta(days=1))      # the symlink replaced: said as a warning
    assert replaced.status == "warnings" and "1 entry of the archive" in replaced.reason, replaced.reason
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
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
    number = _record(lab, cfg, store)
    _rewrite(lab)
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    shutil.rmtree(medium_layout.backup_data_path(first.path, str(lab.src / "arch")))     # lost by hand

    res, prompter, _ = _burn(cfg, store, number, lambda q: ABORT if "failed" in q.text else READY)
    assert res.status == "aborted"
    failed = [q.text for q in prompter.asked if "failed" in q.text]
    assert failed and "is no longer on medium m1" in failed[0] and f"checkpoint abandon {number}" in failed[0]
    # a new disc would meet the same media: none is offered
    assert all("rewrite" not in q.choices for q in prompter.asked if "failed" in q.text), prompter.asked


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
    why = {k[0]: k[2] for k in plan.guarded}
    assert b2.backup_id not in going and b3.backup_id not in going
    assert why[b2.backup_id] == why[b3.backup_id] == (f"checkpoint {number} is not written yet and reads from it"
                                                      f" (`rabtui checkpoint resume {number}`, or abandon it)")
    # the operator is told, by cleanup and by check
    assert any(f"checkpoint {number} is not written yet" in line for line in cleanup_actions.plan_lines(plan, True))
    assert any(f"checkpoint {number} is unfinished" in p.message for p in health.run_checks(cfg, store))
    deletion.apply_cleanup(cfg, store, plan)

    res, _, _ = _burn(cfg, store, number)
    assert res.status == "completed", res.message
    assert _on_discs(tmp_path, _prefix(lab, "arch")) == recorded["arch"]
    assert _on_discs(tmp_path, _prefix(lab, "data")) == recorded["data"]
    # written and verified: the checkpoint holds them now, and they may go
    assert read_by_checkpoints(store, "loc") == {}
    going = {c.id for c in retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=400)).delete}
    assert {b2.backup_id, b3.backup_id} <= going


def test_a_symlink_the_union_replaced_is_written_with_its_recorded_target(tmp_path):
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    os.symlink("old-target", lab.src / "arch" / "lnk")
    os.utime(lab.src / "arch" / "lnk", (1_700_000_000, 1_700_000_000), follow_symlinks=False)
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)

    os.unlink(lab.src / "arch" / "lnk")
    os.symlink("new-and-longer-target", lab.src / "arch" / "lnk")
    os.utime(lab.src / "arch" / "lnk", (1_750_000_000, 1_750_000_000), follow_symlinks=False)
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert os.readlink(union / "lnk") == "new-and-longer-target"

    res, _, _ = _burn(cfg, store, number)
    assert res.status == "completed", res.message
    on_disc = _on_discs(tmp_path, _prefix(lab, "arch"))
    # recorded: lnk -> old-target (mtime 1_700_000_000); the disc must hold that
    assert on_disc[b"lnk"] == b"old-target"


def test_an_unmounted_medium_is_asked_for_not_reported_as_a_lost_version(tmp_path):
    """Days later the operator resumes the burn with the backup medium not mounted: the burn asks
    for it, and goes on once it is there."""
    lab, cfg, store, recorded, number = _recorded(tmp_path)
    mpath = lab.media[0][1]
    away = str(mpath) + ".away"
    os.rename(mpath, away)                     # unmounted
    os.mkdir(mpath)                            # the empty mount point

    def operator(q):
        if q.kind == INSERT_MEDIUM:
            os.rmdir(mpath)
            os.rename(away, mpath)             # mounted again
        return READY

    res, prompter, _ = _burn(cfg, store, number, operator)
    asked = [q.text for q in prompter.asked if q.kind == INSERT_MEDIUM]
    assert len(asked) == 1 and f"Insert or mount medium m1 at {mpath}" in asked[0] and "not there" in asked[0]
    assert res.status == "completed", res.message
    assert _on_discs(tmp_path, _prefix(lab, "arch")) == recorded


def test_a_medium_that_stays_away_stops_the_burn_without_blaming_the_checkpoint(tmp_path):
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    mpath = lab.media[0][1]
    os.rename(mpath, str(mpath) + ".away")
    os.mkdir(mpath)
    res, prompter, _ = _burn(cfg, store, number, lambda q: ABORT if q.kind == INSERT_MEDIUM else READY)
    assert res.status == "aborted" and "medium m1 is not at hand" in res.message
    assert not any("abandon" in q.text for q in prompter.asked)
    assert store.one("SELECT state FROM discs WHERE disc=1")["state"] == "planned"


def test_rewriting_a_disc_of_a_completed_checkpoint_gives_a_hint_that_works(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {"d1": os.urandom(3000)})
    write_files(lab.src / "arch", {"sub/a": os.urandom(900_000), "b": b"b" * 5000})   # nothing cut into parts
    first = lab.backup(cfg, now=T0)
    store = lab.store()
    number = _record(lab, cfg, store)
    res, _, _ = _burn(cfg, store, number)
    assert res.status == "completed"
    write_files(lab.src / "arch", {"sub/a": os.urandom(800_000), "b": b"B" * 6000})
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    assert lab.backup(cfg, now=T0 + timedelta(days=2)).status == "completed"
    plan = retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=400))
    assert first.backup_id in {c.id for c in plan.delete}
    deletion.apply_cleanup(cfg, store, plan)
    # disc 1 is found bad later
    (tmp_path / "iso" / f"RAB{number}D01.iso").unlink()
    answers = lambda q: (REWRITE if "Rewrite" in q.text else ABORT if "failed" in q.text else READY)
    prompter = ScriptedPrompter(answers)
    run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                          prompter=prompter)
    failed = [q.text for q in prompter.asked if "Writing disc" in q.text]
    assert failed, [q.text for q in prompter.asked]
    # the hint says what can be done: a new checkpoint, and giving this one up
    assert "cannot be written again from the media" in failed[0] and "checkpoint burn --now" in failed[0]
    assert f"rabtui checkpoint abandon {number}" in failed[0]
    assert [p.check_id for p in health.run_checks(cfg, store) if p.check_id.startswith("disc:")] == [f"disc:{number}:1"]
    # given up: no disc of it stays failed, and its directories are due again (they have no whole one)
    assert "abandoned" in checkpoint_status.abandon(cfg, store, number)
    assert not [p for p in health.run_checks(cfg, store) if p.check_id.startswith("disc:")]
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "abandoned"
    due = {s.key for s in triggers.statuses(cfg, store) if s.due}
    assert due == {f"loc:{lab.src / 'data'}", f"loc:{lab.src / 'arch'}"}


def _same_size_and_mtime_later(lab, cfg):
    """f = A (recorded), then B, then C: C has A's size and mtime (a reproducible-build epoch,
    an archive tool's fixed date), other bytes. Every version is saved: each differs from the union."""
    M = 315_532_800                                  # 1980-01-01, as zip and many build tools set it
    f = lab.src / "arch" / "f"

    def put(data: bytes, day: int):
        f.write_bytes(data)
        os.utime(f, (M, M))
        r = lab.backup(cfg, now=T0 + timedelta(days=day))
        assert r.status == "completed", r.reason
        return r

    write_files(lab.src / "data", {"d1": b"d" * 100})
    put(b"A" * 1000, 0)
    store = lab.store()
    number = _record(lab, cfg, store)
    put(b"B" * 2000, 1)
    put(b"C" * 1000, 2)
    return store, number


def test_a_later_version_of_the_same_size_and_mtime_is_not_taken_for_the_recorded_one(tmp_path):
    lab, cfg = _lab(tmp_path)
    store, number = _same_size_and_mtime_later(lab, cfg)
    res, prompter, _ = _burn(cfg, store, number, lambda q: ABORT if "failed" in q.text else READY)
    assert res.status == "completed", [q.text for q in prompter.asked if "failed" in q.text]
    assert _on_discs(tmp_path, _prefix(lab, "arch"))[b"f"] == b"A" * 1000


def test_with_little_room_to_read_back_the_recorded_version_is_written(tmp_path, monkeypatch):
    """Where the disc cannot be extracted for lack of room, each file is read back from it as a
    stream: the file written is the recorded version, and verification says so."""
    lab, cfg = _lab(tmp_path)
    store, number = _same_size_and_mtime_later(lab, cfg)
    no_room_to_extract(monkeypatch)
    res, _, said = _burn(cfg, store, number, lambda q: ABORT if "failed" in q.text else READY)
    assert res.status == "completed"
    assert any("reading each file back as a stream" in m for m in said)
    on_disc = _on_discs(tmp_path, _prefix(lab, "arch"))[b"f"]
    assert on_disc == b"A" * 1000, on_disc[:10]


def test_with_little_room_a_disc_that_differs_from_the_catalog_fails_verification(tmp_path, monkeypatch):
    """xorriso's MD5 says only that the disc holds what xorriso read; the streamed read-back compares
    with the catalog. Here the disc is written from the wrong version (the burn's own check of the
    union left out): it must not pass."""
    from rabtui.checkpoint import read_from

    lab, cfg = _lab(tmp_path)
    store, number = _same_size_and_mtime_later(lab, cfg)
    no_room_to_extract(monkeypatch)
    monkeypatch.setattr(read_from, "read_saved_versions", lambda *a, **k: 0)
    res, prompter, _ = _burn(cfg, store, number, lambda q: ABORT if "failed" in q.text else READY)
    assert res.status == "aborted"
    failed = [q.text for q in prompter.asked if "verification failed" in q.text]
    assert failed and "1 file differs" in failed[0] and "/arch/f" in failed[0]



def test_a_cleanup_planned_before_a_checkpoint_is_recorded_and_applied_after_keeps_what_it_reads(tmp_path):
    """A cleanup (run-due, or `rabtui cleanup` counting freed space for minutes) plans, a checkpoint
    is recorded meanwhile, the cleanup applies its plan: it looks again before deleting."""
    lab, cfg = _lab(tmp_path, media_count=2)
    write_files(lab.src / "data", {"d1": b"d" * 1000})
    write_files(lab.src / "arch", {"sub/a": os.urandom(900_000), "b": b"b" * 5000})
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1")
    assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "completed"
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=400))
    assert b2.backup_id in {c.id for c in plan.delete}
    number = _record(lab, cfg, store)
    said = deletion.apply_cleanup(cfg, store, plan).lines
    assert any(f"checkpoint {number}, recorded since the cleanup was planned, reads from it" in x for x in said)
    assert store.one("SELECT status FROM backups WHERE id=?", (b2.backup_id,))["status"] == "completed"
    res, prompter, _ = _burn(cfg, store, number, lambda q: ABORT if "failed" in q.text else READY)
    assert res.status == "completed", [q.text[:300] for q in prompter.asked if "failed" in q.text]


def test_an_archive_filler_directory_is_held_and_written_as_recorded(tmp_path):
    """An archive directory that fills a disc (add/N) is held and written as recorded too."""
    lab = Lab(tmp_path, media_count=1)
    for d in ("data", "fa"):
        (lab.src / d).mkdir()
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{lab.src / "data"}"\n'
                    f'[[sources.directories]]\npath = "{lab.src / "fa"}"\nkind = "archive"\n'
                    f'\n[checkpoint]\ndisc = "8MiB"\ndrive = "images:{tmp_path / "iso"}"\n')
    write_files(lab.src / "data", {"a.bin": 900_000})
    write_files(lab.src / "fa", {"x.bin": 200_000, "s/y": b"y" * 10})
    first = lab.backup(cfg, now=T0)
    store = lab.store()
    _not_due(store, lab.src / "fa")
    recorded = snapshot(lab.src / "fa")
    c = prepare.compute(cfg, store)
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    assert store.one("SELECT role FROM checkpoint_dirs WHERE number=? AND path=?",
                     (number, str(lab.src / "fa")))["role"] == "filler"
    write_files(lab.src / "fa", {"x.bin": 300_000, "s/y": b"Y" * 11})
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    assert first.backup_id in read_by_checkpoints(store, "loc")
    res, _, _ = _burn(cfg, store, number)
    assert res.status == "completed", res.message
    assert _on_discs(tmp_path, b"add/1") == recorded


def test_a_checkpoint_left_unfinished_holds_nothing_back_once_a_later_one_completed(tmp_path):
    """Aborted at disc 2 (no blank discs left), then a new checkpoint made with `burn --new` and
    completed: the old one's backups are not kept for it any more."""
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    first = lab.backup(cfg, now=T0)
    store = lab.store()
    old = _record(lab, cfg, store)
    res, _, _ = _burn(cfg, store, old, [READY, ABORT])
    assert res.status == "aborted"
    assert first.backup_id in read_by_checkpoints(store, "loc")
    _rewrite(lab)
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    new = _record(lab, cfg, store)
    assert new != old
    res, _, _ = _burn(cfg, store, new)
    assert res.status == "completed", res.message
    assert read_by_checkpoints(store, "loc") == {}
    plan = retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=400))
    assert not any(f"checkpoint {old}" in why for _, _, why in plan.guarded)


def test_a_medium_unmounted_while_a_failed_write_waits_is_asked_for_again(tmp_path):
    """The first write fails; while the operator is asked, the backup medium goes away: the retry
    asks for it again instead of calling the recorded versions lost (and the checkpoint hopeless)."""
    lab, cfg = _lab(tmp_path)
    _fill(lab)
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    blocker = tmp_path / "iso" / f"RAB{number}D01.iso"
    (blocker / "in the way").mkdir(parents=True)
    mpath = lab.media[0][1]
    away = str(mpath) + ".away"

    def operator(q):
        if q.kind == questions.FAILED:
            os.rename(mpath, away)             # unmounted meanwhile
            os.mkdir(mpath)
            shutil.rmtree(blocker)
            return "retry"
        if q.kind == INSERT_MEDIUM:
            os.rmdir(mpath)
            os.rename(away, mpath)
        return READY

    res, prompter, _ = _burn(cfg, store, number, operator)
    assert [q.kind for q in prompter.asked][:4] == [questions.INSERT, questions.FAILED, INSERT_MEDIUM, questions.INSERT]
    assert not any("abandon" in q.text for q in prompter.asked)
    assert res.status == "completed", res.message


def test_a_backup_that_replaces_archive_files_as_a_disc_is_written_leaves_the_disc_as_recorded(tmp_path,
                                                                                              monkeypatch):
    """A nightly backup saves newer versions into the union while a disc is being written (here: it
    ends just as xorriso starts, after the burn looked at the union): the disc still holds the
    versions the checkpoint recorded, and verifies."""
    from rabtui.checkpoint import burn

    lab, cfg, store, recorded, number = _recorded(tmp_path)
    write = burn.write_disc
    during = []

    def backup_then_write(*args, **kw):
        if not during:
            _rewrite(lab)
            during.append(lab.backup(cfg, now=T0 + timedelta(days=1)))
        return write(*args, **kw)

    monkeypatch.setattr(burn, "write_disc", backup_then_write)
    res, prompter, _ = _burn(cfg, store, number, lambda q: ABORT if "failed" in q.text else READY)
    assert during[0].status == "completed", during[0].reason
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert snapshot(union) == snapshot(lab.src / "arch") != recorded
    assert res.status == "completed", [q.text[:300] for q in prompter.asked if "failed" in q.text]
    assert _on_discs(tmp_path, _prefix(lab, "arch")) == recorded
