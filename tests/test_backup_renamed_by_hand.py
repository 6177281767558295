"""A backup's directory on a medium renamed by hand (`old-copy`): the database still records the
backup at its name. A restore from it says that its directory is not on the medium any more, naming
it, instead of calling the path missing from the backup; rebuild-state, which reads backups by their
names, names the directory that holds a backup's record under another name and the name to give it
back (it passed it over in silence: its files in no catalog, `find` and restore blind to them).
Real backups (rsync)."""

from __future__ import annotations

import os

import pytest

from rabtui.cli import main
from rabtui.errors import WorkFailed
from rabtui.restore import run as R
from tests.trees import Lab, next_second, write_files


def test_a_backup_renamed_by_hand_is_named_by_restore_and_rebuild_state(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"a.txt": b"first"})
    assert lab.backup(cfg).status == "completed"
    next_second()
    write_files(data, {"b.txt": b"second"})
    newest = lab.backup(cfg)
    assert newest.status == "completed"
    name = newest.path.name
    os.rename(newest.path, lab.media[0][1] / "loc" / "old-copy")

    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out")
    assert f"the directory of backup {name} on m1, {newest.path}, is not on the medium any more" in str(got.value)
    assert "--backup" in got.value.hint

    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 3
    out = capsys.readouterr().out
    assert (f"not matched: medium m1: loc/old-copy: a backup's record (backup.json) in a directory whose name is"
            f" no backup's: not read, its files not in the catalog; rename it back to {name}") in out, out


def test_a_backup_directory_gone_with_its_name_taken_is_given_no_name_already_there(tmp_path, capsys):
    """The record names a backup whose name another directory has now: no name is offered that
    would take it."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a.txt": b"first"})
    made = lab.backup(cfg)
    assert made.status == "completed"
    os.mkdir(lab.media[0][1] / "loc" / "copy")
    (lab.media[0][1] / "loc" / "copy" / "backup.json").write_bytes((made.path / "backup.json").read_bytes())
    assert main(["--config", str(lab.config_path), "rebuild-state"]) == 3
    out = capsys.readouterr().out
    assert "loc/copy: a backup's record (backup.json) in a directory whose name is no backup's" in out, out
    assert "give it a backup's name (backup-YYYYmmddHHMMSS)" in out, out


def test_a_checkpoint_of_a_backup_renamed_by_hand_says_so(tmp_path):
    """It said the directory's copy was not there, asking whether the medium was mounted (it is)."""
    from rabtui.checkpoint import prepare

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"a.txt": b"first"})
    made = lab.backup(cfg)
    assert made.status == "completed"
    os.rename(made.path, lab.media[0][1] / "loc" / "old-copy")
    with pytest.raises(WorkFailed) as got:
        prepare.compute(cfg, lab.store(), asked={"*"})
    assert (f"the directory of backup {made.path.name} on medium m1, {made.path}, is not there any more (renamed,"
            " moved or deleted by hand?)") in str(got.value)
    assert "rebuild-state" in got.value.hint
