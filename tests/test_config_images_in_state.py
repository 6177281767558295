"""An `images:` drive whose folder lies in a folder of the state directory's own (where discs are
staged and verified, the new database of a rebuild-state, lock files, logs, the private directories
of runs) is refused (exit 2, file:line): rabtui removes what those hold (rebuild-state removed the
folder it builds in whole, and with it the disc images it was to read). A folder of the
operator's own in the state directory, or the state directory itself, is taken."""

from __future__ import annotations

import pytest

from rabtui import temp_dirs
from rabtui.actions import rebuild
from rabtui.checkpoint import verify_scratch
from rabtui.cli import main
from rabtui.config import safety
from rabtui.media import labels_kept
from rabtui.restore import staging
from tests.test_config_images_in_source import _lab


@pytest.mark.parametrize("folder", ["rabtui.db.rebuilding", "checkpoints", "checkpoints/1", "locks", "logs",
                                    "media", ".rabtui-restore-x", "rabtui-12-0"])
def test_an_images_folder_in_a_folder_of_the_state_directory_s_own_is_refused(tmp_path, capsys, folder):
    lab = _lab(tmp_path, f"state/{folder}/iso")
    line = next(n for n, text in enumerate(lab.config_path.read_text().splitlines(), 1) if text.startswith("drive ="))
    own = lab.state / folder.split("/")[0]
    for command in (["check-config"], ["rebuild-state"]):
        assert main(["--config", str(lab.config_path), *command]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rabtui: {lab.config_path}:{line}: checkpoint.drive: the images of drive"
                              f" images:{lab.state}/{folder}/iso would lie in {own}, a folder of the state"
                              " directory's own, whose contents rabtui removes"), err


def test_an_images_folder_of_its_own_in_the_state_directory_is_taken(tmp_path, capsys):
    for name, images in (("a", "state/iso"), ("b", "state"), ("c", "state/checkpoints-iso")):
        assert main(["--config", str(_lab(tmp_path / name, images).config_path), "check-config"]) == 0, \
            capsys.readouterr().err


def test_the_folders_named_are_those_rabtui_uses():
    assert rebuild.BUILDING in safety.STATE_FOLDERS
    assert verify_scratch.scratch_place("/s").name in safety.STATE_FOLDERS
    assert labels_kept.DIR in safety.STATE_FOLDERS
    assert temp_dirs.PREFIX in safety.STATE_RUN_PREFIXES
    assert {staging.PREFIX.decode(), staging.MAKING.decode()} <= set(safety.STATE_RUN_PREFIXES)


def _disc_where_a_rebuild_builds(tmp_path):
    """A checkpoint's disc image burnt, then put in rabtui.db.rebuilding: (lab, its --config, that folder)."""
    import shutil

    from tests.trees import Lab, write_files

    lab = Lab(tmp_path, media_count=1)
    lab.with_discs("cd-700")
    write_files(lab.src / "data", {"a": b"x" * 300})
    config = ["--config", str(lab.config_path)]
    assert main([*config, "backup", "loc"]) == 0
    assert main([*config, "checkpoint", "burn", "--now", "--yes"]) == 0
    there = lab.state / "rabtui.db.rebuilding"
    there.mkdir()
    shutil.copy2(tmp_path / "iso" / "RAB1D01.iso", there)
    return lab, config, there


def test_a_drive_given_in_a_folder_of_the_state_directory_s_own_is_refused(tmp_path, capsys):
    """`rebuild-state --drive` of an images: folder in the folder a rebuild builds in removed it as it
    began, with the disc images it was to read; `checkpoint burn --drive` into `checkpoints/` is
    refused alike (exit 2), its images never written where a cleanup or a verification removes."""
    lab, config, there = _disc_where_a_rebuild_builds(tmp_path)
    capsys.readouterr()
    assert main([*config, "rebuild-state", "--drive", f"images:{there}"]) == 2
    err = capsys.readouterr().err
    assert f"--drive the images of drive images:{there} would lie in {there}, a folder of the state directory's" \
           " own" in err, err
    assert (there / "RAB1D01.iso").is_file()
    into = lab.state / "checkpoints" / "iso"
    assert main([*config, "checkpoint", "burn", "--now", "--yes", "--drive", f"images:{into}"]) == 2
    assert "a folder of the state directory's own" in capsys.readouterr().err
    assert not into.exists()


def test_an_images_folder_reaching_a_folder_of_the_state_directory_s_own_by_a_bind_mount_is_refused(
        tmp_path, capsys, bind_mount):
    """By a bind mount of that folder, or of the state directory (its path names neither): the
    rebuild would remove the images all the same. What is there is compared, not only the path."""
    lab = _lab(tmp_path / "a", "bound/iso")
    (lab.state / "rabtui.db.rebuilding").mkdir(parents=True)
    bind_mount(tmp_path / "a" / "bound", lab.state / "rabtui.db.rebuilding")
    assert main(["--config", str(lab.config_path), "check-config"]) == 2
    assert f"would lie in {lab.state}/rabtui.db.rebuilding, a folder of the state directory's own" in \
        capsys.readouterr().err
    other = _lab(tmp_path / "b", "whole/logs/iso")
    (other.state / "logs" / "iso").mkdir(parents=True)
    bind_mount(tmp_path / "b" / "whole", other.state)
    assert main(["--config", str(other.config_path), "check-config"]) == 2
    assert f"would lie in {other.state}/logs, a folder of the state directory's own" in capsys.readouterr().err
    beside = _lab(tmp_path / "c", "whole/iso")
    beside.state.mkdir(parents=True)
    bind_mount(tmp_path / "c" / "whole", beside.state)
    assert main(["--config", str(beside.config_path), "check-config"]) == 0, capsys.readouterr().err


def test_a_drive_given_by_a_bind_mount_of_the_folder_a_rebuild_builds_in_is_refused(tmp_path, capsys, bind_mount):
    lab, config, there = _disc_where_a_rebuild_builds(tmp_path)
    bind_mount(tmp_path / "discs", there)
    capsys.readouterr()
    assert main([*config, "rebuild-state", "--drive", f"images:{tmp_path / 'discs'}"]) == 2
    assert f"would lie in {there}, a folder of the state directory's own" in capsys.readouterr().err
    assert (there / "RAB1D01.iso").is_file()
