"""`checkpoint plan --now SOURCE:PATH` (and burn's) takes the directory written as the config takes
it: with a slash at its end (a shell's completion adds one) or a doubled slash, it was "not a
configured directory", where restore took the same path."""

from __future__ import annotations

import json

import pytest

from rabtui.cli import main
from tests.trees import Lab, write_files


@pytest.mark.parametrize("written", ["{data}/", "{src}//data", "{src}/data//"])
def test_a_directory_asked_for_now_is_read_as_the_config_reads_it(tmp_path, capsys, written):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    write_files(lab.src / "data", {"a": b"one"})
    assert lab.backup(cfg).status == "completed"
    asked = "loc:" + written.format(data=lab.src / "data", src=lab.src)
    assert main(["--config", str(lab.config_path), "checkpoint", "plan", "--now", asked, "--disc", "cd-700",
                 "--json"]) == 0, capsys.readouterr().err
    planned = json.loads(capsys.readouterr().out)
    assert planned["files"] == 1


def test_a_directory_not_configured_is_still_refused(tmp_path, capsys):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    asked = f"loc:{lab.src}/data/.."
    assert main(["--config", str(lab.config_path), "checkpoint", "plan", "--now", asked, "--disc", "cd-700"]) == 2
    assert f"rabtui: {asked!r} is not a configured directory" in capsys.readouterr().err
