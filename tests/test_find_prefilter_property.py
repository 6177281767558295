"""find's SQL prefilter never leaves out a path its exact test matches: over generated paths
(bytes that are no UTF-8, letters whose case folding is ASCII, a stray continuation byte after a
letter of several bytes) and generated patterns (globs, parts of names, from `/`), the paths find's
prefilter and exact test keep together are those the exact test alone keeps over all of them."""

from __future__ import annotations

import sqlite3

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rabtui.state.catalog import _matches, _prefilter, as_glob

_PIECES = [b"a", b"B", b"s", b"/", b".", b"\xc3\xa9", b"\xc3\x9f", b"\xe2\x84\xaa", b"\xe9", b"\x92",
           b"\xa9", b"\xc3", b"x"]
_PATTERN = _PIECES + [b"*", b"?", b"[", b"]", b"!", b"[!a]", b"[a-z]", b"SS", b"k"]

paths = st.lists(st.lists(st.sampled_from(_PIECES), min_size=1, max_size=6).map(b"".join),
                 min_size=1, max_size=12)
patterns = st.lists(st.sampled_from(_PATTERN), min_size=1, max_size=5).map(b"".join)


def _found(all_paths: list[bytes], pattern: bytes, ignore_case: bool) -> set[bytes]:
    pat = as_glob(pattern)
    test, params = _prefilter(pat, ignore_case)
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE paths(path BLOB)")
    db.executemany("INSERT INTO paths VALUES (?)", [(p,) for p in all_paths])
    rows = db.execute(f"SELECT path FROM paths WHERE {test}", params).fetchall()
    db.close()
    return {bytes(r[0]) for r in rows if _matches(bytes(r[0]), pat, ignore_case)}


@settings(max_examples=400, deadline=None)
@given(paths, patterns, st.booleans())
@example([b"Caf\xc3\xa9\x92s"], "Caf\u00e9".encode(), False)     # a UTF-8 letter, then a cp1252 quote
@example([b"Caf\xe9\x92s"], b"Caf\xe9", False)                   # a cp1252 letter given as its byte
def test_the_prefilter_keeps_every_path_the_exact_test_matches(all_paths, pattern, ignore_case):
    pat = as_glob(pattern)
    exact = {p for p in all_paths if _matches(p, pat, ignore_case)}
    assert _found(all_paths, pattern, ignore_case) == exact
