"""What a rebuilt state lets the commands after it do: nothing rebuild-state cannot prove about a
backup may lead a later run to delete it, or to say a backup holds a file it does not hold."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import datetime, timedelta
from pathlib import Path

from rabtui.backup.pipeline import run_backup
from rabtui.events import no_emit
from rabtui.media import medium_layout
from rabtui.state.store import Store
from tests import invariants, preloaded
from tests.test_rebuild_odd_records import _backups, _rabtui, _two_backups
from tests.trees import Lab, snapshot, write_files

T0 = datetime(2026, 11, 1, 3, 0)


def test_a_backup_whose_backup_json_went_missing_is_kept_and_never_deleted(tmp_path):
    """rabtui writes backup.json before the first file of a backup: a backup directory holding
    files but no backup.json was not left so by a run (its record was lost, or moved by hand).
    rebuild-state says so and records it as failed, kept; it is not taken for an interrupted run,
    which the next backup onto the medium would delete."""
    lab, _ = _two_backups(tmp_path)
    root = lab.media[0][1] / "loc"
    newest = root / sorted(os.listdir(root))[-1]
    (newest / "backup.json").unlink()
    held = snapshot(newest / "data")
    assert held

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"not matched: medium m1: {newest / 'backup.json'}: missing, but" in done.stdout, done.stdout
    assert [(name, status) for name, status, _ in _backups(lab)] == [(sorted(os.listdir(root))[0], "completed"),
                                                                     (newest.name, "failed")]

    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(newest / "data") == held


def test_backups_made_on_a_new_state_before_rebuild_state_keep_the_catalog_true(tmp_path):
    """The server's disk is lost; cron backs up onto a new state database (its ids go on above
    those its medium records, not above those of the other media, and its backups link to the ones
    found on the medium) before the operator runs rebuild-state. Two backups then claim the same id:
    the rebuilt ids of each source's backups on a medium still follow their order, so the backups
    after the rebuild extend the catalog truly (an older backup with a higher id was said to hold
    the newer backup's files)."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"same": b"unchanged"})

    def backup(day: int, medium: str, content: bytes | None) -> None:
        if content is not None:
            (lab.src / "data" / "f").write_bytes(content)
        store = Store(lab.state)
        try:
            res = run_backup(cfg, store, "loc", emit=no_emit, cancel=threading.Event(),
                             now=T0 + timedelta(days=day), medium_id=medium)
        finally:
            store.close()
        assert res.status == "completed", res.reason

    backup(0, "m2", b"A")
    backup(1, "m1", b"BB")
    backup(2, "m2", b"CCC")
    backup(3, "m1", b"DDDD")
    backup(4, "m2", b"EEEE")                # id 5
    shutil.rmtree(lab.state)                # the server's disk is lost
    backup(5, "m1", b"FFFFF")               # id 5 again: above m1's, after the old ones
    backup(6, "m2", None)                   # id 6

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "renumbered: medium m1:" in done.stdout and "its backup.json says so now" in done.stdout
    assert _json_ids(lab) == _db_ids(lab)
    again = _rabtui(lab, "rebuild-state")             # nothing clashes any more
    assert again.returncode == 0 and "renumbered" not in again.stdout, again.stdout
    assert _db_ids(lab) == _json_ids(lab)
    backup(7, "m1", None)                   # extends the versions of the newest backup on m1
    backup(8, "m2", None)
    store = Store(lab.state)
    try:
        invariants.check_catalog_is_media(cfg, store)
        invariants.check_json_agrees(cfg, store)
    finally:
        store.close()


def _json_ids(lab) -> dict:
    return {(mid, path.name): medium_layout.read_backup_json(path)["backup_id"] for mid, root in lab.media
            for _, path, _ in medium_layout.list_backups(root, "loc")}


def _db_ids(lab) -> dict:
    store = Store(lab.state)
    try:
        return {(r["medium"], r["name"]): r["id"] for r in store.all("SELECT id, medium, name FROM backups")}
    finally:
        store.close()


def test_rebuilt_ids_are_kept_unless_they_clash_or_break_the_order():
    from rabtui.rebuild.ids import Found, assign

    def f(medium, name, started, wanted, restorable=True):
        return Found((medium, "loc", name), started, wanted, restorable)

    m1 = [f("m1", "a", 1, 2), f("m1", "b", 3, 4), f("m1", "c", 5, 1), f("m1", "d", 6, 3, restorable=False)]
    m2 = [f("m2", "e", 0, 1), f("m2", "f", 2, 3), f("m2", "g", 7, None), f("m2", "h", 8, 9)]
    ids = assign([m1, m2])
    assert [ids[x.key] for x in m1] == [2, 4, 10, 11]      # c: 1 is e's (older); d: 3 is f's
    assert [ids[x.key] for x in m2] == [1, 3, 12, 13]      # after g's new id, h's 9 would break the order



def test_rebuilt_backups_are_in_the_order_they_were_made_by_their_link_bases():
    """Named by a clock that was wrong, a backup's name is not where it was made: each comes after
    the backup it was linked from; a base deleted since binds nothing; a loop does not hang."""
    from rabtui.rebuild.ids import made_order

    def order(listed):
        names = [n for n, _ in listed]
        return [names[i] for i in made_order(names, [b for _, b in listed])]

    ahead = [("2026-10-01", None), ("2026-10-02", "2030-01-01"), ("2026-10-03", "2026-10-02"),
             ("2030-01-01", "2026-10-01")]
    assert order(ahead) == ["2026-10-01", "2030-01-01", "2026-10-02", "2026-10-03"]
    behind = [("2000-01-01", "2026-10-03"), ("2000-01-02", "2000-01-01"), ("2026-10-02", "gone"),
              ("2026-10-03", "2026-10-02"), ("2026-10-07", "2000-01-02")]
    assert order(behind) == ["2026-10-02", "2026-10-03", "2000-01-01", "2000-01-02", "2026-10-07"]
    assert order([("a", "b"), ("b", "a"), ("c", None)]) == ["c", "a", "b"]


def test_rebuilt_backups_without_a_link_between_them_are_in_the_order_of_their_ids():
    """A kept or failed backup is no link base: one made after it on its medium under a clock
    behind is named before it, and only the ids their backup.json record (each above those made
    before it there) tell the order; a link still comes first (records of a database made anew
    before ids were raised above the medium's), and a backup without an id keeps its place by name."""
    from rabtui.rebuild.ids import made_order

    def order(listed):
        names = [n for n, _, _ in listed]
        return [names[i] for i in made_order(names, [b for _, b, _ in listed], [i for _, _, i in listed])]

    assert order([("01:55", None, 3), ("02:00", None, 2)]) == ["02:00", "01:55"]
    assert order([("a", None, 3), ("b", None, None), ("c", None, 1)]) == ["c", "b", "a"]
    assert order([("a", "b", 1), ("b", None, 2)]) == ["b", "a"]
    assert order([("a", None, 1), ("b", None, None), ("c", None, None)]) == ["a", "b", "c"]

HOLD_REBUILD_LOCKS = """
import sys
from rabtui.actions.rebuild import all_locks
from rabtui.config import load
with all_locks(load(sys.argv[1], check_media=False)):
    print("held", flush=True)
    sys.stdin.readline()
"""


def test_no_cleanup_deletes_while_rebuild_state_runs(tmp_path):
    """A cleanup (cron's run-due, or the operator's) and rebuild-state at once: the cleanup's
    deletions would be recorded in the database the rebuild then replaces, which would still hold
    the deleted backups (and count their files as copies). Each waits for the other: a cleanup
    started while a rebuild runs deletes nothing, and a rebuild is refused while a cleanup runs."""
    import subprocess
    import sys

    from rabtui.state import locks

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", more="[retention]\nkeep_all_days = 1\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                                      "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a": b"one"})
    old = datetime.now() - timedelta(days=20)
    for day in range(3):
        store = Store(lab.state)
        try:
            assert run_backup(cfg, store, "loc", emit=no_emit, cancel=threading.Event(),
                              now=old + timedelta(days=day)).status == "completed"
        finally:
            store.close()
    root = lab.media[0][1] / "loc"
    before = sorted(os.listdir(root))

    holder = preloaded.Popen([sys.executable, "-c", HOLD_REBUILD_LOCKS, str(lab.config_path)],
                             stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        done = _rabtui(lab, "cleanup")
        assert "cannot run now: rebuild-state is running since" in done.stdout + done.stderr, done.stdout + done.stderr
        assert sorted(os.listdir(root)) == before
    finally:
        holder.stdin.close()
        holder.wait(timeout=60)

    with locks.cleanup_lock(lab.state):
        done = _rabtui(lab, "rebuild-state")
        assert done.returncode == 1 and "a cleanup is already running" in done.stderr, done.stdout + done.stderr
    done = _rabtui(lab, "cleanup")
    assert done.returncode == 0 and len(os.listdir(root)) < len(before), done.stdout + done.stderr


def test_a_medium_the_old_state_knew_and_away_during_rebuild_state_is_not_labelled_afresh(tmp_path):
    """A medium of the rotation is away (its disk not mounted: an empty directory at its path)
    while rebuild-state replaces a database that knew it. The backup that then meets that empty
    directory refuses it, as it did before the rebuild, instead of labelling it and writing onto
    the file system the disk is mounted on; once the disk is back it is used as before."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a": b"one"})
    for medium in ("m1", "m2"):
        assert lab.backup(cfg, medium_id=medium).status == "completed"
    away = lab.media[1][1]
    disk = tmp_path / "m2-disk"
    away.rename(disk)                        # unplugged: its mount point stays, empty
    away.mkdir()

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3 and f"medium m2: no labelled medium at {away}" in done.stdout, done.stdout
    res = lab.backup(cfg, medium_id="m2")
    assert res.status == "failed" and "refusing to label it again" in res.reason, res.reason
    assert os.listdir(away) == []
    done = _rabtui(lab, "media", "label", "m2")
    assert done.returncode != 0 and "--force" in done.stdout + done.stderr
    assert os.listdir(away) == []

    away.rmdir()
    disk.rename(away)                        # back: used as before
    assert lab.backup(cfg, medium_id="m2").status == "completed"


def test_a_checkpoint_made_on_a_new_state_is_taken_from_its_backup_after_renumbering(tmp_path):
    """A checkpoint burned on the new state database (before rebuild-state) names its backup by
    the id that database gave it, 2 (above m1's 1); rebuild-state gives id 2 back to the older
    backup of the lost state on m2 and renumbers the new one. The checkpoint was taken from the
    new one, not from the backup that now holds its old id."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"f": b"old"})

    def backup(day: int, medium: str) -> str:
        store = Store(lab.state)
        try:
            res = run_backup(cfg, store, "loc", emit=no_emit, cancel=threading.Event(),
                             now=T0 + timedelta(days=day), medium_id=medium)
        finally:
            store.close()
        assert res.status == "completed", res.reason
        return sorted(os.listdir(dict(lab.media)[medium] / "loc"))[-1]

    backup(0, "m1")
    backup(1, "m2")                         # id 2
    shutil.rmtree(lab.state)                # the server's disk is lost
    (lab.src / "data" / "f").write_bytes(b"new content")
    newer = backup(2, "m1")                 # id 2 again
    burned = _rabtui(lab, "checkpoint", "burn", "--now", "--yes")
    assert burned.returncode == 0, burned.stdout + burned.stderr
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0 and "renumbered: medium m1:" in done.stdout, done.stdout + done.stderr
    assert _taken_from(lab) == newer
    again = _rabtui(lab, "rebuild-state")   # its backup.json says its new id now, and the one it had
    assert again.returncode == 0 and "renumbered" not in again.stdout, again.stdout + again.stderr
    assert _taken_from(lab) == newer


def _taken_from(lab) -> str | None:
    store = Store(lab.state)
    try:
        taken = store.one("SELECT b.name FROM checkpoint_dirs cd JOIN backups b ON b.id=cd.backup_id"
                          " WHERE cd.number=1 AND cd.source='loc'")
    finally:
        store.close()
    return taken and taken["name"]


def test_backups_renumbered_by_a_rebuild_keep_the_order_their_ids_tell_across_media(tmp_path):
    """One backup.json's id damaged (not an id): rebuild-state gives it a new id above every id, and
    the source's backups after it new ids too. Those went in the order of their starts: a backup made
    later on another medium under a clock behind got an id below the older one's, which then ranked
    newest (its older file restored, exit 0). Their records' ids tell the order they were made in."""
    import json

    from tests.test_restore_newest_copy_property import _run

    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local()
    f = lab.src / "data" / "f"
    for day, medium, content in ((0, "m1", b"first"), (2, "m1", b"older"), (1, "m2", b"made last")):
        write_files(lab.src / "data", {"f": content})
        assert lab.backup(cfg, now=T0 + timedelta(days=day), medium_id=medium).status == "completed"
        if day == 0:
            first = lab.store().one("SELECT path FROM backups")["path"]
            record = json.loads((Path(first) / "backup.json").read_text())
            (Path(first) / "backup.json").write_text(json.dumps({**record, "backup_id": "1"}))
    lab.lose_database()
    code, err = _run(lab, "rebuild-state")
    assert code in (0, 3), err
    code, err = _run(lab, "restore", "loc", str(f), "--to", str(tmp_path / "out"))
    assert (tmp_path / "out" / str(f).lstrip("/")).read_bytes() == b"made last", (code, err)
