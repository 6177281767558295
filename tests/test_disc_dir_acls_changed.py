"""A directory whose ACLs or xattrs changed in the backup on the medium after its checkpoint was
planned: a disc is written from the backup as it is, and checked against the record of the plan, so
it cannot pass. Changed before the disc is written, nothing is written; after, its verification
fails. Either way the failure says so (which directory, what changed) and offers no rewrite, which
would fail the same way; it says what helps instead. Real backup, real xorriso onto an `images:`
drive, `setfacl -d` on the medium."""

from __future__ import annotations

import glob
import subprocess
import threading

import pytest

from rabtui.checkpoint import prepare, run, verify_loop
from rabtui.events import ABORT, READY, REWRITE, SKIP, ScriptedPrompter
from tests.test_disc_dir_acls import pytestmark  # noqa: F401  (no setfacl: skipped)
from tests.trees import Lab, write_files


def _planned(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"acl/f": b"in a directory with ACLs", "h": b"h"})
    try:
        subprocess.run(["setfacl", "-d", "-m", "u:1234:rwx", str(data / "acl")], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"{tmp_path} takes no ACLs here: {exc}")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store), drive=cfg.checkpoint.drive)
    backed_up, = glob.glob(str(tmp_path / "medium1" / "loc" / "backup-*" / "data" / str(data).lstrip("/") / "acl"))
    return lab, cfg, store, number, backed_up


def _default_acl_changed(path: str) -> None:
    subprocess.run(["setfacl", "-d", "-m", "u:4321:r-x", path], check=True, capture_output=True)


def _failed_question(prompter):
    failed = [q for q in prompter.asked if q.kind == "disc_failed"]
    assert failed, [q.text for q in prompter.asked]
    return failed[0]


def _said_honestly(q, number: int) -> None:
    assert "/acl (default ACL changed (+default:user:4321:r-x) in the backup on the medium after the checkpoint was" \
           " planned)" in q.text, q.text
    assert REWRITE not in q.choices, q.choices
    assert f"rabtui checkpoint abandon {number}" in q.text, q.text


def test_a_default_acl_changed_before_the_disc_is_written_is_named_and_no_rewrite_offered(tmp_path):
    lab, cfg, store, number, backed_up = _planned(tmp_path)
    _default_acl_changed(backed_up)
    prompter = ScriptedPrompter(lambda q: SKIP if q.kind == "disc_failed" else READY)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    assert res.skipped == [1], res.message
    q = _failed_question(prompter)
    _said_honestly(q, number)
    assert "nothing was written" in q.text, q.text
    assert not (tmp_path / "iso" / f"RAB{number}D01.iso").exists()


def test_a_default_acl_changed_after_the_disc_is_written_is_named_and_no_rewrite_offered(tmp_path, monkeypatch):
    lab, cfg, store, number, backed_up = _planned(tmp_path)
    verify_disc, changed = verify_loop.verify_disc, []

    def changed_then_verified(*args, **kw):     # between the write and its verification
        if not changed:
            _default_acl_changed(backed_up)
            changed.append(backed_up)
        return verify_disc(*args, **kw)

    monkeypatch.setattr(verify_loop, "verify_disc", changed_then_verified)
    prompter = ScriptedPrompter(lambda q: ABORT if q.kind == "disc_failed" else READY)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    assert res.status == "aborted", res.message
    q = _failed_question(prompter)
    _said_honestly(q, number)
    assert "verification failed" in q.text, q.text
