"""Several sources at once (`backup --all`, `run-due`) while another process holds the state
database past its busy timeout (a writer stopped in its transaction): the run's waiting sources
cannot even be recorded as queued jobs. Each source's outcome is still reported and notified, and
run-due goes on to its health check. Real processes, real rsync; the busy timeout shortened."""

from __future__ import annotations


import pytest

from rabtui.cli import main
from tests.test_check_state_full import stopped_writer
from tests.test_parallel import _sources
from tests.trees import Lab, notify_into_file

NAMES = ("a", "b", "c")


@pytest.mark.parametrize("argv", [["backup", "--all"], ["run-due", "--now", "2026-10-01T03:00"]])
def test_a_run_whose_state_database_is_held_reports_and_notifies_every_source(tmp_path, capsys, short_busy_timeout,
                                                                            argv):
    """The rows of the sources waiting their turn were written first, outside any source: their
    failure ended the whole run with one line, no source's outcome, no notification, and run-due
    without its cleanup and health check (a single due source, run without queued rows, was
    reported and notified)."""
    lab = Lab(tmp_path, media_count=1)
    _sources(lab, list(NAMES), files=2, extra={n: 'schedule = "0 2 * * *"' for n in NAMES}, rabtui="max_parallel = 2")
    notified = notify_into_file(lab, tmp_path)
    lab.store().close()      # the database made, with its schema
    with stopped_writer(lab.state / "rabtui.db"):
        code = main(["--config", str(lab.config_path), *argv])
    out = capsys.readouterr()
    said = out.out + out.err
    assert code == 1 and "Traceback" not in said, said
    for name in NAMES:
        assert f"{name}: the state database {lab.state / 'rabtui.db'} is busy" in said, said
    sent = notified()
    assert sorted(e["source"] for e in sent if e["kind"] == "backup_failed") == list(NAMES), sent
    if argv[0] == "run-due":     # the health check ran still, and said the state database failing
        assert any(e["data"].get("check") == "state" for e in sent), sent
    # nothing left behind: once the writer is gone, the next run backs every source up
    store = lab.store()
    assert store.one("SELECT COUNT(*) AS n FROM jobs WHERE status IN ('queued', 'running')")["n"] == 0
    assert main(["--config", str(lab.config_path), "backup", "--all"]) == 0
    assert sorted(r["source"] for r in store.all("SELECT source FROM backups WHERE status='completed'")) == list(NAMES)
