"""A source path of 4,000 bytes below a medium whose own path is long: in the backup the file's path
is over 4,096 bytes (PATH_MAX), which the kernel takes in no single call. The backup holds it, and
a restore brings it back, the file alone and the tree holding it, from a standard directory and
from an archive directory's union (it was said not to be in the backup)."""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest

from rabtui.cli import main as cli_main
from tests.tui.conftest import back_up


@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_a_file_whose_path_in_the_backup_is_over_path_max_is_restored(tmp_path, write_config, capsys, kind):
    base = tempfile.mkdtemp(prefix="rq", dir="/tmp")
    try:
        deep = os.fsencode(base) + b"/s"
        while len(deep) < 3990:
            deep += b"/" + b"d" * min(200, 3990 - len(deep) - 1)
        os.makedirs(deep)
        with open(deep + b"/file", "wb") as f:
            f.write(b"deep")
        medium = tmp_path / ("m" * 120)
        medium.mkdir()
        path = write_config(f"""
            [rabtui]
            state_dir = "{tmp_path}/state"
            [[media]]
            id = "m"
            path = "{medium}"
            [[sources]]
            id = "box"
            [[sources.directories]]
            path = "{base}/s"
            kind = "{kind}"
        """)
        back_up(path)
        target = os.path.join(base, "r")
        code = cli_main(["--config", str(path), "restore", "box", os.fsdecode(deep + b"/file"), "--to", target])
        assert code == 0, capsys.readouterr().err
        with open(os.fsencode(target) + deep + b"/file", "rb") as f:
            assert f.read() == b"deep"
        whole = os.path.join(base, "whole")
        code = cli_main(["--config", str(path), "restore", "box", f"{base}/s", "--to", whole])
        assert code == 0, capsys.readouterr().err
        with open(os.fsencode(whole) + deep + b"/file", "rb") as f:
            assert f.read() == b"deep"
    finally:
        shutil.rmtree(base, ignore_errors=True)
