"""A directory deleted on the source (or one only newer backups hold) is restored without --backup
from the newest backup that holds it, as a file of it is: not looked for in the newest backup of
each medium alone. Real rsync backups on media that are directories (one renamed away plays "not
mounted")."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.events import READY
from rabtui.restore import run as R
from tests.trees import Lab, snapshot, write_files

T0 = datetime(2026, 3, 1, 2, 0)


def test_a_deleted_directory_restores_from_the_backup_that_holds_it(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"gone/f": b"1", "gone/sub/g": b"2", "keep": b"k"})
    (data / "links").mkdir()
    os.symlink("elsewhere", data / "links" / "l")
    assert lab.backup(cfg, now=T0).status == "completed"
    saved = snapshot(data / "gone")
    shutil.rmtree(data / "gone")
    shutil.rmtree(data / "links")
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    first = lab.store().one("SELECT name FROM backups ORDER BY id LIMIT 1")["name"]
    for name in ("gone", "links", "links/l"):
        out = tmp_path / f"out-{name.replace('/', '-')}"
        code = main(["--config", str(lab.config_path), "restore", "loc", str(data / name), "--to", str(out)])
        printed = capsys.readouterr()
        assert code == 0, printed
        assert f"from backup {first} on m1" in printed.out
    assert snapshot(tmp_path / "out-gone" / str(data / "gone").lstrip("/")) == saved
    assert os.readlink(tmp_path / "out-links" / str(data / "links/l").lstrip("/")) == "elsewhere"


def test_a_directory_only_the_medium_away_holds_is_asked_for(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"keep": b"k"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(data, {"new/f": b"n"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    m2 = lab.media[1][1]
    m2.rename(m2.with_name("medium2-away"))
    lab.events.clear()
    with pytest.raises(WorkFailed, match="no copy of .*/new is at hand: medium m2 is not there"):
        R.restore(cfg, lab.store(), "loc", str(data / "new"), to=tmp_path / "out", emit=lab.emit)
    assert not any("m1" in m for m in lab.messages())


def test_a_directory_emptied_since_restores_as_the_newest_backup_holds_it(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"emptied/f": b"1", "keep": b"k"})
    assert lab.backup(cfg, now=T0).status == "completed"
    (data / "emptied/f").unlink()
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    res = R.restore(cfg, lab.store(), "loc", str(data / "emptied"), to=tmp_path / "out")
    newest = lab.store().one("SELECT name FROM backups ORDER BY id DESC LIMIT 1")["name"]
    assert res.origin == f"backup {newest} on m1"
    assert os.listdir(tmp_path / "out" / str(data / "emptied").lstrip("/")) == []


def test_a_directory_of_an_archive_saved_on_one_medium_only_is_restored_from_it(tmp_path, capsys):
    """An archive directory's directory deleted on the source before any backup onto the other
    medium: only the first medium holds it (its union), and a restore without --backup reads it there."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("arch", "archive")])
    arch = lab.src / "arch"
    write_files(arch, {"gone/f": b"1", "gone/sub/g": b"2", "keep": b"k"})
    os.symlink("elsewhere", arch / "gone" / "l")
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    saved = snapshot(arch / "gone")
    shutil.rmtree(arch / "gone")
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    on_m1 = lab.store().one("SELECT name FROM backups WHERE medium='m1'")["name"]
    for name in ("gone", "gone/l"):
        out = tmp_path / f"out-{name.replace('/', '-')}"
        code = main(["--config", str(lab.config_path), "restore", "loc", str(arch / name), "--to", str(out)])
        printed = capsys.readouterr()
        assert code == 0, printed
        assert f"from backup {on_m1} on m1" in printed.out
    assert snapshot(tmp_path / "out-gone" / str(arch / "gone").lstrip("/")) == saved
    assert os.readlink(tmp_path / "out-gone-l" / str(arch / "gone/l").lstrip("/")) == "elsewhere"


