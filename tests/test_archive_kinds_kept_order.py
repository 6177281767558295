"""The newest entry saved at a path of an archive directory up to a backup wins, whatever its kind,
where kept backups (never linked into the union) saved some of them: a restore from the medium,
Browse and the checkpoint's discs give the same. Real rsync and xorriso, an `images:` drive, a
local source; the helpers of test_archive_kinds_order."""

from __future__ import annotations

import os
import shutil

import pytest

from rabtui.cli import main
from tests.test_archive_kinds_order import _restore
from tests.test_archive_shapes_as_saved import _backed_up, _listed
from tests.test_kept_entries_attacks import _lab, _tree, restored_both_ways
from tests.trees import write_files

_OTHER = {"symlink": lambda p: os.symlink("first.jpg", p), "FIFO": os.mkfifo}
_GIVEN = {"symlink": "link first.jpg", "FIFO": oct(0o10644)}


def _agree(lab, tmp_path, photos, last, kind: str, medium_exits=(0,)) -> None:
    """Restored from the medium as of `last`, whole and `b` alone, listed by Browse and restored
    from the discs: `b` is the `kind` saved there, nothing below it (`b/f` alone: not in `last`)."""
    want = {b"first.jpg": oct(0o100644), b"b": _GIVEN[kind]}
    assert _restore(lab, photos, last, "", tmp_path / "whole") == (0, want)
    assert _restore(lab, photos, last, "b", tmp_path / "b") == (0, {b"b": _GIVEN[kind]})
    assert _restore(lab, photos, last, "b/f", tmp_path / "f")[0] == 1
    assert {n: e[0] for n, e in _listed(lab, last, photos).items()} == {b"first.jpg": False, b"b": False}
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos, medium_exits)
    assert _tree(os.fsencode(from_medium)) == _tree(os.fsencode(from_discs)) == want


@pytest.mark.parametrize("kind", ["symlink", "FIFO"])
def test_a_kept_symlink_or_fifo_in_place_of_an_older_kept_directory_is_given(tmp_path, kind):
    """`b/f` (K1, kept), a symlink or a FIFO at `b` (K2, kept), `b` gone (b4). K2's entry is the
    newest saved at `b`: kept_entries.found left it out for K1's directory with entries there
    (whichever was older), so the medium gave nothing at `b` and the discs K1's `b/f`."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    _backed_up(lab, False, 0)
    write_files(photos, {"b/f": b"f in b"})
    _backed_up(lab, True, 1)
    shutil.rmtree(photos / "b")
    _OTHER[kind](photos / "b")
    _backed_up(lab, True, 2)
    os.unlink(photos / "b")
    _agree(lab, tmp_path, photos, _backed_up(lab, False, 3), kind)
