"""The removal of the union of a directory made standard (union_release.py), attacked: a cleanup
killed (SIGKILL) once the union is set aside, the medium swapped under the cleanup before it
removes the union, a directory taken out of the source, and hostile names. Real backups
(rsync), the kill a real SIGKILL at the fault point."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta

from rabtui import faults
from rabtui.actions import cleanup as cleanup_actions
from rabtui.backup import deletion, union_release
from rabtui.media import medium_layout
from tests.test_kill_anywhere import rabtui
from tests.trees import Lab, write_files

DAY = datetime(2026, 6, 1, 3, 30)
NOW = DAY + timedelta(days=5)


def _made_standard(tmp_path, rel: str = "photos", files=None, then=None, elsewhere: bool = True):
    """Medium m1: `rel` an archive directory for one backup, then standard (or the directories
    `then`) for two: the first two backups due at NOW, the union of `rel` with them. `elsewhere`:
    an archive backup of it on m2 too, the copy that lets the first go (a standard backup's is
    none)."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([(rel, "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    write_files(lab.src / rel, files or {"f": 64 * 1024, "g": b"g"})
    assert lab.backup(cfg, medium_id="m1", now=DAY).status == "completed"
    if elsewhere:
        assert lab.backup(cfg, medium_id="m2", now=DAY).status == "completed"
    lab.local(then or [(rel, "standard")])
    lab.keep_a_day()
    cfg = lab.load()
    for n in (1, 2):
        assert lab.backup(cfg, medium_id="m1", now=DAY + timedelta(days=n)).status == "completed"
    return lab, cfg, medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / rel))


def test_a_cleanup_killed_with_the_union_set_aside_is_finished_by_the_next(tmp_path):
    lab, cfg, union = _made_standard(tmp_path)
    root = lab.media[0][1] / "loc"
    done = rabtui(lab, "cleanup", "--now", NOW.isoformat(), point=faults.UNION_RELEASE_POINTS[0])
    assert done.returncode == -9, done.stderr
    left = [n for n in os.listdir(root) if n.startswith(union_release.PREFIX)]
    assert len(left) == 1 and not union.exists()
    assert {r["status"] for r in lab.store().all("SELECT status FROM backups")} == {"deleted", "completed"}
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=NOW)
    assert plan.leftovers == [root / left[0]] and plan.unions == [] and plan.delete == []
    again = cleanup_actions.apply(cfg, store, plan)
    assert again.failed == [] and f"finished an interrupted deletion: {root / left[0]}" in again.lines
    assert not any(n.startswith(".deleting-") for n in os.listdir(root))
    # a backup of it made archive again saves its files anew, into a union of its own
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    assert lab.backup(lab.load(), medium_id="m1", now=NOW).status == "completed"
    assert (union / "g").read_bytes() == b"g" and (union / "f").stat().st_size == 64 * 1024


def test_a_medium_swapped_before_the_union_goes_keeps_both(tmp_path, monkeypatch):
    lab, cfg, union = _made_standard(tmp_path)
    medium = lab.media[0][1]
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=NOW)
    assert len(plan.delete) == 2 and len(plan.unions) == 1
    delete_unread = deletion._delete_unread

    def then_swapped(*args):
        delete_unread(*args)
        os.rename(medium, tmp_path / "first")
        shutil.copytree(tmp_path / "first", medium, symlinks=True)   # another disk of that label there

    monkeypatch.setattr(deletion, "_delete_unread", then_swapped)
    done = cleanup_actions.apply(cfg, store, plan)
    assert len(done.deleted) == 2 and done.unions == []
    assert any(".archive/ view" in line and "went away" in line for line in done.kept), done.lines
    rel = union.relative_to(medium)
    # each kept without the deleted backup's files: no backup there holds them any more
    for top in (medium, tmp_path / "first"):
        assert (top / rel).is_dir() and not (top / rel / "g").exists()


def test_a_directory_taken_out_of_the_source_keeps_its_union_with_its_only_copies(tmp_path):
    """Taken out of the source, the directory's archive backup holds the only copies of its files:
    it stays, and the union it shows with it."""
    lab, cfg, union = _made_standard(tmp_path, then=[("data", "standard")], elsewhere=False)
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=NOW)
    assert plan.unions == [] and len(plan.delete) == 1
    assert cleanup_actions.apply(cfg, store, plan).failed == []
    assert (union / "g").read_bytes() == b"g" and (union / "f").stat().st_size == 64 * 1024


def test_hostile_names(tmp_path):
    """A directory named with a tab and 250 bytes of UTF-8, files named with bytes that are no
    UTF-8 and a line break: the union goes, the plan's lines escaped."""
    rel = "ph\toto-" + "é" * 121
    lab, cfg, union = _made_standard(tmp_path, rel, files={b"bad\xff\nname": b"x" * 5000, "g": b"g"})
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=NOW)
    assert len(plan.unions) == 1
    lines = cleanup_actions.plan_lines(plan, dry_run=False)
    assert all("\t" not in line and "\n" not in line for line in lines), lines
    done = cleanup_actions.apply(cfg, store, plan)
    assert done.failed == [] and len(done.unions) == 1 and not union.exists()
    assert os.listdir(lab.media[0][1] / "loc" / ".archive") == []     # the directories on the way too
    newest = store.one("SELECT path FROM backups WHERE status='completed' AND medium='m1' ORDER BY id DESC")["path"]
    assert (medium_layout.backup_data_path(newest, str(lab.src / rel)) / os.fsdecode(b"bad\xff\nname")).is_file()


def test_symlinks_planted_in_the_unions_place_are_never_followed(tmp_path):
    """Between the plan and its doing, the union is replaced by a symlink to a directory off the
    medium, and a symlink stands at the name a removal sets it aside to: only rabtui's own go. The
    archive backup, which is undone in the union, is kept with it."""
    lab, cfg, union = _made_standard(tmp_path)
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=NOW)
    assert len(plan.unions) == 1
    outside = tmp_path / "outside"
    write_files(outside, {"keep": b"k"})
    os.rename(union, tmp_path / "moved")
    os.symlink(outside, union)
    to = union_release.target(cfg.media[0], "loc", str(lab.src / "photos"))
    os.symlink(outside, to)
    done = cleanup_actions.apply(cfg, store, plan)
    assert [c.name for c in done.deleted] == [plan.delete[1].name] and done.unions == []
    assert any("symlink" in line and plan.delete[0].name in line for line in done.failed), done.lines
    assert (outside / "keep").read_bytes() == b"k" and os.path.islink(union)
    # the symlink gone, the union back: the next cleanup removes it, and the symlink at its aside name
    os.unlink(union)
    os.rename(tmp_path / "moved", union)
    done = cleanup_actions.apply(cfg, store, cleanup_actions.plan(cfg, store, now=NOW))
    assert done.failed == [] and len(done.unions) == 1 and not union.exists()
    assert (outside / "keep").read_bytes() == b"k" and not os.path.lexists(to)


def test_a_directory_of_a_long_path(tmp_path):
    """The directory's path on the source is 3,900 bytes long (15 names of 250 bytes): its union is
    reached, set aside and its parents removed without a path past PATH_MAX."""
    rel = "/".join(["d" * 250] * 15) + "/" + "e" * 130
    lab, cfg, union = _made_standard(tmp_path, rel)
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=NOW)
    assert [u.dir for u in plan.unions] == [str(lab.src / rel)]
    done = cleanup_actions.apply(cfg, store, plan)
    assert done.failed == [] and len(done.unions) == 1
    assert os.listdir(lab.media[0][1] / "loc" / ".archive") == []
