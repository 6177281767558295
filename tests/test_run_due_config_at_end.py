"""run-due's health check at the end of its run judges by the config as it reads then: an edit made
during a long run (a source added, one removed) is judged as a `check` run after it would (it was
judged by the config read at the run's start, the source removed paged about once more). A config
that cannot be read at the end loses nothing of the run: its backups are recorded, its check
judges by the config read at the start, and the config is said broken (critical, notified: no
run-due starts until it is mended). Real run-due, real rsync, the config rewritten by the backup's
pre-backup command."""

from __future__ import annotations

import json
from datetime import datetime

from rabtui.actions import run_due, status
from rabtui.backup.batch import RunCancel
from tests.trees import Lab, config_text, notify_into_file, write_files

NIGHT = datetime(2026, 10, 1, 2, 5)


def _lab(tmp_path, put: str, others: str) -> Lab:
    """Source `loc` daily at 02:00, whose pre-backup command puts the file `put` over the config,
    and the sources `others`; checked once before the run."""
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"f": b"f"})
    lab.write(lab._local_source([("data", "standard")], f'schedule = "0 2 * * *"\npre_backup_commands ='
                                                          f' ["cp {put} {lab.config_path}"]', "loc") + others)
    return lab


def _levels(lab: Lab) -> dict[str, str]:
    return {r["check_id"]: r["level"] for r in lab.store().all("SELECT check_id, level FROM health")}


def test_a_config_edited_during_the_run_is_judged_as_it_is_at_its_end(tmp_path):
    edited = tmp_path / "edited.toml"
    lab = _lab(tmp_path, edited, Lab._local_source(Lab(tmp_path), [("old", "standard")], "", "old"))
    edited.write_text(config_text(lab.state, lab.media, lab._local_source([("data", "standard")], 'schedule = "0 2 * * *"',
                                                                          "loc")
                                  + lab._local_source([("new", "standard")], "", "new")))
    edited.chmod(0o600)
    status.check(lab.load(), lab.store(), NIGHT.replace(hour=1))
    assert _levels(lab)["stale:old"] == "warning"
    assert run_due.run_due(lab.load(), lab.store(), lab.emit, RunCancel(), now=NIGHT) == 0, lab.messages()
    assert lab.config_path.read_text() == edited.read_text()
    levels = _levels(lab)
    assert (levels["stale:old"], levels.get("stale:new")) == ("ok", "warning"), levels
    assert lab.store().one("SELECT status FROM backups WHERE source='loc'")["status"] == "completed"


def test_a_config_unreadable_at_the_end_keeps_the_run_s_results_and_is_said(tmp_path):
    broken = tmp_path / "broken.toml"
    broken.write_text("[rabtui\n")
    lab = _lab(tmp_path, broken, Lab._local_source(Lab(tmp_path), [("old", "standard")], "", "old"))
    sent = notify_into_file(lab, tmp_path)
    status.check(lab.load(), lab.store(), NIGHT.replace(hour=1))
    code = run_due.run_due(lab.load(), lab.store(), lab.emit, RunCancel(), now=NIGHT)
    errors = lab.messages("error")
    assert code == 1 and len(errors) == 1, lab.messages()
    assert errors[0].startswith(f"rabtui: health check: the configuration {lab.config_path} cannot be read at the"
                                " end of this run: "), errors
    assert errors[0].endswith(": judged by the one read at its start; no run-due starts until it is mended"), errors
    assert lab.store().one("SELECT status FROM backups WHERE source='loc'")["status"] == "completed"
    levels = _levels(lab)
    assert (levels["config"], levels["stale:old"], levels.get("stale:loc", "ok")) == ("critical", "warning", "ok"), levels
    assert [e["data"]["check"] for e in sent() if e["level"] == "critical"] == ["config"], sent()


def test_a_config_that_names_another_state_directory_at_the_end_is_not_judged_on_this_one(tmp_path):
    """The sources of a config that now names another state directory are not judged by this one's
    backups: the config read at the start judges, said."""
    lab = Lab(tmp_path, media_count=1)
    start = lab.local()
    lab.config_path.write_text(lab.config_path.read_text().replace(str(lab.state), str(tmp_path / "elsewhere")))
    assert run_due._config_at_end(start, lab.emit) == (start, None)
    assert lab.messages() == [f"the configuration {lab.config_path} names another state directory since this run"
                              f" began ({tmp_path / 'elsewhere'}): its health check judges by the one read at its start"]


def test_the_end_s_notifications_go_to_the_notify_command_of_the_config_as_it_reads_at_the_end(tmp_path):
    """A notify command edited during the run: the health check at its end notifies the new one
    (it notified the one read at the run's start, which the operator had just replaced)."""
    edited, new_notified = tmp_path / "edited.toml", tmp_path / "new_notified"
    lab = _lab(tmp_path, edited, "")
    sent = notify_into_file(lab, tmp_path)
    (tmp_path / "new_alert.sh").write_text(f"cat >> {new_notified}; echo >> {new_notified}\n")
    edited.write_text(config_text(lab.state, lab.media, lab._local_source([("data", "standard")], 'schedule = "0 2 * * *"',
                                                                          "loc")
                                  + lab._local_source([("new", "standard")], "", "new"))
                      + f'\n[notify]\ncommand = "sh {tmp_path / "new_alert.sh"}"\n')
    edited.chmod(0o600)
    assert run_due.run_due(lab.load(), lab.store(), lab.emit, RunCancel(), now=NIGHT) == 0, lab.messages()
    new = [json.loads(line) for line in new_notified.read_text().splitlines() if line.strip()] \
        if new_notified.exists() else []
    assert "stale:new" in [e["data"]["check"] for e in new if e["kind"] == "health"], (new, sent())
    assert not [e for e in sent() if e["kind"] == "health"], sent()
