"""`rabtui backup ID` (one source, or several) and `run-due` when the state database cannot take the
run's first record: held by another process past its busy timeout (a writer stopped in its
transaction), or its directory full. No backup can start, and each is said on the terminal, with
a non-zero exit, and notified all the same: the operator is told. Real processes, real rsync; the
busy timeout shortened."""

from __future__ import annotations


import pytest

from rabtui.cli import main
from rabtui.state.locks import state_lock
from tests.test_check_state_full import stopped_writer
from tests.test_parallel import _sources
from tests.trees import Lab, fill_up, notify_into_file


def _lab(tmp_path, state=None) -> tuple[Lab, object]:
    """Sources a and b (scheduled), a notify command; (the lab, a function giving the events sent)."""
    lab = Lab(tmp_path, media_count=1)
    if state is not None:
        lab.state = state
    _sources(lab, ["a", "b"], files=2, extra={n: 'schedule = "0 2 * * *"' for n in "ab"})
    sent = notify_into_file(lab, tmp_path)
    lab.store().close()      # the database made, with its schema
    return lab, sent


def test_one_source_whose_job_cannot_be_recorded_is_said_and_notified(tmp_path, capsys, short_busy_timeout):
    """Its job's row was written before anything that reports: "database is locked" ended the
    command with one line, no source named, nothing notified (several sources were reported)."""
    lab, sent = _lab(tmp_path)
    with stopped_writer(lab.state / "rabtui.db"):
        code = main(["--config", str(lab.config_path), "backup", "a"])
    out = capsys.readouterr()
    said = out.out + out.err
    assert code == 1 and "Traceback" not in said, said
    assert f"rabtui: a: the state database {lab.state / 'rabtui.db'} is busy" in out.err, said
    assert [(e["kind"], e["source"]) for e in sent()] == [("backup_failed", "a")], sent()
    assert "is busy" in sent()[0]["message"]
    # nothing left behind: once the writer is gone, the next run backs it up
    assert main(["--config", str(lab.config_path), "backup", "a"]) == 0


@pytest.mark.parametrize("argv", [["backup", "a"], ["backup", "a", "b"], ["run-due", "--now", "2026-10-01T03:00"]])
def test_a_full_state_directory_fails_every_backup_said_and_notified(tmp_path, tmpfs, capsys, argv):
    """The state directory full as the command starts: the database is refused before it opens (no
    backup could record its catalog), which ended the command with that line alone, nothing
    notified. Each backup named is said failed and notified; run-due, which cannot tell what is
    due, says that no backup can run and notifies the state's failure as the health check does."""
    lab, sent = _lab(tmp_path, tmpfs(tmp_path / "small", "size=8m") / "state")
    fill_up(tmp_path / "small" / "filler")
    code = main(["--config", str(lab.config_path), *argv])
    out = capsys.readouterr()
    said = out.out + out.err
    assert code == 1 and "Traceback" not in said, said
    full = f"the state directory {lab.state} is full"
    if argv[0] == "backup":
        for sid in argv[1:]:
            assert f"rabtui: {sid}: {full}" in out.err, said
        assert sorted((e["kind"], e["source"]) for e in sent()) == [("backup_failed", sid) for sid in argv[1:]]
    else:
        assert f"rabtui: no backup can run: {full}" in out.err, said
        assert [(e["kind"], e["level"], e["data"]["check"]) for e in sent()] == [("health", "critical", "state")]
    assert all(full in e["message"] for e in sent()), sent()
    (tmp_path / "small" / "filler").unlink()
    assert main(["--config", str(lab.config_path), "backup", "a"]) == 0


def test_a_backup_refused_while_rebuild_state_runs_is_said_and_notified(tmp_path, capsys):
    """rebuild-state holds the state lock whole: `backup` is refused before any job is recorded, which
    ended the command with that line alone, nothing notified (a cron'd backup missed in silence)."""
    lab, sent = _lab(tmp_path)
    with state_lock(lab.state, by="rebuild-state"):
        code = main(["--config", str(lab.config_path), "backup", "a", "b"])
    out = capsys.readouterr()
    said = out.out + out.err
    assert code != 0 and "Traceback" not in said, said
    for sid in "ab":
        assert f"rabtui: {sid}: this command cannot run now: rebuild-state is running" in out.err, said
    assert sorted((e["kind"], e["source"]) for e in sent()) == [("backup_failed", "a"), ("backup_failed", "b")]
    assert all("rebuild-state is running" in e["message"] for e in sent()), sent()


def test_run_due_refused_while_rebuild_state_runs_is_said_and_notified_once(tmp_path, capsys):
    """run-due from cron while rebuild-state replaces the database: nothing runs (no backup, cleanup,
    health check or checkpoint), said on the terminal and notified once, with the reason. It ended
    with that line alone, nothing notified: the night's backups missed in silence."""
    lab, sent = _lab(tmp_path)
    with state_lock(lab.state, by="rebuild-state"):
        code = main(["--config", str(lab.config_path), "run-due", "--now", "2027-10-01T03:00"])
    out = capsys.readouterr()
    said = out.out + out.err
    assert code == 1 and "Traceback" not in said, said
    assert "rabtui: run-due refused, nothing ran (no backup, cleanup, health check or checkpoint):" in out.err, said
    assert "rebuild-state is running" in out.err, said
    events = sent()
    assert [(e["kind"], e["level"], e["source"]) for e in events] == [("run_due_failed", "failed", None)], events
    assert "rebuild-state is running" in events[0]["message"] and "nothing ran" in events[0]["message"], events
