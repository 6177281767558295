"""`find` matches a UTF-8 name as its canonical composition (NFC): a name saved from a macOS tree in
decomposed form (NFD: `cafe` and a combining acute) is found by `café` typed whole, and one saved
whole by the pattern typed decomposed, in the CLI and in Browse's find alike; compatibility forms
(the ligature `ﬁ`) stay other characters, and names that are no UTF-8 match byte for byte as
before. Real rsync backups over the test sshd."""

from __future__ import annotations

import json
import os
import unicodedata

import pytest

from rabtui.actions.find import find, find_with_newest_backup
from rabtui.cli import main
from rabtui.state.name_match import _UNSTABLE_ASCII, _decomposing, _made_of_others
from tests.trees import Lab, ssh_source_lines, write_files


def nfd(s: str) -> bytes:
    return unicodedata.normalize("NFD", s).encode()


def nfc(s: str) -> bytes:
    return unicodedata.normalize("NFC", s).encode()


NAMES = {
    b"mac/" + nfd("café.txt"): b"1",          # saved from a macOS tree
    b"linux/" + nfc("café.txt"): b"2",
    b"mac/" + nfd("Crème brûlée.md"): b"3",
    b"mac/" + nfd("사진.jpg"): b"4",           # Hangul as conjoining jamo
    "linux/20\u212a.log".encode(): b"5",      # the Kelvin sign, whose canonical form is K
    "linux/\ufb01le.txt".encode(): b"6",      # the ligature fi: a compatibility form only
    b"latin1/caf\xe9.txt": b"7",              # no UTF-8: as it always matched
    b"latin1/" + nfd("café") + b"\xff.txt": b"8",
}


@pytest.fixture(scope="module")
def lab(tmp_path_factory, sshd):      # only read
    lab = Lab(tmp_path_factory.mktemp("canonical"), media_count=1)
    lab.trust(sshd)
    data = lab.src / "data"
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{data}"\nkind = "standard"\n')
    write_files(data, NAMES)
    os.symlink("x", os.fsencode(data) + b"/mac/" + nfd("résumé-link"))
    assert lab.backup(cfg, "web").status == "completed"
    return lab, cfg


def found(lab, pattern: str, ignore_case: bool = False) -> list[bytes]:
    lab, cfg = lab
    return sorted(bytes(v.path).split(b"/data/", 1)[1]
                  for v in find(cfg, lab.store(), pattern, ignore_case=ignore_case).versions)


def test_a_name_in_either_form_is_found_by_a_pattern_in_either_form(lab):
    def utf8(lab, pattern, ignore_case=False):    # the names that are UTF-8
        return [p for p in found(lab, pattern, ignore_case) if not p.startswith(b"latin1/")]

    both = [b"linux/" + nfc("café.txt"), b"mac/" + nfd("café.txt")]
    for form in ("NFC", "NFD"):
        def typed(s):
            return unicodedata.normalize(form, s)

        assert utf8(lab, typed("café")) == both, form
        assert utf8(lab, typed("café.txt")) == both, form
        assert utf8(lab, typed("*/café.*")) == both, form       # a glob on the path
        assert utf8(lab, typed("rème brûlée")) == [b"mac/" + nfd("Crème brûlée.md")], form
        assert utf8(lab, typed("CRÈME"), ignore_case=True) == [b"mac/" + nfd("Crème brûlée.md")], form
        assert utf8(lab, typed("사진")) == [b"mac/" + nfd("사진.jpg")], form
        assert utf8(lab, typed("résumé-*")) == [b"mac/" + nfd("résumé-link")], form     # a symlink
    # `?` is one letter as the name shows it, whichever form it was saved in
    assert utf8(lab, "caf?.txt") == both
    assert utf8(lab, "?.jpg") == []
    assert utf8(lab, "??.jpg") == [b"mac/" + nfd("사진.jpg")]
    assert utf8(lab, "20K.log") == ["linux/20\u212a.log".encode()]


def test_compatibility_forms_stay_other_characters_and_names_no_utf8_match_as_before(lab):
    assert found(lab, "file") == []
    assert found(lab, "\ufb01le") == ["linux/\ufb01le.txt".encode()]
    # a name that is no UTF-8 matches the pattern as typed, byte for byte
    odd = b"latin1/" + nfd("café") + b"\xff.txt"
    assert found(lab, "caf\udce9") == [b"latin1/caf\xe9.txt"]
    assert found(lab, nfd("café").decode() + "\udcff") == [odd]
    assert odd in found(lab, nfd("café").decode()) and odd not in found(lab, nfc("café").decode())


def test_the_command_line_and_browse_find_it_with_its_name_as_saved(lab, capsys):
    lab_, _cfg = lab
    assert main(["--config", str(lab_.config_path), "find", nfc("café").decode(), "--json"]) == 0
    paths = sorted(v["path"].split("/data/", 1)[1] for v in json.loads(capsys.readouterr().out))
    assert paths == ["linux/" + nfc("café.txt").decode(), "mac/" + nfd("café.txt").decode()]
    rows = find_with_newest_backup(lab[1], lab_.store(), nfc("café").decode())
    assert sorted(bytes(r["path"]).rsplit(b"/", 1)[1] for r in rows) == [nfd("café.txt"), nfc("café.txt")]
    assert all(r["backup"] is not None for r in rows)


def test_the_ascii_characters_another_stands_for_are_those_unicode_says():
    """The prefilter's table of the ASCII characters that another one's canonical form is, read
    again from this Python's Unicode data."""
    made = {ch: "".join(x for x in _decomposing() if unicodedata.normalize("NFC", x) == ch)
            for ch in _made_of_others() if ch.isascii()}
    assert made == _UNSTABLE_ASCII
