"""A disc `checkpoint burn` or `checkpoint resume` verifies "but not checked" (unchecked.py: the
backup its ACLs and xattrs are compared with not at hand) completes the checkpoint with warnings:
exit 3, and the run's last word says what was not checked, as `checkpoint verify` does. Real
backups, real xorriso, an `images:` drive."""

from __future__ import annotations

import os
import threading

from rabtui import faults
from rabtui.cli import main
from tests.fidelity import unsummed_said
from tests.trees import Lab, write_files

NOT_AT_HAND = "the backup they are compared with is not at hand"


def _medium_away_while_verified(monkeypatch, lab: Lab, discs: set[int]) -> None:
    """The backup's medium unmounted once each disc of `discs` is written, mounted again once it is
    verified (the next disc is written from it)."""
    medium = lab.media[0][1]
    away = medium.with_name(medium.name + "-away")
    real, written = faults.point, []

    def point(name):
        if name == "burn.written":
            written.append(1)
            if len(written) in discs:
                os.rename(medium, away)
        elif name == "burn.verified" and away.exists():
            os.rename(away, medium)
        real(name)

    monkeypatch.setattr(faults, "point", point)


def test_a_burn_whose_disc_is_verified_but_not_checked_ends_with_warnings(tmp_path, monkeypatch, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": 3000, "b/c": b"x"})
    assert lab.backup(lab.load()).status == "completed"
    _medium_away_while_verified(monkeypatch, lab, {1})
    capsys.readouterr()
    code = main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--now"])
    said = "".join(capsys.readouterr())
    assert code == 3, said
    assert "checkpoint 1: disc 1 written and passed what could be checked, which is not all; not checked:" in said
    assert NOT_AT_HAND in said.rsplit("written and passed", 1)[1], said
    assert lab.store().one("SELECT status FROM checkpoints WHERE number=1")["status"] == "completed"


def test_a_resume_completing_a_checkpoint_names_what_an_earlier_run_could_not_check(tmp_path, monkeypatch, capsys):
    """Disc 1 is verified but not checked by a run that then stops (disc 2 skipped); the resume
    writes and verifies disc 2 whole, and ends with warnings for disc 1, as its record says them."""
    from rabtui.checkpoint import prepare, questions, run
    from rabtui.events import READY, SKIP, ScriptedPrompter

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {f"big{k}": os.urandom(1_500_000) for k in range(3)})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    _medium_away_while_verified(monkeypatch, lab, {1})
    inserted = []

    def operator(q):
        if q.kind == questions.INSERT:
            inserted.append(q)
        return SKIP if len(inserted) == 2 else READY

    first = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter(operator))
    assert (first.status, first.verified, first.skipped) == ("incomplete", [1], [2]), first.message
    assert NOT_AT_HAND in first.unchecked[1][0], first.unchecked
    capsys.readouterr()
    code = main(["--config", str(lab.config_path), "checkpoint", "resume", str(number), "--yes"])
    said = "".join(capsys.readouterr())
    assert code == 3, said
    last = said.rsplit(f"checkpoint {number}: discs 1, 2 written and passed what could be checked", 1)
    assert len(last) == 2 and f"not checked: on disc 1: {unsummed_said()}the mode" in last[1], said
    assert NOT_AT_HAND in last[1] and "on disc 2" not in last[1], said
