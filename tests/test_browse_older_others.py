"""Browse lists a symlink or FIFO an older complete backup saved, not saved again since, where a
newer backup than the one browsed put a file in its place in the union: a restore of the backup
reads it from the tree of the backup that saved it (restore/saved_others.py), and Browse lists
what a restore gives. Real rsync, a local source."""

from __future__ import annotations

import os

import pytest

from tests.test_archive_kinds_order import _restore
from tests.test_archive_shapes_as_saved import _backed_up, _listed
from tests.test_kept_entries_attacks import _lab
from tests.trees import write_files


@pytest.mark.parametrize("then", ["file", "dir"])
def test_a_symlink_and_fifo_an_older_backup_saved_are_listed_where_a_newer_shape_took_their_place(tmp_path, then):
    """`t`, `b/s` symlinks and `b/f` a FIFO (b1), unchanged (b2 saves none of them again), files or
    directories (b3, in the union in their places). A restore of b2 gives b1's symlinks and FIFO;
    Browse of b2 listed none of them (the union holds b3's shapes, saved after b2)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    os.mkdir(photos / "b")
    os.symlink("first.jpg", photos / "t")
    os.symlink("../first.jpg", photos / "b/s")
    os.mkfifo(photos / "b/f")
    _backed_up(lab, False, 0, "completed", "warnings")
    write_files(photos, {"second.jpg": b"two"})
    between = _backed_up(lab, False, 1, "completed", "warnings")
    for name in ("t", "b/s", "b/f"):
        os.unlink(photos / name)
    if then == "file":
        write_files(photos, {"t": b"file t", "b/s": b"file s", "b/f": b"file f"})
    else:
        write_files(photos, {"t/z": b"z", "b/s/z": b"z", "b/f/z": b"z"})
    _backed_up(lab, False, 2, "completed", "warnings")
    inside = {b"b/s": "link ../first.jpg", b"b/f": oct(0o10644)}
    assert _restore(lab, photos, between, "", tmp_path / "whole") == \
        (0, {b"first.jpg": oct(0o100644), b"second.jpg": oct(0o100644), b"t": "link first.jpg", b"b": "dir+", **inside})
    assert _restore(lab, photos, between, "b", tmp_path / "b") == (0, {b"b": "dir+", **inside})
    assert {n: e[:2] for n, e in _listed(lab, between, photos / "b").items()} == \
        {b"s": (False, len("../first.jpg")), b"f": (False, 0)}
    assert {n: e[:2] for n, e in _listed(lab, between, photos).items()} == \
        {b"first.jpg": (False, 3), b"second.jpg": (False, 3), b"t": (False, len("first.jpg")), b"b": (True, None)}
