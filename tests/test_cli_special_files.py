"""A file the command line writes whole (the config of `init --force`, the textfile of `check
--prometheus`) is put in place by a rename: named a device node, a FIFO or a directory by mistake, it
is refused (exit 2, what it is said) and left as it was. As root, `--config /dev/null init --force`
and `check --prometheus /dev/null` made /dev/null a regular file."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from rabtui.cli import main
from tests.trees import Lab

needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="mknod of a device node needs root")


def _special(path: Path, kind: str) -> int:
    """A `kind` ("fifo", "device": a copy of /dev/null's node, "directory") made at `path`; its file type."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    else:
        path.mkdir()
    return stat.S_IFMT(os.lstat(path).st_mode)


KINDS = ["fifo", pytest.param("device", marks=needs_root), "directory"]
SAID = {"fifo": "FIFO", "device": "character device", "directory": "directory"}


@pytest.mark.parametrize("kind", KINDS)
def test_check_never_writes_its_textfile_over_a_device_or_fifo(tmp_path, capsys, kind):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    target = tmp_path / "node"
    made = _special(target, kind)
    assert main(["--config", str(lab.config_path), "check", "--prometheus", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"--prometheus {target}: it is a {SAID[kind]}; not written over" in err, err
    assert stat.S_IFMT(os.lstat(target).st_mode) == made


@pytest.mark.parametrize("kind", KINDS)
def test_init_force_never_writes_over_a_device_or_fifo(tmp_path, capsys, kind):
    target = tmp_path / "node"
    made = _special(target, kind)
    assert main(["--config", str(target), "init", "--force"]) == 2
    err = capsys.readouterr().err
    assert f"rabtui: {target} is not written: it is a {SAID[kind]}, not a configuration file; nothing was saved" in err, err
    assert stat.S_IFMT(os.lstat(target).st_mode) == made


@pytest.mark.parametrize("argv", [["--config", "", "init"], ["init", "--config="], ["--config=", "status"]])
def test_an_empty_config_path_is_bad_usage(tmp_path, monkeypatch, capsys, argv):
    """`--config ""` was read by `init` as no --config (it wrote the default file) and by the other
    commands as the current directory ("." is not a regular file)."""
    monkeypatch.setenv("RABTUI_CONFIG", str(tmp_path / "default.toml"))
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert "rabtui: argument --config: names no file: give the configuration file's path" in capsys.readouterr().err
    assert not (tmp_path / "default.toml").exists()
