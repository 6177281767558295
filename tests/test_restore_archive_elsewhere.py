"""An archive directory keeps every file it saved, but each medium only what was saved onto it: a
file made and deleted on the source between two visits of one medium is on the other medium only.
A restore of the directory that chooses the newest copy names the files that copy lacks and where
they are (exit 3), never a silent success without them. Real rsync, the real command line."""

from __future__ import annotations

import os
import sys
from datetime import datetime, timedelta
from pathlib import Path

from rabtui.cli import main
from rabtui.restore import archive_elsewhere
from rabtui.restore.copies import copies_of
from rabtui.state import catalog
from rabtui.state.store import Store
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def test_files_of_the_archive_on_another_medium_only_are_named_by_the_restore(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"kept.jpg": b"K", "2025/only-on-m2.jpg": b"gone from the source"})
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    (photos / "2025/only-on-m2.jpg").unlink()
    write_files(photos, {"new.jpg": b"N"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    on_m2 = lab.store().one("SELECT name FROM backups WHERE medium='m2'")["name"]
    run = ["--config", str(lab.config_path)]
    capsys.readouterr()

    out = tmp_path / "out"
    assert main([*run, "restore", "loc", str(photos), "--to", str(out)]) == 3
    err = capsys.readouterr().err
    got = out / str(photos).lstrip("/")
    assert (sorted(os.listdir(got)), os.listdir(got / "2025")) == (["2025", "kept.jpg", "new.jpg"], [])
    assert (f"1 file the archive saved below {photos} is not in backup" in err
            and f"it is in backup {on_m2} on medium m2 (first: {photos}/2025/only-on-m2.jpg)" in err
            and f"--backup {on_m2}" in err), err
    # its directory alone too (m1 holds it empty); the file alone comes from m2, nothing to say
    assert main([*run, "restore", "loc", str(photos / "2025"), "--to", str(tmp_path / "dir")]) == 3
    assert "only-on-m2.jpg" in capsys.readouterr().err
    assert main([*run, "restore", "loc", str(photos / "2025/only-on-m2.jpg"), "--to", str(tmp_path / "alone")]) == 0
    assert (tmp_path / "alone" / str(photos).lstrip("/") / "2025/only-on-m2.jpg").read_bytes() == b"gone from the source"
    newest = lab.store().one("SELECT name FROM backups WHERE medium='m1'")["name"]
    capsys.readouterr()
    assert main([*run, "restore", "loc", str(photos), "--backup", newest, "--to", str(tmp_path / "exact")]) == 0
    assert "not in backup" not in capsys.readouterr().err


def test_symlinks_and_fifos_of_the_archive_on_another_medium_only_are_named_too(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"kept.jpg": b"K"})
    os.symlink("kept.jpg", photos / "link-only-on-m2")
    os.mkfifo(photos / "fifo-only-on-m2")
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    for name in ("link-only-on-m2", "fifo-only-on-m2"):
        (photos / name).unlink()
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    on_m2 = lab.store().one("SELECT name FROM backups WHERE medium='m2'")["name"]
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(out)]) == 3
    err = capsys.readouterr().err
    assert sorted(os.listdir(out / str(photos).lstrip("/"))) == ["kept.jpg"]
    assert (f"2 entries the archive saved below {photos} are not in backup" in err
            and f"they are in backup {on_m2} on medium m2 (first: {photos}/fifo-only-on-m2 (a FIFO or socket),"
                f" {photos}/link-only-on-m2 (a symlink))" in err), err


def test_an_empty_directory_only_the_discs_hold_is_named_one_the_chosen_backup_holds_is_not(tmp_path, capsys):
    """The catalog of a backup records no directories: the discs' does, and the chosen backup's
    union on its medium is looked at."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB", [("photos", "archive")])
    (tmp_path / "iso").mkdir()
    photos = lab.src / "photos"
    write_files(photos, {"kept.jpg": b"K"})
    for name in ("empty-on-the-discs", "empty-in-both"):
        (photos / name).mkdir()
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    number = burn_due(cfg, lab.store(), {"*"})
    (photos / "empty-on-the-discs").rmdir()
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    lab.media[1][1].rename(tmp_path / "m2-away")    # at hand, its backup would be named first (its own tree)
    capsys.readouterr()
    out = tmp_path / "out"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(out)]) == 3
    err = capsys.readouterr().err
    assert (f"1 entry the archive saved below {photos} is not in backup" in err
            and f"it is in checkpoint {number} " in err
            and f"(first: {photos}/empty-on-the-discs (an empty directory)); restore it from there with"
                f" --checkpoint {number}" in err and "empty-in-both" not in err), err


def test_names_not_utf8_a_directory_renamed_and_a_file_made_a_directory_are_named_as_each_copy_has_them(
        tmp_path, capsys):
    """The comparison of the copies in SQL (state/archive_held.py) against what each holds: a name
    that is not UTF-8, the files of a directory renamed since (its old name on the older copy alone),
    a file the newer copy holds a directory of the same name for (shapes.py's place, read apart), a
    symlink one copy holds a file for (held: not named)."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"kept.jpg": b"K", b"caf\xe9.jpg": b"C", "album/x.jpg": b"X", "shape": b"S"})
    os.symlink("kept.jpg", photos / "same")
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    os.unlink(os.path.join(os.fsencode(photos), b"caf\xe9.jpg"))
    os.rename(photos / "album", photos / "album-2024")
    (photos / "shape").unlink()
    (photos / "same").unlink()
    write_files(photos, {"shape/inner.jpg": b"I", "same": b"a file now"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    on_m2 = lab.store().one("SELECT name FROM backups WHERE medium='m2'")["name"]
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert (f"3 files the archive saved below {photos} are not in backup" in err
            and f"they are in backup {on_m2} on medium m2 (first: {photos}/album/x.jpg, {photos}/caf\\351.jpg,"
                f" {photos}/shape); restore them from there with --backup {on_m2}" in err
            and "same" not in err and "album-2024" not in err), err


def test_the_copies_are_compared_in_sql_not_read_whole(tmp_path, monkeypatch):
    """Three copies of 3,000 files, each with a tenth of its files and as many symlinks alone: the
    rows read into Python are about those named, not every copy's contents (11 s for a directory of
    200,000 files; benchmarks/bench_archive_elsewhere.py)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    from bench_archive_elsewhere import build

    lab = Lab(tmp_path, media_count=3)
    lab.local([("photos", "archive")])
    build(lab, 3000)
    cfg, store = lab.load(), Store(lab.state)
    source = cfg.sources[0]
    rel = catalog.rel_path(source.directories[0].path)
    copies = copies_of(store, source, rel)
    read = []
    real = Store.all
    monkeypatch.setattr(Store, "all", lambda self, *a: read.append(len(rows := real(self, *a))) or rows)
    lines = archive_elsewhere.lacking(cfg, store, source, rel, copies[0], copies)
    assert [line.split(" the archive")[0] for line in lines] == ["600 entries", "600 entries"], lines
    assert sum(read) < 1200 + 100, sum(read)
