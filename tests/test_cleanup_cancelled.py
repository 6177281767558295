"""SIGTERM (a shutdown), SIGHUP and a first Ctrl-C stop a cleanup at its next safe point: before it
began, nothing is deleted; amid its deletions, the one under way ends whole and is recorded (the
catalog forgets it), those not begun are kept for the next cleanup, each said; exit 1, as a
cancelled backup. Before, the signal only ended a wait for a medium's mount: the cleanup went on,
deleted all it planned and exited 0. run-due's cleanup under its run's SIGTERM alike. Real rsync,
real `rabtui` processes stopped (SIGSTOP) at fault points."""

from __future__ import annotations

import os
import signal

import pytest

from rabtui.backup import retention
from tests import invariants
from tests.test_medium_identity import _killed, _stopped_at
from tests.test_retention import _history


def _statuses(lab, results) -> list[str]:
    rows = {r["id"]: r["status"] for r in lab.store().all("SELECT id, status FROM backups")}
    return [rows[r.backup_id] for r in results]


def _signalled(lab, point: str, sig: int, *argv: str) -> str:
    """`rabtui ARGV` stopped at `point`, sent `sig`, then let go on: its output (stdout and stderr)."""
    running = None
    try:
        running = _stopped_at(lab, point, *argv)
        running.send_signal(sig)       # handled once it goes on
        running.send_signal(signal.SIGCONT)
        out = running.communicate(timeout=120)[0].decode()
    finally:
        _killed(running)
    assert running.returncode == 1 and "Traceback" not in out, out
    return out


def _then_the_next_cleanup(lab, cfg, now) -> str:
    """The catalog what the media hold after the cancelled cleanup, then after the next one, which
    must succeed: its output."""
    from tests.test_state_dir_full import _rabtui

    store = lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_json_agrees(cfg, store)
    again = _rabtui(lab, "cleanup", "--now", now.isoformat())
    assert again.returncode == 0, again.stdout + again.stderr
    invariants.check_catalog_is_media(cfg, lab.store())
    return again.stdout


@pytest.mark.parametrize("argv", [("cleanup",), ("run-due",)])
def test_a_cleanup_cancelled_before_it_began_deletes_nothing(tmp_path, argv):
    lab, cfg, results, now = _history(tmp_path)
    out = _signalled(lab, "cleanup.begun", signal.SIGTERM, *argv, "--now", now.isoformat())
    assert "cleanup cancelled before it began: nothing deleted, what is due is left for the next cleanup" in out, out
    assert "deleted loc" not in out, out
    assert _statuses(lab, results) == ["completed"] * 5
    assert all(r.path.is_dir() for r in results)


@pytest.mark.parametrize("argv, sig", [(("cleanup",), signal.SIGTERM), (("cleanup",), signal.SIGINT),
                                       (("cleanup",), signal.SIGHUP), (("run-due",), signal.SIGTERM),
                                       (("run-due",), signal.SIGINT)])
def test_a_cleanup_cancelled_amid_its_deletions_ends_the_one_under_way_and_leaves_the_others(tmp_path, argv, sig):
    lab, cfg, results, now = _history(tmp_path)
    going = results[:4]
    assert [c.id for c in retention.plan_cleanup(cfg, lab.store(), now=now).delete] == [r.backup_id for r in going]
    # stopped before its second deletion: the first one's tree is emptied, the catalog not yet told
    out = _signalled(lab, "cleanup.deleting#2", sig, *argv, "--now", now.isoformat())
    # the signal is handled as the run goes on: before the second deletion begins, but once in a full
    # run under load (run-due, Ctrl-C) only before the third; either way each begun ended whole, the
    # others kept and said
    made = _statuses(lab, results).count("deleted")
    assert made in (1, 2), out
    assert _statuses(lab, results) == ["deleted"] * made + ["completed"] * (5 - made)
    assert not any(r.path.exists() for r in results[:made]) and all(r.path.is_dir() for r in results[made:])
    assert not [n for n in os.listdir(results[0].path.parent) if n.startswith(retention.DELETING_PREFIX)]
    for r in going[made:]:
        assert f"kept loc {r.path.name} on m1 for the next cleanup: this one was cancelled" in out, out
    assert f"cleanup: cancelled: {made} of 4 planned deletions made (each one begun ended whole), the others left" \
           " for the next cleanup" in out, out
    _then_the_next_cleanup(lab, cfg, now)      # it deletes the others
    assert _statuses(lab, results) == ["deleted"] * 4 + ["completed"]


