"""A run killed before it made its backup directory, its name planned in a second an older backup of
the source on the medium was named for (the state database lost since, so that it did not know that
backup, and a clock set back): the next run's recovery, its undoing of killed runs, and a cleanup
after it never take that older backup for the killed run's. It was recorded as the killed run (its
status, under the killed run's id), and then deleted as an abandoned run a day on. Real rsync, the
real process killed (SIGKILL) at the fault point."""

from __future__ import annotations

import os
import signal
import sys
import time
from datetime import datetime, timedelta

from rabtui import faults
from rabtui.media import medium_layout
from tests import invariants, preloaded
from tests.test_catalog_invariants import KILLED
from tests.test_kill_anywhere import _files, _local_lab, rabtui
from tests.trees import snapshot


def test_a_run_killed_before_its_directory_never_takes_an_older_backup_of_its_name(tmp_path):
    lab, cfg = _local_lab(tmp_path)
    when = (datetime.now() - timedelta(days=3)).replace(microsecond=0)
    older = lab.backup(cfg, now=when, medium_id="m1")
    assert older.status == "completed", older.reason
    as_made = snapshot(older.path)
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    union_as_made = snapshot(union)
    for path in lab.state.glob("rabtui.db*"):      # lost: made anew by the next run
        os.unlink(path)

    killed = preloaded.run([sys.executable, "-c", KILLED, str(lab.config_path), when.isoformat(), "m1", "-"],
                           env={**os.environ, faults.ENV: "backup.step1"}, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    row = lab.store().one("SELECT * FROM backups")
    assert row["status"] == "running" and row["path"] == str(older.path)      # its planned name is the older's

    _files(lab.src / "arch", {"x": b"x2" * 50})
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    store = lab.store()
    row = store.one("SELECT * FROM backups WHERE id=?", (row["id"],))
    assert row["status"] == "abandoned", dict(row)
    assert "before it made its directory" in row["reason"], row["reason"]
    assert snapshot(older.path) == as_made
    assert {k: v for k, v in snapshot(union).items() if k != b"x"} == {k: v for k, v in union_as_made.items()
                                                                       if k != b"x"}

    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="seconds")
    cleanup = rabtui(lab, "cleanup", "--now", later)
    assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
    assert snapshot(older.path) == as_made
    rebuilt = rabtui(lab, "rebuild-state")
    assert rebuilt.returncode in (0, 3), rebuilt.stdout + rebuilt.stderr
    store = lab.store()
    assert store.one("SELECT status FROM backups WHERE name=?", (older.path.name,))["status"] == "completed"
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)


def test_a_run_killed_as_it_made_its_directory_leaves_no_empty_directory(tmp_path):
    """Killed once its directory was made, before its row said so: the next run's recovery takes
    it for a run that made none, and left that empty directory on the medium for ever (no cleanup
    deletes a directory whose run made none). An empty one at the names the run could have given
    is removed; another backup's, under one of those names, never is."""
    lab, cfg = _local_lab(tmp_path)
    when = datetime.now().replace(microsecond=0)
    older = lab.backup(cfg, now=when, medium_id="m1")          # takes the planned name: the run makes -2
    assert older.status == "completed", older.reason
    as_made = snapshot(older.path)
    for path in lab.state.glob("rabtui.db*"):      # lost: made anew by the next run
        os.unlink(path)

    killed = preloaded.run([sys.executable, "-c", KILLED, str(lab.config_path), when.isoformat(), "m1", "-"],
                           env={**os.environ, faults.ENV: "backup.dir_made"}, capture_output=True, timeout=120)
    assert killed.returncode == -signal.SIGKILL, killed.stdout + killed.stderr
    made = older.path.with_name(older.path.name + "-2")
    assert made.is_dir() and not os.listdir(made)
    time.sleep(max(0.0, when.timestamp() + 1 - time.time()))    # else the next backup may take `made`'s name
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    assert not os.path.lexists(made), after.stdout
    assert snapshot(older.path) == as_made
