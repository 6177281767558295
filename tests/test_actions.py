"""The actions layer (rabtui/actions/): each verb's result, the one status reader, and the UI's
backups onto the day's medium, with real rsync and xorriso."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta

import pytest

from rabtui.actions import backup as backup_actions
from rabtui.actions import checkpoint as checkpoint_actions
from rabtui.actions import status
from rabtui.cli import main
from rabtui.errors import UsageError
from rabtui.events import ABORT, READY, SKIP, YES, Question, no_emit
from rabtui.state.store import Store
from tests.test_checkpoint import _lab
from tests.trees import Lab, gate_command, write_files


def _run(lab: Lab, *argv: str) -> int:
    return main(["--config", str(lab.config_path), *argv])


class _Answers:
    """A prompter that answers each kind of question as told, and notes what it was asked."""

    def __init__(self, **answers: str):
        self.answers = answers
        self.asked: list[str] = []

    def ask(self, question: Question, cancel=None) -> str:
        self.asked.append(question.kind)
        return self.answers[question.kind]


# --- the status reader ---------------------------------------------------------------------------


def test_a_failed_run_removed_by_cleanup_stays_the_last_run_in_status_as_in_check(tmp_path, capsys):
    """Cleanup deleted the source's newest backup (a failed run older than a day): `status`,
    `status --json` and the dashboard's data still give it as the last run, failed, with the
    complete one before it as the last complete backup, as `check` says; the sizes shown are those
    of the backup still there, never of what cleanup removed."""
    lab = Lab(tmp_path)
    lab.local()
    write_files(lab.src / "data", {"a": b"1"})
    assert _run(lab, "backup", "loc") == 0
    lab.local(extra='pre_backup_commands = ["exit 4"]')
    assert _run(lab, "backup", "loc") == 1
    store = lab.store()
    good, failed = store.all("SELECT id, status, medium FROM backups ORDER BY id")
    assert (good["status"], failed["status"]) == ("completed", "failed")
    later = (datetime.now() + timedelta(days=2)).isoformat(timespec="minutes")
    assert _run(lab, "cleanup", "--now", later) == 0
    assert store.one("SELECT status FROM backups WHERE id=?", (failed["id"],))["status"] == "deleted"
    capsys.readouterr()

    assert _run(lab, "status", "--json") == 0
    [src] = json.loads(capsys.readouterr().out)["sources"]
    assert (src["last"]["id"], src["last"]["status"]) == (failed["id"], "failed")
    assert "cleanup has removed what it left" in src["last"]["reason"]
    assert src["last_complete"]["id"] == good["id"]
    assert _run(lab, "status") == 0
    line = next(x for x in capsys.readouterr().out.splitlines() if x.startswith("  loc "))
    assert "loc (local): failed " in line and "cleanup has removed what it left" in line and "last complete" in line
    assert _run(lab, "check", "--now", later) == 1
    assert "source loc: last run" in capsys.readouterr().out

    [row] = status.sources(lab.load(), Store(lab.state))   # what the dashboard shows
    assert (row.last["id"], row.status, row.medium) == (failed["id"], "failed", failed["medium"])
    assert row.sizes["id"] == good["id"] and row.total_bytes is not None


# --- backup --------------------------------------------------------------------------------------


def test_backup_of_several_sources_returns_each_outcome_on_one_medium(tmp_path):
    lab = Lab(tmp_path)
    for name in ("one", "two"):
        write_files(lab.src / name, {"f": name})
    cfg = lab.write(f'''
[[sources]]
id = "one"
[[sources.directories]]
path = "{lab.src / 'one'}"
[[sources]]
id = "two"
pre_backup_commands = ["exit 4"]
[[sources.directories]]
path = "{lab.src / 'two'}"
''')
    store = Store(lab.state)
    emitted: dict[str | None, list] = {}
    run = backup_actions.backup(cfg, store, lambda sid: emitted.setdefault(sid, []).append,
                                backup_actions.RunCancel(), _Answers(), ids=["one", "two"])
    assert run.medium == "m1" and run.exit_code == 1
    one, two = run.outcomes
    assert (one.source, one.exit_code, one.error) == ("one", 0, None)
    assert one.summary.startswith("completed")
    assert (two.source, two.exit_code, two.error) == ("two", 1, None)
    assert two.summary.startswith("failed") and "pre-backup command failed" in two.summary
    rows = store.all("SELECT b.source, b.medium, j.status FROM backups b JOIN jobs j ON j.id=b.job_id ORDER BY b.source")
    assert [tuple(r) for r in rows] == [("one", "m1", "completed"), ("two", "m1", "failed")]
    assert emitted["one"] and emitted["two"]
    with pytest.raises(UsageError):
        backup_actions.chosen_sources(cfg, ["one", "nope"], False)


def two_sources_the_first_held(tmp_path):
    """Two local sources; the first one's backup waits in its pre-backup command until the file
    returned (the gate) exists: it is still under way when the second is started, however slow
    the machine. Returns (lab, config, gate)."""
    lab = Lab(tmp_path)
    for name in ("one", "two"):
        write_files(lab.src / name, {"f": name})
    gate = tmp_path / "go-on"
    return lab, lab.write(f'''
[[sources]]
id = "one"
pre_backup_commands = ["{gate_command(gate)}"]
[[sources.directories]]
path = "{lab.src / 'one'}"
[[sources]]
id = "two"
[[sources.directories]]
path = "{lab.src / 'two'}"
'''), gate


def test_a_backup_the_ui_starts_while_one_runs_goes_onto_that_ones_medium(tmp_path):
    """Two backups started from the UI one after the other are one run: the second goes onto the
    medium the first writes to, not onto the next of the rotation."""
    lab, cfg, gate = two_sources_the_first_held(tmp_path)
    store = Store(lab.state)
    first = backup_actions.start_detached(cfg, store, "one")
    deadline = time.monotonic() + 60
    while store.one("SELECT medium FROM backups WHERE job_id=?", (first,)) is None:   # past its step 2
        assert time.monotonic() < deadline, "the first backup did not start"
        time.sleep(0.1)
    second = backup_actions.start_detached(cfg, store, "two")     # its medium chosen, the first still held
    gate.touch()
    while store.one(f"SELECT COUNT(*) FROM jobs WHERE id IN ({first}, {second})"
                    " AND status IN ('completed', 'warnings', 'failed', 'dead')")[0] < 2:
        assert time.monotonic() < deadline, "the backups did not end"
        time.sleep(0.2)
    rows = store.all("SELECT source, medium, status FROM backups ORDER BY source")
    assert [tuple(r) for r in rows] == [("one", "m1", "completed"), ("two", "m1", "completed")]
    # with nothing running, the next backup goes onto the next medium of the rotation
    assert backup_actions.day_medium(cfg, store).id == "m2"


# --- checkpoint ----------------------------------------------------------------------------------


def test_burn_returns_its_outcome_and_refuses_while_one_is_unfinished(tmp_path):
    lab, cfg = _lab(tmp_path)
    write_files(lab.src / "data", {f"f{i}": 300_000 for i in range(3)})
    write_files(lab.src / "other", {"o": b"x"})
    assert lab.backup(cfg).status == "completed"
    store = Store(lab.state)

    aborting = _Answers(**{checkpoint_actions.PLAN_QUESTION: YES, checkpoint_actions.INSERT: ABORT})
    out = checkpoint_actions.burn(cfg, store, no_emit, threading.Event(), aborting, now=[])
    assert (out.number, out.status, out.exit_code, out.verified) == (1, "aborted", 1, [])
    assert aborting.asked[:2] == [checkpoint_actions.PLAN_QUESTION, checkpoint_actions.INSERT]
    assert store.one("SELECT status FROM jobs ORDER BY id DESC LIMIT 1")["status"] == "cancelled"

    with pytest.raises(UsageError, match="checkpoint 1 is not finished"):
        checkpoint_actions.burn(cfg, store, no_emit, threading.Event(), aborting, now=[])
    assert store.one("SELECT status FROM jobs ORDER BY id DESC LIMIT 1")["status"] == "failed"

    ready = _Answers(**{checkpoint_actions.INSERT: READY})
    out = checkpoint_actions.resume(cfg, store, no_emit, threading.Event(), ready)
    assert (out.number, out.status, out.exit_code) == (1, "completed", 0)
    assert out.verified and not out.skipped
    out = checkpoint_actions.verify(cfg, store, no_emit, threading.Event(), ready)
    assert (out.number, out.status, out.exit_code) == (1, "completed", 0)
    [shown] = checkpoint_actions.shown_checkpoints(store)
    assert shown["status"] == "completed" and {r["state"] for r in shown["disc_rows"]} == {"verified"}


# --- rebuild -------------------------------------------------------------------------------------


def test_rebuild_state_keeps_the_old_database_and_records_itself_as_a_job_in_the_new_one(tmp_path):
    from rabtui.actions import rebuild

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"1", "b/c": b"22"})
    assert lab.backup(cfg).status == "completed"
    no_discs = _Answers(insert_disc=SKIP)   # a real burner: asked for discs; there are none
    result = rebuild.rebuild_state(cfg, no_emit, threading.Event(), no_discs)
    assert no_discs.asked == ["insert_disc"]
    assert result.aside is not None and result.aside.is_file()
    assert (result.report.backups, result.report.unmatched, result.exit_code) == (1, [], 0)
    store = Store(lab.state)
    [job] = store.all("SELECT kind, status, exit_code FROM jobs")
    assert tuple(job) == ("rebuild", "completed", 0)
    assert tuple(store.one("SELECT source, status FROM backups")) == ("loc", "completed")
