"""Two checkpoint runs at once, with real xorriso onto `images:` drives: one run waits for its
operator while a second `rabtui checkpoint` process is started."""

from __future__ import annotations

import subprocess
import sys
import threading

import pytest

from rabtui.actions import checkpoint as checkpoint_actions
from rabtui.checkpoint import questions, run
from rabtui.checkpoint import status as checkpoint_status
from rabtui.events import READY, YES, Question
from tests.test_checkpoint_faults import _states, _two_discs
from tests import preloaded


class _Waiting:
    """Answers `kind` only once let go; the rest at once."""

    def __init__(self, kind: str, answer: str):
        self.kind, self.answer = kind, answer
        self.asked = threading.Event()
        self.go = threading.Event()

    def ask(self, question: Question, cancel=None) -> str:
        if question.kind == self.kind and not self.go.is_set():
            self.asked.set()
            assert self.go.wait(120)
            return self.answer
        return YES if question.kind == checkpoint_actions.PLAN_QUESTION else READY


def _in_thread(work) -> tuple[threading.Thread, list]:
    out: list = []
    t = threading.Thread(target=lambda: out.append(work()))
    t.start()
    return t, out


def _rabtui(lab, *args) -> subprocess.CompletedProcess:
    return preloaded.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), *args],
                         capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("drive", ["same", "another"])
def test_a_second_burn_while_the_first_is_asked_to_accept_its_plan_records_nothing(tmp_path, drive):
    """Both would find no unfinished checkpoint; the second recorded one it could not write, and
    that one then stood in the way of every later burn. On another drive (each burn took only its
    own drive's lock before that look), each recorded one: two unfinished without `--new`."""
    lab, cfg, store, number = _two_discs(tmp_path)
    more = [] if drive == "same" else ["--drive", f"images:{tmp_path / 'iso2'}"]
    assert checkpoint_status.abandon(cfg, store, number)
    operator = _Waiting(checkpoint_actions.PLAN_QUESTION, YES)
    t, out = _in_thread(lambda: checkpoint_actions.burn(cfg, store, lambda e: None, threading.Event(), operator,
                                                        now=[]))
    try:
        assert operator.asked.wait(120)
        second = _rabtui(lab, "checkpoint", "burn", "--yes", "--now", *more)
    finally:
        operator.go.set()
        t.join()
    assert second.returncode == 1, second.stdout + second.stderr
    assert (f"a checkpoint on {cfg.checkpoint.drive} is already running" if drive == "same"
            else "the planning of a new checkpoint is already running") in second.stderr, second.stderr
    assert not (tmp_path / "iso2").exists()
    [outcome] = out
    assert outcome.status == "completed", outcome.message
    rows = store.all("SELECT number, status FROM checkpoints WHERE number > ?", (number,))
    assert [(r["number"], r["status"]) for r in rows] == [(number + 1, "completed")]


def test_a_checkpoint_resumed_on_a_second_drive_while_it_is_written_is_refused(tmp_path):
    lab, cfg, store, number = _two_discs(tmp_path)
    operator = _Waiting(questions.INSERT, READY)
    t, out = _in_thread(lambda: run.burn_checkpoint(cfg, store, number, emit=lambda e: None,
                                                    cancel=threading.Event(), prompter=operator))
    try:
        assert operator.asked.wait(120)
        second = _rabtui(lab, "checkpoint", "resume", str(number), "--drive", f"images:{tmp_path / 'iso2'}",
                         "--yes")
        verify = _rabtui(lab, "checkpoint", "verify", str(number), "--drive", f"images:{tmp_path / 'iso2'}",
                         "--yes")
        abandon = _rabtui(lab, "checkpoint", "abandon", str(number))
    finally:
        operator.go.set()
        t.join()
    for done in (second, verify):
        assert done.returncode == 1, done.stdout + done.stderr
        assert f"work on checkpoint {number} is already running" in done.stderr
    assert abandon.returncode == 1 and "is already running" in abandon.stderr
    assert not (tmp_path / "iso2").exists()
    [res] = out
    assert res.status == "completed", res.message
    assert set(_states(store, number).values()) == {"verified"}

