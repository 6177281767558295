"""A restore of an archive directory as of a backup gives the shape that backup saved at each path
(its own tree holds every directory the source had and each entry it saved), whatever an older or
newer backup, complete or kept, put at that path in the medium's union: a file where it had a
directory, a directory's entries where it had a file, a file where it had a symlink. A backup
deleted in the middle of the medium's history does not bring an older shape back over a newer
backup's directory. Real rsync and xorriso, an `images:` drive, a local source."""

from __future__ import annotations

import os
import shutil
import stat
from datetime import timedelta

import pytest

from rabtui.cli import main
from tests.test_kept_data import _post_commands
from tests.test_kept_entries_attacks import T0, _lab, _tree, restored_both_ways
from tests.trees import burn_due, write_files


def _restored(lab, tmp_path, photos, backup, to: str) -> dict[bytes, str]:
    out = tmp_path / to
    code = main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--backup", backup.path.name,
                 "--to", str(out)])
    assert code == 0, to
    return _tree(os.fsencode(out / str(photos).lstrip("/")))


def _backed_up(lab, kept: bool, day: int, *statuses: str):
    done = lab.backup(_post_commands(lab, kept), now=T0 + timedelta(days=day))
    assert done.status in (statuses or (("failed",) if kept else ("completed",))), done.reason
    return done


def test_a_backup_deleted_between_leaves_a_newer_backups_directory_where_an_older_file_was(tmp_path):
    """`p` a file (b1), a directory with a file (b2: it takes the file's place in the union), an
    empty directory in b3 and in the kept b4. The cleanup deletes b2 (a verified disc holds p/x, b1
    holds the only copy of the file p): its undoing put b1's file back at p, and restores of b3 and
    b4, from the medium and from the next checkpoint's disc, gave that file."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "p": b"the file p"})
    _backed_up(lab, False, 0)
    os.unlink(photos / "p")
    write_files(photos, {"p/x": b"in p"})
    second = _backed_up(lab, False, 1, "warnings")
    burn_due(lab.load(), lab.store(), asked={"*"}, verified=True)
    os.unlink(photos / "p/x")
    third = _backed_up(lab, False, 2)
    fourth = _backed_up(lab, True, 3)
    assert main(["--config", str(lab.config_path), "cleanup"]) == 0
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (second.backup_id,))["status"] == "deleted"
    # the undoing gave the union's `p` the time it removed p/x: a second or more after the source's
    # change on a loaded machine (the union's directories are rabtui's); the disc takes `p` from b4's
    # own tree, and its verification must read it there too, not pass it over
    os.utime(lab.media[0][1] / "loc" / ".archive" / str(photos).lstrip("/") / "p", (1_000_000_000,) * 2)
    want = {b"first.jpg": oct(0o100644), b"p": "dir"}
    assert _restored(lab, tmp_path, photos, third, "r3") == want
    assert _restored(lab, tmp_path, photos, fourth, "r4") == want
    # the medium's newest copy lacks p/x, which the cleanup left to the first disc alone: named (exit 3)
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos, medium_exits=(3,))
    assert _tree(os.fsencode(from_medium)) == _tree(os.fsencode(from_discs)) == want


@pytest.mark.parametrize("kept", [False, True], ids=["complete", "kept"])
def test_the_backup_between_gives_the_file_it_saved_not_the_older_directorys_entries(tmp_path, kept):
    """`d` a directory with entries (b1), a file (b2), a directory again (b3): a restore of b2 gave
    the older directory's entries too, refused below its file (complete: exit 3), or the directory
    with its file refused (kept)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "d/e/f": b"deep", "d/g": b"g"})
    _backed_up(lab, False, 0)
    shutil.rmtree(photos / "d")
    write_files(photos, {"d": b"d, a file"})
    between = _backed_up(lab, kept, 1, *(() if kept else ("warnings",)))
    os.unlink(photos / "d")
    write_files(photos, {"d/h": b"h"})
    _backed_up(lab, False, 2, "completed", "warnings")
    assert _restored(lab, tmp_path, photos, between, "r") == {b"first.jpg": oct(0o100644), b"d": oct(0o100644)}
    assert (tmp_path / "r" / str(photos).lstrip("/") / "d").read_bytes() == b"d, a file"


