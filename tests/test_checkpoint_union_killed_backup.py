"""A backup of an archive directory killed at any point of its steps 5 to 7 (its data kept, or
undone), then recovered by the next backup: the checkpoint plan of the directory then, and after a
later one, never refuses the union as the backups left it. Killed once step 7 linked its files into
the union, a plan before that recovery is refused, naming the killed run and what recovers it.
Real rsync and xorriso."""

from __future__ import annotations

import os

import pytest

from rabtui.checkpoint import prepare
from rabtui.errors import WorkFailed
from tests.test_kill_anywhere import _killed, rabtui
from tests.trees import Lab, next_second, write_files
from tests.union_plans import plan_not_refused


@pytest.mark.parametrize("point", ["backup.rsync_ended", "backup.step6", "backup.union_linking",
                                   "backup.archive_linked", "backup.catalog", "backup.step7_ended",
                                   "backup.json_written"])
def test_a_killed_backup_leaves_no_union_refused(tmp_path, point):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("arch", "archive")])
    arch = lab.src / "arch"
    write_files(arch, {"x": b"x1" * 100, "y": b"y1", "gone": b"g1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    next_second()
    write_files(arch, {"x": b"x2" * 120, "z": b"z2"})
    os.unlink(arch / "gone")
    _killed(rabtui(lab, "backup", "loc", point=point))
    next_second()
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    plan_not_refused(lab, cfg)
    write_files(arch, {"gone": b"G2-longer"})
    next_second()
    assert rabtui(lab, "backup", "loc").returncode == 0
    plan_not_refused(lab, cfg)


def _killed_once_x_changed(tmp_path, point: str):
    """An archive directory backed up, its file x changed, and the next backup killed at `point`."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("arch", "archive")])
    arch = lab.src / "arch"
    write_files(arch, {"x": b"x1" * 100, "y": b"y1"})
    assert rabtui(lab, "backup", "loc").returncode == 0
    next_second()
    write_files(arch, {"x": b"x2" * 120})
    _killed(rabtui(lab, "backup", "loc", point=point))
    return lab, cfg


@pytest.mark.parametrize("point", ["backup.archive_linked", "backup.catalog", "backup.step7_ended",
                                   "backup.json_written"])
def test_a_plan_before_the_killed_backup_is_recovered_says_so(tmp_path, point):
    """Killed once step 7 linked its new files into the union: until the next backup recovers it, the
    union holds the killed run's file, not the last complete backup's. The plan refuses, its hint
    naming that run and what recovers it (not a damaged file to take out of the union by hand)."""
    lab, cfg = _killed_once_x_changed(tmp_path, point)
    killed = lab.store().one("SELECT name FROM backups ORDER BY id DESC LIMIT 1")["name"]
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    assert f"backup {killed} of loc on medium m1, running or killed" in got.value.hint, got.value.hint
    assert f"is not there as it saved it: backup {killed}, running or killed before it ended, linked its own" \
           f" files into the union in its place, e.g. /" in str(got.value), str(got.value)
    assert "by hand" not in got.value.hint
    assert rabtui(lab, "backup", "loc").returncode == 0
    plan_not_refused(lab, cfg)


def test_a_backup_killed_punching_holes_leaves_no_union_refused(tmp_path):
    """A sparse file's mode changed (rsync copies it whole, its holes punched again; a link group
    split beside it): killed there, then a plan, a backup that recovers it and a plan again."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("arch", "archive")])
    arch = lab.src / "arch"
    with open(arch / "s", "wb") as f:
        f.write(b"head")
        f.seek(1 << 20)
        f.write(b"tail")
    write_files(arch, {"l1": b"linked"})
    os.link(arch / "l1", arch / "l2")
    assert rabtui(lab, "backup", "loc").returncode == 0
    next_second()
    os.chmod(arch / "s", 0o600)
    os.unlink(arch / "l2")
    write_files(arch, {"l2": b"linked"})
    os.link(arch / "l1", arch / "l3")
    _killed(rabtui(lab, "backup", "loc", point="backup.holes_punched"))
    plan_not_refused(lab, cfg)
    assert rabtui(lab, "backup", "loc").returncode == 0
    plan_not_refused(lab, cfg)


@pytest.mark.parametrize("point", ["backup.archive_linked", "backup.json_written"])
def test_a_backup_killed_then_the_state_rebuilt_leaves_no_union_refused(tmp_path, point):
    """Killed once its step 7 linked files into the union, the database then lost and rebuilt from
    the medium (which undoes the links of a run whose backup.json does not say it ended)."""
    lab, cfg = _killed_once_x_changed(tmp_path, point)
    lab.lose_database()
    assert rabtui(lab, "rebuild-state").returncode == 0
    plan_not_refused(lab, cfg)
    assert rabtui(lab, "backup", "loc").returncode == 0
    plan_not_refused(lab, cfg)
