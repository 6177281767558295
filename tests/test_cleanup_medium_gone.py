"""A medium unmounted (or swapped) in the middle of a cleanup: the backups the cleanup has not
emptied yet are not on the disk at the medium's path now, but on the disk that went away. The
cleanup stops on that medium, says why, and the catalog keeps them: they are neither forgotten nor
counted as freed (the disk, back again, holds them, complete, and the next cleanup deletes them).
Real backups on a real bind mount, unmounted as the first deletion ends."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta

from rabtui.actions import cleanup as cleanup_actions
from rabtui.backup import deletion
from rabtui.media import medium_layout
from tests.trees import Lab, write_files


def test_a_medium_unmounted_during_a_cleanup_keeps_what_was_not_deleted(tmp_path, bind_mount, monkeypatch):
    lab = Lab(tmp_path, media_count=1)
    disk, medium = tmp_path / "disk", lab.media[0][1]
    disk.mkdir()
    bind_mount(medium, disk)
    lab.local()
    lab.keep_a_day()
    cfg = lab.load()
    t0 = datetime(2026, 1, 1, 3, 0)
    for day in range(4):
        write_files(lab.src / "data", {"f": b"x" * (1000 * (day + 1))})
        assert lab.backup(cfg, now=t0 + timedelta(days=day)).status == "completed"
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=t0 + timedelta(days=5))
    first, *rest = plan.delete
    assert len(rest) == 2
    empty_tree, unmounted = deletion._empty_tree, []

    def then_unmounted(path, *more):
        try:
            return empty_tree(path, *more)
        finally:
            if not unmounted:
                unmounted.append(subprocess.run(["umount", str(medium)], check=True))

    monkeypatch.setattr(deletion, "_empty_tree", then_unmounted)
    done = cleanup_actions.apply(cfg, store, plan)
    assert [c.id for c in done.deleted] == [first.id], done.lines
    assert done.freed_bytes == first.freed_bytes
    assert any("m1" in line and "went away" in line for line in done.failed), done.lines
    status = {r["id"]: r["status"] for r in store.all("SELECT id, status FROM backups")}
    assert [status[c.id] for c in rest] == ["completed", "completed"]
    # the disk holds them, complete, as the catalog says
    for c in rest:
        assert medium_layout.read_backup_json(disk / "loc" / c.name)["status"] == "completed"
    assert cleanup_actions.done_lines(plan, done)[-1].startswith("1 of 3 backups deleted, ")
    # back again: the next cleanup deletes them, and finishes the deletion the unmount cut short
    bind_mount(medium, disk)
    monkeypatch.undo()
    again = cleanup_actions.apply(cfg, store, cleanup_actions.plan(cfg, store, now=t0 + timedelta(days=5)))
    assert sorted(c.id for c in again.deleted) == sorted(c.id for c in rest) and again.failed == []
    assert sorted(os.listdir(disk / "loc")) == [sorted(os.listdir(disk / "loc"))[-1]]
    assert store.one("SELECT COUNT(*) AS n FROM backups WHERE status='completed'")["n"] == 1