def test_a_kept_symlink_newer_than_the_file_the_union_holds_is_restored(tmp_path):
    """`s` a file (b1, complete), a symlink (b2, kept), gone from the source (b3): restores of b2
    and of b3, from the medium and from the disc, gave b1's file, the union's (it holds the newest
    file a complete backup saved, never a kept backup's entry: the catalog tells which is newer)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "s": b"the file s"})
    _backed_up(lab, False, 0)
    os.unlink(photos / "s")
    os.symlink("first.jpg", photos / "s")
    kept = _backed_up(lab, True, 1)
    os.unlink(photos / "s")
    third = _backed_up(lab, False, 2)
    linked = {b"first.jpg": oct(0o100644), b"s": "link first.jpg"}
    assert _restored(lab, tmp_path, photos, kept, "r2") == linked
    assert _restored(lab, tmp_path, photos, third, "r3") == linked
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _tree(os.fsencode(from_medium)) == _tree(os.fsencode(from_discs)) == linked


def test_a_symlink_whose_place_a_newer_file_took_in_the_union_is_restored_as_of_its_backup(tmp_path):
    """`a` a symlink (b1), a file (b2, in the union in its place): a restore of b1 gave nothing at
    `a` (the union's file is newer than b1, and b1's symlink was not looked for)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    os.symlink("first.jpg", photos / "a")
    first = _backed_up(lab, False, 0)
    os.unlink(photos / "a")
    write_files(photos, {"a": b"a file now"})
    _backed_up(lab, False, 1)
    assert _restored(lab, tmp_path, photos, first, "r1") == {b"first.jpg": oct(0o100644), b"a": "link first.jpg"}


def test_older_kept_entries_where_the_backup_has_directories_are_neither_restored_nor_burnt(tmp_path):
    """`a` a FIFO and `f` a file in a kept backup, empty directories in the complete one after it:
    neither a restore of the directory as of that backup nor its checkpoint holds them (the restore
    left out the FIFO and the disc held it; the disc held the file, the restore did not)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "f": b"kept file"})
    os.mkfifo(photos / "a")
    _backed_up(lab, True, 0)
    os.unlink(photos / "a"), os.unlink(photos / "f")
    os.mkdir(photos / "a"), os.mkdir(photos / "f")
    _backed_up(lab, False, 1)
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _tree(os.fsencode(from_discs)) == _tree(os.fsencode(from_medium))
    got = _tree(os.fsencode(from_medium))
    assert got.get(b"a", "dir") == got.get(b"f", "dir") == "dir", got


@pytest.mark.parametrize("emptied", [False, True], ids=["file", "file-then-empty-directory"])
def test_what_a_backup_saved_below_a_directory_whose_place_a_newer_file_took_is_restored(tmp_path, emptied):
    """`b` a directory holding a FIFO and a symlink (b1), a file (b2, in the union in its place),
    an empty directory (b3, `emptied`: the union's directory there holds none of b1's): a restore of
    b1 gave the directory `b` empty (its FIFO and symlink left the union with it)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "b/x": b"x"})
    os.mkfifo(photos / "b/y")
    os.symlink("../first.jpg", photos / "b/l")
    first = _backed_up(lab, False, 0)
    shutil.rmtree(photos / "b")
    write_files(photos, {"b": b"b, a file now"})
    _backed_up(lab, False, 1, "warnings")
    if emptied:
        os.unlink(photos / "b")
        os.mkdir(photos / "b")
        _backed_up(lab, False, 2, "warnings")
    got = _restored(lab, tmp_path, photos, first, "r1")
    assert got == {b"first.jpg": oct(0o100644), b"b": "dir+", b"b/x": oct(0o100644), b"b/y": oct(0o10644),
                   b"b/l": "link ../first.jpg"}, got


