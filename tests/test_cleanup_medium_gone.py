"""A medium unmounted (or swapped for a copy of its disk) in the middle of a cleanup: the backups
the cleanup has not emptied yet are not on the disk at the medium's path now, but on the disk that
went away. The cleanup stops on that medium, says why, and the catalog keeps them: they are neither
forgotten nor counted as freed (the disk, back again, holds them, complete, and the next cleanup
deletes them). Real backups on a real bind mount, unmounted (or a copy of the disk mounted in its
place) as the first deletion ends, or as the remains of an interrupted deletion are removed, before
the first deletion."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta

import pytest

from rabtui.actions import cleanup as cleanup_actions
from rabtui.backup import deletion
from rabtui.media import medium_layout
from tests.trees import Lab, write_files

T0 = datetime(2026, 1, 1, 3, 0)


@pytest.mark.parametrize("when", ["_empty_tree", "_finish_leftovers"])
@pytest.mark.parametrize("swapped", [False, True])
def test_a_medium_unmounted_during_a_cleanup_keeps_what_was_not_deleted(tmp_path, bind_mount, monkeypatch,
                                                                       when, swapped):
    lab = Lab(tmp_path, media_count=1)
    disk, medium, copy = tmp_path / "disk", lab.media[0][1], tmp_path / "copy"
    disk.mkdir()
    bind_mount(medium, disk)
    lab.local()
    lab.keep_a_day()
    cfg = lab.load()
    for day in range(4):
        write_files(lab.src / "data", {"f": b"x" * (1000 * (day + 1))})
        assert lab.backup(cfg, now=T0 + timedelta(days=day)).status == "completed"
    (disk / "loc" / ".deleting-backup-20251201030000").mkdir()     # a deletion killed once
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=T0 + timedelta(days=5))
    assert len(plan.delete) == 3 and len(plan.leftovers) == 1
    deleted, kept = (plan.delete[:1], plan.delete[1:]) if when == "_empty_tree" else ([], plan.delete)
    if swapped:
        subprocess.run(["cp", "-a", str(disk), str(copy)], check=True)
    step, unmounted = getattr(deletion, when), []

    def then_unmounted(*args):
        try:
            return step(*args)
        finally:
            if not unmounted and (when == "_empty_tree" or args[2]):     # the medium's remains
                unmounted.append(subprocess.run(["umount", str(medium)], check=True))
                if swapped:
                    bind_mount(medium, copy)

    monkeypatch.setattr(deletion, when, then_unmounted)
    done = cleanup_actions.apply(cfg, store, plan)
    assert [c.id for c in done.deleted] == [c.id for c in deleted], done.lines
    assert done.freed_bytes == sum(c.freed_bytes for c in deleted)
    assert any("m1 went away during the cleanup" in line for line in done.failed), done.lines
    status = {r["id"]: r["status"] for r in store.all("SELECT id, status FROM backups")}
    assert [status[c.id] for c in kept] == ["completed"] * len(kept)
    for c in kept:     # the disk holds them, complete, as the catalog says
        assert medium_layout.read_backup_json(disk / "loc" / c.name)["status"] == "completed"
    assert cleanup_actions.done_lines(plan, done)[-1].startswith(f"{len(deleted)} of 3 backups deleted, ")
    if swapped:     # the copy holds them too: nothing deleted there
        assert {c.name for c in kept} <= set(os.listdir(copy / "loc"))
        subprocess.run(["umount", str(medium)], check=True)
    # back again: the next cleanup deletes them, and finishes the deletions cut short
    bind_mount(medium, disk)
    monkeypatch.undo()
    again = cleanup_actions.apply(cfg, store, cleanup_actions.plan(cfg, store, now=T0 + timedelta(days=5)))
    assert sorted(c.id for c in again.deleted) == sorted(c.id for c in kept) and again.failed == []
    assert len(os.listdir(disk / "loc")) == 1
    assert store.one("SELECT COUNT(*) AS n FROM backups WHERE status='completed'")["n"] == 1
