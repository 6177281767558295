"""A medium that is not mounted is refused, never labelled again: its path is then an empty
directory on the parent file system, which a backup would fill."""

from __future__ import annotations

import dataclasses
import os
import subprocess

import pytest

from rabtui.media import medium as media
from rabtui.cli import main
from tests.trees import Lab, write_files


def _emptied(path) -> None:
    """The medium's content moves away and an empty directory is left at its path."""
    os.rename(path, f"{path}-away")
    os.mkdir(path)


def test_a_used_directory_medium_found_empty_is_refused(tmp_path, capsys):
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"precious"})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    medium = lab.media[0][1]
    _emptied(medium)
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed"
    assert "has no .rabtui-medium label, but rabtui has used this medium before" in result.reason
    assert "rabtui media label m1 --force" in result.reason
    assert os.listdir(medium) == []            # neither a label nor a backup was written there
    assert main(["--config", str(lab.config_path), "check-config"]) == 0
    err = capsys.readouterr().err
    assert "medium1 is empty, but rabtui has used it (" in err and "is the disk mounted? a backup refuses it" in err
    # the explicit way: refused without --force, done with it
    argv = ["--config", str(lab.config_path), "media", "label", "m1"]
    assert main(argv) == 1 and os.listdir(medium) == []
    assert main([*argv, "--force"]) == 0 and media.read_label(medium)["id"] == "m1"
    assert lab.backup(cfg, medium_id="m1").status == "completed"


def test_a_medium_missing_once_is_not_taken_for_a_used_one(tmp_path):
    # a backup that failed before writing anything there (the medium was not there) did not use it
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"x"})
    medium = lab.media[0][1]
    os.rmdir(medium)
    failed = lab.backup(cfg, medium_id="m1")
    assert failed.status == "failed" and "used this medium before" not in failed.reason
    os.mkdir(medium)
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    assert media.read_label(medium)["id"] == "m1"
    # once a backup has written there, an empty directory at its path is refused as before
    _emptied(medium)
    assert "used this medium before" in lab.backup(cfg, medium_id="m1").reason


def test_a_new_empty_medium_is_still_labelled_on_first_use(tmp_path):
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"x"})
    assert lab.backup(cfg, medium_id="m2").status == "completed"
    assert media.read_label(lab.media[1][1])["id"] == "m2"


@pytest.fixture
def tmpfs_medium(tmp_path):
    lab = Lab(tmp_path)
    mount_point = lab.media[0][1]
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=16m", "tmpfs", str(mount_point)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    yield lab, mount_point
    if os.path.ismount(mount_point):
        subprocess.run(["umount", "-l", str(mount_point)], capture_output=True)


def test_a_medium_that_was_a_mount_point_and_is_not_one_now_is_refused(tmpfs_medium):
    lab, mount_point = tmpfs_medium
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"on the disk"})
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    subprocess.run(["umount", str(mount_point)], check=True)
    # even a label left in the directory under the mount point does not make it the medium
    media.write_label(cfg.medium("m1"))
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed"
    assert "was a mount point when the medium was last used" in result.reason
    assert sorted(os.listdir(mount_point)) == [".rabtui-medium"]
    # the explicit way: refused without --force; with it, the directory is the medium from now on
    argv = ["--config", str(lab.config_path), "media", "label", "m1"]
    assert main(argv) == 1
    assert main([*argv, "--force"]) == 0
    assert lab.backup(cfg, medium_id="m1").status == "completed"


def test_a_medium_with_a_device_must_be_a_mount_point(tmp_path):
    lab = Lab(tmp_path)
    mount_point = lab.media[0][1]
    medium = dataclasses.replace(lab.local().medium("m1"), device="/dev/null")
    with pytest.raises(media.WorkFailed, match="is not a mount point, but the medium has device /dev/null"):
        media.check_medium(medium, store=lab.store())
    assert os.listdir(mount_point) == []


def test_a_disk_labelled_anew_follows_only_the_labellings_of_the_label_it_had(tmp_path):
    """The label the state recorded (copied from another disk, say) holds more in what it follows
    than labellings: the new label names each by its serial and time only, and stays a label."""
    import json

    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"x"})
    medium = lab.media[0][1]
    label = media.write_label(cfg.medium("m1"))
    label["follows"] = [{"serial": "fedcba9876543210", "created": "2025-01-01T00:00:00", "junk": "JUNK"},
                        {"serial": "1111222233334444", "pad": "p" * 20000}, 7, {"created": ["x"]}]
    junk = "[" * 300 + "]" * 300
    (medium / ".rabtui-medium").write_text(json.dumps(label).replace('"JUNK"', junk))
    assert lab.backup(cfg, medium_id="m1").status == "completed"
    first = label
    os.unlink(medium / ".rabtui-medium")
    assert main(["--config", str(lab.config_path), "media", "label", "m1", "--force"]) == 0
    label = media.read_label(medium)
    assert label["follows"] == [{"serial": first["serial"], "created": first["created"]},
                                {"serial": "fedcba9876543210", "created": "2025-01-01T00:00:00"},
                                {"serial": "1111222233334444"}]
    assert len(json.dumps(label)) < 1000
    assert lab.backup(cfg, medium_id="m1").status == "completed"


def test_a_label_that_would_grow_past_a_labels_size_is_not_written_over(tmp_path):
    """A label without what the medium holds is written again with it; one that would then be larger
    than a label may be (nested deep, each level indented) stays as it was, and the backup says why."""
    lab = Lab(tmp_path)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"x"})
    label_path = lab.media[0][1] / ".rabtui-medium"
    text = '{"id": "m1", "serial": "0123456789abcdef", "x": ' + "[" * 300 + "]" * 300 + "}"
    label_path.write_text(text)
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed"
    assert "cannot write its label" in result.reason and "more than a label may" in result.reason
    assert label_path.read_text() == text