def test_an_older_backups_symlink_and_fifo_whose_place_a_newer_shape_took_are_restored_as_of_the_backup_between(
        tmp_path):
    """`s` a symlink, `f` a FIFO and `t` a symlink (b1), unchanged (b2 saves none again), a file, a
    directory with a file and a symlink elsewhere (b3, in the union in their places): a restore of
    b2 gave no `s`, the directory `f` and b3's `t` (b2's tree lacks them, the union holds b3's
    shapes there); the catalog's `others` says b1 saved them."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    os.symlink("first.jpg", photos / "s")
    os.mkfifo(photos / "f")
    os.symlink("first.jpg", photos / "t")
    _backed_up(lab, False, 0)
    write_files(photos, {"second.jpg": b"two"})
    between = _backed_up(lab, False, 1)
    os.unlink(photos / "s"), os.unlink(photos / "f"), os.unlink(photos / "t")
    write_files(photos, {"s": b"s, a file now", "f/x": b"in f"})
    os.symlink("second.jpg", photos / "t")
    _backed_up(lab, False, 2, "completed", "warnings")
    got = _restored(lab, tmp_path, photos, between, "r2")
    assert got == {b"first.jpg": oct(0o100644), b"second.jpg": oct(0o100644), b"s": "link first.jpg",
                   b"f": oct(0o10644), b"t": "link first.jpg"}, got
    for name, want in ((b"s", "link first.jpg"), (b"f", oct(0o10644)), (b"t", "link first.jpg")):
        out = tmp_path / f"one-{name.decode()}"
        assert main(["--config", str(lab.config_path), "restore", "loc", str(photos / name.decode()), "--backup",
                     between.path.name, "--to", str(out)]) == 0, name
        assert _tree(os.fsencode(out / str(photos).lstrip("/"))) == {name: want}, name


def test_an_older_backups_symlink_whose_place_a_newer_directory_took_stays_out_once_the_source_drops_both(tmp_path):
    """`s` a symlink (b1), a directory with a file (b2), gone from the source (b3): the archive
    keeps b2's directory, and a restore of b3 gives it, not b1's symlink the catalog still has."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    os.symlink("first.jpg", photos / "s")
    _backed_up(lab, False, 0)
    os.unlink(photos / "s")
    write_files(photos, {"s/x": b"in s"})
    _backed_up(lab, False, 1, "completed", "warnings")
    shutil.rmtree(photos / "s")
    third = _backed_up(lab, False, 2)
    want = {b"first.jpg": oct(0o100644), b"s": "dir+", b"s/x": oct(0o100644)}
    assert _restored(lab, tmp_path, photos, third, "r3") == want


