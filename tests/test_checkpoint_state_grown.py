"""A checkpoint whose discs wait while backups go on: the state database, a copy of which goes on
every disc, grows with each backup's catalog. A disc whose copy no longer fits the room kept at the
plan gets the copy without the backups' catalog (what rebuild-state reads on a disc stays whole,
and README.txt says what is left out), and the checkpoint is written as recorded; the burn refused
the disc ("grew beyond the room kept"), so that no checkpoint waiting for a busy server's next
backup could be finished. Real backups, real xorriso onto an `images:` drive."""

from __future__ import annotations

import sqlite3
import subprocess

from rabtui.cli import main
from rabtui.events import ABORT, READY
from tests.trees import Lab, write_files
from tests.test_checkpoint import _burn, _record


def _from_disc(iso, name: str, target) -> None:
    subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}", "-extract", name, str(target)],
                   check=True, capture_output=True)


def test_a_disc_written_after_the_state_grew_beyond_its_room_carries_the_state_without_the_catalog(tmp_path,
                                                                                                    capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard"), ("other", "archive")])
    write_files(lab.src / "data", {"big": 6_000_000, "small": b"small"})
    write_files(lab.src / "other", {"o": b"o"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = _record(lab, cfg, store)
    assert store.one("SELECT discs FROM checkpoints WHERE number=?", (number,))["discs"] == 2
    res, _, _ = _burn(lab, cfg, store, number, [READY, ABORT])
    assert res.verified == [1]
    # the next night's backup: 6,000 new files the checkpoint does not hold, each a row of the catalog
    write_files(lab.src / "other", {f"d{i // 300:02d}/a-new-file-of-the-night-{i:05d}": b"n" for i in range(6000)})
    assert lab.backup(cfg).status == "completed"

    assert main(["--config", str(lab.config_path), "checkpoint", "resume", "--yes"]) == 0, capsys.readouterr()
    assert {r["state"] for r in store.all("SELECT state FROM discs WHERE number=?", (number,))} == {"verified"}
    iso = tmp_path / "iso" / f"RAB{number}D02.iso"
    _from_disc(iso, "/rabtui/rabtui.db", tmp_path / "copy.db")
    _from_disc(iso, "/README.txt", tmp_path / "README.txt")
    copy = sqlite3.connect(tmp_path / "copy.db")
    assert copy.execute("SELECT COUNT(*) FROM disc_files WHERE number=?", (number,)).fetchone()[0] >= 3
    assert copy.execute("SELECT COUNT(*) FROM paths").fetchone()[0] == 0
    copy.close()
    assert "leaves out the catalog of the backups" in (tmp_path / "README.txt").read_text()

    # the discs alone: rebuild-state reads that copy as any other
    store.close()
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) in (0, 3)
    capsys.readouterr()
    store = lab.store()
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "completed"
    assert {r["state"] for r in store.all("SELECT state FROM discs WHERE number=?", (number,))} == {"verified"}
