"""What a failed backup left on a medium that is full: the partial data of a backup that failed as
the medium filled. Where a later complete backup of its source on that medium holds each file of
it, the next night's cleanup before the backups deletes it, and the night's backups fit; where it
holds a file no other backup holds, it stays (for a day, as any failed run's), and the night's
failure says what takes the room and what to do. Real rsync, a real small tmpfs, real run-dues."""

from __future__ import annotations

import os
import subprocess

import pytest

from tests.test_kill_anywhere import rabtui
from tests.trees import Lab

MIB = 1 << 20


def _files(root, names) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name in names:
        (root / name).write_bytes(os.urandom(MIB))


def _night_after_a_failure(tmp_path, tmpfs, *, dropped: list[str],
                           night: tuple[str, ...] = ("run-due",)) -> tuple[Lab, subprocess.CompletedProcess]:
    """b's first backup fails as the 8 MiB medium fills (about 7 of its 10 MiB on it); the medium
    grown to 24 MiB, b backed up complete without the files `dropped` (deleted on the source); then
    the night (`night`, rabtui's arguments): a (9 MiB) is due, more than the room left."""
    lab = Lab(tmp_path, media_count=1)
    medium = tmpfs(lab.media[0][1], "size=8m")
    _files(lab.src / "a", [f"a{i}" for i in range(9)])
    _files(lab.src / "b", [f"b{i}" for i in range(10)])
    lab.write(f'[[sources]]\nid = "a"\nschedule = "0 2 * * *"\n[[sources.directories]]\npath = "{lab.src / "a"}"\n'
              f'[[sources]]\nid = "b"\n[[sources.directories]]\npath = "{lab.src / "b"}"\n')
    failed = rabtui(lab, "backup", "b")
    assert failed.returncode == 1 and "medium too small" in failed.stdout + failed.stderr, failed.stdout + failed.stderr
    subprocess.run(["mount", "-o", "remount,size=24m", str(medium)], check=True)
    for name in dropped:
        os.unlink(lab.src / "b" / name)
    done = rabtui(lab, "backup", "b")
    assert done.returncode == 0, done.stdout + done.stderr
    return lab, rabtui(lab, *night)


def _statuses(lab: Lab) -> list[tuple[str, str]]:
    return [(r["source"], r["status"]) for r in lab.store().all("SELECT source, status FROM backups ORDER BY id")]


def test_a_failed_backups_partial_data_a_later_complete_one_holds_does_not_fail_the_night(tmp_path, tmpfs):
    lab, night = _night_after_a_failure(tmp_path, tmpfs, dropped=[])
    out = night.stdout + night.stderr
    assert night.returncode == 0, out
    assert _statuses(lab) == [("b", "deleted"), ("b", "completed"), ("a", "completed")], out
    assert "superseded by" in out, out


def test_backup_all_deletes_the_superseded_partial_data_first_as_run_due_does(tmp_path, tmpfs):
    """`backup --all` (or several sources named) goes on with the backups as run-due does: its
    partial data went only with a cleanup, and a failed for want of room. What it deleted is said
    as run-due says it, without -v too (it was said with -v only)."""
    lab, run = _night_after_a_failure(tmp_path, tmpfs, dropped=[], night=("backup", "--all"))
    out = run.stdout + run.stderr
    assert run.returncode == 0, out
    deleted = [line.split(" ", 2)[2] for line in run.stdout.splitlines() if "superseded by" in line or "deleted," in line]
    assert len(deleted) == 2 and deleted[0].startswith("deleting b backup-") and deleted[1].startswith("1 backup deleted"), out
    assert _statuses(lab)[:2] == [("b", "deleted"), ("b", "completed")], out
    assert sorted(_statuses(lab)[2:]) == [("a", "completed"), ("b", "completed")], out