@pytest.mark.parametrize("between", ["file", "symlink"])
def test_what_an_older_directory_held_comes_back_from_the_discs_when_the_directory_comes_back(tmp_path, between):
    """`d` a directory holding `x` and `sub/z` (`sub` 0700 with an xattr: b1), a file or a symlink
    (b2: the union gives it the place, and b1's entries leave it), a directory again with `y` (b3):
    a restore from the medium gives b1's entries below it (read in b1, which retention keeps for
    them), and the discs lacked them: with the medium gone they were lost."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "d/x": b"x of b1", "d/sub/z": b"z of b1"})
    os.chmod(photos / "d/sub", 0o700)
    os.setxattr(photos / "d/sub", "user.k", b"sub of b1")
    os.utime(photos / "d/sub", (1_000_000_000, 1_000_000_000))
    _backed_up(lab, False, 0)
    shutil.rmtree(photos / "d")
    write_files(photos, {"d": b"d, a file"}) if between == "file" else os.symlink("first.jpg", photos / "d")
    _backed_up(lab, False, 1, "completed", "warnings")
    os.unlink(photos / "d")
    write_files(photos, {"d/y": b"y of b3"})
    _backed_up(lab, False, 2, "completed", "warnings")
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    want = {b"first.jpg": oct(0o100644), b"d": "dir+", b"d/x": oct(0o100644), b"d/y": oct(0o100644),
            b"d/sub": "dir+", b"d/sub/z": oct(0o100644)}
    assert _tree(os.fsencode(from_medium)) == _tree(os.fsencode(from_discs)) == want
    for top in (from_medium, from_discs):
        assert (top / "d/x").read_bytes() == b"x of b1" and (top / "d/sub/z").read_bytes() == b"z of b1"
        st = os.lstat(top / "d/sub")
        assert (oct(st.st_mode & 0o7777), int(st.st_mtime), os.getxattr(top / "d/sub", "user.k")) \
            == (oct(0o700), 1_000_000_000, b"sub of b1"), top


def test_an_older_directorys_file_its_backup_lost_too_is_named_by_the_plan(tmp_path):
    """As above (a file between), the file `d/x` then gone from b1 on the medium (an fsck, a hand):
    the plan names it as not put on discs, as for kept data, rather than leaving it out unsaid."""
    from rabtui.checkpoint import prepare

    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "d/x": b"x of b1"})
    first = _backed_up(lab, False, 0)
    shutil.rmtree(photos / "d")
    write_files(photos, {"d": b"d, a file"})
    _backed_up(lab, False, 1, "completed", "warnings")
    os.unlink(photos / "d")
    write_files(photos, {"d/y": b"y of b3"})
    _backed_up(lab, False, 2, "completed", "warnings")
    os.unlink(first.path / "data" / str(photos).lstrip("/") / "d/x")
    said = []
    plan = prepare.compute(lab.load(), lab.store(), asked={"*"}, emit=lambda e: said.append(e.message))
    assert any("1 file that kept data saved is not in its backup" in m and "lost from the archive with their"
               " directory" in m and "e.g. d/x" in m for m in said), said
    assert b"d/y" in plan.data[0].paths and b"d/x" not in plan.data[0].paths


@pytest.mark.parametrize("disc", ["cd-700", "4MiB"])
def test_a_lost_directory_two_backups_held_comes_back_as_the_newer_had_it_from_every_disc(tmp_path, disc):
    """`d/sub` holds `a` (b1, its xattr "of b1"), then `b` and `c` too (b2: mode 0750, another
    xattr and time), `d` a file (b3), a directory again (b4): `sub` is read for its files from b1
    and b2. Each disc took the directory beside its own first file below it, and the plan recorded
    it as the first one: with `a` on disc 1 and `c` on disc 2 (discs of 4 MiB), disc 2 failed its
    verification every time it was written ("xattr user.k differs from the one recorded"), and the
    checkpoint could never complete. Every disc, and a restore from the medium, take it as b2, the
    newest backup holding it, had it (a restore from the medium gave b1's)."""
    lab = _lab(tmp_path)
    if disc != "cd-700":
        lab.config_path.write_text(lab.config_path.read_text().replace('disc = "cd-700"', f'disc = "{disc}"'))
    photos = lab.src / "photos"
    size = 10 if disc == "cd-700" else 1_500_000    # three files, two discs
    write_files(photos, {"first.jpg": b"one", "d/sub/a": b"a" * size})
    os.setxattr(photos / "d/sub", "user.k", b"of b1")
    _backed_up(lab, False, 0)
    write_files(photos, {"d/sub/b": b"b" * size, "d/sub/c": b"c" * size})
    os.setxattr(photos / "d/sub", "user.k", b"of b2, longer")
    os.chmod(photos / "d/sub", 0o750)
    os.utime(photos / "d/sub", (1_100_000_000, 1_100_000_000))
    _backed_up(lab, False, 1)
    shutil.rmtree(photos / "d")
    write_files(photos, {"d": b"d, a file"})
    _backed_up(lab, False, 2, "completed", "warnings")
    os.unlink(photos / "d")
    write_files(photos, {"d/y": b"y of b4"})
    _backed_up(lab, False, 3, "completed", "warnings")
    if disc == "cd-700":
        tops = restored_both_ways(lab, tmp_path, photos)
    else:
        number = burn_due(lab.load(), lab.store(), asked={"*"})     # every disc written and verified
        assert sorted({r["disc"] for r in lab.store().all("SELECT disc, path FROM disc_files WHERE number=?", (number,))
                       if b"/d/sub/" in bytes(r["path"])}) == [1, 2]
        shutil.move(lab.media[0][1], tmp_path / "medium-away")
        assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--checkpoint", str(number),
                     "--to", str(tmp_path / "from-discs")]) == 0
        tops = (tmp_path / "from-discs" / str(photos).lstrip("/"),)
    for top in tops:
        assert [(top / "d/sub" / n).read_bytes() for n in "abc"] == [n.encode() * size for n in "abc"]
        st = os.lstat(top / "d/sub")
        assert (oct(st.st_mode & 0o7777), int(st.st_mtime), os.getxattr(top / "d/sub", "user.k")) \
            == (oct(0o750), 1_100_000_000, b"of b2, longer"), top


