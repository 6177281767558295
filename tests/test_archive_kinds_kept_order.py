"""The newest entry saved at a path of an archive directory up to a backup wins, whatever its kind,
where kept backups (never linked into the union) saved some of them: a restore from the medium,
Browse and the checkpoint's discs give the same. Real rsync and xorriso, an `images:` drive, a
local source; the helpers of test_archive_kinds_order."""

from __future__ import annotations

import os
import shutil

import pytest

from rabtui.checkpoint import prepare
from rabtui.events import WARNING
from tests.test_archive_kinds_order import _contents, _restore
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


def _make(photos, kind: str, day: int) -> None:
    """`kind` at `b` (a directory holding `f`), of its day."""
    if kind == "file":
        write_files(photos, {"b": b"b of day %d" % day})
    elif kind == "dir":
        write_files(photos, {"b/f": b"f of day %d" % day})
    elif kind == "empty":
        os.mkdir(photos / "b")
    else:
        _OTHER[kind](photos / "b")


def _remove(photos) -> None:
    shutil.rmtree(photos / "b") if (photos / "b").is_dir() and not (photos / "b").is_symlink() else os.unlink(photos / "b")


def _union_file_then_kept(tmp_path, kinds: tuple[str, ...], union: str = "file"):
    """A file (or a symlink) `b` (b1, complete: in the union), then each of `kinds` at `b` in a
    kept backup, then `b` gone (the last backup, complete)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    _make(photos, union, 0)
    _backed_up(lab, False, 0)
    for day, kind in enumerate(kinds, start=1):
        _remove(photos)
        _make(photos, kind, day)
        _backed_up(lab, True, day)
    _remove(photos)
    return lab, photos, _backed_up(lab, False, len(kinds) + 1)


@pytest.mark.parametrize("union, kinds", [("file", ("dir",)), ("file", ("symlink", "dir")), ("file", ("FIFO", "dir")),
                                          ("file", ("file", "dir")), ("file", ("dir", "dir")), ("symlink", ("dir",))],
                         ids=lambda v: v if isinstance(v, str) else "-then-".join(v))
def test_a_kept_directory_saved_after_the_unions_file_is_given_with_what_it_holds(tmp_path, union, kinds):
    """The union's file (or symlink) `b`, then kept directories (or other shapes, then a
    directory) there: the last kept directory is the newest entry saved at `b`. The medium gave
    the union's entry and refused kept data's `b/f` below it (exit 3), or gave the directory while
    the discs held the union's file (the plan warning of `b/f` below it), and `b` alone was the
    union's entry, or not there; `b/f` alone was refused below the union's symlink."""
    lab, photos, last = _union_file_then_kept(tmp_path, kinds, union)
    f = b"f of day %d" % len(kinds)
    want = {b"first.jpg": b"one", b"b": "dir+", b"b/f": f}
    assert _restore(lab, photos, last, "", tmp_path / "whole")[0] == 0
    assert _contents(tmp_path / "whole" / str(photos).lstrip("/")) == want
    for rel in ("b", "b/f"):
        assert _restore(lab, photos, last, rel, tmp_path / rel.replace("/", "-"))[0] == 0, rel
        assert _contents(tmp_path / rel.replace("/", "-") / str(photos).lstrip("/")) == {b"b": "dir+", b"b/f": f}
    assert {n: e[0] for n, e in _listed(lab, last, photos).items()} == {b"first.jpg": False, b"b": True}
    assert {n: e[:2] for n, e in _listed(lab, last, photos / "b").items()} == {b"f": (False, len(f))}
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _contents(from_medium) == _contents(from_discs) == want


@pytest.mark.parametrize("union", ["file", "symlink"])
def test_an_empty_kept_directory_saved_after_the_unions_entry_is_given(tmp_path, union):
    """The union's file or symlink `b`, then an empty directory there (kept): the newest entry
    saved at `b`. The medium and Browse gave the union's entry; the disc held it."""
    lab, photos, last = _union_file_then_kept(tmp_path, ("empty",), union)
    assert _restore(lab, photos, last, "b", tmp_path / "b") == (0, {b"b": "dir"})
    assert {n: e[0] for n, e in _listed(lab, last, photos).items()} == {b"first.jpg": False, b"b": True}
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _contents(from_medium) == _contents(from_discs) == {b"first.jpg": b"one", b"b": "dir"}


@pytest.mark.parametrize("steps", [("kept dir", "kept file"), ("dir", "kept file"), ("dir", "kept dir", "kept file"),
                                   ("dir", "file"), ("kept dir", "file")], ids="-then-".join)
def test_a_file_saved_after_a_directory_at_its_path_is_given_what_the_directory_held_is_an_older_shape(
        tmp_path, steps, capsys):
    """A directory at `b` holding a file, then a file `b` (each saved by a complete or a kept
    backup), then `b` gone: the file is the newest entry saved at `b`, what the directory held an
    older shape, left out in silence. The medium refused `b/f` below the file and named `b` (exit
    3), or gave the union's directory emptied; the discs held the union's directory, or left `b/f`
    out with a warning of the plan; `b/f` alone came back from the kept backup that saved it."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    _backed_up(lab, False, 0)
    for day, step in enumerate(steps, start=1):
        kept, _, kind = step.rpartition(" ")
        if os.path.lexists(photos / "b"):
            _remove(photos)
        _make(photos, kind, day)
        _backed_up(lab, bool(kept), day, *(() if kept else ("completed", "warnings")))
    _remove(photos)
    last = _backed_up(lab, False, len(steps) + 1, "completed", "warnings")
    want = {b"first.jpg": b"one", b"b": b"b of day %d" % len(steps)}
    assert _restore(lab, photos, last, "", tmp_path / "whole")[0] == 0
    assert _contents(tmp_path / "whole" / str(photos).lstrip("/")) == want
    assert _restore(lab, photos, last, "b", tmp_path / "b")[0] == 0
    assert _contents(tmp_path / "b" / str(photos).lstrip("/")) == {b"b": want[b"b"]}
    assert _restore(lab, photos, last, "b/f", tmp_path / "f")[0] == 1
    assert {n: e[0] for n, e in _listed(lab, last, photos).items()} == {b"first.jpg": False, b"b": False}
    warned = []
    prepare.compute(lab.load(), lab.store(), asked={"*"}, emit=warned.append)
    assert [e.message for e in warned if e.kind == WARNING and "kept data" in e.message] == []
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _contents(from_medium) == _contents(from_discs) == want
