"""Restore onto a source reached over SSH (`restore --to-source`, rsync to the test sshd, real
ssh and rsync): a symlink at the restored file's own name is refused before anything is written, an
archive directory comes back as the chosen backup had it, a file deep down comes back, and a
program that cannot be started is said in one line."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui.errors import WorkFailed
from rabtui.restore import run as R
from tests.trees import Lab, snapshot, ssh_source_lines, write_files

T0 = datetime(2026, 6, 1, 3, 0)
REPO = Path(__file__).resolve().parent.parent


def _lab(tmp_path: Path, sshd, files: dict, *, extra: str = "", kind: str = "standard"):
    lab = Lab(tmp_path, media_count=1)
    remote_dir = tmp_path / "remote"
    write_files(remote_dir, files)
    cfg = lab.write(ssh_source_lines(sshd) + extra
                    + f'[[sources.directories]]\npath = "{remote_dir}"\nkind = "{kind}"\n')
    lab.state.mkdir(parents=True, exist_ok=True)
    (lab.state / "known_hosts").write_text(sshd.known_hosts_line())
    return lab, cfg, remote_dir


@pytest.mark.parametrize("overwrite", [False, True])
def test_a_file_is_never_restored_over_a_symlink_at_its_name(tmp_path, sshd, overwrite):
    """The source now has a symlink where the backup has a file: the restore refuses it, as it does
    for a symlink in the way inside a restored directory, and the symlink and what it points to
    stay as they are."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"conf": b"old"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    (remote_dir / "conf").unlink()
    (remote_dir / "conf.real").write_bytes(b"new")
    os.symlink("conf.real", remote_dir / "conf")
    with pytest.raises(WorkFailed, match=f"1 symlinks there are in the restore's way.*{remote_dir}/conf"):
        R.restore(cfg, lab.store(), "web", str(remote_dir / "conf"), to_source=True, overwrite=overwrite)
    assert os.readlink(remote_dir / "conf") == "conf.real" and (remote_dir / "conf.real").read_bytes() == b"new"


def test_an_archive_directory_comes_back_onto_the_source_as_the_backup_had_it(tmp_path, sshd):
    """An archive directory restored with --backup onto an SSH source holds each file as that
    backup had it, and no file saved after it (as into a directory), not the medium's union tree."""
    lab, cfg, photos = _lab(tmp_path, sshd, {"2025/a.jpg": b"A" * 100}, kind="archive")
    b1 = lab.backup(cfg, "web", now=T0)
    write_files(photos, {"2025/a.jpg": b"a" * 120, "2026/b.jpg": b"B" * 50})
    b2 = lab.backup(cfg, "web", now=T0 + timedelta(days=1))
    assert b1.status == b2.status == "completed"
    shutil.rmtree(photos)
    photos.mkdir()
    res = R.restore(cfg, lab.store(), "web", str(photos), backup=b1.path.name, to_source=True)
    assert snapshot(photos) == {b"2025/a.jpg": b"A" * 100}
    assert res.written.files == 1 and not res.written.problems()
    # one file, too; and nothing of the staging is left in the state directory
    (photos / "2025/a.jpg").unlink()
    R.restore(cfg, lab.store(), "web", str(photos / "2025/a.jpg"), backup=b1.path.name, to_source=True)
    assert snapshot(photos) == {b"2025/a.jpg": b"A" * 100}
    assert not [p for p in os.listdir(lab.state) if p.startswith(".rabtui-restore-")]
    # the newest backup's copy is the union's
    R.restore(cfg, lab.store(), "web", str(photos), backup=b2.path.name, to_source=True, overwrite=True)
    assert snapshot(photos) == {b"2025/a.jpg": b"a" * 120, b"2026/b.jpg": b"B" * 50}


@pytest.mark.parametrize("name, depth", [("d", 600), ("d" * 9, 380)])
def test_a_file_deep_down_is_restored_onto_the_source(tmp_path, sshd, name, depth):
    """A path of many components (1,200 and 3,800 bytes below the source directory) is sent to
    the source once, whatever its depth."""
    deep = "/".join([name] * depth)
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {deep + "/f": b"data"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    target = os.path.join(remote_dir, deep, "f")
    os.unlink(target)
    res = R.restore(cfg, lab.store(), "web", target, to_source=True)
    with open(target, "rb") as f:
        assert f.read() == b"data"
    assert res.written.files == 1


def test_a_program_that_cannot_be_started_is_said_in_one_line(tmp_path, sshd):
    """ssh found but not executable (any OSError from starting it: an argument list too long is
    one): the restore exits 1 with one line naming what could not start, never a traceback."""
    lab, cfg, remote_dir = _lab(tmp_path, sshd, {"f": b"1"})
    assert lab.backup(cfg, "web", now=T0).status == "completed"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "ssh").write_text("#!/bin/sh\n")
    (bin_dir / "ssh").chmod(0o644)
    for tool in ("rsync", "setpriv", "sh"):
        os.symlink(shutil.which(tool), bin_dir / tool)
    done = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(lab.config_path), "restore", "web",
                           str(remote_dir / "f"), "--to-source", "--overwrite"],
                          cwd=REPO, env={**os.environ, "PATH": str(bin_dir)}, capture_output=True, text=True)
    assert done.returncode == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert "could not start the check on the source for web (ssh)" in done.stderr
    assert "Permission denied" in done.stderr
