"""A backup made after a checkpoint's under a clock behind (by minutes, or years: a dead RTC battery)
ranks every backup made before it as made at its start (store.as_made): the discs' copy, taken
from one of them, ties with backups older than the one it was taken from. It is ranked just below
the backup it was taken from, above those made before that one: a file the late backup lacks
(deleted meanwhile) is restored from the discs, not from an older backup. Real rsync of a local
source, real xorriso onto an `images:` drive, the real command line."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from tests.test_disc_ranked_clock_ahead import rebuilt_with_away, restored
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def _old_then_middle_on_discs(tmp_path) -> tuple:
    """a.txt "old" backed up on m1, then "middle" a day later on m2, and a checkpoint of it burnt."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a.txt": b"old", "b.txt": b"b"})
    assert lab.backup(cfg, now=T0, medium_id="m1").status == "completed"
    write_files(lab.src / "data", {"a.txt": b"middle"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1), medium_id="m2").status == "completed"
    burn_due(cfg, lab.store())
    return lab, cfg


@pytest.mark.parametrize("behind", [timedelta(minutes=5), timedelta(days=6 * 365)], ids=["minutes", "years"])
def test_a_disc_ranks_above_backups_older_than_its_own_under_a_later_clock_behind(tmp_path, capsys, behind):
    lab, cfg = _old_then_middle_on_discs(tmp_path)
    (lab.src / "data" / "a.txt").unlink()
    assert lab.backup(cfg, now=T0 - behind, medium_id="m1").status == "completed"
    run = ["--config", str(lab.config_path)]
    code, got, err = restored(lab, run, tmp_path, "all", capsys)
    assert (code, got) == (0, b"middle"), err     # m2's backup, the newest holding it
    os.rename(lab.media[1][1], tmp_path / "m2-away")
    code, got, err = restored(lab, run, tmp_path, "discs", capsys)
    assert got == b"middle", err      # the discs' copy of m2's backup, not m1's older one


def test_a_disc_of_a_backup_rebuild_state_did_not_read_ranks_above_older_backups_under_a_clock_behind(tmp_path,
                                                                                                    capsys):
    """The database rebuilt while the medium of the discs' backup was away: the discs' copy ranks
    just below the backup made after it (dated behind by years), above the older backup."""
    lab, cfg = _old_then_middle_on_discs(tmp_path)
    run = rebuilt_with_away(lab, 1)
    (lab.src / "data" / "a.txt").unlink()
    assert lab.backup(cfg, now=T0 - timedelta(days=6 * 365), medium_id="m1").status == "completed"
    code, got, err = restored(lab, run, tmp_path, "out", capsys)
    assert (code, got) == (3, b"middle"), err


def _two_checkpoints_rebuilt_with_m1_away(tmp_path, first_on: str) -> tuple[Lab, list[str]]:
    """A backup ("middle") on `first_on` and its checkpoint, then one ("the newest") on m1 dated years
    behind and its checkpoint; the database rebuilt with m1 away."""
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.with_discs("4MiB")
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"a.txt": b"middle"})
    assert lab.backup(cfg, now=T0, medium_id=first_on).status == "completed"
    burn_due(cfg, lab.store(), {"*"})
    write_files(lab.src / "data", {"a.txt": b"the newest"})
    assert lab.backup(cfg, now=T0 + timedelta(days=1) - timedelta(days=4 * 365), medium_id="m1").status == "completed"
    burn_due(cfg, lab.store(), {"*"})
    return lab, rebuilt_with_away(lab, 0)


def test_a_later_checkpoint_of_a_backup_rebuild_state_did_not_read_is_newer_whatever_the_dates(tmp_path, capsys):
    """Both checkpoints taken from backups on the medium away during the rebuild, the later one's
    dated years behind: the later checkpoint took the newer state, and is read."""
    lab, run = _two_checkpoints_rebuilt_with_m1_away(tmp_path, "m1")
    code, got, err = restored(lab, run, tmp_path, "out", capsys)
    assert (code, got) == (3, b"the newest") and "checkpoint 2 (RAB2D01), ranked on a guess" in err, err
    # its disc away: the older checkpoint's copy is read, said to be before it
    (iso,) = (tmp_path / "iso").glob("*RAB2D01*")
    iso.rename(tmp_path / "away.iso")
    code, got, err = restored(lab, run, tmp_path, "older", capsys)
    assert (code, got) == (3, b"middle"), err
    assert "taken to be before checkpoint 2, made after it and dated 2022-03-03 02:00" in err, err


def test_a_later_checkpoint_of_a_backup_rebuild_state_did_not_read_is_newer_than_an_earlier_checkpoints_backup(
        tmp_path, capsys):
    """The backups the later checkpoint's copy of the state knew were made before its backup,
    dated years behind them: its discs' copy ranks above them."""
    lab, run = _two_checkpoints_rebuilt_with_m1_away(tmp_path, "m2")
    code, got, err = restored(lab, run, tmp_path, "out", capsys)
    assert (code, got) == (3, b"the newest"), err      # not m2's older backup
    assert "the newest of them dated 2026-03-01 02:00 (a clock behind then)" in err, err
