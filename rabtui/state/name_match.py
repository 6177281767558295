"""How find matches a name: a part of it or a glob (as_glob), the SQL that narrows the catalog's
paths before the exact test (prefilter), and that test (matches).

Names are bytes. A name that is UTF-8 matches as its canonical composition (NFC): `café` saved
from a macOS tree as `cafe` and a combining acute (NFD) is the same text as `café` saved whole,
shown alike, and a pattern typed in either form finds both. Compatibility forms (the ligature `ﬁ`,
a superscript `²`, full-width letters) are other characters that only look alike, and stay so, as
on file systems that ignore the form (APFS, ZFS's normalization). A name that is no UTF-8 matches
as it always did, byte for byte, each byte that is no UTF-8 one character as `ls -b` shows it.
"""

from __future__ import annotations

import fnmatch
import functools
import os
import re
import sys
import unicodedata
from array import array


def as_glob(pattern: str | bytes) -> bytes:
    """A pattern without wildcards matches as a part of the name (or of the path when it holds a
    `/`), as locate does; with `*`, `?` or `[` it is a glob."""
    pat = pattern if isinstance(pattern, bytes) else os.fsencode(pattern)
    return pat if any(w in pat for w in (b"*", b"?", b"[")) else b"*" + pat + b"*"


def matches(path: bytes, pattern: bytes, ignore_case: bool = False) -> bool:
    """The exact test after the SQL prefilter; on decoded text so that `?` is one character (an
    undecodable byte is one character too, as `ls -b` shows it). A pattern with a `/` is matched
    against the path from `/`, as find prints it, and as the catalog keeps it (without)."""
    if b"/" in pattern:
        tries = [(b"/" + path, pattern), (path, pattern.lstrip(b"/"))]
    else:
        tries = [(path.rsplit(b"/", 1)[-1], pattern)]
    for name, pat in tries:
        try:
            text = _canonical(name.decode(), ignore_case)
        except UnicodeDecodeError:
            text, pat_text = os.fsdecode(name), os.fsdecode(pat)
            if ignore_case:
                text, pat_text = text.casefold(), pat_text.casefold()
        else:
            pat_text = _canonical_pattern(pat, ignore_case)
        if fnmatch.fnmatchcase(text, pat_text):
            return True
    return False


def _canonical(text: str, ignore_case: bool) -> str:
    """`text` in its canonical composition (NFC); case-blind, canonically case-folded as Unicode
    says (D145: folded after decomposing, so that a letter folds alike in either form)."""
    if text.isascii():
        return text.lower() if ignore_case else text
    if ignore_case:
        text = unicodedata.normalize("NFD", text).casefold()
    return unicodedata.normalize("NFC", text)


@functools.lru_cache(maxsize=64)
def _canonical_pattern(pattern: bytes, ignore_case: bool) -> str:
    return _canonical(os.fsdecode(pattern), ignore_case)


def prefilter(pattern: bytes, ignore_case: bool) -> tuple[str, tuple]:
    """SQL that narrows `paths` (column p) before the exact test, never leaving out a path it would
    match. SQLite lowers ASCII letters only: a case-blind search for ASCII letters reads the paths
    holding a letter that is not ASCII too, which may fold to ASCII ones (`-i strasse` finds
    Straße, ß folding to ss; such a letter makes the text shorter in characters than in bytes, a
    test far cheaper than a GLOB for each), and one for other letters reads every path of the
    source. A case-sensitive one is narrowed for the pattern's canonical form, which keeps the
    names that are no UTF-8 and match the pattern as typed too: the characters its narrowing
    looks for (the ASCII ones, those written one way) are in the pattern as typed where they are
    in its canonical form, and a letter that is not ASCII there has one as typed."""
    if not ignore_case:
        return _exact_case_sql(_glob_sql(os.fsencode(unicodedata.normalize("NFC", os.fsdecode(pattern)))))
    if pattern.isascii():
        return ("(lower(CAST(path AS TEXT)) GLOB CAST(? AS TEXT)"
                " OR length(CAST(path AS TEXT)) < length(CAST(path AS BLOB)))", (_glob_sql(pattern.lower()),))
    return "1", ()


def _glob_sql(pattern: bytes) -> bytes:
    """A superset filter for SQLite GLOB (bytes, compared as they are): the pattern at the end.
    A `?` and a bracket expression become `*`: SQLite reads a byte of 0xc0 and up with the bytes of
    0x80-0xbf after it as one character where they are no UTF-8 (b"\\xe9\\x92", an e-acute and a
    quote in cp1252), and the exact test, as `ls -b` shows them, as one each; SQLite's GLOB says
    `[^...]` where the shell and fnmatch say `[!...]`, and takes `^` for negation where they take it
    as it is; a `[` that no `]` closes is a plain character to fnmatch, and never matches in SQLite
    unless `[[]`."""
    out, i = bytearray(), 0
    while i < len(pattern):
        c = pattern[i:i + 1]
        if c == b"[":
            j = i + 1
            if pattern[j:j + 1] == b"!":
                j += 1
            if pattern[j:j + 1] == b"]":
                j += 1
            j = pattern.find(b"]", j)
            if j < 0:
                out += b"[[]"
            else:
                out += b"*"
                i = j
        elif c == b"?":
            out += b"*"
        else:
            out += c
        i += 1
    glob = bytes(out)
    if b"/" not in pattern:
        return b"*" + glob
    # the path as find prints it, from `/`, or as the catalog keeps it: a `/` after the leading
    # stars may be the one the catalog leaves out
    stars = len(glob) - len(glob.lstrip(b"*"))
    if stars and glob[stars:stars + 1] == b"/":
        return b"*" + glob[stars + 1:]
    return glob.lstrip(b"/")


