"""A checkpoint taken from a backup dated years ahead (its clock was ahead then), the database lost
and rebuilt while that backup's medium was away: the discs' copy is ranked by that backup's start
(the rebuilt database does not know the backup), as a backup of the database is ranked by
store.as_made: no later than the start of a backup made after it. A backup made after it holds the
newer state and is the one restored, not the discs' older one. Real rsync of a local source, real
xorriso onto an `images:` drive, the real command line."""

from __future__ import annotations

from datetime import datetime, timedelta

import json

import pytest

from rabtui.cli import main
from rabtui.media import unknown_backups
from tests.trees import Lab, burn_due, closed, made_once, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)
# the newest content is of another size than "middle": written in the same second, a copy of the
# same size and mtime is restored from the discs as the newest's equal (exit 0, said so)
AHEAD = datetime(2030, 1, 1, 2, 0, 0)


def _disc_of_a_backup_dated_ahead(tmp_path) -> tuple[Lab, object]:
    """m1: a backup at T0 ("old"); m2: one under a clock years ahead ("middle"), and a checkpoint of it."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a.txt": b"old"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {"a.txt": b"middle"})
    assert lab.backup(cfg, now=AHEAD, medium_id="m2").status == "completed"
    burn_due(cfg, lab.store())
    return lab, cfg


@pytest.fixture(scope="module")
def _disc_ahead_made(tmp_path_factory):
    def make(live):
        closed(_disc_of_a_backup_dated_ahead(live)[0])

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def disc_ahead(_disc_ahead_made):
    """What _disc_of_a_backup_dated_ahead makes (lab, cfg), anew for each test (made once for the
    module), in lab.tmp."""
    lab = Lab(_disc_ahead_made[1].anew(), media_count=2)
    return lab, lab.load()


def rebuilt_with_away(lab: Lab, medium: int = 1) -> list[str]:
    """The database lost and rebuilt while lab.media[medium] is away (m2 unless said): the command
    line's first arguments."""
    away = lab.media[medium][1]
    away.rename(away.with_name(f"{away.name}-in-the-drawer"))
    lab.lose_database()
    run = ["--config", str(lab.config_path)]
    assert main([*run, "rebuild-state"]) == 3       # the medium away not read
    return run


def restored(lab: Lab, run: list[str], tmp_path, to: str, capsys) -> tuple[int, bytes, str]:
    path = str(lab.src / "data" / "a.txt")
    capsys.readouterr()
    code = main([*run, "restore", "loc", path, "--to", str(tmp_path / to)])
    return code, (tmp_path / to / path.lstrip("/")).read_bytes(), capsys.readouterr().err


def test_a_backup_made_after_the_one_a_disc_was_taken_from_is_newer_than_the_disc_whatever_the_dates(
        disc_ahead, tmp_path, capsys):
    lab, cfg = disc_ahead
    write_files(lab.src / "data", {"a.txt": b"the newest"})
    assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "completed"
    run = rebuilt_with_away(lab)
    code, got, err = restored(lab, run, tmp_path, "out", capsys)
    assert (code, got) == (3, b"the newest"), err       # 3: m2 was not read by rebuild-state
    # m1 away too: the discs' copy is read, said older than that backup's, with why
    lab.media[0][1].rename(tmp_path / "m1-away")
    code, got, err = restored(lab, run, tmp_path, "discs", capsys)
    assert (code, got) == (3, b"middle"), err
    newest = "backup-20260303020000"
    assert (f"the newest copy ({'backup ' + newest} on medium m1" in err and f"taken to be before backup {newest} on medium m1,"
            f" made after it and dated 2026-03-03 02:00 (a clock ahead then)" in err), err


def test_a_backup_made_after_the_rebuild_is_newer_than_a_disc_of_a_backup_dated_ahead(disc_ahead, tmp_path, capsys):
    lab, cfg = disc_ahead
    run = rebuilt_with_away(lab)
    code, got, err = restored(lab, run, tmp_path, "before", capsys)
    assert (code, got) == (3, b"middle"), err       # the discs' copy: the newest there is
    assert "2030" in err and "ranked on a guess" in err, err
    write_files(lab.src / "data", {"a.txt": b"the newest"})
    assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "completed"
    code, got, err = restored(lab, run, tmp_path, "after", capsys)
    assert (code, got) == (3, b"the newest"), err


def test_a_damaged_record_of_a_backup_made_after_is_passed_over(disc_ahead, tmp_path, capsys):
    lab, _cfg = disc_ahead
    run = rebuilt_with_away(lab)
    store = lab.store()
    key = store.one(f"SELECT key FROM meta WHERE key LIKE '{unknown_backups.TAKEN_KEY}%'")["key"]
    taken = json.loads(store.meta(key))
    store.set_meta(key, json.dumps({**taken, "after": {"started": 1, "name": ["not a name"]}}))
    code, got, err = restored(lab, run, tmp_path, "out", capsys)
    assert (code, got) == (3, b"middle") and "2030" in err, err


def test_a_failed_run_dated_behind_after_the_rebuild_leaves_the_discs_above_older_backups(disc_ahead, tmp_path, capsys):
    """A run that failed under a clock years behind holds nothing: the discs' copy stays newer than
    the backup made before the one it was taken from (ranked as made at the failed run's start)."""
    lab, _cfg = disc_ahead
    run = rebuilt_with_away(lab)
    lab.store().execute("INSERT INTO backups(source, medium, name, path, started, status) VALUES"
                        " ('loc', 'm1', 'backup-20200101020000', ?, ?, 'failed')",
                        (str(lab.media[0][1] / "loc/backup-20200101020000"), datetime(2020, 1, 1, 2).timestamp()))
    code, got, err = restored(lab, run, tmp_path, "out", capsys)
    assert (code, got) == (3, b"middle"), err


def test_a_disc_of_a_backup_dated_ahead_the_database_knows_is_ranked_as_that_backup_is_made(
        disc_ahead, tmp_path, capsys):
    """No rebuild: the checkpoint records its backup, ranked by store.as_made."""
    lab, cfg = disc_ahead
    write_files(lab.src / "data", {"a.txt": b"the newest"})
    assert lab.backup(cfg, now=T0 + timedelta(days=2), medium_id="m1").status == "completed"
    run = ["--config", str(lab.config_path)]
    code, got, err = restored(lab, run, tmp_path, "out", capsys)
    assert (code, got) == (0, b"the newest"), err
    lab.media[0][1].rename(tmp_path / "m1-away")
    lab.media[1][1].rename(tmp_path / "m2-away")
    code, got, err = restored(lab, run, tmp_path, "discs", capsys)
    assert (code, got) == (3, b"middle") and "the newest copy (backup backup-20260303020000 on medium m1" in err, err
