"""rebuild-state and the directories of a checkpoint that its discs hold no file of: an empty
directory, one holding only a socket (left off the discs), one of symlinks only, one of empty
subdirectories only, an archive directory whose union is empty. The README of each disc names every
directory of the checkpoint: the rebuilt database says, as the one lost did, which checkpoint each
was last in, so that none is due again for no change, nor checkpointed anew by `max_days` only."""

from __future__ import annotations

import os
import socket
import sqlite3
import threading

import pytest

from rabtui.cli import main
from tests.trees import Lab, write_files

DIRS = [("data", "standard"), ("etc", "standard"), ("sock", "standard"), ("links", "standard"),
        ("tree", "standard"), ("arch", "archive")]


def _records(db, exact: bool = False) -> tuple[list, ...]:
    """What the database says of each directory's last checkpoint; `exact`: with when it was made
    to the fraction of a second, why each directory was in it and the checkpoint's lower bound,
    which the copy of the state on its discs holds."""
    conn = sqlite3.connect(db)
    try:
        return (sorted(conn.execute("SELECT source, path, last_checkpoint"
                                    + (", last_checkpoint_time" if exact else "") + " FROM dir_state")),
                sorted(conn.execute("SELECT number, source, path, role, backup_id"
                                    + (", reason" if exact else "") + " FROM checkpoint_dirs")),
                sorted(conn.execute("SELECT number, created, lower_bound FROM checkpoints")) if exact else [])
    finally:
        conn.close()


def _backup(lab, cfg):
    """A backup of `loc`, its store closed (one left open for the collector to close would close
    on the database rebuild-state put aside)."""
    from rabtui.backup.pipeline import run_backup
    from rabtui.events import no_emit

    store = lab.store()
    try:
        return run_backup(cfg, store, "loc", emit=no_emit, cancel=threading.Event())
    finally:
        store.close()


def _burnt(lab) -> tuple:
    """A backup of a file of `data` and a checkpoint of `data` and `etc` burned: (cfg, argv)."""
    cfg = lab.with_discs("4MiB", dirs=DIRS[:2])
    (lab.tmp / "iso").mkdir()
    write_files(lab.src / "data", {"f": b"x" * 1000})
    assert _backup(lab, cfg).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    return cfg, argv


def _old_db(lab) -> str:
    return str(next(p for p in lab.state.iterdir() if p.name.startswith("rabtui.db.before-rebuild-")))


def test_directories_with_no_file_on_the_discs_keep_their_last_checkpoint(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", dirs=DIRS)
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"f": b"x" * 1000})
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.bind(os.fsdecode(lab.src / "sock" / "s"))
    os.symlink("nowhere", lab.src / "links" / "l")
    os.makedirs(lab.src / "tree" / "a" / "b")
    assert _backup(lab, cfg).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    before = _records(lab.state / "rabtui.db")
    assert {path for _, path, last in before[0] if last == 1} == {str(lab.src / rel) for rel, _ in DIRS}

    assert main([*argv, "rebuild-state"]) == 0
    assert _records(lab.state / "rabtui.db") == _records(_old_db(lab)) == before
    assert main([*argv, "checkpoint", "status", "--json"]) == 0


def test_a_rebuilt_checkpoint_keeps_its_time_reasons_and_bound_from_the_copy_of_the_state(tmp_path):
    """README.txt gives the time a checkpoint was made to the second; the copy of the state on its
    discs gives it exactly (the `max_days` trigger and status count from it), with why each
    directory was in it and the discs' lower bound (shown with the checkpoint)."""
    lab = Lab(tmp_path, media_count=1)
    argv = _burnt(lab)[1]
    before = _records(lab.state / "rabtui.db", exact=True)
    assert before[0][0][3] % 1 and before[2][0][2] == 1 and before[1][0][5]

    assert main([*argv, "rebuild-state"]) == 0
    assert _records(lab.state / "rabtui.db", exact=True) == before


def test_the_filler_of_a_rebuilt_checkpoint_is_known_and_restored_from(tmp_path):
    """Directories not due fill a disc's room as filler (add/N): copies of their files on verified
    discs, which find and restore use and retention counts. The copy of the state on the discs says
    which directory each add/N is: after a rebuild they are known as before."""
    from rabtui.restore import run as R
    from tests.trees import burn_due

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", dirs=[("data", "standard"), ("etc", "standard"), ("arch", "archive")])
    (tmp_path / "iso").mkdir()
    for rel in ("data", "etc", "arch"):
        write_files(lab.src / rel, {rel: rel.encode() * 1000})
    assert _backup(lab, cfg).status == "completed"
    store = lab.store()
    try:
        burn_due(cfg, store, {"*"})
        write_files(lab.src / "data", {"b": b"new"})
        assert _backup(lab, cfg).status == "completed"
        burn_due(cfg, store, {f"loc:{lab.src / 'data'}"})
    finally:
        store.close()
    query = ("SELECT number, disc, source, path, disc_path, size, mtime, sha256, mode FROM disc_files",
             "SELECT number, source, path, role FROM checkpoint_dirs")
    old = sqlite3.connect(lab.state / "rabtui.db")
    before = [sorted(old.execute(q)) for q in query]
    old.close()
    assert {row[3] for row in before[1] if row[0] == 2} == {"data", "filler"}

    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0
    new = sqlite3.connect(lab.state / "rabtui.db")
    assert [sorted(new.execute(q)) for q in query] == before
    new.close()
    store = lab.store()
    try:
        R.restore(cfg, store, "loc", str(lab.src / "etc" / "etc"), checkpoint=2, to=tmp_path / "out")
    finally:
        store.close()
    assert (tmp_path / "out" / str(lab.src / "etc" / "etc").lstrip("/")).read_bytes() == b"etc" * 1000


