"""An empty directory of an archive directory that only another backup holds (the source removed
it before the chosen copy was made): the catalog records no directories, so the restore looks at
that backup's own tree on its medium when it is at hand, and names the directory with where it is
(exit 3), as it names a file only another copy holds. Real rsync of a local source, the real
command line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from datetime import datetime, timedelta

from rabtui.cli import main
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def test_an_empty_directory_only_another_backup_holds_is_named_with_where_it_is(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"kept.jpg": b"K", "full/x.jpg": b"X"})
    for name in ("only-on-m2", "deep/also-on-m2/inner", "in-both", "full/empty-too"):
        (photos / name).mkdir(parents=True)
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    os.rmdir(photos / "only-on-m2")
    os.rmdir(photos / "deep/also-on-m2/inner")
    os.rmdir(photos / "deep/also-on-m2")
    os.rmdir(photos / "full/empty-too")
    (photos / "full/x.jpg").unlink()
    os.rmdir(photos / "full")       # its file stays in the archive: named as a file, not its directory
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    on_m2 = lab.store().one("SELECT name FROM backups WHERE medium='m2'")["name"]
    run = ["--config", str(lab.config_path)]
    capsys.readouterr()
    assert main([*run, "restore", "loc", str(photos), "--to", str(tmp_path / "out")]) == 3
    err = capsys.readouterr().err
    assert (f"4 entries the archive saved below {photos} are not in backup" in err
            and f"they are in backup {on_m2} on medium m2 (first: {photos}/deep/also-on-m2/inner (an empty directory),"
                f" {photos}/full/empty-too (an empty directory), {photos}/full/x.jpg and 1 more)" in err
            and "in-both" not in err), err
    # the way it names gives them
    assert main([*run, "restore", "loc", str(photos), "--backup", on_m2, "--to", str(tmp_path / "exact")]) == 0
    got = tmp_path / "exact" / str(photos).lstrip("/")
    assert os.listdir(got / "only-on-m2") == [] and os.listdir(got / "deep/also-on-m2/inner") == []
    # a directory restored alone: the same
    assert main([*run, "restore", "loc", str(photos / "deep"), "--to", str(tmp_path / "deep")]) == 3
    assert f"(first: {photos}/deep/also-on-m2/inner (an empty directory))" in capsys.readouterr().err
    # the empty directory itself: read from the backup that holds it (copy_choice.held_at_hand)
    assert main([*run, "restore", "loc", str(photos / "only-on-m2"), "--to", str(tmp_path / "itself")]) == 0
    assert f"from backup {on_m2} on m2" in capsys.readouterr().out
    assert os.listdir(tmp_path / "itself" / str(photos / "only-on-m2").lstrip("/")) == []


def test_a_symlink_planted_in_another_backups_own_tree_is_not_followed(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"kept.jpg": b"K"})
    (photos / "sub").mkdir()
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "planted-empty").mkdir(parents=True)
    own = Path(lab.store().one("SELECT path FROM backups WHERE medium='m2'")["path"]) / "data" / str(photos).lstrip("/")
    for planted in (own / "sub", own):       # below the archive directory, then the directory itself
        os.rmdir(planted) if planted.name == "sub" else os.rename(planted, tmp_path / "moved")
        os.symlink(elsewhere, planted)
        capsys.readouterr()
        assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to",
                     str(tmp_path / planted.name)]) == 0
        assert "planted-empty" not in capsys.readouterr().err


def test_a_directory_of_another_backup_the_restore_cannot_read_is_named(tmp_path):
    """Run without the capabilities that read any directory (as another user than the owner), a
    directory of another backup's own tree that cannot be read may hold empty directories: said
    (exit 3), not passed over in silence."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"kept.jpg": b"K"})
    (photos / "locked/inner").mkdir(parents=True)
    os.chmod(photos / "locked", 0o300)
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    shutil.rmtree(photos / "locked")
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    on_m2 = lab.store().one("SELECT name FROM backups WHERE medium='m2'")["name"]
    dropped = "-dac_override,-dac_read_search"
    done = subprocess.run(["setpriv", f"--bounding-set={dropped}", f"--inh-caps={dropped}", sys.executable, "-m",
                           "rabtui", "--config", str(lab.config_path), "restore", "loc", str(photos), "--to",
                           str(tmp_path / "out")], capture_output=True, text=True)
    assert done.returncode == 3 and (
        f"1 directory below {photos} in backup {on_m2} on medium m2 could not be read (first: {photos}/locked):"
        " empty directories in it that the restore lacks are not named" in done.stderr), done.stderr
