"""A symlink or FIFO of an archive directory below a place the source made a file since (the union
of that medium then holds the file: the newer shape wins there): the newest backup of that medium
does not hold it, as it does not hold a file below that place. The restore's check of what other
copies hold names only what `--backup` of the copy it names gives. Real rsync of a local source,
the real command line."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def test_entries_below_a_place_made_a_file_since_are_not_named_in_the_backup_that_holds_the_file(tmp_path,
                                                                                                     capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"kept.jpg": b"K", "d/x.jpg": b"X", "g": b"a file first"})
    os.symlink("x.jpg", photos / "d/link")
    os.mkfifo(photos / "d/fifo")
    assert lab.backup(cfg, now=T0, medium_id="m2").status in ("completed", "warnings")
    for name in ("link", "fifo", "x.jpg"):
        os.unlink(photos / "d" / name)
    os.rmdir(photos / "d")
    (photos / "g").unlink()
    write_files(photos, {"d": b"now a file"})
    (photos / "g").mkdir()
    os.symlink("../kept.jpg", photos / "g/link2")      # a directory in place of a file: its entry shows
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status in ("completed", "warnings")
    os.unlink(photos / "g/link2")
    os.rmdir(photos / "g")
    assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status in ("completed", "warnings")
    on_m2 = lab.store().one("SELECT name FROM backups WHERE medium='m2' ORDER BY id DESC")["name"]
    run = ["--config", str(lab.config_path)]
    capsys.readouterr()
    assert main([*run, "restore", "loc", str(photos), "--to", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert (f"1 entry the archive saved below {photos} is not in backup" in err
            and f"it is in backup {on_m2} on medium m2 (first: {photos}/g/link2 (a symlink))" in err), err
    # what it names is what that backup gives
    assert main([*run, "restore", "loc", str(photos), "--backup", on_m2, "--to", str(tmp_path / "exact")]) == 0
    got = tmp_path / "exact" / str(photos).lstrip("/")
    assert (got / "d").read_bytes() == b"now a file" and os.readlink(got / "g/link2") == "../kept.jpg"
