"""Checkpoints of backups that recorded no kinds (made before kinds were recorded: no backup_dirs
rows) put onto discs what those backups show, as of any other backup. Real backups (rsync), real
xorriso (`images:` drive)."""

from __future__ import annotations

import os
import stat

import pytest

from tests import invariants
from tests.test_checkpoint_kind_changed import _step
from tests.test_kinds_unrecorded import _forget_kinds
from tests.trees import Lab, burn_due


def _unrecorded(lab: Lab) -> None:
    store = lab.store()
    _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_directory_whose_backups_all_recorded_no_kinds_goes_onto_discs(tmp_path, kind):
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    _step(lab, 0, kind, {"a": b"a1", "sub/c": b"c1"})
    _unrecorded(lab)
    _step(lab, 1, kind, {"b": b"b"}, ("a",))
    _unrecorded(lab)
    cfg, store = lab.load(), lab.store()
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    took = store.all("SELECT backup_id FROM checkpoint_dirs WHERE number=? AND role='data'", (number,))
    assert [r["backup_id"] for r in took] == [2], took
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")


def _old_dir_in_an_unrecorded_backup(tmp_path) -> tuple[Lab, object]:
    """`old/` (mode 0700) is in the own tree of the second backup alone, which recorded no kinds;
    the union's `old/` is rabtui's (0755)."""
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    photos = lab.src / "photos"
    _step(lab, 0, "archive", {"a": b"a1", "old/o": b"o"})
    (photos / "old").chmod(0o700)
    _step(lab, 1, "archive", {"a": b"a2 longer"})
    _unrecorded(lab)
    (photos / "old" / "o").unlink()
    (photos / "old").rmdir()
    _step(lab, 2, "archive", {"b": b"b"})
    return lab, photos


def test_an_archive_directory_only_an_unrecorded_backup_saved_keeps_its_mode_on_discs(tmp_path):
    from rabtui.restore import run as restore_run

    lab, photos = _old_dir_in_an_unrecorded_backup(tmp_path)
    cfg, store = lab.load(), lab.store()
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    into = tmp_path / "discs"
    restore_run.restore(cfg, store, "loc", str(photos), checkpoint=number, to=into)
    got = os.lstat(os.path.join(into, str(photos).lstrip("/"), "old"))
    assert stat.S_IMODE(got.st_mode) == 0o700, oct(got.st_mode)


def test_a_restore_from_the_medium_gives_a_directory_the_mode_an_unrecorded_backup_saved(tmp_path):
    """As the discs do: the backup that recorded no kinds and the one after it give `old/` its mode
    as the first of them saved it (0700), not the union's."""
    from rabtui.restore import run as restore_run

    lab, photos = _old_dir_in_an_unrecorded_backup(tmp_path)
    cfg, store = lab.load(), lab.store()
    for row in store.all("SELECT * FROM backups WHERE id>1 ORDER BY id"):
        into = tmp_path / f"media-{row['id']}"
        restore_run.restore(cfg, store, "loc", str(photos), backup=row["name"], to=into)
        got = os.lstat(os.path.join(into, str(photos).lstrip("/"), "old"))
        assert stat.S_IMODE(got.st_mode) == 0o700, (row["name"], oct(got.st_mode))


def test_the_newest_medium_away_a_checkpoint_reads_the_unrecorded_backups_of_another(tmp_path):
    """m2 holds backups that recorded no kinds only, m1 a newer one that did, and m1 is away: the
    checkpoint reads m2's newest (said), as of any other backup."""
    lab = Lab(tmp_path, media_count=2)
    (tmp_path / "iso").mkdir()
    _step(lab, 0, "standard", {"a": b"a1", "sub/c": b"c1"}, medium_id="m2")
    _unrecorded(lab)
    _step(lab, 1, "standard", {"b": b"b"}, ("a",), medium_id="m1")
    m1 = lab.media[0][1]
    os.rename(m1, tmp_path / "m1-away")
    cfg, store = lab.load(), lab.store()
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    took = store.all("SELECT backup_id FROM checkpoint_dirs WHERE number=? AND role='data'", (number,))
    assert [r["backup_id"] for r in took] == [1], took
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")


def test_an_unfinished_checkpoint_of_an_unrecorded_archive_backup_holds_back_the_backups_it_reads(tmp_path):
    """Its disc not written yet holds `a`, which the first backup saved (both recorded no kinds):
    retention keeps that backup for it, as for any archive directory's checkpoint."""
    from rabtui.backup.retention_guard import read_by_checkpoints
    from rabtui.checkpoint import prepare

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    _step(lab, 0, "archive", {"a": b"a1"})
    _unrecorded(lab)
    _step(lab, 1, "archive", {"b": b"b"})
    _unrecorded(lab)
    cfg, store = lab.load(), lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    assert read_by_checkpoints(store, "loc") == {1: number, 2: number}


def test_a_directory_configured_after_the_unrecorded_backups_is_not_taken_from_them(tmp_path):
    """`docs` was added to the config after the only backup (it recorded no kinds): that backup
    holds none of it, and a checkpoint of everything takes `photos` alone (it failed on `docs`)."""
    from rabtui.checkpoint import prepare, triggers

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    _step(lab, 0, "archive", {"a": b"a1"})
    _unrecorded(lab)
    lab.write(lab._local_source([("photos", "archive"), ("docs", "standard")], "", "loc")
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
    (lab.src / "docs" / "d").write_bytes(b"d")
    cfg, store = lab.load(), lab.store()
    held = {s.path: s.backup_id for s in triggers.statuses(cfg, store)}
    assert held == {str(lab.src / "photos"): 1, str(lab.src / "docs"): None}, held
    assert [d.path for d in prepare.compute(cfg, store, asked={"*"}).data] == [str(lab.src / "photos")]


def test_a_burn_of_unrecorded_backups_killed_then_a_cleanup_then_resumed_holds_what_they_show(tmp_path):
    """Killed as it starts writing, then a cleanup that would delete the first backup (which alone
    saved `a`): it is kept for the checkpoint, and the resumed burn's discs give what was planned."""
    from datetime import timedelta

    from rabtui.backup import deletion, retention
    from rabtui.checkpoint import prepare
    from tests.test_checkpoint_kind_changed import DAY
    from tests.test_kill_anywhere import _killed, rabtui

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    _step(lab, 0, "archive", {"a": b"a, saved by the first alone"})
    _unrecorded(lab)
    _step(lab, 1, "archive", {"b": b"b"}, ("a",))
    _unrecorded(lab)
    cfg, store = lab.load(), lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    _killed(rabtui(lab, "checkpoint", "resume", str(number), "--yes", point="burn.before_write"))
    lab.keep_a_day()
    cfg = lab.load()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30))
    assert 1 not in {c.id for c in plan.delete}, [c.id for c in plan.delete]
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    done = rabtui(lab, "checkpoint", "resume", "--yes")
    assert done.returncode == 0, done.stdout + done.stderr
    assert {r["state"] for r in store.all("SELECT state FROM discs WHERE number=?", (number,))} == {"verified"}
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
