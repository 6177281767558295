"""`rsync_options = ["--checksum"]` and an archive directory (real rsync, a real cleanup): an
archive saves a file once per path, size and mtime, and retention keeps the last copy of each such
version. A file whose content changed under the same size and mtime (bit rot, a tool that set its
time back) must not be saved again as that version: the cleanup would then delete the backup that
holds the only copy of the older content."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.backup import deletion, retention, transfer
from rabtui.config import Directory, Source
from rabtui.restore import run as R
from tests.trees import Lab, write_files

T0 = datetime(2026, 1, 5, 3, 0)
NOTHING_KEPT = ("[retention]\nkeep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                "keep_monthly_months = 0\nkeep_yearly_years = 0\n")


def test_archive_directories_compare_by_size_and_mtime_only():
    arch, std = Directory("/photos", kind="archive"), Directory("/etc")
    source = Source("web", (arch, std), host="web1", rsync_options=("-c", "--compress", "--checksum",
                                                                     "--checksum-choice=md5"))

    def argv(d):
        return transfer.directory_argv(source, d, "/m/x", rsh="ssh", link_dest=None, compare_dest=None,
                                       rsync_path="/usr/bin/rsync")
    assert {"-c", "--checksum", "--compress"} <= set(argv(std))
    assert "-c" not in argv(arch) and "--checksum" not in argv(arch)
    assert {"--compress", "--checksum-choice=md5"} <= set(argv(arch))


def test_content_changed_under_the_same_size_and_mtime_keeps_the_older_copy(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("arch", "archive")], extra='rsync_options = ["--checksum"]')
    lab.config_path.write_text(lab.config_path.read_text().replace("[[media]]", NOTHING_KEPT + "[[media]]", 1))
    cfg = lab.load()
    arch = lab.src / "arch"
    write_files(arch, {"photo": b"good"})
    os.utime(arch / "photo", (1000, 1000))
    assert lab.backup(cfg, now=T0).status == "completed"
    write_files(arch, {"photo": b"ROTN"})
    os.utime(arch / "photo", (1000, 1000))
    second = lab.backup(cfg, now=T0 + timedelta(days=1))
    assert second.status == "completed" and second.new_bytes == 0
    store = lab.store()
    deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=T0 + timedelta(days=30)))
    R.restore(cfg, store, "loc", str(arch), to=tmp_path / "out")
    assert (tmp_path / "out" / str(arch).lstrip("/") / "photo").read_bytes() == b"good"
