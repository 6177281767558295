"""An xorriso killed by a signal (the OOM killer, an operator's kill) while it writes or checks a
disc: the question says so, by the signal's name, instead of xorriso's exit -9 and its banner, or
"a problem with the disc" (the disc was not judged), and a retry goes on."""

from __future__ import annotations

import signal

from tests.test_checkpoint_stalls import burn_with


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
    assert "xorriso was killed by signal SIGKILL" in text and "problem with the disc" not in text, text
    assert res.status == "completed", res.message
