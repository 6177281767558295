"""`find` matches a name as its exact test does, whatever SQLite's prefilter makes of its bytes:
letters whose case folding is ASCII (`-i strasse` finds Straße), and bytes that are no UTF-8,
each one character as `ls -b` shows it (b"Caf\\xe9\\x92s": an e-acute and a quote in cp1252)."""

from __future__ import annotations

import os

import pytest

from rabtui.actions.find import find
from tests.trees import Lab, write_files

NAMES = {"Straße.txt": b"1", "STRASSE.md": b"2", b"Caf\xe9\x92s.txt": b"3", "Kelvin-\u212a.txt": b"4",
         "plain.txt": b"5"}


@pytest.fixture(scope="module")
def lab(tmp_path_factory):      # only read
    lab = Lab(tmp_path_factory.mktemp("names"), media_count=1)
    cfg = lab.local([("data", "standard")])
    write_files(lab.src / "data", NAMES)
    os.symlink("x", lab.src / "data" / "Maße-link")
    assert lab.backup(cfg).status == "completed"
    return lab, cfg


def _names(lab, pattern, ignore_case=False):
    cfg, store = lab[1], lab[0].store()
    return sorted(os.path.basename(v.path) for v in find(cfg, store, pattern, ignore_case=ignore_case).versions)


def test_a_case_blind_search_finds_letters_that_fold_to_what_it_asks(lab):
    assert _names(lab, "strasse", ignore_case=True) == [b"STRASSE.md", "Straße.txt".encode()]
    assert _names(lab, "straße", ignore_case=True) == [b"STRASSE.md", "Straße.txt".encode()]
    assert _names(lab, "kelvin-k", ignore_case=True) == ["Kelvin-\u212a.txt".encode()]
    assert _names(lab, "masse-*", ignore_case=True) == ["Maße-link".encode()]     # a symlink too
    assert _names(lab, "strasse") == []


def test_bytes_that_are_no_utf8_are_one_character_each_as_ls_shows_them(lab):
    assert _names(lab, "Caf??s.txt") == [b"Caf\xe9\x92s.txt"]
    assert _names(lab, "Caf[!a][!a]s.txt") == [b"Caf\xe9\x92s.txt"]
    assert _names(lab, "Caf?s.txt") == []
    assert _names(lab, "Caf\udce9\udc92s.txt") == [b"Caf\xe9\x92s.txt"]
    # a byte of the name given alone: SQLite reads it with the 0x92 after it as one character
    assert _names(lab, "Caf\udce9*") == [b"Caf\xe9\x92s.txt"]
    assert _names(lab, "\udce9") == [b"Caf\xe9\x92s.txt"]



def test_a_path_as_find_prints_it_finds_it(lab):
    """`find` prints paths from `/`; given back (as `locate` takes one), or as a glob from `/`,
    they find the file, as the path without its `/` does."""
    lab, cfg = lab
    full = str(lab.src / "data" / "plain.txt")
    for pattern in (full, full[1:], "/" + full.split("/")[1] + "/*/plain.txt", full[:-4] + "*", "*/plain.txt",
                    full.rsplit("/", 2)[0][1:] + "/*/plain.txt"):
        assert _names((lab, cfg), pattern) == [b"plain.txt"], pattern
    assert _names((lab, cfg), "/data/plain.txt") == [b"plain.txt"]      # a part of the path
    assert _names((lab, cfg), "/plain.txt/") == []
