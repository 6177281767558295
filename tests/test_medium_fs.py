"""A medium whose file system cannot hold what backups keep: probed once (when labelled or first
used), remembered in the label, and said in `rabtui check` and in the backup's log."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from rabtui.ops import health
from rabtui.media import medium as media
from rabtui.media import medium_fs
from tests import fidelity
from tests.trees import Lab

ALL = {k: True for k in medium_fs.WHAT}


def test_what_is_lacking_in_words():
    assert medium_fs.lacking(ALL) == [] and medium_fs.lacking(None) == []
    holds = {**ALL, "xattrs": False, "acls": False, "devices": None}
    assert medium_fs.lacking(holds) == ["extended attributes (user.*)", "POSIX ACLs"]
    assert medium_fs.lacking(holds, acls=False, xattrs=False) == []
    message = medium_fs.warning("usb", {**ALL, "sparse": False})
    assert message.startswith("medium usb: its file system cannot hold sparse files") and "\n" not in message


def test_a_linux_file_system_holds_everything_and_the_probe_leaves_nothing(tmp_path):
    holds = medium_fs.probe(tmp_path)
    assert os.listdir(tmp_path) == []
    assert holds["symlinks"] and holds["hardlinks"] and holds["fifos"] and holds["sparse"] and holds["xattrs"]
    assert (holds["devices"] is None) == (not fidelity.is_root())


def test_probes_at_once_keep_out_of_each_other(tmp_path):
    """The backups of one run are threads of one process that may probe one medium together: a
    probe never removes another's probe directory (it once used one named by the pid alone)."""
    other = tmp_path / f".rabtui-probe-{os.getpid()}"
    (other / "file").parent.mkdir()
    (other / "file").write_bytes(b"another probe's")
    assert all(v is not False for v in medium_fs.probe(tmp_path).values())
    assert (other / "file").read_bytes() == b"another probe's"
    assert os.listdir(tmp_path) == [other.name]


def test_the_label_remembers_it_and_an_old_label_is_probed_at_first_use(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    medium = cfg.medium("m1")
    label = media.write_label(medium)
    assert label["holds"] == medium_fs.probe(medium.path)
    assert json.loads((medium.path / media.LABEL).read_text())["holds"] == label["holds"]

    (medium.path / media.LABEL).write_text(json.dumps({"id": "m1", "created": "2026-01-01T00:00:00"}))
    info = media.check_medium(medium)
    again = json.loads((medium.path / media.LABEL).read_text())
    assert again["created"] == "2026-01-01T00:00:00" and again["holds"] == info["label"]["holds"]
    assert sorted(os.listdir(medium.path)) == [media.LABEL]


@pytest.fixture
def ramfs_medium(tmp_path):
    """Medium m1 of a Lab on ramfs, which holds no xattrs and no ACLs (root only)."""
    lab = Lab(tmp_path, media_count=1)
    path = lab.media[0][1]
    if not fidelity.is_root():
        pytest.skip("mounting a ramfs medium needs root")
    done = subprocess.run(["mount", "-t", "ramfs", "rabtui-test", str(path)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a ramfs here: {done.stderr.strip()}")
    yield lab
    subprocess.run(["umount", str(path)], check=True)


def test_a_medium_without_xattrs_and_acls_warns_in_the_log_and_in_check(ramfs_medium):
    lab = ramfs_medium
    cfg = lab.local([("system", "standard")])
    (lab.src / "system" / "f").write_text("data")
    os.setxattr(lab.src / "system" / "f", "user.kept", b"1")
    lab.backup(cfg, medium_id="m1")     # fails at step 2: a ramfs reports no free space
    wanted = "medium m1: its file system cannot hold extended attributes (user.*)"
    assert any(m.startswith(wanted) and "POSIX ACLs" in m for m in lab.messages("warning")), lab.messages()
    label = media.read_label(cfg.medium("m1").path)
    assert label["holds"]["xattrs"] is False and label["holds"]["acls"] is False
    problems = [p for p in health.run_checks(cfg, lab.store()) if p.check_id == "holds:m1"]
    assert [p.level for p in problems] == [health.WARNING] and problems[0].message.startswith(wanted)

    # a configuration that keeps neither asks nothing of the medium
    quiet = lab.local([("system", "standard")], extra="acls = false\nxattrs = false")
    assert not [p for p in health.run_checks(quiet, lab.store()) if p.check_id == "holds:m1"]


def test_the_backup_log_says_what_the_medium_cannot_hold(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    (lab.src / "data" / "f").write_text("data")
    medium = cfg.medium("m1")
    # as a vfat disk's label would say after its probe
    (medium.path / media.LABEL).write_text(json.dumps({"id": "m1", "holds": {**ALL, "xattrs": False,
                                                                             "sparse": False}}))
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "completed", result.reason
    log = (result.path / "backup.log").read_text()
    assert "medium m1: its file system cannot hold extended attributes (user.*), sparse files" in log
    assert "POSIX ACLs" not in log
    problems = [p for p in health.run_checks(cfg, lab.store()) if p.check_id == "holds:m1"]
    assert len(problems) == 1 and "sparse files" in problems[0].message


def test_check_reads_a_label_written_by_media_label_before_any_backup(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    (cfg.medium("m1").path / media.LABEL).write_text(json.dumps({"id": "m1", "holds": {**ALL, "acls": False}}))
    problems = [p for p in health.run_checks(cfg, lab.store()) if p.check_id == "holds:m1"]
    assert len(problems) == 1 and "POSIX ACLs" in problems[0].message
