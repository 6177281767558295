"""find's SQL prefilter never leaves out a path its exact test matches: over generated paths
(bytes that are no UTF-8, letters whose case folding is ASCII, a stray continuation byte after a
letter of several bytes, letters whole and decomposed: `é` and `e` with a combining acute, marks
in either order or given as characters that are them, Hangul syllables and their jamo, the Kelvin
sign and a CJK compatibility ideograph whose canonical forms are others) and generated patterns
(globs, parts of names, from `/`), the paths find's prefilter and exact test keep together are
those the exact test alone keeps over all of them. And a UTF-8 name matches as its canonical
form: in either form, by a pattern in either."""

from __future__ import annotations

import sqlite3

import unicodedata

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rabtui.state.name_match import as_glob, matches, prefilter

_CANONICAL = [s.encode() for s in ("e", "K", ";", "\u0301", "\u0341", "\u0344", "\u0323", "\u1eb9", "\uac00",
                                   "\u1100", "\u1161", "\u11a8", "\u037e", "\uf900", "\u8c48")]
_PIECES = [b"a", b"B", b"s", b"/", b".", b"\xc3\xa9", b"\xc3\x9f", b"\xe2\x84\xaa", b"\xe9", b"\x92",
           b"\xa9", b"\xc3", b"x"] + _CANONICAL
_PATTERN = _PIECES + [b"*", b"?", b"[", b"]", b"!", b"[!a]", b"[a-z]", b"SS", b"k"]

paths = st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6).map(b"".join),
                 min_size=1, max_size=12)
patterns = st.lists(st.sampled_from(_PATTERN), min_size=1, max_size=5).map(b"".join)


def _found(all_paths: list[bytes], pattern: bytes, ignore_case: bool) -> set[bytes]:
    pat = as_glob(pattern)
    test, params = prefilter(pat, ignore_case)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE paths(path BLOB)")
    db.executemany("INSERT INTO paths VALUES (?)", [(p,) for p in all_paths])
    rows = db.execute(f"SELECT path FROM paths WHERE {test}", params).fetchall()
    db.close()
    return {bytes(r[0]) for r in rows if matches(bytes(r[0]), pat, ignore_case)}


@settings(max_examples=400, deadline=None)
@given(paths, patterns, st.booleans())
@example([b"Caf\xc3\xa9\x92s"], "Caf\u00e9".encode(), False)     # a UTF-8 letter, then a cp1252 quote
@example([b"Caf\xe9\x92s"], b"Caf\xe9", False)                   # a cp1252 letter given as its byte
@example(["cafe\u0301".encode()], "caf\u00e9".encode(), False)    # saved decomposed, typed whole
@example(["caf\u00e9".encode()], "cafe\u0301".encode(), False)    # and the other way round
@example(["\u1100\u1161\u11a8".encode()], "\uac01".encode(), False)   # Hangul as jamo
@example(["20\u212a".encode()], b"*0K", False)                  # the Kelvin sign is K
@example(["e\u0341".encode()], "\u00e9".encode(), False)          # an acute given as the acute tone mark
@example([b"cafe\xcc\x81\xff"], "cafe\u0301".encode(), False)    # no UTF-8: as typed, decomposed
@example([b"\xe2\x84\xaa\x92"], "\u212a".encode(), False)          # the Kelvin sign, then a cp1252 quote
def test_the_prefilter_keeps_every_path_the_exact_test_matches(all_paths, pattern, ignore_case):
    pat = as_glob(pattern)
    exact = {p for p in all_paths if matches(p, pat, ignore_case)}
    assert _found(all_paths, pattern, ignore_case) == exact


def _forms(name: bytes) -> list[bytes]:
    """A UTF-8 name in either form; one that is no UTF-8 matches as it is (test_find_names.py)."""
    try:
        text = name.decode()
    except UnicodeDecodeError:
        return []
    return [unicodedata.normalize(f, text).encode() for f in ("NFC", "NFD")]


@settings(max_examples=200, deadline=None)
@given(paths, patterns, st.booleans())
def test_a_utf8_name_matches_in_either_form_by_a_pattern_in_either_form(all_paths, pattern, ignore_case):
    for path in all_paths:
        found = {matches(p, as_glob(pat), ignore_case) for p in _forms(path) for pat in _forms(pattern)}
        assert len(found) <= 1, (path, pattern)
