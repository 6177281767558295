"""A medium unmounted (lazily: `umount -l`, as a desktop's eject does while files are open) during a
restore from it: the restore reads on from the tree it opened, never a traceback, and what it
restores is the backup's tree whole; an archive directory's, whose directories it takes from the
backup's own tree (by path), is said not finished instead of given the union's. Real backups
(rsync), a real tmpfs medium."""

from __future__ import annotations

import os
import subprocess

import pytest

from rabtui import faults
from rabtui.cli import main
from tests import fidelity_more
from tests.trees import Lab, write_files


@pytest.mark.parametrize("kind", ["standard", "archive"])
@pytest.mark.parametrize("point", ["restore.file_written", "restore.entries_put"])
def test_a_medium_unmounted_during_the_restore_gives_the_tree_whole(tmp_path, tmpfs, monkeypatch, capsys, point, kind):
    lab = Lab(tmp_path, media_count=1)
    medium = tmpfs(lab.media[0][1], "size=8m")
    cfg = lab.local([("data", kind)])
    data = lab.src / "data"
    write_files(data, {"a/f": b"f", "a/b/g": b"g", "c/h": b"h" * 100})
    (data / "a").chmod(0o751)
    os.utime(data / "c", (1_600_000_000, 1_600_000_000))
    assert lab.backup(cfg).status == "completed"
    real = faults.point
    gone = []

    def unmounting(name):
        if name == point and not gone:
            subprocess.run(["umount", "-l", str(medium)], check=True)
            gone.append(name)
        return real(name)

    monkeypatch.setattr(faults, "point", unmounting)
    out = tmp_path / "out"
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(out)])
    printed, err = capsys.readouterr()
    assert gone and "Traceback" not in err, err
    if kind == "archive":
        assert code == 1 and "unmounted or replaced while it was restored" in printed, printed + err
        return
    assert code == 0, printed + err
    assert fidelity_more.differences(data, out / str(data).lstrip("/")) == []
