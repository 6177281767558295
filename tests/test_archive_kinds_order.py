"""A restore of an archive directory as of a backup gives, at each path, the newest entry saved there
by a backup up to it, whatever its kind: a regular file (the catalog's `versions`), a symlink or a
FIFO (its `others`), ordered by the backup that saved each, the whole directory, a directory of it
and the path alone alike; and the discs hold the same. Browse lists what a restore gives. Real
rsync and xorriso, an `images:` drive, a local source."""

from __future__ import annotations

import json
import os
import shutil

import pytest

from rabtui.checkpoint import prepare
from rabtui.cli import main
from rabtui.events import WARNING
from tests.test_archive_shapes_as_saved import _backed_up, _listed
from tests.test_kept_entries_attacks import _lab, _tree, restored_both_ways
from tests.trees import write_files

# what each kind is made as at `b/s` and `b/f`, and what a restore gives of it
_MADE = {"file": lambda p: write_files(p.parent, {p.name: b"a file at " + p.name.encode()}),
         "symlink": lambda p: os.symlink("../first.jpg", p),
         "FIFO": os.mkfifo,
         "dir": lambda p: write_files(p, {"z": b"z below"})}


def _given(kind: str, name: str) -> dict[str, str]:
    return {"file": {name: oct(0o100644)}, "symlink": {name: "link ../first.jpg"}, "FIFO": {name: oct(0o10644)},
            "dir": {name: "dir+", name + "/z": oct(0o100644)}}[kind]


def _restore(lab, photos, backup, rel: str, out) -> tuple[int, dict]:
    code = main(["--config", str(lab.config_path), "restore", "loc", str(photos / rel) if rel else str(photos),
                 "--backup", backup.path.name, "--to", str(out)])
    top = out / str(photos).lstrip("/")
    return code, (_tree(os.fsencode(top)) if top.is_dir() else {})


@pytest.mark.parametrize("end", ["b-gone", "b-there"])
@pytest.mark.parametrize("first, then", [("file", "symlink"), ("symlink", "file"), ("dir", "symlink")],
                         ids=["file-then-symlink-fifo", "symlink-fifo-then-file", "dir-then-symlink-fifo"])
