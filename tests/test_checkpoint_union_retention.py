"""Retention deletes the older backups of an archive directory once a verified checkpoint holds
their files (one saved a file the source then removed, one whose file a later backup changed, kept
data between): the checkpoint plan after the cleanup, and after rebuild-state, is not refused for
the union. Real rsync and xorriso."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.cli import main
from tests.trees import Lab, next_second, write_files
from tests.union_plans import plan_not_refused

SHORT = ("keep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
         "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
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