# The ASCII characters that another stands for in canonical form (that one's canonical form is
# this one alone), with those others: the Kelvin sign, the Greek question mark and varia. Unicode
# never changes a character's decomposition; tests/test_find_canonical_names.py reads them again.
_UNSTABLE_ASCII = {"K": "\u212a", ";": "\u037e", "`": "\u1fef"}

_GLOB = "CAST(path AS TEXT) GLOB CAST(? AS TEXT)"
_NEEDLE = "instr(CAST(path AS BLOB), ?)"
_NOT_ASCII = "length(CAST(path AS TEXT)) < length(CAST(path AS BLOB))"


def _exact_case_sql(glob: bytes) -> tuple[str, tuple]:
    """The case-sensitive prefilter of `glob` (_glob_sql's), for the names the pattern matches as
    they are and those it matches in canonical form alike. The GLOB holds the pattern's ASCII
    characters, which such a name holds as they are, but for the three another character stands
    for in canonical form (`K` for the Kelvin sign): a path holding one of those others may hold
    it there, and is matched by a GLOB that leaves it to `*` (a bracket of both in the GLOB would
    be read at every place, where SQLite skips ahead to a plain letter after a `*`). The rest
    become `*`: SQLite's GLOB reads a byte of 0xc0 and up with every byte of 0x80-0xbf after it as
    one character (b"\xc3\xa9\x92", an e-acute in UTF-8 and a quote in cp1252), where the exact
    test reads the quote apart, and a letter that is not ASCII may be written another way (`é` as
    `e` and a combining acute). The runs of characters that no name writes another way are looked
    for among the path's bytes instead; a Hangul syllable or a letter with marks, among the ways
    a name may write it (_ways); any other character that may be written otherwise asks for a
    byte that is not ASCII."""
    if glob.isascii() and not _UNSTABLE_ASCII.keys() & set(glob.decode()):
        return _GLOB, (glob,)
    loose, tests, other = bytearray(), [], False
    for i, part in enumerate(glob.split(b"*")):
        loose += b"*" if i else b""
        run: list[str] = []
        for j, piece in enumerate(part.split(b"[[]")):       # `[[]`: a plain `[`
            if j:
                loose += b"[[]"
                run.append("[")
            for ch in os.fsdecode(piece):
                loose += _as_glob_char(ch)
                if ch not in _UNSTABLE_ASCII and (ch.isascii() or _written_one_way(ch)):
                    run.append(ch)
                    continue
                _needle(run, tests)
                run = []
                if ways := _ways(ch):
                    tests.append(("(" + " OR ".join([_NEEDLE] * len(ways)) + ")", tuple(ways)))
                elif not ch.isascii():
                    other = True
        _needle(run, tests)
    if other:
        tests.append((_NOT_ASCII, ()))
    glob_test, glob_params = _glob_test(re.sub(rb"\*+", b"*", bytes(loose)))
    tests = list(dict.fromkeys(tests))     # a letter again asks nothing more of the path
    sql = _all([*glob_test, *(t for t, _ in tests)])
    return sql, (*glob_params, *(p for _, ways in tests for p in ways))


def _all(terms: list[str]) -> str:
    """The terms joined by AND, in their order, as a balanced tree: SQLite takes an expression
    1,000 deep at most, and a chain of a test per letter of a long pattern is as deep as it is long."""
    if len(terms) <= 2:
        return " AND ".join(terms or ["1"])
    half = len(terms) // 2
    return f"({_all(terms[:half])}) AND ({_all(terms[half:])})"


def _glob_test(loose: bytes) -> tuple[list[str], tuple]:
    """The GLOBs of _exact_case_sql (none for `*`: each is one more call for each path): `loose`,
    or where it holds an ASCII character that another stands for, `loose` with those characters
    left to `*` (what SQLite reads for most paths, as fast as `loose`), then `loose` itself or one
    of the others somewhere in the path."""
    others = [_UNSTABLE_ASCII[ch].encode() for ch in dict.fromkeys(loose.decode(errors="surrogateescape"))
              if ch in _UNSTABLE_ASCII]
    if not others:
        return ([], ()) if loose == b"*" else ([_GLOB], (loose,))
    starred = _starred(loose)
    either = f"({_GLOB} OR " + " OR ".join([_NEEDLE] * len(others)) + ")"
    if starred == b"*":
        return [either], (loose, *others)
    return [_GLOB, either], (starred, loose, *others)


