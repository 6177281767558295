"""An `images:` drive whose folder lies in a local source directory is refused as a medium there is
(exit 2, file:line): each backup copied the checkpoints' disc images, and each checkpoint those
backups, doubling; an anchored exclude of the folder lets it be."""

from __future__ import annotations

from rabtui.cli import main
from tests.trees import Lab, config_text


def _lab(tmp_path, images: str, excludes: str = "") -> Lab:
    tmp_path.mkdir(exist_ok=True)
    lab = Lab(tmp_path, media_count=1)
    lab.config_path.write_text(config_text(lab.state, lab.media, f'[[sources]]\nid = "loc"\n{excludes}\n'
                                           f'[[sources.directories]]\npath = "{lab.src}"\n'
                                           f'[checkpoint]\ndrive = "images:{images}"\n'))
    lab.config_path.chmod(0o600)
    return lab


def test_an_images_folder_in_a_local_directory_is_refused(tmp_path, capsys):
    lab = _lab(tmp_path, "src/iso")
    line = lab.config_path.read_text().splitlines().index(f'path = "{lab.src}"') + 1
    for command in (["check-config"], ["backup", "loc"]):
        assert main(["--config", str(lab.config_path), *command]) == 2
        err = capsys.readouterr().err
        assert err.startswith(f"rabtui: {lab.config_path}:{line}: sources[0].directories[0].path: {lab.src} holds the"
                              f" images of drive images:{lab.src}/iso: each backup would copy the checkpoints' disc"
                              ' images too (exclude it with "/iso/")'), err
    assert not lab.state.exists()


def test_an_images_folder_excluded_or_beside_is_taken(tmp_path, capsys):
    assert main(["--config", str(_lab(tmp_path / "a", "src/iso", 'excludes = ["/iso/"]').config_path),
                 "check-config"]) == 0
    assert main(["--config", str(_lab(tmp_path / "b", "iso").config_path), "check-config"]) == 0
