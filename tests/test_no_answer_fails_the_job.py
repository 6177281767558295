"""Work stopped by a question with no terminal to ask on (cron, a pipe) failed: nobody cancelled it.
Its job is recorded `failed` with the question, and the command exits 1 (real backups on a directory
medium, a checkpoint written by an images: drive)."""

from __future__ import annotations

import json

from rabtui.cli import main
from tests.test_checkpoint_confirm import _prepared
from tests.test_kill_anywhere import rabtui
from tests.test_rotation_restore import _away
from tests.trees import Lab, write_files

NO_TERMINAL = "needs an answer, but there is no terminal to ask on"


def _last_job(lab, capsys) -> dict:
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "jobs", "list", "--json"]) == 0
    return json.loads(capsys.readouterr().out)["jobs"][0]


def test_a_restore_whose_medium_nobody_can_be_asked_for_fails(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", {"a.txt": b"a"})
    assert lab.backup(cfg).status == "completed"
    _away(lab.media[0][1])
    code = main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data" / "a.txt"),
                 "--to", str(tmp_path / "out")])
    assert code == 1
    assert NO_TERMINAL in capsys.readouterr().err
    job = _last_job(lab, capsys)
    assert (job["kind"], job["status"], job["exit_code"]) == ("restore", "failed", 1)
    assert NO_TERMINAL in job["summary"]


def test_a_burn_and_a_verify_nobody_can_answer_fail(tmp_path, capsys):
    lab = _prepared(tmp_path)
    conf = ["--config", str(lab.config_path)]
    assert main([*conf, "checkpoint", "burn"]) == 1          # the plan is asked about
    job = _last_job(lab, capsys)
    assert (job["kind"], job["status"], job["exit_code"]) == ("checkpoint", "failed", 1)
    assert NO_TERMINAL in job["summary"] and "Write these" in job["summary"]

    assert main([*conf, "checkpoint", "burn", "--yes"]) == 0
    assert main([*conf, "checkpoint", "verify", "1"]) == 1   # the disc to put in is asked for
    job = _last_job(lab, capsys)
    assert (job["kind"], job["status"], job["exit_code"]) == ("checkpoint", "failed", 1)
    assert NO_TERMINAL in job["summary"]


def test_a_burn_stopped_by_a_question_nobody_can_answer_reads_failed_in_checkpoint_status_too(tmp_path, capsys):
    """The medium a disc reads from is away, and nobody can be asked for it: the job failed, and
    `checkpoint status` said the checkpoint aborted (as if the operator had stopped it); resume goes on."""
    lab = _prepared(tmp_path)
    conf = ["--config", str(lab.config_path)]
    killed = rabtui(lab, "checkpoint", "burn", "--yes", point="burn.before_write")
    assert killed.returncode == -9, killed.stdout + killed.stderr
    away = _away(lab.media[0][1])
    assert main([*conf, "checkpoint", "resume", "--yes"]) == 1
    job = _last_job(lab, capsys)
    assert (job["kind"], job["status"]) == ("checkpoint", "failed") and NO_TERMINAL in job["summary"], job
    assert main([*conf, "checkpoint", "status", "--json"]) == 0
    cps = json.loads(capsys.readouterr().out)["checkpoints"]
    assert [c["status"] for c in cps] == ["failed"], cps

    away.rename(lab.media[0][1])
    assert main([*conf, "checkpoint", "resume", "--yes"]) == 0
    capsys.readouterr()
    assert main([*conf, "checkpoint", "status", "--json"]) == 0
    assert [c["status"] for c in json.loads(capsys.readouterr().out)["checkpoints"]] == ["completed"]