def test_a_directory_that_did_not_fit_on_its_medium_stays_due_after_a_rebuild(tmp_path):
    """A backup that ran out of room on its medium makes its directory due for a checkpoint; its
    backup.json, left on the medium, says which directory did not fit: the rebuilt database says it
    too (and not of a directory checkpointed since)."""
    import subprocess

    import pytest

    lab = Lab(tmp_path, media_count=1)
    mount_point = lab.media[0][1]
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    try:
        cfg, argv = _burnt(lab)
        write_files(lab.src / "data", {f"big{i}": os.urandom(2_500_000) for i in range(3)})
        result = _backup(lab, cfg)
        assert result.status == "failed" and "medium too small" in result.reason
        conn = sqlite3.connect(lab.state / "rabtui.db")
        before = sorted(conn.execute("SELECT path, did_not_fit IS NOT NULL FROM dir_state"))
        conn.close()
        assert before == [(str(lab.src / "data"), 1), (str(lab.src / "etc"), 0)]

        assert main([*argv, "rebuild-state"]) == 0
        conn = sqlite3.connect(lab.state / "rabtui.db")
        assert sorted(conn.execute("SELECT path, did_not_fit IS NOT NULL FROM dir_state")) == before
        conn.close()
    finally:
        if os.path.ismount(mount_point):
            subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


@pytest.mark.parametrize("labelled_again", [False, True])
def test_a_disc_copy_taken_from_a_backup_deleted_since_is_restored_before_an_older_backup(tmp_path, capsys,
                                                                                        labelled_again):
    """Checkpoint 1 was taken from a backup that cleanup deleted since; an older backup on the other
    medium holds an older version of the file. The disc holds the newer one, and a restore brings
    it, before the rebuild and after it: the copy of the state on the disc names the backup the
    checkpoint read (its medium, name and time), which the rebuilt database records as deleted.
    `labelled_again`: each medium's disk lost its label after the checkpoint and was labelled anew
    (media label --force): the copy knows them by their former labels, which the new ones follow."""
    from datetime import datetime, timedelta

    from rabtui.backup.pipeline import run_backup
    from rabtui.events import no_emit
    from rabtui.restore import run as R
    from tests.trees import burn_due

    t0 = datetime(2026, 10, 1, 3, 0)
    lab = Lab(tmp_path, media_count=2)
    cfg = lab.write(lab._local_source(None, "", "loc") + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n'
                    "\n[retention]\nkeep_all_days = 1\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                    "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
    (tmp_path / "iso").mkdir()
    store = lab.store()

    def backup(day: int, medium: str) -> None:
        res = run_backup(cfg, store, "loc", emit=no_emit, cancel=threading.Event(), now=t0 + timedelta(days=day),
                         medium_id=medium)
        assert res.status == "completed", res.reason

    try:
        write_files(lab.src / "data", {"f": b"old", "other": b"o"})
        backup(0, "m1")
        write_files(lab.src / "data", {"f": b"newer"})
        backup(1, "m2")
        burn_due(cfg, store, {"*"})
        (lab.src / "data" / "f").unlink()
        backup(2, "m2")
        backup(3, "m2")
    finally:
        store.close()
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "cleanup", "--now", (t0 + timedelta(days=10)).isoformat()]) in (0, 1)
    conn = sqlite3.connect(lab.state / "rabtui.db")
    assert conn.execute("SELECT status FROM backups WHERE name='backup-20261002030000'").fetchone() == ("deleted",)
    conn.close()
    f = str(lab.src / "data" / "f")

    def restored(to: str) -> bytes:
        store = lab.store()
        try:
            R.restore(cfg, store, "loc", f, to=tmp_path / to)
        finally:
            store.close()
        return (tmp_path / to / f.lstrip("/")).read_bytes()

    assert restored("before") == b"newer"
    if labelled_again:      # each medium's disk labelled anew after the checkpoint (its label lost, say)
        for medium, path in lab.media:
            os.unlink(path / ".rabtui-medium")
            assert main([*argv, "media", "label", medium, "--force"]) == 0
    capsys.readouterr()
    assert main([*argv, "rebuild-state"]) in (0, 3)
    assert "another server" not in capsys.readouterr().out
    assert restored("after") == b"newer"
