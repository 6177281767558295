"""A keymap.toml holding a number of more digits than Python converts is said not used, as any
other keymap.toml that cannot be read is: tomllib's ValueError (no TOMLDecodeError) ended the
worker that reads it, its traceback's last line shown as a failure."""

from __future__ import annotations

import sys

from rabtui.tui import keymap


def test_a_keymap_with_a_number_too_long_for_python_is_said_not_used(tmp_path):
    path = tmp_path / "keymap.toml"
    path.write_text('"goto.runs" = "f4"\nx = ' + "9" * 5000 + "\n")
    path.chmod(0o600)
    limit = sys.get_int_max_str_digits()
    assert keymap.read(path) == ({}, [f"not used: invalid TOML: a number of more than {limit} digits"])
