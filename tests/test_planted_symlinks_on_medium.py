"""Symlinks planted in a source's layout on a medium (its directory, `.archive`, a union, `.linking`):
no backup, recovery or cleanup writes or removes anything through them, off the medium; each says
what it found and fails. Real rsync, the real `rabtui` process."""

from __future__ import annotations

import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui.media import medium_layout
from tests.test_kill_anywhere import _files, _killed, rabtui
from tests.trees import Lab, snapshot

SHORT = ("[retention]\nkeep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
         "keep_monthly_months = 0\nkeep_yearly_years = 0\n")


def _plant(lab: Lab, where: str, medium_path) -> os.PathLike:
    """The part `where` of loc's layout on the medium moved off it, a symlink to it in its place;
    `.linking`'s target holds a record of an undoing and a staged link of the names rabtui gives.
    Returns the place it points to."""
    places = {"source": medium_layout.source_root(medium_path, "loc"),
              "archive": medium_layout.source_root(medium_path, "loc") / medium_layout.ARCHIVE,
              "union": medium_layout.archive_root(medium_path, "loc", str(lab.src / "arch")),
              "linking": medium_layout.linking_dir(medium_path, "loc")}
    planted = places[where]
    elsewhere = lab.tmp / "elsewhere" / where
    elsewhere.parent.mkdir(exist_ok=True)
    if planted.is_dir():
        shutil.copytree(planted, elsewhere, symlinks=True)
        shutil.rmtree(planted)
    else:
        elsewhere.mkdir()
    _files(elsewhere, {".undoing-backup-20200101000000": b"", ".rabtui-link-0123456789abcdef": b"theirs"})
    os.symlink(elsewhere, planted)
    return elsewhere


