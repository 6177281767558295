"""rebuild-state with no medium read (a config listing none, or every medium away) has nothing to
rebuild the backups from: it refuses, exit 1, and leaves the database in place as it was (no empty
one put in its place, nothing kept aside). Real backups with rsync, in process."""

from __future__ import annotations

import os

import pytest

from rabtui.cli import main
from tests.trees import Lab, write_files

BACKUPS = "SELECT id, medium, name, status FROM backups ORDER BY id"


def _rows(lab) -> list[tuple]:
    store = lab.store()
    try:
        return [tuple(r) for r in store.all(BACKUPS)]
    finally:
        store.close()


@pytest.mark.parametrize("how", ["away", "unlisted"])
def test_a_rebuild_with_no_medium_read_refuses_and_keeps_the_database(tmp_path, capsys, how):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"one"})
    assert lab.backup(cfg).status == "completed"
    before = _rows(lab)
    assert len(before) == 1
    medium = lab.media[0][1]
    if how == "away":                        # its disk not mounted: an empty directory at its path
        medium.rename(tmp_path / "disk")
        medium.mkdir()
    else:
        lab.config_path.write_text(lab.config_path.read_text().split("\n[[media]]")[0] + "\n"
                                   + lab._local_source(None, "", "loc"))
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 1
    err = capsys.readouterr().err
    assert "no medium" in err and "nothing to rebuild" in err and "is as it was before" in err, err
    if how == "away":
        assert "medium m1: no labelled medium at" in err, err
    assert not [n for n in os.listdir(lab.state) if "before-rebuild" in n or "rebuilding" in n]
    assert _rows(lab) == before


def test_a_rebuild_with_neither_a_medium_nor_a_disc_makes_no_database(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    lab.state.mkdir()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 1
    err = capsys.readouterr().err
    assert "nothing to rebuild" in err and "no state database was made" in err, err
    assert not [n for n in os.listdir(lab.state) if n.startswith("rabtui.db")]