def test_the_plan_holds_each_file_a_restore_from_the_medium_gives_names_not_utf8(tmp_path):
    """A directory of names not UTF-8 holding `x` and `sub/z` (b1), a file (b2), a directory again
    with `y` (kept b3, which also saves a file the source then removes), the same (b4): the plan
    reads the files the union does not show (b1's, lost with their directory; the kept file) from
    the backups that saved them, and its regular files are those of a restore from the medium,
    each with the content the restore gives. (The plan reads the newest versions of only the files
    the union does not show: a file left out of them would be missing here.)"""
    from rabtui.checkpoint import prepare

    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    d, kept_only = b"d-\xff\xfe", b"k-\x80"
    root = os.fsencode(photos)
    write_files(photos, {"first.jpg": b"one", d + b"/x-\xe9": b"x of b1", d + b"/sub/z": b"z of b1"})
    _backed_up(lab, False, 0)
    shutil.rmtree(os.path.join(root, d))
    write_files(photos, {d: b"d, a file"})
    _backed_up(lab, False, 1, "completed", "warnings")
    os.unlink(os.path.join(root, d))
    write_files(photos, {d + b"/y": b"y of b3", kept_only: b"only kept data"})
    _backed_up(lab, True, 2, "failed")
    os.unlink(os.path.join(root, kept_only))
    _backed_up(lab, False, 3, "completed", "warnings")
    out = tmp_path / "from-medium"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--to", str(out)]) in (0, 3)
    top = os.fsencode(out / str(photos).lstrip("/"))
    restored = {rel: open(os.path.join(top, rel), "rb").read() for rel, kind in _tree(top).items()
                if kind == oct(0o100644)}
    assert set(restored) == {b"first.jpg", d + b"/x-\xe9", d + b"/sub/z", d + b"/y", kept_only}
    scanned = prepare.compute(lab.load(), lab.store(), asked={"*"}).data[0]
    union = os.fsencode(lab.media[0][1] / "loc" / ".archive" / str(photos).lstrip("/"))
    planned = {rel: open(scanned.disks.get(i) or os.path.join(union, rel), "rb").read()
               for i, rel in enumerate(scanned.paths) if scanned.marks[i] is None}
    assert planned == restored


