"""`find` with a pattern longer than SQLite's GLOB takes (50,000 bytes): SQLite's "LIKE or GLOB
pattern too complex" was read as a damaged state database, whose message sends the operator to
`rebuild-state` (the database set aside and made anew from the media). It is bad usage, said as
such; the database is not called damaged. A pattern of more than a thousand letters written more
than one way (a test of each of their canonical forms) is searched for: the tests are no longer a
chain deeper than SQLite takes."""

from __future__ import annotations

import pytest

from rabtui.cli import main
from tests.trees import Lab, write_files

# 1,020 Hangul syllables, each its own test (its own ways to be written), 85 to a directory
DEEP = "/".join("".join(chr(0xAC00 + 85 * level + i) for i in range(85)) for level in range(12))


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    lab = Lab(tmp_path_factory.mktemp("long_pattern"), media_count=1)
    write_files(lab.src / "data", {"a": b"one", DEEP + "/f": b"deep"})
    cfg = lab.local()
    assert lab.backup(cfg).status == "completed"
    return lab


@pytest.mark.parametrize("args", [["a" * 60000], ["*" * 60000], ["-i", "a/" * 30000]],
                         ids=["letters", "stars", "-i"])
def test_a_pattern_too_long_to_search_for_is_bad_usage_not_a_damaged_database(lab, capsys, args):
    assert main(["--config", str(lab.config_path), "find", *args]) == 2
    err = capsys.readouterr().err
    assert "damaged" not in err and "rebuild-state" not in err, err
    assert "rabtui: the pattern is too long to search for" in err, err
    assert main(["--config", str(lab.config_path), "find", "a"]) == 0      # the database is as it was


def test_a_pattern_of_a_thousand_letters_written_more_than_one_way_is_searched_for(lab, capsys):
    """Each letter is a test of the path (its canonical forms); a chain of them was an expression
    deeper than SQLite takes (refused as too long). The path is found, from / or from its
    canonical form decomposed (NFD) as typed on macOS."""
    import json
    import unicodedata

    for typed in (DEEP, unicodedata.normalize("NFD", DEEP)):
        assert main(["--config", str(lab.config_path), "find", "--json", typed + "/f"]) == 0
        found = json.loads(capsys.readouterr().out)
        assert [v["path"] for v in found] == [f"{lab.src}/data/{DEEP}/f"], found


def test_a_pattern_of_more_values_than_this_sqlite_takes_is_bad_usage(lab):
    """SQLite built with its own default takes 32,766 values in a statement (Debian's 250,000):
    past it, the pattern is bad usage too, not a damaged database (the limit lowered here)."""
    import sqlite3

    from rabtui.actions import find as find_actions
    from rabtui.errors import UsageError

    store = lab.store()
    store.conn.setlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER, 300)
    with pytest.raises(UsageError, match="the pattern is too long to search for"):
        find_actions.find(lab.load(), store, DEEP)
