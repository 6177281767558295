"""The copy at hand is a backup made under a clock a year ahead, before the newest (made after the
clock was put right, on the medium away): the restore says it read an older copy, as of before
the newest, with the date it bears, never the newest copy's time as its own. Real rsync."""

from __future__ import annotations

from datetime import datetime, timedelta

from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def test_an_older_copy_dated_ahead_is_said_as_before_the_newest_with_its_own_date(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"a.txt": b"under a clock ahead"})
    assert lab.backup(cfg, now=T0 + timedelta(days=365), medium_id="m2").status == "completed"
    write_files(data, {"a.txt": b"newest"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    m1 = lab.media[0][1]
    m1.rename(m1.with_name("in-the-drawer"))
    capsys.readouterr()
    path = str(data / "a.txt")
    assert main(["--config", str(lab.config_path), "restore", "loc", path, "--to", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert (tmp_path / "out" / path.lstrip("/")).read_bytes() == b"under a clock ahead"
    assert (f"restoring {path} as of before 2026-03-02 02:00 (dated 2027-03-01 02:00: a clock ahead then) from backup"
            " backup-20270301020000 on medium m2") in err, err
