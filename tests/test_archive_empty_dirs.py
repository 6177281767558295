"""An empty directory of an archive directory that a complete backup saved: the medium's union
holds none (only the directories on the way to what is linked there), so a restore of the backup
and a checkpoint take it from the backup's own tree, with its mode and xattrs, by itself too; a
restore from the discs, the medium gone, gives it as one from the medium does. Real rsync backups
of a local source, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os
import shutil
from datetime import datetime

from rabtui.cli import main
from tests import fidelity
from tests.trees import Lab, burn_due, write_files


def test_an_empty_directory_a_complete_backup_saved_is_restored_from_the_medium_and_the_discs(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    cfg = lab.with_discs("cd-700", [("arc", "archive")])
    arc = lab.src / "arc"
    write_files(arc, {"f.txt": b"x"})
    (arc / "2027/empty").mkdir(parents=True)
    os.chmod(arc / "2027/empty", 0o750)
    os.setxattr(arc / "2027/empty", "user.note", b"empty")
    name = lab.backup(cfg, now=datetime(2026, 7, 1, 3)).path.name

    def restored(to: str, *how: str, what=arc):
        assert main(["--config", str(lab.config_path), "restore", "loc", str(what), "--to", str(tmp_path / to),
                     *how]) == 0
        return tmp_path / to / str(arc).lstrip("/")

    for got in (restored("whole", "--backup", name), restored("alone", "--backup", name, what=arc / "2027/empty"),
                restored("newest")):
        empty = got / "2027/empty"
        assert os.listdir(empty) == [] and oct(os.stat(empty).st_mode & 0o7777) == "0o750"
        assert os.getxattr(empty, "user.note") == b"empty"
    number = burn_due(cfg, lab.store(), asked={"*"})
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    from_discs = restored("discs", "--checkpoint", str(number))
    assert fidelity.differences(tmp_path / "whole" / str(arc).lstrip("/"), from_discs) == []