def test_one_holding_a_file_no_other_backup_holds_stays_and_the_failure_says_so(tmp_path, tmpfs):
    lab, night = _night_after_a_failure(tmp_path, tmpfs, dropped=["b0"])
    out = night.stdout + night.stderr
    assert night.returncode == 1, out
    assert _statuses(lab) == [("b", "failed"), ("b", "completed"), ("a", "failed")], out
    assert "a failed backup's partial data on it" in out and "rabtui cleanup" in out, out


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_the_night_before_s_failed_partial_data_goes_before_the_night_s_backups(tmp_path, tmpfs, kind):
    """h failed the night before as the medium filled; the night after, a little less than a day
    later (the timer's delay), its partial data still took the room and failed a as well, and went
    only with the cleanup after the next night's backups (h, too large, failing each night: no
    backup at all). A night before's goes first now; an archive directory's too (its first backup
    onto a medium, with no earlier backup to forecast it, runs until the medium is full)."""
    lab = Lab(tmp_path, media_count=1)
    tmpfs(lab.media[0][1], "size=8m")
    _files(lab.src / "a", ["a0"])
    _files(lab.src / "h", [f"h{i}" for i in range(10)])
    lab.write("".join(f'[[sources]]\nid = "{s}"\nschedule = "0 2 * * *"\n[[sources.directories]]\npath = "{lab.src / s}"\n'
                      f'kind = "{kind}"\n' for s in ("a", "h")))
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\nmax_parallel = 1\n"))
    first = rabtui(lab, "run-due", "--now", "2026-10-01T02:05")
    assert first.returncode == 1 and _statuses(lab) == [("a", "completed"), ("h", "failed")], first.stdout + first.stderr

    night = rabtui(lab, "run-due", "--now", "2026-10-02T02:04")
    out = night.stdout + night.stderr
    assert ("a", "completed") in _statuses(lab)[2:], out
    assert _statuses(lab)[1] == ("h", "deleted"), out


def test_a_failed_run_of_a_source_taken_out_of_the_config_stops_no_deletion_before_the_backups(tmp_path):
    """`gone`, a source since taken out of the config, and h each left a failed run's partial data the
    night before (a directory missing on the source: their runs failed in step 5). The deletion before
    the night's backups planned gone's too and failed whole on a source the config does not name: h's
    partial data stayed until the cleanup after the backups (on a full medium, the night failed), and
    so it went every night while gone's failed run was recorded (a cleanup leaves those alone)."""
    lab = Lab(tmp_path, media_count=1)
    _files(lab.src / "a", ["a0"])
    _files(lab.src / "h", ["h0"])
    sources = {s: f'[[sources]]\nid = "{s}"\nschedule = "0 2 * * *"\n[[sources.directories]]\npath = "{lab.src / s}"\n'
               for s in ("a", "gone", "h")}
    lab.write("".join(sources.values()))
    os.rename(lab.src / "h", lab.src / "h.away")
    first = rabtui(lab, "run-due", "--now", "2026-10-01T02:05")
    assert first.returncode == 1, first.stdout + first.stderr
    assert sorted(_statuses(lab)) == [("a", "completed"), ("gone", "failed"), ("h", "failed")], first.stdout + first.stderr
    os.rename(lab.src / "h.away", lab.src / "h")
    lab.write(sources["a"] + sources["h"])

    night = rabtui(lab, "run-due", "--now", "2026-10-02T02:04")
    out = night.stdout + night.stderr
    assert "no source with id" not in out, out
    assert "deleting h backup-20261001020500 on m1 (failed run older than 12h" in out.split("h: due")[0], out
    assert ("h", "deleted") in _statuses(lab) and ("gone", "failed") in _statuses(lab), out


def test_a_file_reached_through_a_symlink_in_the_later_backup_is_not_held_there(tmp_path):
    """The later backup holds `d` as a symlink (the source made it one): `d/f` of the failed run is
    not at its path there, though the symlink leads to a file of its size and second (outside the
    medium, here); nor is it in a union whose `d` is a symlink."""
    from rabtui.backup.superseded import held

    failed, later, union, outside = (tmp_path / n for n in ("failed", "later", "union", "outside"))
    _files(failed / "data" / "d", ["f"])
    outside.mkdir()
    os.link(failed / "data" / "d" / "f", outside / "f")
    (later / "data").mkdir(parents=True)
    union.mkdir()
    os.symlink(outside, later / "data" / "d")
    os.symlink(outside, union / "d")
    assert not held(bytes(failed), bytes(later), bytes(union))
    os.unlink(later / "data" / "d")
    os.rename(outside, later / "data" / "d")
    assert held(bytes(failed), bytes(later), bytes(union))
