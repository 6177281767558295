"""`checkpoint plan --from-list`: a size larger than any file can be (past 2^63 - 1 bytes) is said
with its line (exit 2); one of more than 4,300 digits said only Python's own "Exceeds the limit
(4300 digits) for integer string conversion ... use sys.set_int_max_str_digits()", with no line.
A size with no path after it (`10 `, `10 /`) is refused with its line too: it was planned as a file
of that size named nothing."""

from __future__ import annotations

import pytest

from rabtui.checkpoint import plan as P
from rabtui.cli import main


@pytest.mark.parametrize("size, said", [
    (b"9" * 5000, "size 999999999999... (5000 digits): larger than a file can be (9223372036854775807 bytes)"),
    (b"9223372036854775808", "size 9223372036854775808: larger than a file can be (9223372036854775807 bytes)"),
], ids=["5000 digits", "2**63"])
def test_a_size_no_file_can_have_is_said_with_its_line(tmp_path, capsys, size, said):
    listing = tmp_path / "list"
    listing.write_bytes(b"10 /a\n" + size + b" /b\n")
    assert main(["checkpoint", "plan", "--from-list", str(listing), "--disc", "cd-700"]) == 2
    assert capsys.readouterr().err == f"rabtui: {listing}: line 2: {said}\n"


def test_the_largest_size_a_file_can_have_is_read():
    assert P.parse_list([b"9223372036854775807 /a\n", b"000000000000000000000000007 /b\n"]).sizes == [2**63 - 1, 7]


@pytest.mark.parametrize("line", [b"10 \n", b"10 /\n", b"10 ./\n"], ids=["empty", "slash", "dot slash"])
def test_a_size_with_no_path_is_refused_with_its_line(tmp_path, capsys, line):
    listing = tmp_path / "list"
    listing.write_bytes(b"10 /a\n" + line)
    assert main(["checkpoint", "plan", "--from-list", str(listing), "--disc", "cd-700"]) == 2
    assert capsys.readouterr().err == (f"rabtui: {listing}: line 2: size 10 with no path: not a 'SIZE PATH' line:"
                                       f" {line!r}\n")
