"""A checkpoint's plan waits for its yes (the operator away, the TUI open) while the nightly backup
saves a newer version of an archive file into the union the plan read: the checkpoint records and
writes the version the plan showed, with that version's checksum, never the size and time of one
with the sha256 of the other (its disc would fail verification for ever, or its catalog lie)."""

from __future__ import annotations

import hashlib
import os
from datetime import datetime, timedelta

from rabtui.checkpoint import prepare
from tests.trees import Lab, burn_due, write_files

T0 = datetime(2026, 4, 1, 3, 0)


def _replaced_while_the_plan_waits(tmp_path, replace):
    """A plan of a union holding x (version one); x then replaced at the source by `replace(x)` and
    saved into the union by a backup; the checkpoint recorded. Returns the row of x."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700", [("arch", "archive")])
    x = lab.src / "arch" / "x"
    write_files(lab.src / "arch", {"x": b"version one", "y": b"y"})
    os.utime(x, (1_700_000_000, 1_700_000_000))
    assert lab.backup(cfg, now=T0).status == "completed"
    store = lab.store()
    plan = prepare.compute(cfg, store, asked={"*"})

    x.unlink()
    replace(x)
    assert lab.backup(cfg, now=T0 + timedelta(days=1)).status == "completed"

    number = burn_due(cfg, store, plan=plan, verified=True)
    return next(r for r in store.all("SELECT * FROM disc_files WHERE number=?", (number,))
                if bytes(r["path"]).endswith(b"/arch/x"))


def test_a_newer_version_saved_while_the_plan_waits_is_not_what_it_records(tmp_path):
    def newer(x):
        x.write_bytes(b"version two, longer")
        os.utime(x, (1_700_100_000, 1_700_100_000))

    row = _replaced_while_the_plan_waits(tmp_path, newer)
    assert (row["size"], row["mtime"]) == (11, 1_700_000_000)
    assert row["sha256"] == hashlib.sha256(b"version one").hexdigest()


def test_a_file_the_union_lost_while_the_plan_waited_stops_the_record_with_a_message(tmp_path):
    """The plan found a file in the union that a killed backup had linked there; the next backup
    undid that run while the plan waited (the file gone from the source meanwhile; the killed run's
    transfer not said to have ended, or its data would be kept and read): nothing is recorded, and
    the operator is told to plan again (it was a bare FileNotFoundError)."""
    import pytest

    from rabtui.errors import WorkFailed
    from tests.test_kill_anywhere import _killed, rabtui, transfer_not_said

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700", [("arch", "archive")])
    write_files(lab.src / "arch", {"x": b"x"})
    assert lab.backup(cfg, now=T0).status == "completed"
    write_files(lab.src / "arch", {"n": b"new"})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    store = lab.store()
    transfer_not_said(store.one("SELECT path FROM backups WHERE status='running'")["path"])
    plan = prepare.compute(cfg, store, asked={"*"})
    (lab.src / "arch" / "n").unlink()
    assert lab.backup(cfg).status == "completed"     # undoes the killed run: n leaves the union

    with pytest.raises(WorkFailed) as caught:
        prepare.record(cfg, store, plan, drive=cfg.checkpoint.drive)
    assert "arch/n: the version the plan found (3 bytes" in caught.value.message
    assert "plan the checkpoint again" in caught.value.hint
    assert not store.all("SELECT * FROM checkpoints")


def test_a_symlink_saved_in_its_place_is_never_read_through(tmp_path):
    """The union's x became a symlink to a file of the server of the same size and mtime: the
    version the plan found is read in the backup that saved it, never the file the symlink names."""
    elsewhere = tmp_path / "elsewhere"
    elsewhere.write_bytes(b"NOT VERSION")
    os.utime(elsewhere, (1_700_000_000, 1_700_000_000))
    row = _replaced_while_the_plan_waits(tmp_path, lambda x: x.symlink_to(elsewhere))
    assert (row["size"], row["mtime"]) == (11, 1_700_000_000)
    assert row["sha256"] == hashlib.sha256(b"version one").hexdigest()


def test_a_fifo_saved_in_its_place_is_not_opened(tmp_path):
    """The union's x became a FIFO: opening it to read would wait for a writer for ever."""
    row = _replaced_while_the_plan_waits(tmp_path, os.mkfifo)
    assert row["sha256"] == hashlib.sha256(b"version one").hexdigest()
