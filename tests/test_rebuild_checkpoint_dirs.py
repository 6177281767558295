"""rebuild-state and the directories of a checkpoint that its discs hold no file of: an empty
directory, one holding only a socket (left off the discs), one of symlinks only, one of empty
subdirectories only, an archive directory whose union is empty. The README of each disc names every
directory of the checkpoint: the rebuilt database says, as the one lost did, which checkpoint each
was last in, so that none is due again for no change, nor checkpointed anew by `max_days` only."""

from __future__ import annotations

import os
import socket
import sqlite3

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
    assert lab.backup(cfg).status == "completed"
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
    cfg = lab.with_discs("4MiB", dirs=DIRS[:2])
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {"f": b"x" * 1000})
    assert lab.backup(cfg).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0
    before = _records(lab.state / "rabtui.db", exact=True)
    assert before[0][0][3] % 1 and before[2][0][2] == 1 and before[1][0][5]

    assert main([*argv, "rebuild-state"]) == 0
    assert _records(lab.state / "rabtui.db", exact=True) == before
