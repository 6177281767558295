"""An `images:` drive whose folder is a medium or lies in one is refused (exit 2, file:line; `--drive`
of `checkpoint burn` and `rebuild-state` alike): media rotate away, are cleaned up and rebuilt from,
and the disc images there would leave with the medium, fill it, and be taken for its backups or
removed with them. Known by path (symlinks resolved), and by what is there: a bind mount of the
medium, or of the mount point a medium with a `device` is mounted at."""

from __future__ import annotations

import subprocess

import pytest

from rabtui.cli import main
from tests.test_config_images_in_source import _lab


def _drive_line(lab) -> int:
    return next(n for n, text in enumerate(lab.config_path.read_text().splitlines(), 1) if text.startswith("drive ="))


@pytest.mark.parametrize("images", ["medium1", "medium1/iso", "medium1/loc/iso", "to_medium/iso"])
def test_an_images_folder_on_a_medium_is_refused(tmp_path, capsys, images):
    lab = _lab(tmp_path, images)
    (tmp_path / "to_medium").symlink_to(tmp_path / "medium1")
    for command in (["check-config"], ["rebuild-state"], ["checkpoint", "plan", "--now"]):
        assert main(["--config", str(lab.config_path), *command]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rabtui: {lab.config_path}:{_drive_line(lab)}: checkpoint.drive: the images of drive"
                              f" images:{tmp_path / images} would lie on medium 'm1' ({tmp_path / 'medium1'}), which"
                              " rotates away and holds backups only"), err
    assert not lab.state.exists()


def test_an_images_folder_beside_the_media_is_taken(tmp_path, capsys):
    for name, images in (("a", "iso"), ("b", "medium1-iso")):
        assert main(["--config", str(_lab(tmp_path / name, images).config_path), "check-config"]) == 0, \
            capsys.readouterr().err


def test_an_images_folder_on_a_medium_by_a_bind_mount_is_refused(tmp_path, capsys, bind_mount):
    lab = _lab(tmp_path, "bound/iso")
    bind_mount(tmp_path / "bound", tmp_path / "medium1")
    assert main(["--config", str(lab.config_path), "check-config"]) == 2
    assert "would lie on medium 'm1'" in capsys.readouterr().err


def test_an_images_folder_at_a_device_medium_s_mount_point_is_refused(tmp_path, capsys, disk_image, bind_mount):
    """The medium's disk mounted at its path (as rabtui mounts it), the images named by a bind mount
    of that mount point: refused as the path itself is, mounted or not."""
    lab = _lab(tmp_path, "medium1/iso")
    lab.on_device(tmp_path / "medium1", disk_image)
    assert main(["--config", str(lab.config_path), "check-config"]) == 2
    assert "would lie on medium 'm1'" in capsys.readouterr().err
    other = _lab(tmp_path / "b", "bound/iso")
    mount_point = tmp_path / "b" / "medium1"
    other.on_device(mount_point, disk_image)
    subprocess.run(["mount", str(disk_image), str(mount_point)], check=True)
    try:
        bind_mount(tmp_path / "b" / "bound", mount_point)
        assert main(["--config", str(other.config_path), "check-config"]) == 2
        assert "would lie on medium 'm1'" in capsys.readouterr().err
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=True)


def test_a_drive_given_on_a_medium_is_refused(tmp_path, capsys):
    from tests.trees import Lab, write_files

    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": b"x" * 300})
    config = ["--config", str(lab.config_path)]
    assert main([*config, "backup", "loc"]) == 0
    capsys.readouterr()
    on = tmp_path / "medium1" / "iso"
    assert main([*config, "checkpoint", "burn", "--now", "--yes", "--drive", f"images:{on}"]) == 2
    assert f"--drive the images of drive images:{on} would lie on medium 'm1'" in capsys.readouterr().err
    assert not on.exists()
    on.mkdir()
    assert main([*config, "rebuild-state", "--drive", f"images:{on}"]) == 2
    assert f"--drive the images of drive images:{on} would lie on medium 'm1'" in capsys.readouterr().err
