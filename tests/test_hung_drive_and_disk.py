"""A drive that answers nothing is said as such, never taken for the operator cancelling: a drive
hanging as a restore or rebuild-state reads a disc's volume id (after checkpoint.io_timeout) asks
for the disc again, or fails naming the drive. The hangs are real processes stopping themselves
(SIGSTOP) as they start."""

from __future__ import annotations

import threading

import pytest

from rabtui.actions import rebuild
from rabtui.errors import WorkFailed
from rabtui.events import READY, SKIP, ScriptedPrompter, no_emit
from rabtui.restore import run as restore_run
from tests.test_checkpoint_stalls import STALL, _hangs_once
from tests.trees import Lab, burn_due, snapshot, write_files


def _disc_lab(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", more=f"io_timeout = {STALL}\n")
    write_files(lab.src / "data", {"a": b"on the disc", "sub/b": 100_000})
    assert lab.backup(cfg).status == "completed"
    return lab, cfg, lab.store(), burn_due(cfg, lab.store())


def test_a_drive_hanging_as_a_restore_reads_the_volume_id_asks_for_the_disc_again(tmp_path, monkeypatch):
    lab, cfg, store, number = _disc_lab(tmp_path)
    data = str(lab.src / "data")
    prompter = ScriptedPrompter(lambda q: READY)
    cancel = threading.Event()
    with _hangs_once(tmp_path, monkeypatch, cancel, "-pvd_info"):
        restore_run.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out", cancel=cancel,
                            prompter=prompter)
    assert not cancel.is_set()
    [asked] = [q.text for q in prompter.asked]
    assert f"RAB{number}D01.iso did not answer as the volume id" in asked and f"for {STALL} s" in asked, asked
    assert snapshot(tmp_path / "out" / data.lstrip("/")) == snapshot(data)


def test_a_drive_hanging_as_a_restore_reads_the_volume_id_without_an_operator_fails_naming_it(tmp_path, monkeypatch):
    lab, cfg, store, number = _disc_lab(tmp_path)
    cancel = threading.Event()
    with _hangs_once(tmp_path, monkeypatch, cancel, "-pvd_info"):
        with pytest.raises(WorkFailed) as failed:
            restore_run.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=tmp_path / "out",
                                cancel=cancel)
    assert not cancel.is_set()
    assert f"the drive {tmp_path}/iso/RAB{number}D01.iso did not answer" in str(failed.value), str(failed.value)
    assert f"checkpoint {number} disc 1 (RAB{number}D01) was not read" in str(failed.value)


def test_a_drive_hanging_as_rebuild_state_reads_a_disc_asks_for_one_again(tmp_path, monkeypatch):
    """A real drive (xorriso's stdio: pseudo drive on the disc's image): the disc it hung on is said
    not matched, and the next one asked for; given again, it is read."""
    lab, cfg, store, number = _disc_lab(tmp_path)
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    text = lab.config_path.read_text()
    lab.config_path.write_text(text.replace(f'drive = "images:{tmp_path / "iso"}"', f'drive = "stdio:{iso}"'))
    cfg = lab.load()
    answers = iter([READY, READY, SKIP])
    prompter = ScriptedPrompter(lambda q: next(answers))
    cancel = threading.Event()
    with _hangs_once(tmp_path, monkeypatch, cancel, "-pvd_info"):
        result = rebuild.rebuild_state(cfg, no_emit, cancel, prompter)
    assert not cancel.is_set() and len(prompter.asked) == 3
    [hung] = result.report.unmatched
    assert f"disc in stdio:{iso}: the drive stdio:{iso} did not answer" in hung and f"for {STALL} s" in hung, hung
    assert result.report.checkpoints == [number]
