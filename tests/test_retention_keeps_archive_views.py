"""Retention never makes a later backup's view of an archive directory show an older version of a
file: a backup that saved the version a later backup on its medium shows is kept while an older
version of that file is on the medium, even when a verified disc holds its version. Deleting it
would have the union tree, Browse and `restore` of that later backup (and the next checkpoint,
which reads the union) give the older version as if it were the newest, without a word."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.backup import deletion, retention
from rabtui.restore import run as R
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 1, 5, 3, 0)
NOTHING_KEPT = ("\n[retention]\nkeep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                "keep_monthly_months = 0\nkeep_yearly_years = 0\n")


def _put(root, name: str, content: bytes, mtime: int) -> None:
    write_files(root, {name: content})
    os.utime(root / name, (mtime, mtime))


def test_a_newer_archive_version_on_a_disc_does_not_let_its_backup_go_under_a_later_backup(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700", [("arch", "archive")], more=NOTHING_KEPT)
    arch = lab.src / "arch"
    _put(arch, "a", b"a v1", 1000)
    _put(arch, "keep", b"kept", 1000)
    lab.backup(cfg, now=T0)
    _put(arch, "a", b"a v2", 2000)
    second = lab.backup(cfg, now=T0 + timedelta(days=1))
    store = lab.store()
    burn_due(cfg, store)                      # a verified disc holds a v2 (and a v1's backup is kept)
    third = lab.backup(cfg, now=T0 + timedelta(days=2))
    assert third.status == "completed"

    plan = retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=30))
    assert second.backup_id not in {c.id for c in plan.delete}
    assert any(g[0] == second.backup_id and "an older version would show" in g[2] for g in plan.guarded), plan.guarded
    deletion.apply_cleanup(cfg, store, plan)

    # the newest state of the archive is still what the source had: a v2
    R.restore(cfg, store, "loc", str(arch), to=tmp_path / "out")
    assert (tmp_path / "out" / str(arch).lstrip("/") / "a").read_bytes() == b"a v2"
    number = burn_due(cfg, store, {"*"})      # the next checkpoint reads the union: a v2 too
    R.restore(cfg, store, "loc", str(arch / "a"), checkpoint=number, to=tmp_path / "disc")
    assert (tmp_path / "disc" / str(arch).lstrip("/") / "a").read_bytes() == b"a v2"


def test_an_archive_version_no_later_backup_shows_may_still_go(tmp_path):
    """a v1 is replaced by v2 in the next backup, so no later backup shows it: once a disc holds
    it, its backup goes (a later backup that shows only files newer than it does not keep it)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700", [("arch", "archive")], more=NOTHING_KEPT)
    arch = lab.src / "arch"
    _put(arch, "a", b"a v1", 1000)
    first = lab.backup(cfg, now=T0)
    store = lab.store()
    burn_due(cfg, store)
    _put(arch, "a", b"a v2", 2000)
    lab.backup(cfg, now=T0 + timedelta(days=1))
    lab.backup(cfg, now=T0 + timedelta(days=2))
    plan = retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=30))
    assert first.backup_id in {c.id for c in plan.delete}
