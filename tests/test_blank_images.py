"""A disc image emptied (0 bytes) or replaced by a directory after it was verified: xorriso reads
either as a blank medium, whose volume id it gives as its default name for a new image
(ISOIMAGE). `checkpoint verify` and a restore from the discs say the disc is blank, not that
another disc, "ISOIMAGE", is in its place."""

from __future__ import annotations

import os
import socket
import threading
from datetime import datetime

import pytest

from rabtui.checkpoint import questions, run
from rabtui.errors import WorkFailed
from rabtui.events import ABORT, READY, ScriptedPrompter
from rabtui.restore import disc_drive
from rabtui.rebuild import scan as rebuild
from rabtui.state.store import Store
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 6, 1, 3, 0)


def _emptied(tmp_path, how: str):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"big": 3_000_000, "sub/a": b"a"})
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    image = tmp_path / "iso" / f"RAB{number}D01.iso"
    if how == "empty":
        os.truncate(image, 0)
    else:
        image.unlink()
        _made[how](image)
    return lab, cfg, store, number, image


def _socket(path) -> None:
    with socket.socket(socket.AF_UNIX) as s:
        s.bind(str(path))


_made = {"directory": os.mkdir, "FIFO": os.mkfifo, "socket": _socket}


@pytest.mark.parametrize("how", ["empty"])
def test_verify_says_an_emptied_image_holds_no_disc(tmp_path, how):
    lab, cfg, store, number, image = _emptied(tmp_path, how)
    prompter = ScriptedPrompter(lambda q: ABORT if q.kind == questions.FAILED else READY)
    res = run.verify_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                prompter=prompter)
    assert res.status == "aborted"
    failed = [q.text for q in prompter.asked if q.kind == questions.FAILED]
    assert failed and "ISOIMAGE" not in failed[0], failed
    assert "blank" in failed[0] and str(image) in failed[0], failed[0]
    assert store.one("SELECT state FROM discs WHERE number=?", (number,))["state"] == "failed"


@pytest.mark.parametrize("how", ["directory", "FIFO", "socket"])
def test_verify_says_what_is_at_an_image_s_name_that_is_no_file(tmp_path, how):
    """xorriso reads a directory, a FIFO or a socket at an image's name as a blank medium: the
    disc was said blank, as an emptied image is, not what is there."""
    lab, cfg, store, number, image = _emptied(tmp_path, how)
    prompter = ScriptedPrompter(lambda q: ABORT if q.kind == questions.FAILED else READY)
    run.verify_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    failed = [q.text for q in prompter.asked if q.kind == questions.FAILED]
    assert failed and f"{image} is a {how}, not a disc image" in failed[0] and "blank" not in failed[0], failed


@pytest.mark.parametrize("how", ["empty", "directory"])
def test_a_restore_finds_no_disc_in_an_emptied_image(tmp_path, how):
    lab, cfg, store, number, image = _emptied(tmp_path, how)
    dev, found = disc_drive.disc_in_drive(cfg, store, number, 1, f"RAB{number}D01")
    assert (dev, found) == (str(image), None)


def test_a_restore_asking_for_the_disc_says_a_fifo_is_at_its_image_s_name(tmp_path):
    lab, cfg, store, number, image = _emptied(tmp_path, "FIFO")
    prompter = ScriptedPrompter(lambda q: ABORT)
    with pytest.raises(WorkFailed):
        disc_drive.disc_device(cfg, store, number, 1, f"RAB{number}D01", prompter, None)
    assert f"{image} is a FIFO, not a disc image" in prompter.asked[0].text, prompter.asked[0].text


def test_rebuild_state_says_what_is_at_an_image_s_name_that_holds_no_disc(tmp_path):
    """An images folder holding a FIFO, a directory and an empty file at discs' names: rebuild-state
    said each had "volume id None"."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    iso = tmp_path / "iso"
    iso.mkdir(exist_ok=True)
    os.mkfifo(iso / "RAB7D01.iso")
    os.mkdir(iso / "RAB8D01.iso")
    (iso / "RAB9D01.iso").touch()
    write_files(lab.src / "data", {"a": b"a"})
    assert lab.backup(cfg, now=T0).status == "completed"     # a medium to rebuild from
    report = rebuild.rebuild(cfg, Store(lab.state / "anew"))
    said = "\n".join(report.unmatched)
    assert f"{iso}/RAB7D01.iso: a FIFO, not a disc image" in said, said
    assert f"{iso}/RAB8D01.iso: a directory, not a disc image" in said, said
    assert f"{iso}/RAB9D01.iso: blank: nothing is written on it" in said, said
    assert "None" not in said, said


def test_a_rewrite_over_a_fifo_at_an_image_s_name_says_what_it_removed(tmp_path):
    """The disc failed as a FIFO stands at its image's name and the operator asks for it again:
    the FIFO made way for the image without a word."""
    from rabtui.events import REWRITE, WARNING
    lab, cfg, store, number, image = _emptied(tmp_path, "FIFO")
    prompter = ScriptedPrompter(lambda q: REWRITE if q.kind == questions.FAILED else READY)
    events = []
    res = run.verify_checkpoint(cfg, store, number, emit=events.append, cancel=threading.Event(), prompter=prompter)
    warned = [e.message for e in events if e.kind == WARNING]
    assert any(f"{image}: a FIFO, not a disc image, removed" in w for w in warned), warned
    assert image.is_file() and res.status == "completed", res.status
