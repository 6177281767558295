"""`find` with a pattern longer than SQLite's GLOB takes (50,000 bytes), or of a thousand accented
letters (a test of each of their canonical forms: an expression deeper than SQLite takes): SQLite's
"LIKE or GLOB pattern too complex" or "Expression tree is too large" was read as a damaged state
database, whose message sends the operator to `rebuild-state` (the database set aside and made anew
from the media). It is bad usage, said as such; the database is not called damaged."""

from __future__ import annotations

import pytest

from rabtui.cli import main
from tests.trees import Lab, write_files


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("long_pattern"), media_count=1)
    write_files(lab.src / "data", {"a": b"one"})
    cfg = lab.local()
    assert lab.backup(cfg).status == "completed"
    return lab


@pytest.mark.parametrize("args", [["a" * 60000], ["*" * 60000], ["-i", "a/" * 30000], ["é" * 1000]],
                         ids=["letters", "stars", "-i", "accented letters"])
def test_a_pattern_too_long_to_search_for_is_bad_usage_not_a_damaged_database(lab, capsys, args):
    assert main(["--config", str(lab.config_path), "find", *args]) == 2
    err = capsys.readouterr().err
    assert "damaged" not in err and "rebuild-state" not in err, err
    assert "rabtui: the pattern is too long to search for" in err, err
    assert main(["--config", str(lab.config_path), "find", "a"]) == 0      # the database is as it was
