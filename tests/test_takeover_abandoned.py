"""A disk taken over with `media label ID --force` (another server's medium, labelled with this
medium's id or another) brings no checkpoint abandonment of its old life: its `.rabtui-abandoned`
says this server's abandonments only, so a rebuild-state after the state is lost does not give up
this server's checkpoint of the same number. Real rsync, real xorriso (`images:`), in process."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from rabtui.actions.checkpoint import asked_dirs
from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.media import medium as media
from rabtui.media.checkpoint_numbers import ABANDONED
from tests.trees import Lab, write_files


def _server(tmp_path, name: str, medium_id: str = "m1") -> Lab:
    (tmp_path / name).mkdir()
    lab = Lab(tmp_path / name, media_count=1)
    (lab.tmp / "iso").mkdir()
    lab.with_discs("4MiB")
    lab.config_path.write_text(lab.config_path.read_text().replace('id = "m1"', f'id = "{medium_id}"'))
    write_files(lab.src / "data", {name: name.encode()})
    assert main(["--config", str(lab.config_path), "backup", "loc"]) == 0
    return lab


def _abandon_a_planned_one(lab) -> int:
    cfg, store = lab.load(), lab.store()
    try:
        number = prepare.record(cfg, store, prepare.compute(cfg, store, asked=asked_dirs(cfg, store, [])), drive=cfg.checkpoint.drive)
    finally:
        store.close()
    assert main(["--config", str(lab.config_path), "checkpoint", "abandon", str(number)]) == 0
    return number


def _lose_the_state(lab) -> None:
    lab.lose_database()


@pytest.mark.parametrize("their_id", ["m1", "x9"])
def test_a_disk_taken_over_brings_no_abandonment_of_its_old_life(tmp_path, capsys, their_id):
    theirs = _server(tmp_path, "theirs", their_id)
    assert _abandon_a_planned_one(theirs) == 1
    ours = _server(tmp_path, "ours")
    argv = ["--config", str(ours.config_path)]
    assert main([*argv, "checkpoint", "burn", "--now", "--yes"]) == 0
    assert _abandon_a_planned_one(ours) == 2
    disk = ours.media[0][1]
    assert json.loads((disk / ABANDONED).read_text()) == {"abandoned": [2]}
    os.rename(disk, tmp_path / "our-old-disk")
    os.rename(theirs.media[0][1], disk)          # their disk, at our medium's path
    assert json.loads((disk / ABANDONED).read_text()) == {"abandoned": [1]}
    capsys.readouterr()
    assert main([*argv, "media", "label", "m1", "--force"]) == 0, capsys.readouterr()
    assert json.loads((disk / ABANDONED).read_text()) == {"abandoned": [2]}

    _lose_the_state(ours)
    assert main([*argv, "rebuild-state"]) in (0, 3)
    said = capsys.readouterr().out
    assert "abandoned before the state was lost" not in said, said
    store = ours.store()
    try:
        assert store.one("SELECT status FROM checkpoints WHERE number=1")["status"] == "completed"
    finally:
        store.close()


def _their_disk_at_our_path(tmp_path) -> tuple[Lab, Path]:
    """Another server's disk (labelled x9, no backup) at the path of our medium m1."""
    (tmp_path / "theirs").mkdir()
    theirs = Lab(tmp_path / "theirs", media_count=1)
    theirs.local()
    theirs.config_path.write_text(theirs.config_path.read_text().replace('id = "m1"', 'id = "x9"'))
    assert main(["--config", str(theirs.config_path), "media", "label", "x9"]) == 0
    ours = Lab(tmp_path, media_count=1)
    ours.local()
    disk = ours.media[0][1]
    disk.rmdir()
    os.rename(theirs.media[0][1], disk)
    return ours, disk


def test_a_symlink_or_a_directory_planted_as_the_record_on_a_disk_taken_over(tmp_path, capsys):
    """The symlink is replaced, never followed (what it points to stays as it was); a directory in
    the record's place stops the takeover, said, the disk's label as it was."""
    ours, disk = _their_disk_at_our_path(tmp_path)
    outside = tmp_path / "outside.json"
    outside.write_text('{"abandoned": [1]}\n')
    os.symlink(outside, disk / ABANDONED)
    argv = ["--config", str(ours.config_path), "media", "label", "m1", "--force"]
    assert main(argv) == 0
    assert not os.path.lexists(disk / ABANDONED) and outside.read_text() == '{"abandoned": [1]}\n'
    assert media.read_label(disk)["id"] == "m1"

    (tmp_path / "again").mkdir()
    ours, disk = _their_disk_at_our_path(tmp_path / "again")
    (disk / ABANDONED).mkdir()
    capsys.readouterr()
    assert main(["--config", str(ours.config_path), "media", "label", "m1", "--force"]) == 1
    err = capsys.readouterr().err
    assert "cannot replace the records of checkpoints of the disk's old life" in err and "not taken over" in err, err
    assert media.read_label(disk)["id"] == "x9"
