"""What a cleanup says it freed is what the medium got back, measured there (the inodes gone, by
their blocks). The union (`.archive/`) of a directory made standard after it was an archive one
was never removed, once no archive backup on the medium needed it: its links held the files of the
deleted archive backups, space never freed and not counted. And a deletion left undone (an I/O
error) let the next one be credited with the files both held. Real backups (rsync)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta
from pathlib import Path

from rabtui.actions import cleanup as cleanup_actions
from rabtui.media import medium_layout
from tests.trees import Lab, write_files

DAY = datetime(2026, 6, 1, 3, 30)


def _inodes(top: Path) -> dict[tuple[int, int], int]:
    """Every inode below `top` but the directories' (what a deletion frees is counted by its files)
    with the bytes it takes."""
    out = {}
    for dirpath, _, files in os.walk(os.fsencode(top)):
        for name in files:
            st = os.lstat(os.path.join(dirpath, name))
            out[(st.st_dev, st.st_ino)] = st.st_blocks * 512
    return out


def _freed(before: dict, top: Path) -> int:
    after = _inodes(top)
    return sum(size for key, size in before.items() if key not in after)


def _read_by_a_checkpoint(store, backup_id: int, path: str) -> None:
    """A checkpoint recorded (not yet burnt) that reads `path` from the backup."""
    store.execute("INSERT INTO checkpoints(number, created, status, disc_type, disc_sectors, discs)"
                  " VALUES (1, 0, 'planned', 'cd', 1, 1)")
    store.execute("INSERT INTO checkpoint_dirs(number, source, path, role, backup_id) VALUES (1, 'loc', ?, 'data', ?)",
                  (path, backup_id))


def test_the_union_of_a_directory_made_standard_goes_with_its_last_archive_backup(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    write_files(lab.src / "photos", {"f": 256 * 1024, "g": b"g"})
    for medium in ("m1", "m2"):
        assert lab.backup(cfg, medium_id=medium, now=DAY).status == "completed"
    (lab.src / "photos" / "f").unlink()     # f: its copy on m2 stays (the newest backup there)
    lab.local([("photos", "standard")])
    lab.keep_a_day()
    cfg = lab.load()
    for n in (1, 2):
        assert lab.backup(cfg, medium_id="m1", now=DAY + timedelta(days=n)).status == "completed"
    store = lab.store()
    first, second, _ = (r["id"] for r in store.all("SELECT id FROM backups WHERE medium='m1' ORDER BY id"))
    m1, m2 = (path for _, path in lab.media)
    photos = str(lab.src / "photos")
    union1, union2 = (medium_layout.archive_root(m, "loc", photos) for m in (m1, m2))
    assert (union1 / "f").is_file()
    plan = cleanup_actions.plan(cfg, store, now=DAY + timedelta(days=5))
    assert plan.refused == [] and [c.id for c in plan.delete] == [first, second]
    assert [(u.medium, u.dir) for u in plan.unions] == [("m1", photos)]
    lines = cleanup_actions.plan_lines(plan, dry_run=True)
    assert any("m1" in line and ".archive" in line for line in lines), lines
    before = _inodes(m1)
    done = cleanup_actions.apply(cfg, store, plan)
    assert done.failed == [] and [c.id for c in done.deleted] == [first, second]
    assert not union1.exists()
    freed = _freed(before, m1)
    assert freed >= 256 * 1024 and done.freed_bytes == freed == plan.freed_bytes
    # m2's archive backup still needs its union, and holds f: nothing of it touched
    assert (union2 / "f").stat().st_size == 256 * 1024 and (union2 / "g").read_bytes() == b"g"
    newest = store.one("SELECT path FROM backups WHERE medium='m1' AND status='completed'")["path"]
    assert (medium_layout.backup_data_path(newest, photos) / "g").read_bytes() == b"g"
    # made archive again: a backup onto m1 saves g anew (the union it compares with is gone)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    assert lab.backup(cfg, medium_id="m1", now=DAY + timedelta(days=6)).status == "completed"
    assert (union1 / "g").read_bytes() == b"g"


def test_the_union_stays_while_an_archive_backup_there_needs_it(tmp_path):
    """The archive backup planned to go with it (its copy an archive backup on m2) is kept (a
    checkpoint recorded since the plan reads from it): the union stays, and nothing is counted as
    freed."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    write_files(lab.src / "photos", {"g": 64 * 1024})
    for medium in ("m1", "m2"):
        assert lab.backup(cfg, medium_id=medium, now=DAY).status == "completed"
    lab.local([("photos", "standard")])
    lab.keep_a_day()
    cfg = lab.load()
    assert lab.backup(cfg, medium_id="m1", now=DAY + timedelta(days=1)).status == "completed"
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=DAY + timedelta(days=5))
    assert len(plan.delete) == 1 and len(plan.unions) == 1
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "photos"))
    _read_by_a_checkpoint(store, plan.delete[0].id, str(lab.src / "photos"))
    before = _inodes(lab.media[0][1])
    done = cleanup_actions.apply(cfg, store, plan)
    assert done.deleted == [] and (union / "g").is_file()
    assert done.freed_bytes == _freed(before, lab.media[0][1]) == 0
    assert any(".archive/ view" in line and "needs it" in line for line in done.kept), done.lines


def test_a_deletion_left_undone_lends_its_shared_files_to_none(tmp_path):
    """Three backups, the file unchanged in the two older, due: they share its inode. The first is
    kept (a checkpoint recorded since the plan reads from it); the second, deleted, was credited
    with the file as if the first went too."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    lab.keep_a_day()
    cfg = lab.load()
    write_files(lab.src / "data", {"f": 200 * 1024})
    for n in (0, 1):
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status == "completed"
    write_files(lab.src / "data", {"f": b"new"})
    assert lab.backup(cfg, now=DAY + timedelta(days=2)).status == "completed"
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=DAY + timedelta(days=5))
    first, second = plan.delete
    assert plan.freed_bytes >= 200 * 1024 and second.freed_bytes >= 200 * 1024
    _read_by_a_checkpoint(store, first.id, str(lab.src / "data"))
    before = _inodes(lab.media[0][1])
    done = cleanup_actions.apply(cfg, store, plan)
    assert [c.id for c in done.deleted] == [second.id]
    freed = _freed(before, lab.media[0][1])
    assert freed < 200 * 1024 and done.freed_bytes == freed
    assert cleanup_actions.done_lines(plan, done)[-1].startswith("1 of 2 backups deleted, ")
