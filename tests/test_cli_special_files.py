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
    """A `kind` ("fifo", "device": a copy of /dev/null's node, "directory", "loop": a symlink to
    itself) made at `path`; its file type."""
    if kind == "fifo":
        os.mkfifo(path)
    elif kind == "device":
        os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(1, 3))
    elif kind == "loop":
        path.symlink_to(path.name)
    else:
        path.mkdir()
    return stat.S_IFMT(os.lstat(path).st_mode)


KINDS = ["fifo", pytest.param("device", marks=needs_root), "directory"]
SAID = {"fifo": "a FIFO", "device": "a character device", "directory": "a directory",
        "loop": "a symlink that leads to no file (a loop)"}


@pytest.mark.parametrize("kind", KINDS)
def test_check_never_writes_its_textfile_over_a_device_or_fifo(tmp_path, capsys, kind):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    target = tmp_path / "node"
    made = _special(target, kind)
    assert main(["--config", str(lab.config_path), "check", "--prometheus", str(target)]) == 2
    err = capsys.readouterr().err
    assert f"--prometheus {target}: it is {SAID[kind]}; not written over" in err, err
    assert stat.S_IFMT(os.lstat(target).st_mode) == made


@pytest.mark.parametrize("kind", [*KINDS, "loop"])
def test_init_force_never_writes_over_a_device_or_fifo(tmp_path, capsys, kind):
    """(A symlink loop: `init` without --force wrote over it, as no file is there.)"""
    target = tmp_path / "node"
    made = _special(target, kind)
    assert main(["--config", str(target), "init", *(["--force"] if kind != "loop" else [])]) == 2
    err = capsys.readouterr().err
    assert f"rabtui: {target} is not written: it is {SAID[kind]}, not a configuration file; nothing was saved" in err, err
    assert stat.S_IFMT(os.lstat(target).st_mode) == made


@pytest.mark.parametrize("argv, said", [
    (["--config", "", "init"], "--config: empty: name the configuration file"),
    (["init", "--config="], "--config: empty: name the configuration file"),
    (["--config=", "status"], "--config: empty: name the configuration file"),
    (["checkpoint", "plan", "--from-list", "", "--disc", "cd-700"], "--from-list: empty: name the list to plan"),
    (["checkpoint", "plan", "--disc", ""], "--disc: empty: name a disc type or size"),
    (["checkpoint", "burn", "--disc", ""], "--disc: empty: name a disc type or size"),
    (["demo", "--dir", "", "--no-open"], "--dir: empty: name the folder to build it in"),
], ids=["--config init", "init --config=", "--config= status", "--from-list", "plan --disc", "burn --disc", "demo --dir"])
def test_an_empty_path_or_disc_is_bad_usage_not_the_default(tmp_path, monkeypatch, capsys, argv, said):
    """An option given "" was read as the option left out: `--config ""` made `init` write the default
    file (the other commands read the current directory, "." not a regular file), `--from-list ""` and
    `--disc ""` planned the configured directories and disc, `demo --dir ""` built the sandbox in the
    user data directory."""
    monkeypatch.setenv("RABTUI_CONFIG", str(tmp_path / "default.toml"))
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2
    assert f"rabtui: argument {said}" in capsys.readouterr().err
    assert os.listdir(tmp_path) == []
