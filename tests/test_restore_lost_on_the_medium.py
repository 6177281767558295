"""A medium that lost files of a backup since it was made (an fsck that moved them to lost+found,
a hand that removed them, another server's cleanup): a restore from it names each file the catalog
says the backup holds and the medium no longer has, instead of reporting the tree restored whole.
Real backups (rsync)."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from rabtui.cli import main
from tests.trees import Lab, write_files


def test_files_the_medium_lost_are_named_not_passed_over(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"a/1": b"1", "b/2": b"2", "b/3": b"3", "c/4": b"4"})
    backup = lab.backup(cfg)
    assert backup.status == "completed"
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    os.unlink(on_medium / "b" / "3")
    shutil.rmtree(on_medium / "c")
    args = ["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "out"), "--json"]
    code = main(args)
    got = json.loads(capsys.readouterr().out)
    assert code == 3, got
    lost = sorted(n["path"] for n in got["not_restored"])
    assert lost == [str(data / "b" / "3").lstrip("/"), str(data / "c" / "4").lstrip("/")], got
    assert "not on medium m1" in got["not_restored"][0]["why"]
    assert (tmp_path / "out" / str(data).lstrip("/") / "a" / "1").read_bytes() == b"1"


def test_a_file_the_medium_loses_while_the_restore_runs_is_named_in_a_line(tmp_path, capsys, monkeypatch):
    """The medium loses a file of a directory being restored after the restore listed it (before
    it reached it): the restore names it and fails, never a traceback."""
    from rabtui.restore.write import SafeWriter

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    data = lab.src / "data"
    write_files(data, {"d/1": b"1", "d/2": b"2", "d/3": b"3"})
    backup = lab.backup(cfg)
    on_medium = Path(backup.path) / "data" / str(data).lstrip("/")
    real_file = SafeWriter._file

    def losing(self, *args):
        if (on_medium / "d" / "3").exists():      # while the restore writes d/1
            os.unlink(on_medium / "d" / "3")
        return real_file(self, *args)

    monkeypatch.setattr(SafeWriter, "_file", losing)
    code = main(["--config", str(lab.config_path), "restore", "loc", str(data), "--to", str(tmp_path / "out")])
    out, err = capsys.readouterr()
    assert code == 1 and "Traceback" not in err
    assert f"error: {str(data).lstrip('/')}/d/3: could not be read: No such file or directory" in out, out
