"""A medium's disk copied (dd, or cp -a of a directory medium): the copy, carrying the same label,
takes backups while the original is in the drawer; then the original comes back to the medium's
path. The state database records backups on that medium the disk does not hold. A cleanup judging
by the catalog kept the newest complete backup it records (not on the disk) and deleted every
backup the disk held: walked on the disk, nothing of the source was left. Real rsync backups on a
medium that is a directory."""

from __future__ import annotations

import os
import subprocess
from datetime import datetime, timedelta

from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def test_cleanup_deletes_nothing_where_the_disk_lacks_the_newest_complete_backup(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    lab.keep_a_day()
    cfg = lab.load()
    disk = lab.media[0][1]

    def backup(day):
        write_files(lab.src / "data", {"a.txt": b"version %d" % day})
        assert lab.backup(cfg, now=T0 + timedelta(days=day)).status == "completed"

    backup(0)
    backup(1)
    subprocess.run(["cp", "-a", str(disk), str(tmp_path / "copy")], check=True)
    disk.rename(tmp_path / "original")
    (tmp_path / "copy").rename(disk)           # the copy at the medium's path, the original away
    backup(2)
    backup(3)
    disk.rename(tmp_path / "copy")
    (tmp_path / "original").rename(disk)       # the original back
    held = sorted(os.listdir(disk / "loc"))
    assert len(held) == 2

    main(["--config", str(lab.config_path), "check"])
    assert "is not on the disk at" in capsys.readouterr().out

    when = (T0 + timedelta(days=10)).isoformat(timespec="minutes")
    assert main(["--config", str(lab.config_path), "cleanup", "--now", when]) == 0
    out = capsys.readouterr().out
    assert sorted(os.listdir(disk / "loc")) == held
    assert "is not on the disk at" in out and "rebuild-state" in out

    # once rebuild-state has read the disk, the cleanup keeps its newest backup and deletes the other
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0, capsys.readouterr()
    assert main(["--config", str(lab.config_path), "cleanup", "--now", when]) == 0
    assert sorted(os.listdir(disk / "loc")) == held[1:]
    main(["--config", str(lab.config_path), "check"])
    assert "is not on the disk at" not in capsys.readouterr().out
    assert [f.read_bytes() for f in (disk / "loc" / held[1]).rglob("a.txt")] == [b"version 1"]