def test_a_file_become_a_directory_or_a_symlink_restores_as_the_newest_backup_holds_it(tmp_path):
    """A path that was a file, then a directory (deleted since, or not) or a symlink: the newest
    backup holding it has the directory or the symlink, not the file of an older one."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"p": b"file", "gone": b"file", "q": b"file", "emptied": b"file", "keep": b"k"})
    assert lab.backup(cfg, now=T0).status == "completed"
    for name in ("p", "gone", "emptied"):
        (data / name).unlink()
        write_files(data / name, {"x": b"in the directory"})
    (data / "q").unlink()
    os.symlink("elsewhere", data / "q")
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    shutil.rmtree(data / "gone")
    (data / "emptied/x").unlink()
    assert lab.backup(cfg, now=T0 + timedelta(days=2)).status == "completed"
    _, second, third = [r["name"] for r in lab.store().all("SELECT name FROM backups ORDER BY id")]
    for name, holding in (("p", third), ("gone", second), ("q", third), ("emptied", third)):
        res = R.restore(cfg, lab.store(), "loc", str(data / name), to=tmp_path / f"out-{name}")
        assert res.origin == f"backup {holding} on m1", name
    for name in ("p", "gone"):
        assert snapshot(tmp_path / f"out-{name}" / str(data / name).lstrip("/")) == {b"x": b"in the directory"}
    assert os.readlink(tmp_path / "out-q" / str(data / "q").lstrip("/")) == "elsewhere"
    assert os.listdir(tmp_path / "out-emptied" / str(data / "emptied").lstrip("/")) == []


def test_a_directory_emptied_then_deleted_restores_empty_from_the_backup_that_held_it_so(tmp_path):
    """Emptied, backed up, then deleted: the backup after the emptying holds it (empty), newer than
    the one that held its files, which is not read."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"d/f": b"1", "keep": b"k"})
    assert lab.backup(cfg, now=T0).status == "completed"
    (data / "d/f").unlink()
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    os.rmdir(data / "d")
    assert lab.backup(cfg, now=T0 + timedelta(days=2)).status == "completed"
    second = lab.store().one("SELECT name FROM backups ORDER BY id LIMIT 1 OFFSET 1")["name"]
    res = R.restore(cfg, lab.store(), "loc", str(data / "d"), to=tmp_path / "out")
    assert res.origin == f"backup {second} on m1"
    assert os.listdir(tmp_path / "out" / str(data / "d").lstrip("/")) == []


def test_an_empty_directory_deleted_restores_from_the_backup_that_held_it(tmp_path, capsys):
    """An empty directory, or one of empty ones, deleted on the source: the catalog holds nothing
    in either, the backup that held it is read all the same; a path no backup held is said as not
    in the newest."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"keep": b"k"})
    (data / "empty").mkdir()
    (data / "of-empty/sub").mkdir(parents=True)
    assert lab.backup(cfg, now=T0).status == "completed"
    os.rmdir(data / "empty")
    shutil.rmtree(data / "of-empty")
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    first, second = [r["name"] for r in lab.store().all("SELECT name FROM backups ORDER BY id")]
    for name in ("empty", "of-empty", "of-empty/sub"):
        out = tmp_path / f"out-{name.replace('/', '-')}"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(data / name), "--to", str(out)]) == 0
        assert f"from backup {first} on m1" in capsys.readouterr().out
    assert os.listdir(tmp_path / "out-empty" / str(data / "empty").lstrip("/")) == []
    assert os.listdir(tmp_path / "out-of-empty" / str(data / "of-empty").lstrip("/")) == ["sub"]
    assert main(["--config", str(lab.config_path), "restore", "loc", str(data / "never"), "--to",
                 str(tmp_path / "none")]) == 1
    assert f"/never is not in backup {second} on m1" in capsys.readouterr().err


def test_a_file_become_a_directory_on_one_medium_restores_from_it(tmp_path):
    """The other medium's backups never held the path: the one that holds the directory is read."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"keep": b"k"})
    assert lab.backup(cfg, now=T0, medium_id="m2").status == "completed"
    write_files(data, {"p": b"file"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m1").status == "completed"
    (data / "p").unlink()
    write_files(data / "p", {"x": b"in the directory"})
    assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "completed"
    newest = lab.store().one("SELECT name FROM backups ORDER BY id DESC LIMIT 1")["name"]
    res = R.restore(cfg, lab.store(), "loc", str(data / "p"), to=tmp_path / "out")
    assert res.origin == f"backup {newest} on m1"
    assert snapshot(tmp_path / "out" / str(data / "p").lstrip("/")) == {b"x": b"in the directory"}


class _MountsIt:
    """Answers ready to the question for the medium, having put it back in place."""

    def __init__(self, away: Path, place: Path):
        self.away, self.place, self.asked = away, place, []

    def ask(self, question, cancel=None) -> str:
        self.asked.append(question.data.get("backup"))
        if self.away.exists():
            self.away.rename(self.place)
        return READY


def test_a_deleted_directory_asked_for_is_read_from_the_backup_that_holds_it_once_there(tmp_path):
    """The medium away: its newest backup, which may hold the directory emptied, is asked for; once
    it is there and does not hold it, the older backup there that does is read."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"gone/f": b"1", "keep": b"k"})
    assert lab.backup(cfg, now=T0).status == "completed"
    shutil.rmtree(data / "gone")
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"
    first, second = [r["name"] for r in lab.store().all("SELECT name FROM backups ORDER BY id")]
    m1 = lab.media[0][1]
    m1.rename(m1.with_name("medium1-away"))
    prompter = _MountsIt(m1.with_name("medium1-away"), m1)
    res = R.restore(cfg, lab.store(), "loc", str(data / "gone"), to=tmp_path / "out", prompter=prompter)
    assert prompter.asked == [second]
    assert res.origin == f"backup {first} on m1" and not res.older
    assert snapshot(tmp_path / "out" / str(data / "gone").lstrip("/")) == {b"f": b"1"}