def test_the_newest_entry_saved_at_a_path_up_to_the_backup_is_restored_whatever_its_kind(tmp_path, first, then, end):
    """`b/s` and `b/f` one kind (b1), another (b2: a file in place of a symlink and of a FIFO, or
    the reverse, or a symlink and a FIFO in place of directories), then `b` gone from the source
    or left as it is (b3). A restore of b2 or b3 of the whole directory or of `b` wrote b2's
    symlink or FIFO, then b1's older file at the same path (or below it), refused there: exit 3."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    os.mkdir(photos / "b")
    fifo = lambda kind: "FIFO" if kind == "symlink" else kind   # noqa: E731 - `b/f` a FIFO where `b/s` a symlink
    _MADE[first](photos / "b/s"), _MADE[fifo(first)](photos / "b/f")
    b1 = _backed_up(lab, False, 0, "completed", "warnings")
    for name in ("s", "f"):
        shutil.rmtree(photos / "b" / name) if first == "dir" else os.unlink(photos / "b" / name)
    _MADE[then](photos / "b/s"), _MADE[fifo(then)](photos / "b/f")
    b2 = _backed_up(lab, False, 1, "completed", "warnings")
    shutil.rmtree(photos / "b") if end == "b-gone" else write_files(photos, {"later.jpg": b"later"})
    b3 = _backed_up(lab, False, 2, "completed", "warnings")
    for backup, kind in ((b1, first), (b2, then), (b3, then)):
        in_b = {**_given(kind, "s"), **_given(fifo(kind), "f")}
        want = {"b": "dir+", **{"b/" + k: v for k, v in in_b.items()}}
        out = tmp_path / backup.path.name
        whole = {os.fsdecode(k): v for k, v in _restore(lab, photos, backup, "", out / "whole")[1].items()}
        assert {k: v for k, v in whole.items() if k.startswith("b")} == want, backup.path.name
        assert _restore(lab, photos, backup, "b", out / "b") == (0, {os.fsencode(k): v for k, v in want.items()}), \
            backup.path.name
        for name in ("s", "f"):
            alone = {k: v for k, v in want.items() if k == "b/" + name or k.startswith(f"b/{name}/")}
            assert _restore(lab, photos, backup, "b/" + name, out / name) == \
                (0, {b"b": "dir+", **{os.fsencode(k): v for k, v in alone.items()}}), (backup.path.name, name)
        sizes = {"file": len(b"a file at s"), "symlink": len("../first.jpg"), "FIFO": 0, "dir": None}
        assert {n: e[:2] for n, e in _listed(lab, backup, photos / "b").items()} == \
            {b"s": (kind == "dir", sizes[kind]), b"f": (kind == "dir", sizes[fifo(kind)])}, backup.path.name
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _tree(os.fsencode(from_medium)) == _tree(os.fsencode(from_discs))
    assert {k: v for k, v in _tree(os.fsencode(from_discs)).items() if k.startswith(b"b")} == \
        {b"b": "dir+", **{os.fsencode("b/" + k): v for k, v in {**_given(then, "s"), **_given(fifo(then), "f")}.items()}}


def test_a_symlink_and_a_fifo_saved_after_the_backup_are_not_restored_nor_listed(tmp_path):
    """`b/s` and `b/f` added (b2) to what b1 saved: a restore of b1, of the whole directory or of
    `b`, gave them (the union's walk gives every symlink and FIFO saved on the medium), and Browse
    listed them; alone, each is not in b1 (exit 1)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "b/x": b"x"})
    b1 = _backed_up(lab, False, 0)
    os.symlink("../first.jpg", photos / "b/s")
    os.mkfifo(photos / "b/f")
    _backed_up(lab, False, 1)
    assert _restore(lab, photos, b1, "", tmp_path / "whole") == (0, {b"first.jpg": oct(0o100644), b"b": "dir+",
                                                                     b"b/x": oct(0o100644)})
    assert _restore(lab, photos, b1, "b", tmp_path / "b") == (0, {b"b": "dir+", b"b/x": oct(0o100644)})
    for name in ("s", "f"):
        assert _restore(lab, photos, b1, "b/" + name, tmp_path / name) == (1, {}), name
    assert set(_listed(lab, b1, photos / "b")) == {b"x"}


def test_the_backup_between_gives_the_older_file_not_a_newer_symlink_or_fifo(tmp_path):
    """`b/s` and `b/f` files (b1), unchanged (b2 saves neither again), a symlink and a FIFO (b3,
    in the union in their places): a restore of b2, whole or of `b`, gave b3's symlink and FIFO,
    then b1's files refused on them (exit 3); alone, b3's entries."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "b/s": b"file s", "b/f": b"file f"})
    _backed_up(lab, False, 0)
    write_files(photos, {"second.jpg": b"two"})
    between = _backed_up(lab, False, 1)
    os.unlink(photos / "b/s"), os.unlink(photos / "b/f")
    os.symlink("../first.jpg", photos / "b/s")
    os.mkfifo(photos / "b/f")
    _backed_up(lab, False, 2, "completed", "warnings")
    files = {b"b": "dir+", b"b/s": oct(0o100644), b"b/f": oct(0o100644)}
    code, whole = _restore(lab, photos, between, "", tmp_path / "whole")
    assert (code, whole) == (0, {b"first.jpg": oct(0o100644), b"second.jpg": oct(0o100644), **files})
    assert _restore(lab, photos, between, "b", tmp_path / "b") == (0, files)
    for name in ("s", "f"):
        out = tmp_path / name
        assert _restore(lab, photos, between, "b/" + name, out) == (0, {b"b": "dir+", b"b/" + name.encode(): oct(0o100644)})
        assert (out / str(photos).lstrip("/") / "b" / name).read_bytes() == b"file " + name.encode()
    assert {n: e[:2] for n, e in _listed(lab, between, photos / "b").items()} == {b"s": (False, 6), b"f": (False, 6)}


def _kept_file_over_a_symlink(tmp_path):
    """`b/y` a symlink (b1, complete), a file (b2, kept: never linked into the union), `b` gone
    from the source (b3, the last)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    os.mkdir(photos / "b")
    os.symlink("../first.jpg", photos / "b/y")
    _backed_up(lab, False, 0)
    os.unlink(photos / "b/y")
    write_files(photos, {"b/y": b"kept file"})
    _backed_up(lab, True, 1)
    shutil.rmtree(photos / "b")
    return lab, photos, _backed_up(lab, False, 2)


