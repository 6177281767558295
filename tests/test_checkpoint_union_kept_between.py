"""Kept data (a backup whose post-backup command failed: never linked into the union) between
complete backups of an archive directory: a file changed by it then left alone, one removed then
made again of its old size and time with other content, one new in it, a file's xattr alone
changed; the checkpoint plan after each complete backup never refuses the union. Real rsync and
xorriso (`images:`)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from tests.trees import Lab, next_second, write_files
from tests.union_plans import plan_not_refused

T0 = datetime(2026, 7, 1, 3, 0)
OLD = 1_577_836_800


def _cfg(lab, failing: bool):
    post = '["exit 4"]' if failing else "[]"
    return lab.write(lab._local_source([("data", "archive")], f"post_backup_commands = {post}", "loc")
                     + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{lab.tmp / "iso"}"\n')


def test_kept_data_between_complete_backups_leaves_no_union_refused(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"x": b"x" * 10, "y": b"y" * 7, "q": b"q"})
    for name in ("x", "y"):
        os.utime(data / name, (OLD, OLD))
    day = iter(range(100))

    def backup(failing, status):
        cfg = _cfg(lab, failing)
        done = lab.backup(cfg, now=T0 + timedelta(days=next(day)))
        assert done.status == status and (not failing or "the data is kept" in done.reason), done.reason
        next_second()
        return cfg

    cfg = backup(False, "completed")
    (data / "x").write_bytes(b"X" * 20)
    os.unlink(data / "y")
    write_files(data, {"w": b"new in kept"})
    backup(True, "failed")
    (data / "y").write_bytes(b"Y" * 7)          # made again: its old size and time, other content
    os.utime(data / "y", (OLD, OLD))
    try:
        os.setxattr(data / "q", "user.k", b"v")
    except OSError:
        pass
    cfg = backup(False, "completed")
    plan_not_refused(lab, cfg)
    (data / "x").write_bytes(b"z" * 10)          # back to its first size and time
    os.utime(data / "x", (OLD, OLD))
    os.unlink(data / "w")
    backup(True, "failed")
    cfg = backup(False, "completed")
    plan_not_refused(lab, cfg)
    (data / "w").write_bytes(b"new in kept")
    backup(True, "failed")
    plan_not_refused(lab, cfg)
    cfg = backup(False, "completed")
    plan_not_refused(lab, cfg)
