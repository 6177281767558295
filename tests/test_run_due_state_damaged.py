"""`run-due` whose state database turns out damaged after its backups (a page of the checkpoint
counters unreadable): its cleanup (which reads every page before its plan), its health check and
its naming of the checkpoints due each say so and the run goes on to its end, exiting with the worst of its codes, the state's failure notified as
`check` notifies it. The last of them, the checkpoints due, ended the run with the bare state
error instead, and the health check notified nothing. A real backup, a real damaged page."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest

from rabtui.cli import main
from tests.test_parallel import _sources
from tests.trees import Lab, notify_into_file


def _damage_table(db, table: str) -> None:
    """The first page of `table` overwritten with bytes no b-tree page starts with."""
    with contextlib.closing(sqlite3.connect(db)) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name=?", (table,)).fetchone()[0]
        size = conn.execute("PRAGMA page_size").fetchone()[0]
    with open(db, "r+b") as f:
        f.seek((root - 1) * size)
        f.write(b"\xff" * 64)


def test_run_due_whose_checkpoint_counters_cannot_be_read_says_so_and_ends(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    _sources(lab, ["a"], files=2)
    notified = notify_into_file(lab, tmp_path)
    assert main(["--config", str(lab.config_path), "backup", "a"]) == 0
    capsys.readouterr()
    _damage_table(lab.state / "rabtui.db", "dir_state")

    code = main(["--config", str(lab.config_path), "run-due", "--now", "2027-10-01T03:00"])
    out = capsys.readouterr()
    said = out.out + out.err
    damaged = f"the state database {lab.state / 'rabtui.db'} is damaged"
    assert code == 1 and "Traceback" not in said, said
    assert f"rabtui: cleanup: {damaged}" in out.err, said
    assert f"rabtui: health check: {damaged}" in out.err, said
    assert f"rabtui: checkpoint triggers: {damaged}" in out.err, said
    assert f"rabtui: {damaged}" not in said, said      # nothing ended the run with the bare error
    sent = notified()
    assert [(e["kind"], e["level"], e["data"].get("check")) for e in sent] == [
        ("cleanup_failed", "failed", None), ("health", "critical", "state")], sent
    assert all(damaged in e["message"] for e in sent), sent


@pytest.mark.parametrize("table", ["media", "schedule_runs", "jobs"])
def test_run_due_whose_state_damage_meets_its_backups_says_so_notifies_and_goes_on(tmp_path, capsys, table):
    """A page the night's backups read damaged (the media's rotation, the schedule's marks, the
    jobs): the run ended with the bare state error, nothing notified, no health check run."""
    lab = Lab(tmp_path, media_count=1)
    _sources(lab, ["a"], files=2)
    lab.config_path.write_text(lab.config_path.read_text().replace('id = "a"\n', 'id = "a"\nschedule = "0 2 * * *"\n'))
    notified = notify_into_file(lab, tmp_path)
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2027-10-01T02:05"]) == 0
    capsys.readouterr()
    _damage_table(lab.state / "rabtui.db", table)

    code = main(["--config", str(lab.config_path), "run-due", "--now", "2027-10-02T02:05"])
    out = capsys.readouterr()
    said = out.out + out.err
    damaged = f"the state database {lab.state / 'rabtui.db'} is damaged"
    assert code == 1 and "Traceback" not in said, said
    assert damaged in out.err and f"rabtui: {damaged}" not in said, said   # said by the step it failed, not bare
    sent = notified()
    assert ("health", "critical", "state") in [(e["kind"], e["level"], e["data"].get("check")) for e in sent], sent