def test_a_kept_file_newer_than_the_symlink_the_union_holds_is_restored(tmp_path):
    """The history above: the newest entry saved at `b/y` up to b3 is b2's file, as a kept
    symlink newer than the union's file is given. A restore of b3, whole or of `b`, wrote the
    union's symlink, then the file refused on it (exit 3); `b/y` alone gave the symlink."""
    lab, photos, last = _kept_file_over_a_symlink(tmp_path)
    files = {b"b": "dir+", b"b/y": oct(0o100644)}
    assert _restore(lab, photos, last, "", tmp_path / "whole") == (0, {b"first.jpg": oct(0o100644), **files})
    assert _restore(lab, photos, last, "b", tmp_path / "b") == (0, files)
    assert _restore(lab, photos, last, "b/y", tmp_path / "y") == (0, files)
    assert (tmp_path / "y" / str(photos).lstrip("/") / "b/y").read_bytes() == b"kept file"
    assert {n: e[:2] for n, e in _listed(lab, last, photos / "b").items()} == {b"y": (False, len(b"kept file"))}


def test_a_kept_file_newer_than_the_symlink_the_union_holds_is_restored_from_the_discs_too(tmp_path):
    """The history above, burnt: the discs hold b1's symlink at `b/y`, where a restore from the
    medium gives b2's file (the newest saved there)."""
    lab, photos, _last = _kept_file_over_a_symlink(tmp_path)
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    want = {b"first.jpg": oct(0o100644), b"b": "dir+", b"b/y": oct(0o100644)}
    assert _tree(os.fsencode(from_medium)) == want
    assert _tree(os.fsencode(from_discs)) == want


def test_a_kept_fifo_or_symlink_newer_than_the_symlink_the_union_holds_is_restored_and_burnt(tmp_path):
    """`b/s` and `b/t` symlinks (b1, complete), a FIFO and a symlink to another target (b2, kept:
    never linked into the union), `b` gone from the source (b3). The newest entries saved there
    up to b3 are b2's: the medium, Browse and the discs all gave b1's symlinks (kept_entries.found
    took a kept entry only where the union held nothing or an older file)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "other.jpg": b"two"})
    os.mkdir(photos / "b")
    os.symlink("../first.jpg", photos / "b/s")
    os.symlink("../first.jpg", photos / "b/t")
    _backed_up(lab, False, 0)
    os.unlink(photos / "b/s"), os.unlink(photos / "b/t")
    os.mkfifo(photos / "b/s")
    os.symlink("../other.jpg", photos / "b/t")
    _backed_up(lab, True, 1)
    shutil.rmtree(photos / "b")
    last = _backed_up(lab, False, 2)
    want = {b"b": "dir+", b"b/s": oct(0o10644), b"b/t": "link ../other.jpg"}
    assert _restore(lab, photos, last, "b", tmp_path / "b") == (0, want)
    for name in (b"s", b"t"):
        assert _restore(lab, photos, last, "b/" + name.decode(), tmp_path / name.decode()) == \
            (0, {b"b": "dir+", b"b/" + name: want[b"b/" + name]})
    assert {n: e[:2] for n, e in _listed(lab, last, photos / "b").items()} == \
        {b"s": (False, 0), b"t": (False, len("../other.jpg"))}
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    want.update({b"first.jpg": oct(0o100644), b"other.jpg": oct(0o100644)})
    assert _tree(os.fsencode(from_medium)) == want
    assert _tree(os.fsencode(from_discs)) == want


def _contents(root) -> dict[bytes, str | bytes]:
    """_tree's, with each regular file's bytes in place of its mode."""
    out = _tree(os.fsencode(root))
    for k, v in out.items():
        if v.startswith("0o100"):
            out[k] = (root / os.fsdecode(k)).read_bytes()
    return out


def _kept_shapes_then_gone(tmp_path, second: bool, third: str):
    """`b/y` v1 (b1, complete: in the union), v2 (b2, kept; when `second`), a directory holding
    `z` or v3 (b3, kept), then `b` gone from the source (b4, complete)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "b/y": b"y v1"})
    _backed_up(lab, False, 0)
    if second:
        write_files(photos, {"b/y": b"y v2, longer"})
        _backed_up(lab, True, 1)
    os.unlink(photos / "b/y")
    write_files(photos, {"b/y/z": b"z below"} if third == "dir" else {"b/y": b"y v3, longer still"})
    _backed_up(lab, True, 2)
    shutil.rmtree(photos / "b")
    return lab, photos, _backed_up(lab, False, 3)


