"""A checkpoint taken from a backup that cleanup deleted since: rebuild-state records that backup
as deleted (a restore ranks the disc's copy by its time), under the id it had, among its source's
backups in the order they were made. Recorded under an id above every other, it was taken for the
source's last run: `check` and `status` said the last run failed ("cleanup has removed what it
left") while the backups made after it completed, and the database never lost said nothing of the
kind. Real rsync, real xorriso images, the real command line."""

from __future__ import annotations

import sqlite3
import threading
from datetime import datetime, timedelta

from rabtui.cli import main
from rabtui.state import queries
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 10, 1, 3, 0)
TAKEN = "backup-20261002030000"      # day 1's, which the checkpoint was taken from


def _lab(tmp_path) -> Lab:
    """Backups on days 0 (m1), 1 (m2), a checkpoint taken from the one of day 1, backups on days 2
    and 3 (m2), then a cleanup on day 10 that deletes the backup of day 1."""
    from rabtui.backup.pipeline import run_backup
    from rabtui.events import no_emit

    lab = Lab(tmp_path, media_count=2)
    cfg = lab.write(lab._local_source(None, "", "loc") + f'\n[checkpoint]\ndisc = "4MiB"\ndrive = "images:{tmp_path / "iso"}"\n'
                    "\n[retention]\nkeep_all_days = 1\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
                    "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
    (tmp_path / "iso").mkdir()
    store = lab.store()
    try:
        for day, medium in ((0, "m1"), (1, "m2"), (2, "m2"), (3, "m2")):
            write_files(lab.src / "data", {f"f{day}": f"day {day}".encode()})
            res = run_backup(cfg, store, "loc", emit=no_emit, cancel=threading.Event(), now=T0 + timedelta(days=day),
                             medium_id=medium)
            assert res.status == "completed", res.reason
            if day == 1:
                burn_due(cfg, store, {"*"})
    finally:
        store.close()
    assert main(["--config", str(lab.config_path), "cleanup", "--now", (T0 + timedelta(days=10)).isoformat()]) in (0, 1)
    return lab


def _seen(lab: Lab) -> tuple:
    """The source's last run and last finished backup as status and check give them, and its
    backups by id: those not deleted and the one the checkpoint was taken from (the discs name it)."""
    store = lab.store()
    try:
        run, finished = queries.last_run(store, "loc"), queries.last_finished_backup(store, "loc")
        return ((run["name"], run["medium"], run["status"]), (finished["name"], finished["medium"]),
                [tuple(r) for r in store.all(
                    "SELECT medium, name, status FROM backups WHERE status<>'deleted' OR name=? ORDER BY id",
                    (TAKEN,))])
    finally:
        store.close()


def _check_of_loc(argv, capsys) -> list[str]:
    main([*argv, "check"])
    return [line for line in capsys.readouterr().out.splitlines() if "source loc" in line]


def test_a_deleted_backup_a_checkpoint_was_taken_from_is_not_the_last_run_after_a_rebuild(tmp_path, capsys):
    lab = _lab(tmp_path)
    argv = ["--config", str(lab.config_path)]
    conn = sqlite3.connect(lab.state / "rabtui.db")
    assert conn.execute("SELECT medium, status FROM backups WHERE name=?", (TAKEN,)).fetchone() \
        == ("m2", "deleted")
    conn.close()
    before = _seen(lab)
    assert before[0] == ("backup-20261004030000", "m2", "completed")
    capsys.readouterr()
    check_before = _check_of_loc(argv, capsys)

    lab.lose_database()
    assert main([*argv, "rebuild-state"]) in (0, 3)
    capsys.readouterr()
    assert _seen(lab) == before
    # (the media's lines differ: the backups were dated back, and the rebuild takes their dates)
    assert _check_of_loc(argv, capsys) == check_before