def test_a_cleanup_cancelled_as_it_recovers_a_killed_run_ends_that_recovery_whole_and_deletes_no_backup(tmp_path):
    """SIGTERM as the cleanup recovers a run killed in its transfer (its source's lock held): that
    recovery ends whole (its partial directory gone, its row abandoned, said), no backup is deleted,
    exit 1, said so; the next cleanup deletes what is due, the catalog what the media hold. Before,
    the cancel said "nothing deleted" below the line saying the partial directory was."""
    from tests.test_kill_anywhere import _killed as _was_killed, rabtui

    lab, cfg, results, now = _history(tmp_path)
    _was_killed(rabtui(lab, "backup", "loc", point="backup.rsync_ended"))
    killed = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert killed["status"] == "running" and os.path.isdir(killed["path"])
    out = _signalled(lab, "cleanup.recovering", signal.SIGTERM, "cleanup", "--now", now.isoformat())
    # its partial directory deleted and said: the cancel does not say "nothing deleted" after it
    assert "marked abandoned, its partial directory was deleted" in out and "nothing deleted" not in out, out
    assert "cleanup cancelled before its plan: no backup deleted, what is due is left for the next cleanup" in out, out
    assert "deleted loc" not in out, out
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (killed["id"],))["status"] == "abandoned"
    assert not os.path.exists(killed["path"])
    assert _statuses(lab, results) == ["completed"] * 5
    _then_the_next_cleanup(lab, cfg, now)
    assert _statuses(lab, results) == ["deleted"] * 4 + ["completed"]


@pytest.mark.parametrize("at", [1, 2])
def test_a_cleanup_cancelled_at_each_deletion_of_archive_backups_leaves_the_catalog_the_media(tmp_path, at):
    """SIGTERM before each deletion of a cleanup of backups with an archive directory (two media
    in turn): those before it deleted whole, their links out of the union, none half-deleted, the
    others kept and said; the next cleanup deletes each of the others once, the catalog what the
    media hold at each end."""
    lab, cfg, results, now = _history(tmp_path, media=2, archive=True)
    going = {c.id for c in retention.plan_cleanup(cfg, lab.store(), now=now).delete}
    assert len(going) == 2
    out = _signalled(lab, f"cleanup.deleting#{at}", signal.SIGTERM, "cleanup", "--now", now.isoformat())
    statuses = _statuses(lab, results)
    assert statuses.count("deleted") == at - 1, (statuses, out)
    assert f"cancelled: {at - 1} of 2 planned deletions made" in out, out
    assert out.count("for the next cleanup: this one was cancelled") >= 2 - (at - 1), out
    for r in results:
        deleted = lab.store().one("SELECT status FROM backups WHERE id=?", (r.backup_id,))["status"] == "deleted"
        assert r.path.exists() != deleted, (r.path, out)
    for _, medium in lab.media:
        assert not [n for n in os.listdir(medium / "loc") if n.startswith(retention.DELETING_PREFIX)]
    again = _then_the_next_cleanup(lab, cfg, now)
    assert again.count("deleting loc") == 2 - (at - 1), again
    assert sorted(r.backup_id for r, s in zip(results, _statuses(lab, results)) if s == "deleted") == sorted(going)
    invariants.check_json_agrees(cfg, lab.store())
