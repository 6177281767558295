"""A run-due's backups cancelled one by one (`jobs cancel`, the console's x), under way or still
queued: their scheduled time counts as done, so that they do not start again by themselves at the
next run-due; the next scheduled time runs as usual. The whole run stopped (SIGTERM of a shutdown,
the terminal closed, Ctrl-C: nobody decided against those backups) leaves them due: the next
run-due makes them."""

from __future__ import annotations

import json
import os
import threading
import time
from datetime import datetime

import pytest

from rabtui.actions import run_due as run_due_actions
from rabtui.backup.batch import RunCancel
from rabtui.cli import main
from tests.trees import Lab, gate_command, write_files


def _lab(tmp_path) -> Lab:
    """Sources a and b daily at 02:00, one backup at a time; a's waits in its pre-backup command
    (until `gate` exists, made once the run has ended)."""
    lab = Lab(tmp_path, media_count=1)
    gate = tmp_path / "gate"
    lab.write(lab._local_source([("data", "standard")], f'schedule = "0 2 * * *"\npre_backup_commands = ["{gate_command(gate)}"]', "a")
              + lab._local_source([("data", "standard")], 'schedule = "0 2 * * *"', "b"))
    lab.config_path.write_text(lab.config_path.read_text().replace("[rabtui]\n", "[rabtui]\nmax_parallel = 1\n", 1))
    write_files(lab.src / "data", {"f": b"f"})
    return lab


def _start(lab: Lab, cancel: RunCancel) -> tuple[threading.Thread, list]:
    """run-due at 02:05 in a thread, until a's backup is in its pre-backup command and b waits its turn."""
    said: list = []
    run = threading.Thread(target=lambda: said.append(run_due_actions.run_due(
        lab.load(), lab.store(), lambda e: said.append(e.message), cancel, now=datetime(2026, 10, 1, 2, 5))))
    run.start()
    store = lab.store()
    for _ in range(600):
        rows = {r["target"]: r for r in store.all("SELECT id, target, status FROM jobs")}
        waiting = store.one("SELECT 1 FROM backup_steps s JOIN backups b ON b.id=s.backup_id WHERE b.source='a'"
                            " AND s.step=4 AND s.state='running'")
        if rows.get("a") and rows["a"]["status"] == "running" and rows.get("b") and rows["b"]["status"] == "queued" \
                and waiting:
            return run, said
        time.sleep(0.05)
    raise AssertionError(f"not under way: {said}")


def _due_again(lab: Lab, capsys, at: str) -> list[str]:
    capsys.readouterr()
    main(["--config", str(lab.config_path), "run-due", "--now", at])
    return sorted(line.split(":")[0] for line in capsys.readouterr().out.splitlines() if ": due (schedule time" in line)


def _rebuilt(lab: Lab, capsys) -> None:
    """rebuild-state: the schedule's marks made again from the backups on the medium."""
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 0, capsys.readouterr()


@pytest.mark.parametrize("rebuilt", [False, True, "older"], ids=["", "rebuilt", "rebuilt-older"])
def test_a_run_due_stopped_as_a_whole_leaves_its_times_due(tmp_path, capsys, rebuilt):
    """(After rebuild-state too: a's failed backup, its backup.json saying its run stopped it, is no
    backup of the night, as run-due takes it. So is one an earlier rabtui wrote, which says only that
    it was cancelled, not by whom (`older`): taken as its job's, the night would go without a backup.)"""
    lab = _lab(tmp_path)
    cancel = RunCancel()
    run, said = _start(lab, cancel)
    cancel.set()
    run.join(60)
    assert not run.is_alive()
    (tmp_path / "gate").touch()
    jobs = {r["target"]: (r["status"], r["summary"]) for r in lab.store().all("SELECT target, status, summary FROM jobs")}
    assert jobs["a"][0] == "cancelled" and jobs["b"] == ("cancelled", "cancelled before it started"), jobs
    (path,) = [r["path"] for r in lab.store().all("SELECT path FROM backups WHERE source='a'")]
    with open(os.path.join(path, "backup.json"), encoding="utf-8") as f:
        record = json.load(f)
    assert record["cancelled_by"] == "run"
    if rebuilt == "older":
        del record["cancelled_by"]
        with open(os.path.join(path, "backup.json"), "w", encoding="utf-8") as f:
            json.dump(record, f)
    if rebuilt:
        _rebuilt(lab, capsys)
    assert _due_again(lab, capsys, "2026-10-01T02:20") == ["a", "b"]


@pytest.mark.parametrize("rebuilt", [False, True], ids=["", "rebuilt"])
def test_a_run_due_s_backups_cancelled_one_by_one_count_their_times_done_and_jobs_cancel_says_so(
        tmp_path, capsys, rebuilt):
    """(After rebuild-state, a's failed backup still counts as the night's: b's job, cancelled
    before it began, left nothing on the medium to say so: it is due then.)"""
    lab = _lab(tmp_path)
    run, said = _start(lab, RunCancel())
    ids = {r["target"]: r["id"] for r in lab.store().all("SELECT id, target FROM jobs")}
    capsys.readouterr()
    for source in ("b", "a"):
        assert main(["--config", str(lab.config_path), "jobs", "cancel", str(ids[source])]) == 0
    out = capsys.readouterr().out.splitlines()
    run.join(60)
    assert not run.is_alive()
    (tmp_path / "gate").touch()
    counts = "its scheduled time then counts as done: run-due makes no other backup of it before its next one"
    assert out == [f"cancel requested for job {ids['b']}: it has not begun, so it never starts; {counts}",
                   f"cancel requested for job {ids['a']}; {counts}"], out
    if rebuilt:
        _rebuilt(lab, capsys)
        assert _due_again(lab, capsys, "2026-10-01T02:20") == ["b"]
        return
    assert _due_again(lab, capsys, "2026-10-01T02:20") == []
    assert _due_again(lab, capsys, "2026-10-02T02:05") == ["a", "b"]


def test_backups_cancelled_by_the_operator_then_the_whole_run_stopped_count_their_times_done(tmp_path, capsys):
    """`jobs cancel` of both (told their times count as done), then the run stopped (a shutdown's
    SIGTERM while the cancelled backup still winds down): the stop left them due, and the next
    run-due made the backups the operator had cancelled."""
    lab = _lab(tmp_path)
    cancel = RunCancel()
    run, said = _start(lab, cancel)
    ids = {r["target"]: r["id"] for r in lab.store().all("SELECT id, target FROM jobs")}
    for source in ("b", "a"):
        assert main(["--config", str(lab.config_path), "jobs", "cancel", str(ids[source])]) == 0
    cancel.set()
    run.join(60)
    assert not run.is_alive()
    (tmp_path / "gate").touch()
    assert _due_again(lab, capsys, "2026-10-01T02:20") == []
