"""Retention deletes the older backups of an archive directory once a verified checkpoint holds
their files (one saved a file the source then removed, one whose file a later backup changed, kept
data between): the checkpoint plan after the cleanup, and after rebuild-state, is not refused for
the union. A file that a later backup saved as a directory of files, that backup deleted by the
monthly keeps while the file's is kept: the union shows the file again, or the empty directory a
backup after them holds, and the plan is not refused; a directory of files put by hand in the file's
place is named. Where only a kept backup after the newest complete one holds a directory in that
place (the union keeps it, empty, for that one), the disc holds the file, as a restore of the complete
backup gives it. Real rsync and xorriso."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta

import pytest

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.media import medium_layout
from tests.trees import Lab, burn_due, next_second, write_files
from tests.union_plans import plan_not_refused

SHORT = ("keep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
         "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
MONTHLY = SHORT.replace("keep_monthly_months = 0", "keep_monthly_months = 4")
T0 = datetime(2026, 7, 1, 3, 0)


def test_retention_leaves_no_union_refused(tmp_path):
    lab = Lab(tmp_path, media_count=1)

    def cfg_of(failing):
        post = '["exit 4"]' if failing else "[]"
        return lab.write(lab._local_source([("data", "archive")], f"post_backup_commands = {post}", "loc")
                         + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n'
                         + f"[retention]\n{SHORT}")
    data = lab.src / "data"
    write_files(data, {"gone": b"g" * 9, "changed": b"c1", "same": b"s"})
    day = iter(range(100))

    def backup(failing=False):
        cfg = cfg_of(failing)
        done = lab.backup(cfg, now=T0 + timedelta(days=next(day)))
        assert done.status == ("failed" if failing else "completed"), done.reason
        next_second()
        return cfg

    backup()
    os.unlink(data / "gone")
    (data / "changed").write_bytes(b"c2-longer")
    backup()
    (data / "changed").write_bytes(b"c3")
    write_files(data, {"new": b"n"})
    backup(True)
    (data / "changed").write_bytes(b"c4--")
    cfg = backup()
    assert main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--now"]) == 0
    (data / "changed").write_bytes(b"c5---")
    cfg = backup()
    before = lab.store().one("SELECT count(*) AS n FROM backups WHERE status<>'deleted'")["n"]
    assert main(["--config", str(lab.config_path), "cleanup", "--now", (T0 + timedelta(days=30)).isoformat()]) == 0
    assert lab.store().one("SELECT count(*) AS n FROM backups WHERE status<>'deleted'")["n"] < before
    plan_not_refused(lab, cfg)
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    plan_not_refused(lab, cfg)
    cfg = backup()
    plan_not_refused(lab, cfg)


@pytest.mark.parametrize("source_since", ["no x", "x a directory"])
def test_a_directory_deleted_between_by_the_monthly_keeps_leaves_no_union_refused(tmp_path, source_since):
    """Backups of 31 January (x a file: kept, its month's newest), 5 February (x a directory of files:
    deleted, a checkpoint holds them), 20 February (the source's x `source_since`: its month's newest)
    and 2 March (the newest)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(lab._local_source([("data", "archive")], "", "loc")
                    + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n[retention]\n{MONTHLY}')
    data = lab.src / "data"

    def backup(month, day):
        assert lab.backup(cfg, now=datetime(2026, month, day, 3)).status in ("completed", "warnings")
        next_second()
    write_files(data, {"x": b"file x", "keep": b"k"})
    backup(1, 31)
    os.unlink(data / "x")
    write_files(data, {"x/f": b"f", "x/sub/g": b"g"})
    backup(2, 5)
    assert main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--now"]) == 0
    if source_since == "no x":
        for rel in ("x/sub/g", "x/f"):
            os.unlink(data / rel)
        os.rmdir(data / "x" / "sub")
        os.rmdir(data / "x")
    backup(2, 20)
    backup(3, 2)
    assert main(["--config", str(lab.config_path), "cleanup", "--now", "2026-03-03T03:00"]) == 0
    assert [r["name"] for r in lab.store().all("SELECT name FROM backups WHERE status='deleted'")] \
        == ["backup-20260205030000"]
    plan_not_refused(lab, cfg)
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    plan_not_refused(lab, cfg)
    if source_since == "no x":      # the file is back in the union: a directory of files there by hand is named
        x = medium_layout.archive_root(lab.media[0][1], "loc", str(data)) / "x"
        x.unlink()
        write_files(x, {"planted": b"p"})
        with pytest.raises(WorkFailed) as got:
            prepare.compute(cfg, lab.store(), asked={"*"})
        assert f"e.g. {data}/x: a directory is in the place of the file backup backup-20260131030000 saved" \
            in str(got.value), str(got.value)


@pytest.mark.parametrize("inside", ["f", "sub/f"])
def test_a_directory_only_a_later_kept_backup_holds_leaves_no_union_refused(tmp_path, inside):
    """As above, x removed from the source on 20 February, and a directory again in the kept backup
    of 2 March (its post-backup command failed): the newest complete backup is that of 20 February.
    The union keeps an empty directory at x for the kept backup (the undoing's rule); the plan reads
    the complete one (after rebuild-state too), whose restore gives the January file: the disc holds
    that file, verified, and a restore from it with the medium away gives it. A file put by hand in
    that directory is named.
    `inside`: the file below x of 5 February and of 2 March (sub/: the union keeps x/sub too)."""
    lab = Lab(tmp_path, media_count=1)

    def cfg_of(post):
        return lab.write(lab._local_source([("data", "archive")], f"post_backup_commands = {post}", "loc")
                         + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n'
                         + f"[retention]\n{MONTHLY}")
    data = lab.src / "data"

    def backup(month, day, post="[]"):
        cfg = cfg_of(post)
        assert lab.backup(cfg, now=datetime(2026, month, day, 3)).status in ("completed", "warnings", "failed")
        next_second()
        return cfg
    write_files(data, {"x": b"file x", "keep": b"k"})
    backup(1, 31)
    os.unlink(data / "x")
    write_files(data, {f"x/{inside}": b"f"})
    backup(2, 5)
    assert main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--now"]) == 0
    shutil.rmtree(data / "x")
    backup(2, 20)
    write_files(data, {f"x/{inside}": b"h"})
    backup(3, 2, '["exit 4"]')
    cfg = cfg_of("[]")
    assert main(["--config", str(lab.config_path), "cleanup", "--now", "2026-03-03T03:00"]) == 0
    assert [(r["name"], r["status"]) for r in lab.store().all("SELECT name, status FROM backups ORDER BY id")] == [
        ("backup-20260131030000", "completed"), ("backup-20260205030000", "deleted"),
        ("backup-20260220030000", "completed"), ("backup-20260302030000", "kept")]
    plan_not_refused(lab, cfg)
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    plan_not_refused(lab, cfg)
    x = medium_layout.archive_root(lab.media[0][1], "loc", str(data)) / "x"
    assert sorted(p.relative_to(x).as_posix() for p in x.rglob("*")) == (["sub"] if "/" in inside else [])
    (x / "planted").write_bytes(b"p")
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    assert f"e.g. {data}/x: a directory is in the place of the file backup backup-20260131030000 saved" \
        in str(got.value), str(got.value)
    (x / "planted").unlink()
    from_medium = tmp_path / "from-medium"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--backup", "backup-20260220030000",
                 "--to", str(from_medium)]) == 0
    assert (from_medium / str(data).lstrip("/") / "x").read_bytes() == b"file x"
    number = burn_due(lab.load(), lab.store(), asked={"*"}, verified=True)
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    from_discs = tmp_path / "from-discs"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data), "--checkpoint", str(number),
                 "--to", str(from_discs)]) == 0
    got = from_discs / str(data).lstrip("/")
    assert (got / "x").read_bytes() == b"file x" and (got / "keep").read_bytes() == b"k"