@pytest.mark.parametrize("holds", ["a file", "nothing"])
def test_a_path_gone_from_the_source_comes_back_as_the_newest_backup_that_saved_it_had_it(tmp_path, holds):
    """`a` a file (b1), a directory (b2, holding `y` or empty), gone from the source (b3): a restore
    of b3 from the medium gives b2's directory, the newest shape saved there up to b3, as its disc
    does. It gave b1's file (the newest file version saved there: the catalog holds no shapes), and
    below it failed on b2's `a/y` (exit 1)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "a": b"va"})
    _backed_up(lab, False, 0, "completed", "warnings")
    os.unlink(photos / "a")
    write_files(photos, {"a/y": b"vy"}) if holds == "a file" else os.mkdir(photos / "a")
    _backed_up(lab, False, 1, "completed", "warnings")
    shutil.rmtree(photos / "a")
    third = _backed_up(lab, False, 2, "completed", "warnings")
    want = {b"first.jpg": oct(0o100644), **({b"a": "dir+", b"a/y": oct(0o100644)} if holds == "a file"
                                            else {b"a": "dir"})}
    assert _restored(lab, tmp_path, photos, third, "r3") == want


@pytest.mark.parametrize("entry", ["symlink", "FIFO", "device"])
def test_an_older_symlink_or_special_file_where_a_newer_backup_saved_a_directory_stays_out_once_the_source_drops_it(
        tmp_path, entry):
    """`b/y` a symlink, a FIFO or a device node (b2), an empty directory (b3), `b` gone from the
    source (b4): the union and the discs hold b3's directory, the newest shape saved there. A
    restore of b4 from the medium, of the directory or of `b/y` alone, gave b2's entry instead (the
    catalog's `others` holds it, nothing newer than it in the catalog: a directory is not recorded
    there, as a file's version is)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    _backed_up(lab, False, 0)
    os.mkdir(photos / "b")
    if entry == "symlink":
        os.symlink("../first.jpg", photos / "b/y")
    elif entry == "FIFO":
        os.mkfifo(photos / "b/y")
    else:
        os.mknod(photos / "b/y", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    _backed_up(lab, False, 1)
    os.unlink(photos / "b/y")
    os.mkdir(photos / "b/y")
    _backed_up(lab, False, 2, "completed", "warnings")
    shutil.rmtree(photos / "b")
    last = _backed_up(lab, False, 3)
    want = {b"first.jpg": oct(0o100644), b"b": "dir+", b"b/y": "dir"}
    assert _restored(lab, tmp_path, photos, last, "r4") == want
    out = tmp_path / "y-alone"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos / "b/y"), "--backup", last.path.name,
                 "--to", str(out)]) == 0
    assert _tree(os.fsencode(out / str(photos).lstrip("/") / "b")) == {b"y": "dir"}
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _tree(os.fsencode(from_medium)) == _tree(os.fsencode(from_discs)) == want


def _kept_entry_then_a_directory(tmp_path, entry: str):
    """`b/y` a file, a symlink or a FIFO (`entry`) in a kept backup, an empty directory in the next
    (complete), `b` gone from the source in the last: (lab, photos, the last backup)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    _backed_up(lab, False, 0)
    if entry == "file":
        write_files(photos, {"b/y": b"kept file"})
    else:
        os.mkdir(photos / "b")
        os.symlink("../first.jpg", photos / "b/y") if entry == "symlink" else os.mkfifo(photos / "b/y")
    _backed_up(lab, True, 1)
    os.unlink(photos / "b/y")
    os.mkdir(photos / "b/y")
    _backed_up(lab, False, 2)
    shutil.rmtree(photos / "b")
    return lab, photos, _backed_up(lab, False, 3)


@pytest.mark.parametrize("entry", ["file", "symlink", "FIFO"])
def test_an_entry_kept_data_saved_where_a_newer_backup_saved_a_directory_stays_off_the_discs(tmp_path, entry):
    """`b/y` a file, a symlink or a FIFO (kept b2), an empty directory (b3), `b` gone from the
    source (b4): b3's directory is the newest shape saved there. A restore from the medium leaves
    the entry out (the union holds no `b`: nothing was linked there); the discs held the file (the
    checkpoint looked at the newest backup's own tree only)."""
    lab, photos, _ = _kept_entry_then_a_directory(tmp_path, entry)
    from_medium, from_discs = restored_both_ways(lab, tmp_path, photos)
    assert _tree(os.fsencode(from_discs)) == _tree(os.fsencode(from_medium)) == {b"first.jpg": oct(0o100644)}


def _not_in(lab, photos, backup, rel: str, capsys) -> None:
    """`rel` restored alone from the medium: not in `backup` (exit 1, saying so), nothing written."""
    capsys.readouterr()
    out = lab.tmp / ("alone-" + rel.replace("/", "-"))
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos / rel), "--backup", backup.path.name,
                 "--to", str(out)]) == 1, rel
    assert f"/{rel} is not in backup {backup.path.name}" in capsys.readouterr().err
    assert not os.path.lexists(out / str(photos).lstrip("/") / rel)


