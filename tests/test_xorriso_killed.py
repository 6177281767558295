"""An xorriso killed by a signal (the OOM killer, an operator's kill) while it writes or checks a
disc, or reads one for a restore: the question or the error says so, by the signal's name, instead
of xorriso's exit -9 and its banner, or "a problem with the disc" (the disc was not judged: no
rewrite is offered), and a retry goes on."""

from __future__ import annotations

import signal
import threading

import pytest

from rabtui.checkpoint import run
from rabtui.errors import WorkFailed
from rabtui.events import READY, ScriptedPrompter
from rabtui.restore import run as restore_run
from tests.test_checkpoint_stalls import burn_with, small_stall_lab, stopping
from tests.trees import snapshot


def _said(asked) -> str:
    assert asked, "nothing failed"
    text, _, left = asked[0]
    assert not left
    return text


def test_a_killed_writer_is_said_killed_and_a_retry_writes_the_disc(tmp_path):
    res, asked, _, store, number = burn_with(tmp_path, b"-outdev", signal.SIGKILL)
    text = _said(asked)
    assert f"Writing disc 1 (RAB{number}D01) failed: xorriso was killed by signal SIGKILL" in text, text
    assert "libburnia" not in text and "exit -9" not in text, text
    assert res.status == "completed", res.message


def test_a_killed_checker_is_said_killed_not_a_bad_disc_and_a_retry_verifies(tmp_path):
    res, asked, _, store, number = burn_with(tmp_path, b"-check_media", signal.SIGKILL)
    text = _said(asked)
    assert "could not be verified: xorriso was killed by signal SIGKILL while checking the disc" in text, text
    assert "problem with the disc" not in text and "Rewrite" not in text, text
    assert res.status == "completed", res.message


def test_a_killed_reader_fails_a_restore_from_the_discs_saying_so(tmp_path):
    lab, cfg, store, number = small_stall_lab(tmp_path)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    data = str(lab.src / "data")
    with stopping(b"-extract", tmp_path, sig=signal.SIGKILL):
        with pytest.raises(WorkFailed) as failed:
            restore_run.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out")
    said = str(failed.value)
    assert f"from RAB{number}D01: xorriso was killed by signal SIGKILL;" in said and "nodes read" not in said, said
    restore_run.restore(cfg, store, "loc", data, checkpoint=number, to=tmp_path / "out")
    assert snapshot(tmp_path / "out" / data.lstrip("/")) == snapshot(data)