@pytest.mark.parametrize("where", ["source", "archive", "union", "linking"])
def test_a_backup_over_a_planted_symlink_fails_and_writes_nothing_through_it(tmp_path, where):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    _files(lab.src / "arch", {"x": b"x1", "y": b"y1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _files(lab.src / "arch", {"z": b"z2"})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))    # its links are to be undone
    elsewhere = _plant(lab, where, cfg.media[0].path)
    before = snapshot(elsewhere)

    done = rabtui(lab, "backup", "loc")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is a symlink, which rabtui never makes" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(elsewhere) == before


@pytest.mark.parametrize("where", ["source", "linking"])
def test_a_cleanup_over_a_planted_symlink_fails_and_removes_nothing_through_it(tmp_path, where):
    """m1's first backup is due (m2 holds its archive files too); `loc` on m1, or its `.linking`,
    is a symlink by then: the cleanup keeps it, says why and exits 1."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("arch", "archive"), ("data", "standard")], extra="")
    lab.config_path.write_text(lab.config_path.read_text().replace("[[media]]", SHORT + "[[media]]", 1))
    cfg = lab.load()
    _files(lab.src / "arch", {"x": b"x1", "y": b"y1"})
    _files(lab.src / "data", {"a": b"a1"})
    for medium in ("m1", "m2", "m1"):
        assert rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    store = lab.store()
    first = store.one("SELECT * FROM backups WHERE medium='m1' ORDER BY id LIMIT 1")
    elsewhere = _plant(lab, where, cfg.media[0].path)
    before = snapshot(elsewhere)

    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    dry = rabtui(lab, "cleanup", "--dry-run", "--now", later)
    assert f"would delete loc {first['name']} on m1" in dry.stdout, dry.stdout + dry.stderr
    done = rabtui(lab, "cleanup", "--now", later)
    assert done.returncode == 1, done.stdout + done.stderr
    assert f"kept loc {first['name']} on m1" in done.stdout + done.stderr
    assert "is a symlink, which rabtui never makes" in done.stdout + done.stderr
    assert "Traceback" not in done.stderr
    assert snapshot(elsewhere) == before
    assert store.one("SELECT status FROM backups WHERE id=?", (first["id"],))["status"] == "completed"


def test_a_checkpoint_plan_reads_no_union_through_a_planted_symlink(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("arch", "archive")])
    _files(lab.src / "arch", {"x": b"x1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _plant(lab, "union", cfg.media[0].path)

    done = rabtui(lab, "checkpoint", "plan")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "is a symlink, which rabtui never makes" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("planted", ["fifo", "symlink"])
def test_a_fifo_or_symlink_in_place_of_an_undoing_record_neither_hangs_nor_stops_a_cleanup(tmp_path, planted):
    """`.linking/.undoing-<name>` of the backup a cleanup deletes is a FIFO (its open waited for a
    reader for ever, the cleanup's locks held) or a symlink: it is removed, not followed, and the
    record made in its place."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("arch", "archive")])
    lab.config_path.write_text(lab.config_path.read_text().replace("[[media]]", SHORT + "[[media]]", 1))
    cfg = lab.load()
    _files(lab.src / "arch", {"x": b"x1"})
    for medium in ("m1", "m2", "m1"):
        assert rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    store = lab.store()
    first = store.one("SELECT * FROM backups WHERE medium='m1' ORDER BY id LIMIT 1")
    record = medium_layout.linking_dir(cfg.media[0].path, "loc") / f".undoing-{first['name']}"
    record.parent.mkdir(exist_ok=True)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"theirs")
    if planted == "fifo":
        os.mkfifo(record)
    else:
        os.symlink(elsewhere, record)

    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    done = rabtui(lab, "cleanup", "--now", later, timeout=30)
    assert done.returncode == 0, done.stdout + done.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (first["id"],))["status"] == "deleted"
    assert not os.path.lexists(record) and not os.path.lexists(first["path"])
    assert elsewhere.read_bytes() == b"theirs"


def test_a_backup_never_links_to_files_through_a_backup_replaced_by_a_symlink(tmp_path):
    """The newest backup on the medium is a symlink to a copy of it elsewhere (on the same file
    system): the next backup takes it for no base, and none of its files is a hard link to a file
    there, which others could change after it completed."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    _files(lab.src / "data", {"a": b"a1", "b": b"b1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    first = lab.store().one("SELECT * FROM backups")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(first["path"], elsewhere, symlinks=True)
    shutil.rmtree(first["path"])
    os.symlink(elsewhere, first["path"])
    _files(lab.src / "data", {"c": b"c2"})

    done = rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    newest = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    theirs = {(st.st_dev, st.st_ino) for p in elsewhere.rglob("*") if (st := p.lstat()) and p.is_file()}
    ours = {(st.st_dev, st.st_ino) for p in Path(newest["path"]).rglob("*") if (st := p.lstat()) and p.is_file()}
    assert not ours & theirs
    assert newest["link_dest"] is None


def test_a_killed_runs_directory_replaced_by_a_symlink_is_never_recorded_complete(tmp_path):
    """A run killed in step 5; its directory then a symlink to a directory elsewhere whose
    backup.json says completed. The cleanup's recovery took it for a complete backup, and retention
    then deleted the only real one, taking that phantom for the newest."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")])
    lab.keep_a_day()
    _files(lab.src / "data", {"a": b"a1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    _files(lab.src / "data", {"b": b"b2"})
    _killed(rabtui(lab, "backup", "loc", point="backup.step5"))
    store = lab.store()
    first, killed = store.all("SELECT * FROM backups ORDER BY id")
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(first["path"], elsewhere, symlinks=True)
    shutil.rmtree(killed["path"])
    os.symlink(elsewhere, killed["path"])

    later = (datetime.now() + timedelta(days=3)).isoformat(timespec="seconds")
    done = rabtui(lab, "cleanup", "--now", later)
    assert done.returncode == 0, done.stdout + done.stderr
    assert store.one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "abandoned"
    assert store.one("SELECT status FROM backups WHERE id=?", (first["id"],))["status"] == "completed"
    assert os.path.isdir(first["path"]) and sorted(os.listdir(elsewhere)) == ["backup.json", "backup.log", "data"]


def test_check_warns_of_a_symlink_planted_in_a_sources_layout(tmp_path):
    """`check` said nothing of it (nor its Prometheus textfile), while it stopped the source's
    backups, cleanups and checkpoints on that medium."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    _files(lab.src / "arch", {"x": b"x1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    prom = tmp_path / "rabtui.prom"
    assert "symlink:" not in rabtui(lab, "check", "--prometheus", str(prom)).stdout + prom.read_text()
    _plant(lab, "union", cfg.media[0].path)

    checked = rabtui(lab, "check", "--prometheus", str(prom))
    said = [line for line in checked.stdout.splitlines() if "is a symlink, which rabtui never makes" in line]
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(lab.src / "arch"))
    assert len(said) == 1 and said[0].startswith("WARNING: medium m1: source loc's layout:"), checked.stdout
    assert f"{union} is a symlink" in said[0] and "no backup of loc goes onto m1" in said[0], said
    assert 'rabtui_check_status{check="symlink:loc:m1"} 1' in prom.read_text()
    assert "Traceback" not in checked.stderr


@pytest.mark.parametrize("to", ["another backup", "off the medium"])
def test_a_symlink_planted_in_a_doomed_backup_on_the_way_to_its_archive_copy(tmp_path, to):
    """m1's first backup is due (m2 holds its archive files too); its copy of the archive directory
    is a symlink by then, to a later backup's copy (whose files the union shows) or to a directory
    off the medium. The cleanup neither fails with a traceback nor removes anything through it:
    the union and where the symlink points are as they were, and the backup is kept (said, exit 1,
    when the catalog could vouch for the rest of its plan)."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("arch", "archive")])
    lab.config_path.write_text(lab.config_path.read_text().replace("[[media]]", SHORT + "[[media]]", 1))
    _files(lab.src / "arch", {"x": b"x1", "y": b"y1"})
    for medium in ("m1", "m2"):
        assert rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    _files(lab.src / "arch", {"z": b"z2"})
    for medium in ("m1", "m2"):
        assert rabtui(lab, "backup", "loc", "--medium", medium).returncode == 0
    store = lab.store()
    first, later = store.all("SELECT * FROM backups WHERE medium='m1' ORDER BY id")
    copy = medium_layout.backup_data_path(first["path"], str(lab.src / "arch"))
    shutil.rmtree(copy)
    target = medium_layout.backup_data_path(later["path"], str(lab.src / "arch"))
    if to == "off the medium":
        target = tmp_path / "elsewhere"      # no file the catalog could miss: only the symlink keeps it
        (target / "theirs").mkdir(parents=True)
    os.symlink(target, copy)
    m1 = lab.media[0][1]
    before = snapshot(m1 / "loc" / ".archive"), snapshot(target)

    when = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    done = rabtui(lab, "cleanup", "--now", when)
    assert "Traceback" not in done.stderr, done.stderr
    assert (snapshot(m1 / "loc" / ".archive"), snapshot(target)) == before
    assert store.one("SELECT status FROM backups WHERE id=?", (first["id"],))["status"] == "completed"
    if to == "off the medium":
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"{copy} is a symlink, which rabtui never makes" in done.stdout + done.stderr


def test_a_base_whose_copy_is_reached_through_a_planted_symlink_links_nothing_from_where_it_points(tmp_path):
    """The newest backup's data/ made a symlink to a folder of this server holding a file just as
    the source's: the next backup hard-linked that file of the server (--link-dest through the
    symlink), which then changed the backup as it changed. The base is not linked from there."""
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    _files(lab.src / "data", {"a": b"same"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    base = medium_layout.list_backups(lab.media[0][1], "loc")[-1][1]
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(base / "data", elsewhere)        # the server's file, alike in every way
    shutil.rmtree(base / "data")
    os.symlink(elsewhere, base / "data")
    assert rabtui(lab, "backup", "loc").returncode == 0
    newest = medium_layout.list_backups(lab.media[0][1], "loc")[-1][1]
    copy = medium_layout.backup_data_path(newest, str(lab.src / "data")) / "a"
    assert copy.read_bytes() == b"same"
    assert not os.path.samefile(copy, elsewhere / str(lab.src / "data").lstrip("/") / "a")