def _listed(lab, backup, path) -> dict[bytes, tuple]:
    """What Browse lists in the directory `path` of `backup` (archive_view.listing)."""
    from rabtui.actions import archive_view

    row = lab.store().one("SELECT * FROM backups WHERE id=?", (backup.backup_id,))
    return archive_view.listing(lab.load(), lab.store(), "loc", row, os.fsencode(path).lstrip(b"/"))[2]


@pytest.mark.parametrize("entry", ["file", "symlink", "FIFO"])
def test_an_entry_kept_data_saved_where_a_newer_backup_saved_a_directory_is_not_given_alone_nor_listed(
        tmp_path, entry, capsys):
    """The history above: restored alone from the medium, `b/y` and `b` are not in the last backup
    (exit 1), as the restore of the whole directory leaves them out; Browse lists neither. A file
    only the kept backup saved came back from it alone (exit 0) and Browse listed it: where the
    union lacks an item, it was read from the kept backup, and the rule was not applied."""
    lab, photos, last = _kept_entry_then_a_directory(tmp_path, entry)
    _not_in(lab, photos, last, "b/y", capsys)
    _not_in(lab, photos, last, "b", capsys)
    assert set(_listed(lab, last, photos)) == {b"first.jpg"}
    assert b"y" not in _listed(lab, last, photos / "b")


def test_a_kept_directory_gives_its_other_files_alone_but_not_one_a_newer_backup_saved_a_directory_in_place_of(
        tmp_path, capsys):
    """`b/y` and `b/z` files in a kept backup, `b/y` an empty directory and `b/z` gone in the next
    (complete), `b` gone: `b` restored alone comes from the kept backup with `z`, not `y` (the
    walk of that backup's directory gave every file the catalog has there), as the whole directory
    and Browse have it."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one"})
    _backed_up(lab, False, 0)
    write_files(photos, {"b/y": b"kept file", "b/z": b"kept too"})
    _backed_up(lab, True, 1)
    os.unlink(photos / "b/y")
    os.unlink(photos / "b/z")
    os.mkdir(photos / "b/y")
    _backed_up(lab, False, 2)
    shutil.rmtree(photos / "b")
    last = _backed_up(lab, False, 3)
    want = {b"first.jpg": oct(0o100644), b"b": "dir+", b"b/z": oct(0o100644)}
    assert _restored(lab, tmp_path, photos, last, "whole") == want
    out = tmp_path / "b-alone"
    assert main(["--config", str(lab.config_path), "restore", "loc", str(photos / "b"), "--backup", last.path.name,
                 "--to", str(out)]) == 0
    assert _tree(os.fsencode(out / str(photos).lstrip("/") / "b")) == {b"z": oct(0o100644)}
    _not_in(lab, photos, last, "b/y", capsys)
    assert set(_listed(lab, last, photos / "b")) == {b"z"}


def test_browse_lists_a_directory_a_newer_backup_saved_where_an_older_complete_one_saved_a_file(tmp_path):
    """`b/y` a file (b1), an empty directory (b2, complete: it takes the file's place in the union),
    `b` gone (b3): a restore of b2 or of b3 gives `y` as a directory; Browse listed the file."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "b/y": b"complete file"})
    _backed_up(lab, False, 0)
    os.unlink(photos / "b/y")
    os.mkdir(photos / "b/y")
    second = _backed_up(lab, False, 1, "completed", "warnings")
    shutil.rmtree(photos / "b")
    last = _backed_up(lab, False, 2)
    want = {b"first.jpg": oct(0o100644), b"b": "dir+", b"b/y": "dir"}
    for backup in (second, last):
        assert _restored(lab, tmp_path, photos, backup, backup.path.name) == want
        assert _listed(lab, backup, photos / "b") == {b"y": (True, None, None, "")}, backup.path.name