def _needle(run: list[str], tests: list[tuple[str, tuple]]) -> None:
    """A run of characters no name writes another way, looked for among the path's bytes (one all
    ASCII is the GLOB's already)."""
    text = "".join(run)
    if not text.isascii():
        tests.append((_NEEDLE, (os.fsencode(text),)))


def _ways(ch: str) -> list[bytes]:
    """The bytes one of which a name holds where its canonical form holds `ch`, a letter written
    more than one way (none where they are not known: any byte that is not ASCII then).

    A Hangul syllable: itself, its first two jamo whole (before the last), its first jamo. A
    letter and marks (`é`): itself, the characters that are it in canonical form (the Greek
    letters with oxia for those with tonos), or whose canonical form holds it (one excluded from
    composition), or one of its marks on its own (alone, or in a character made of marks alone,
    such as the combining Greek dialytika tonos): a name holding it written otherwise holds the
    letter bare or composed with some of its marks only, and the others after it."""
    if 0xAC00 <= ord(ch) <= 0xD7A3:
        jamo = unicodedata.normalize("NFD", ch)
        return [w.encode() for w in dict.fromkeys((ch, unicodedata.normalize("NFC", jamo[:2]), jamo[0]))]
    parts = unicodedata.normalize("NFD", ch)
    if len(parts) < 2 or unicodedata.combining(parts[0]) or not all(map(unicodedata.combining, parts[1:])):
        return []
    same, holding, marks_in = _written_otherwise()
    ways = [ch, *same.get(parts, ()), *holding.get(ch, ())]
    for mark in parts[1:]:
        ways += [mark, *marks_in.get(mark, ())]
    return [w.encode() for w in dict.fromkeys(ways)]


@functools.cache
def _written_otherwise() -> tuple[dict, dict, dict]:
    """From this Python's Unicode data, once: the characters by their canonical decomposition;
    those whose canonical composition is another, by each character of that; the characters made
    of marks alone, by each of their marks."""
    same: dict[str, list[str]] = {}
    holding: dict[str, list[str]] = {}
    marks_in: dict[str, list[str]] = {}
    for ch in _decomposing():
        parts = unicodedata.normalize("NFD", ch)
        same.setdefault(parts, []).append(ch)
        if (composed := unicodedata.normalize("NFC", ch)) != ch:
            for c in composed:
                holding.setdefault(c, []).append(ch)
        if all(map(unicodedata.combining, parts)):
            for mark in parts:
                marks_in.setdefault(mark, []).append(ch)
    return same, holding, marks_in


def _as_glob_char(ch: str) -> bytes:
    """A character in the GLOB: ASCII as it is, any other as `*`."""
    return ch.encode() if ch.isascii() else b"*"


def _starred(glob: bytes) -> bytes:
    """`glob` with the ASCII characters another stands for left to `*`."""
    return re.sub(rb"\*+", b"*", re.sub(b"[" + re.escape("".join(_UNSTABLE_ASCII).encode()) + b"]", b"*", glob))


def _written_one_way(ch: str) -> bool:
    """Does every text equal to one holding `ch` (where its canonical form has it) hold it as it
    is, the same bytes? Not a character that decomposes (`é`), nor a combining mark (those
    reorder), nor one that canonical forms make out of another (`K` out of the Kelvin sign, the
    jamo out of a Hangul syllable). A byte that is no UTF-8 (a surrogate escape) is itself."""
    return (not unicodedata.combining(ch) and unicodedata.is_normalized("NFD", ch)
            and ch not in _made_of_others())


@functools.cache
def _made_of_others() -> frozenset[str]:
    """The characters that a canonical form makes out of others: those after the first of a
    decomposition (the vowel of a Hangul syllable), and those of the composition of a character
    that composes into another (`K`, from the Kelvin sign; a character that is excluded from
    composition). Read from this Python's Unicode data, once."""
    made: set[str] = set()
    for ch in _decomposing():
        made.update(unicodedata.normalize("NFD", ch)[1:])
        if (composed := unicodedata.normalize("NFC", ch)) != ch:
            made.update(composed)
    return frozenset(made)


@functools.cache
def _decomposing() -> tuple[str, ...]:
    """Every character that canonical decomposition changes (some 20 ms of CPU: every code point
    made into one string at C speed, read in blocks, most of which nothing in changes)."""
    every = array("I", range(sys.maxunicode + 1)).tobytes().decode(f"utf-32-{sys.byteorder[0]}e", "surrogatepass")
    out: list[str] = []
    for lo in range(0, len(every), 1024):
        block = every[lo:lo + 1024]
        if not unicodedata.is_normalized("NFD", block):
            out += [ch for ch in block if not unicodedata.is_normalized("NFD", ch)]
    return tuple(out)

