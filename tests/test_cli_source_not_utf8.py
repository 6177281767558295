"""A source id given on the command line in bytes that are not UTF-8 (a name typed in another
locale) is no source: `diff`, `find --source` and `restore` say so (exit 2), where the lookup of its
backups in the state database ended in a UnicodeEncodeError traceback."""

from __future__ import annotations

import os

import pytest

from rabtui.cli import main
from tests.trees import Lab

NOT_UTF8 = os.fsdecode(b"l\xffoc")


@pytest.mark.parametrize("args", [["diff", NOT_UTF8], ["find", "a", "--source", NOT_UTF8],
                                  ["restore", NOT_UTF8, "/x", "--to", "{tmp}/out"],
                                  ["restore", NOT_UTF8, "/x", "--to-source"]], ids=["diff", "find", "restore --to", "restore --to-source"])
def test_a_source_id_not_utf8_is_no_source(tmp_path, capsys, args):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    assert main(["--config", str(lab.config_path), "status"]) == 0     # the state database made
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), *(a.format(tmp=tmp_path) for a in args)]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"rabtui: no source with id {NOT_UTF8!r} in {lab.config_path}" in err, err
    assert not (tmp_path / "out").exists()
