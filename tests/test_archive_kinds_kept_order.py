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


@pytest.mark.parametrize("kind", ["symlink", "FIFO"])
@pytest.mark.parametrize("union_first", [True, False], ids=["union-then-kept", "kept-then-union"])
def test_a_kept_symlink_or_fifo_and_the_unions_directory_the_one_saved_last_is_given(tmp_path, kind, union_first):
    """`b/f` saved by a complete backup (the union holds the directory `b`) and a symlink or a FIFO
    at `b` by a kept one, in either order, then `b` gone. The directory was saved last where a
    backup after the kept one holds it in its own tree. The kept entry saved last: the medium gave
    an empty directory `b` (the union's, its file an older shape), the discs the union's `b/f`."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    _backed_up(lab, False, 0)
    for day, directory in enumerate((True, False) if union_first else (False, True), start=1):
        if directory:
            write_files(photos, {"b/f": b"f in b"})
            _backed_up(lab, False, day)
            shutil.rmtree(photos / "b")
        else:
            _OTHER[kind](photos / "b")
            _backed_up(lab, True, day)
            os.unlink(photos / "b")
    last = _backed_up(lab, False, 3)
    if union_first:
        _agree(lab, tmp_path, photos, last, kind)
        return
    want = {b"first.jpg": oct(0o100644), b"b": "dir+", b"b/f": oct(0o100644)}
    assert _restore(lab, photos, last, "", tmp_path / "whole") == (0, want)
    assert _restore(lab, photos, last, "b", tmp_path / "b") == (0, {b"b": "dir+", b"b/f": oct(0o100644)})
    assert {n: e[0] for n, e in _listed(lab, last, photos).items()} == {b"first.jpg": False, b"b": True}
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _tree(os.fsencode(from_medium)) == _tree(os.fsencode(from_discs)) == want