def test_the_newest_of_two_kept_files_is_restored_over_the_unions_older_file(tmp_path):
    """b2's v2 and b3's v3 (both kept) after the union's v1: as of b4 the medium and the discs give v3."""
    lab, photos, b4 = _kept_shapes_then_gone(tmp_path, True, "file")
    want = {b"first.jpg": b"one", b"b": "dir+", b"b/y": b"y v3, longer still"}
    assert _restore(lab, photos, b4, "", tmp_path / "r4")[0] == 0
    assert _contents(tmp_path / "r4" / str(photos).lstrip("/")) == want
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _contents(from_medium) == _contents(from_discs) == want


def test_a_kept_directory_where_the_union_holds_an_older_file_is_given_by_the_medium_and_the_discs(tmp_path):
    """b3's kept directory at `b/y` after the union's file v1 (no kept file between): the newest
    entry saved there, given by both with what it holds, the union's file an older shape."""
    lab, photos, _ = _kept_shapes_then_gone(tmp_path, False, "dir")
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _contents(from_medium) == _contents(from_discs) == \
        {b"first.jpg": b"one", b"b": "dir+", b"b/y": "dir+", b"b/y/z": b"z below"}


def test_a_kept_directory_after_a_kept_file_and_the_unions_older_file_is_given(tmp_path):
    """`b/y` v1 (union), v2 (kept b2), a directory holding `z` (kept b3), `b` gone (b4): b3's
    directory is the newest entry saved at `b/y`, given alone and with the rest by the medium and
    the discs alike; both files are older shapes of the path."""
    lab, photos, b4 = _kept_shapes_then_gone(tmp_path, True, "dir")
    assert _restore(lab, photos, b4, "b/y", tmp_path / "y")[0] == 0
    assert _contents(tmp_path / "y" / str(photos).lstrip("/")) == {b"b": "dir+", b"b/y": "dir+", b"b/y/z": b"z below"}
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _contents(from_medium) == _contents(from_discs) == \
        {b"first.jpg": b"one", b"b": "dir+", b"b/y": "dir+", b"b/y/z": b"z below"}


def test_a_kept_file_older_than_a_kept_symlink_at_its_path_is_no_clash_of_the_plan(tmp_path, capsys):
    """`b` and `c` directories in the union (b1), kept files in their places (b2), then a symlink
    at `b` and `c` still a file (b3, kept), both gone (b4): b2's file `b` is an older shape of b3's
    symlink, and the union's directory `c` one of the kept file `c`, which a restore from the medium
    leaves out in silence, as the discs do. The planning's warning counted `b` too; later it named
    `c`, which the medium refused (exit 3)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "b/f": b"f in b", "c/g": b"g in c"})
    _backed_up(lab, False, 0)
    shutil.rmtree(photos / "b"), shutil.rmtree(photos / "c")
    write_files(photos, {"b": b"b a file", "c": b"c a file"})
    _backed_up(lab, True, 1)
    os.unlink(photos / "b")
    os.symlink("first.jpg", photos / "b")
    _backed_up(lab, True, 2)
    os.unlink(photos / "b"), os.unlink(photos / "c")
    _backed_up(lab, False, 3)
    capsys.readouterr()
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(tmp_path / "r"),
                 "--json"]) == 0
    said = json.loads(capsys.readouterr().out)
    assert [p for key in ("refused", "not_restored", "existing_kept", "errors") for p in said[key]] == []
    warned = []
    prepare.compute(lab.load(), lab.store(), asked={"*"}, emit=warned.append)
    assert [e.message for e in warned if e.kind == WARNING] == []
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _contents(from_medium) == _contents(from_discs) == \
        {b"first.jpg": b"one", b"b": "link first.jpg", b"c": b"c a file"}
