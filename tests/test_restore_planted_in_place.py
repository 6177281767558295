"""A file or a directory of a backup replaced on the medium by a symlink to elsewhere (a hand with
root on the backup server, a tool run on the wrong tree): the restore names what the backup saved
there as lost and never hands the symlink back in its place, not into a target, not onto the source
(where a program writing the file would then write into /etc/passwd). A directory's restore gave
back the symlink beside the name (test_restore_lost_on_the_medium.py); a file or a directory
restored alone came back as the symlink, said restored (exit 0). Real backups (rsync), sshd for the
source over SSH."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from rabtui.errors import WorkFailed
from rabtui.restore import run as R
from tests.test_restore_lost_on_the_medium import _backed_up_over_ssh, planted


@pytest.mark.parametrize("path", ["b/2", "c", "c/3"])
def test_a_file_or_a_directory_restored_alone_that_is_a_symlink_now_fails_by_name(tmp_path, path):
    lab, cfg, data = planted(tmp_path)
    with pytest.raises(WorkFailed) as got:
        R.restore(cfg, lab.store(), "loc", str(data / path), to=tmp_path / "out")
    assert "not on medium m1 any more" in str(got.value) or "is a symlink there" in str(got.value), str(got.value)
    assert not os.path.lexists(tmp_path / "out" / str(data / path).lstrip("/"))
    if path != "c/3":      # (a symlink on the way: in_backup's refusal)
        assert "`rabtui find NAME` lists the other copies" in got.value.hint


def test_onto_an_ssh_source_a_symlink_in_place_of_a_file_is_left_out(tmp_path, sshd):
    lab, cfg, remote, backup = _backed_up_over_ssh(tmp_path, sshd)
    on_medium = Path(backup.path) / "data" / str(remote).lstrip("/")
    os.unlink(on_medium / "a/2")
    os.symlink("/etc/passwd", on_medium / "a/2")
    shutil.rmtree(remote / "a")
    res = R.restore(cfg, lab.store(), "web", str(remote), to_source=True)
    assert (remote / "a/1").read_bytes() == b"one"
    assert not os.path.lexists(remote / "a/2")
    assert [n.rsplit(b"/", 2)[-2:] for _, n, _ in res.written.not_restored] == [[b"a", b"2"]]
