"""Files cut into parts across checkpoint discs come back whole and as they were: a file of the
source whose own name looks like a part keeps its name and content beside the cut file, a sparse
cut file comes back sparse, one with an ACL and xattrs has them on each part on its disc and back
after the join (with its owner, mode and times), and hard links that the discs cut apart are
named in the restore's result (the catalog records no inode to link them again by)."""

from __future__ import annotations

import dataclasses
import os
import re
import shutil

import pytest

from rabtui.checkpoint import prepare
from rabtui.restore import run as R
from tests.fidelity import differences
from tests.trees import Lab, burn_due, snapshot, write_files


def _cut_and_restored(tmp_path, files: dict):
    """`files` (one of them cut into two parts) backed up, burnt onto 4 MiB discs and restored whole
    from them, checked equal to the source: (cfg, store, checkpoint number, the source's data)."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, files)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    assert store.one("SELECT MAX(parts) FROM disc_files")[0] == 2
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    assert not res.incomplete(), res.summary
    assert snapshot(tmp_path / "out" / str(data).lstrip("/")) == snapshot(data)
    return cfg, store, number, data


def test_a_file_named_like_a_part_keeps_its_name_beside_a_cut_file(tmp_path):
    """Only the catalog's parts are joined: a file named like a part of a file that is not cut
    (one named like a part of a cut file is refused when planned) is restored under its name."""
    cfg, store, number, data = _cut_and_restored(
        tmp_path, {"big.bin": 6_000_000, "small.bin": b"small", "small.bin.part01-of-02": b"I am a real file"})
    said = []
    R.restore(cfg, store, "loc", str(data / "big.bin"), checkpoint=number, to=tmp_path / "one", emit=said.append)
    assert (tmp_path / "one" / str(data / "big.bin").lstrip("/")).read_bytes() == (data / "big.bin").read_bytes()
    # one part on each disc: "reading 1 file from RAB1D01", not "1 files"
    assert [e.message for e in said if e.message.startswith("reading ")] == [
        "reading 1 file from RAB1D01", "reading 1 file from RAB1D02"], said


def test_a_file_named_as_a_joins_own_file_comes_back_beside_the_cut_file(tmp_path):
    """A file of the source named as the file a join of a cut file's parts was written to before it
    took its name (.rabtui-join-<pid>), beside that cut file: both come back whole, each under its
    own name (the join's name was fixed: 'File exists' failed the whole restore)."""
    _cut_and_restored(tmp_path, {b".rabtui-join-%d" % os.getpid(): b"the operator's", "big.bin": 6_000_000})


def test_a_sparse_file_cut_across_discs_comes_back_sparse(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    (lab.src / "data").mkdir(parents=True, exist_ok=True)
    sp = lab.src / "data" / "sparse.img"
    with open(sp, "wb") as f:
        f.write(b"HEAD")
        f.seek(9_000_000)
        f.write(b"TAIL")
    assert os.stat(sp).st_blocks * 512 < 100_000
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    assert store.one("SELECT MAX(parts) FROM disc_files")[0] >= 2
    R.restore(cfg, store, "loc", str(sp), checkpoint=number, to=tmp_path / "out")
    got = tmp_path / "out" / str(sp).lstrip("/")
    assert got.read_bytes() == sp.read_bytes()
    assert os.stat(got).st_blocks * 512 < 1_000_000, f"{os.stat(got).st_blocks * 512} bytes allocated"
    assert int(os.stat(got).st_mtime) == int(os.stat(sp).st_mtime)


def _ino(path) -> int:
    return os.lstat(path).st_ino


def test_hard_links_cut_apart_by_the_discs_come_back_linked(tmp_path, monkeypatch):
    """Names of one file on two discs (empty files too, whose data tells nothing) come back linked:
    the checkpoint records which names were one file (`link_group`), and a file alike on the other
    disc is not named as if it might have been one. From a checkpoint recorded without it, the names
    of files alike with data are named in the result, as restored apart. (The planner puts the names
    of a file beside its data where they fit: here it is not told which names are one file, and
    places them in path order, as where the file's disc is full.)"""
    group_of = prepare._group_of
    monkeypatch.setattr(prepare, "_group_of", lambda *a: dataclasses.replace(group_of(*a), same={}))
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a/x.bin": 1_500_000, "b/y.bin": 1_500_000, "c/z.bin": 1_500_000, "a/empty": b"",
                       "c/other empty": b""})
    os.link(data / "a/x.bin", data / "c/x-link.bin")
    (data / "c/copy.bin").write_bytes((data / "a/x.bin").read_bytes())     # a file alike on the other disc
    at = os.stat(data / "a/x.bin")
    os.utime(data / "c/copy.bin", ns=(at.st_atime_ns, at.st_mtime_ns))
    os.link(data / "a/empty", data / "c/empty-link")
    os.chmod(data / "c", 0o555)     # read-only: the link is made in it all the same
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    discs = {bytes(r["path"]).rsplit(b"/", 1)[-1]: r["disc"] for r in store.all("SELECT disc, path FROM disc_files")}
    assert discs[b"x.bin"] != discs[b"x-link.bin"] and discs[b"x.bin"] != discs[b"copy.bin"], discs
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    assert not res.incomplete(), res.summary
    out = tmp_path / "out" / str(data).lstrip("/")
    assert _ino(out / "a/x.bin") == _ino(out / "c/x-link.bin")
    assert _ino(out / "a/empty") == _ino(out / "c/empty-link") != _ino(out / "c/other empty")
    assert _ino(out / "c/copy.bin") != _ino(out / "a/x.bin")      # and not named: it was a file of its own
    assert differences(data, out, acls=False, xattrs=False) == []     # hard links, modes and times
    # one name of each alone (the others in a directory left out): whole, complete, nothing named
    res = R.restore(cfg, store, "loc", str(data / "c"), checkpoint=number, to=tmp_path / "c")
    assert not res.incomplete() and res.written.not_restored == [], res.summary
    out = tmp_path / "c" / str(data).lstrip("/")
    assert (out / "c/x-link.bin").read_bytes() == (data / "a/x.bin").read_bytes()
    assert (out / "c/empty-link").read_bytes() == b"" and not (out / "a").exists()

    store.execute("UPDATE disc_files SET link_group=NULL, mode=NULL")     # as recorded before either was
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "old")
    out = tmp_path / "old" / str(data).lstrip("/")
    assert (out / "c/x-link.bin").read_bytes() == (data / "a/x.bin").read_bytes()
    named = sorted((kind, os.fsdecode(name)) for kind, name, _why in res.written.not_restored)
    assert named == [("hard link", str(data / "c/copy.bin").lstrip("/")),
                     ("hard link", str(data / "c/x-link.bin").lstrip("/"))], named
    assert res.incomplete()


def test_hard_links_of_a_file_cut_into_parts_come_back_linked(tmp_path):
    """Two names of one file cut into parts: each is joined from its own parts, then linked again
    as the checkpoint recorded them (`link_group` on each part); a copy alike of it (content, owner,
    mode, times, cut too) that was a file of its own comes back apart, and nothing is named. From a
    checkpoint recorded before that, the three are named and none is linked: nothing on the discs
    or in the catalog tells a link from a copy alike (each is cut at its own offsets, no part shares
    its data with another), and linking the copy would make a write to one change the other."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a/big.bin": 5_000_000})
    os.makedirs(data / "b")
    os.link(data / "a/big.bin", data / "b/big-link.bin")
    (data / "b/copy.bin").write_bytes((data / "a/big.bin").read_bytes())
    at = os.stat(data / "a/big.bin")
    os.utime(data / "b/copy.bin", ns=(at.st_atime_ns, at.st_mtime_ns))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    assert store.one("SELECT COUNT(DISTINCT path) FROM disc_files WHERE parts>1")[0] == 3
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    assert not res.incomplete() and res.written.not_restored == [], res.written.not_restored
    out = tmp_path / "out" / str(data).lstrip("/")
    assert (out / "b/big-link.bin").read_bytes() == (data / "a/big.bin").read_bytes()
    assert _ino(out / "a/big.bin") == _ino(out / "b/big-link.bin") != _ino(out / "b/copy.bin")
    assert differences(data, out, acls=False, xattrs=False) == []

    store.execute("UPDATE disc_files SET link_group=NULL, mode=NULL, uid=NULL, gid=NULL")   # as recorded before
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "old")
    out = tmp_path / "old" / str(data).lstrip("/")
    assert len({_ino(out / n) for n in ("a/big.bin", "b/big-link.bin", "b/copy.bin")}) == 3
    named = sorted(os.path.basename(name) for kind, name, _why in res.written.not_restored if kind == "hard link")
    assert len(named) == 2 and set(named) < {b"big.bin", b"big-link.bin", b"copy.bin"}, res.written.not_restored


def _cut_with_attrs(tmp_path):
    """A file cut into two parts that has an ACL, xattrs of its own (a binary value, a name with
    odd bytes; as root a capability and a trusted. one too), a foreign owner (as root), setgid and
    an old time; its directory's time in whole seconds, as discs keep them."""
    from tests import fidelity

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"big.bin": 6_000_000, "small.bin": b"small"})
    big = data / "big.bin"
    try:
        os.setxattr(big, "system.posix_acl_access", fidelity.ACCESS_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    os.setxattr(big, "user.comment", b"\x00kept = \"with\" the\nparts\xff\\")
    os.setxattr(big, b"user.odd \xff=name", b"1")
    if fidelity.is_root():
        os.chown(big, 12345, 23456)
        os.setxattr(big, "trusted.rabtui", b"trusted namespace")
        os.setxattr(big, "security.capability", fidelity.CAPABILITY)
    os.chmod(big, 0o2754)
    os.utime(big, (fidelity.OLD_MTIME, fidelity.OLD_MTIME))
    os.utime(data, (fidelity.OLD_MTIME, fidelity.OLD_MTIME))
    assert lab.backup(cfg).status == "completed"
    return lab, cfg, data


def test_each_part_of_a_cut_file_holds_its_acl_and_xattrs_on_its_disc(tmp_path):
    """xorriso's -cut_out gives a part the mode, owner and times of the file only: the ACL and the
    xattrs of every namespace are given to it after, as the whole file would have them."""
    import subprocess

    lab, cfg, data = _cut_with_attrs(tmp_path)
    store = lab.store()
    number = burn_due(cfg, store)
    parts = store.all("SELECT disc, disc_path FROM disc_files WHERE parts=2 ORDER BY part")
    assert [r["disc"] for r in parts] == [1, 2]
    big = os.lstat(data / "big.bin")
    for r in parts:
        path = "/" + os.fsdecode(bytes(r["disc_path"]))
        listed = subprocess.run(["xorriso", "-no_rc", "-acl", "on", "-xattr", "any",
                                 "-indev", str(tmp_path / "iso" / f"RAB{number}D{r['disc']:02d}.iso"),
                                 "-getfattr", path, "--", "-getfacl", path, "--", "-lsdl", path, "--"],
                                capture_output=True, check=True, env={**os.environ, "TZ": "UTC0"}).stdout
        assert b'user.comment="\\000kept\\040\\075' in listed and b'user.odd\\040\\377\\075name="1"' in listed, listed
        assert b"user:1234:r-x" in listed and b"group:2345:rw-" in listed, listed
        assert re.search(rb"-rwxr-sr--\+ +1 +%d +%d +\d+ +Jan +1 +2000 " % (big.st_uid, big.st_gid), listed), listed
        if os.geteuid() == 0:
            assert b"security.capability=" in listed and b'trusted.rabtui="trusted\\040namespace"' in listed


def test_a_cut_file_comes_back_from_the_discs_with_its_acl_xattrs_mode_owner_and_times(tmp_path):
    """The file joined from its parts is the backed-up one to rsync's comparison, alone and in its
    directory."""
    from tests import fidelity

    lab, cfg, data = _cut_with_attrs(tmp_path)
    store = lab.store()
    number = burn_due(cfg, store)
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    assert not res.written.problems(), res.summary
    assert fidelity.differences(data, tmp_path / "out" / str(data).lstrip("/")) == []
    res = R.restore(cfg, store, "loc", str(data / "big.bin"), checkpoint=number, to=tmp_path / "one")
    assert not res.written.problems(), res.summary
    assert _as_it_was(data / "big.bin") == _as_it_was(tmp_path / "one" / str(data / "big.bin").lstrip("/"))


def _as_it_was(path) -> tuple:
    st = os.lstat(path)
    attrs = {n: os.getxattr(path, n) for n in os.listxattr(path)}
    with open(path, "rb") as f:
        content = f.read()
    return st.st_mode, st.st_uid, st.st_gid, st.st_mtime, attrs, content


def test_a_cut_file_without_an_acl_in_a_directory_with_a_default_acl_comes_back_without_one(tmp_path):
    """The joined file is made in its directory, whose default ACL the kernel hands on to it: the
    file had none, and has none after the restore."""
    from tests import fidelity

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    inherit = lab.src / "data" / "inherit"
    write_files(inherit, {"big.bin": 6_000_000})
    os.chmod(inherit / "big.bin", 0o640)
    try:
        os.setxattr(inherit, "system.posix_acl_default", fidelity.DEFAULT_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    assert store.one("SELECT MAX(parts) FROM disc_files")[0] == 2
    res = R.restore(cfg, store, "loc", str(inherit), checkpoint=number, to=tmp_path / "out")
    assert not res.written.problems(), res.summary
    got = tmp_path / "out" / str(inherit / "big.bin").lstrip("/")
    assert os.listxattr(got) == [] and os.stat(got).st_mode & 0o7777 == 0o640
    assert got.read_bytes() == (inherit / "big.bin").read_bytes()


def test_discs_whose_images_are_below_dev_are_restored_from(shm):
    """An `images:` drive on /dev/shm: xorriso refuses an address below /dev that does not say it
    is a file (`stdio:`), as it is not a drive."""
    lab = Lab(shm, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"big.bin": 6_000_000, "small.bin": b"small"})
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=shm / "out")
    assert not res.written.problems(), res.summary
    assert snapshot(shm / "out" / str(data).lstrip("/")) == snapshot(data)


def test_a_cut_file_the_target_has_no_room_to_join_is_said_in_a_line(tmp_path, tmpfs, capsys):
    """Its parts come off the discs into the target's file system, and the whole file is joined
    beside them: on a 7 MiB file system a 5 MB file's parts fit, the joined file does not. It
    ended in a traceback (OSError: No space left on device)."""
    from rabtui.cli import main

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    write_files(lab.src / "data", {"big.bin": 5_000_000})
    assert lab.backup(cfg).status == "completed"
    assert burn_due(cfg, lab.store()) == 1
    target = tmpfs(tmp_path / "small", "size=7m")
    assert main(["--config", str(lab.config_path), "restore", "loc", str(lab.src / "data"), "--to", str(target),
                 "--checkpoint", "1"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err and f"could not join the 2 parts of {lab.src}/data/big.bin that came off the" \
        f" discs: {target} is full" in err, err
    assert os.listdir(target) == []


def test_names_recorded_as_one_file_of_another_content_are_not_linked(tmp_path):
    """A catalog that says two files of another content are one (a record gone wrong, or forged on
    a disc rebuild-state read): neither loses its content to the other, the second is named."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a/x.bin": 1_500_000, "b/y.bin": 1_500_000, "c/z.bin": 1_500_000, "a/one": b"1111",
                       "c/two": b"2222"})
    os.utime(data / "c/two", ns=(os.stat(data / "a/one").st_atime_ns, os.stat(data / "a/one").st_mtime_ns))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    for name in ("a/one", "c/two"):
        store.execute("UPDATE disc_files SET link_group=99 WHERE path=?", (os.fsencode(data / name).lstrip(b"/"),))
    assert store.one("SELECT COUNT(*) FROM disc_files WHERE link_group=99")[0] == 2
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    out = tmp_path / "out" / str(data).lstrip("/")
    assert (out / "a/one").read_bytes() == b"1111" and (out / "c/two").read_bytes() == b"2222"
    named = [(kind, os.path.basename(name)) for kind, name, _why in res.written.not_restored]
    assert named == [("hard link", b"two")], res.written.not_restored


def test_names_recorded_as_one_file_of_another_owner_or_acl_are_not_linked(tmp_path):
    """A catalog that says two files of one content but another owner, or another ACL or xattr,
    are one (a record gone wrong, or forged): a hard link shares them, so linking gave one name the
    other's owner or ACL without a word. Each keeps its own, the second is named."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a/x.bin": 1_500_000, "b/y.bin": 1_500_000, "c/z.bin": 1_500_000,
                       "a/one": b"1111", "c/two": b"1111", "a/three": b"3333", "c/four": b"3333"})
    os.chown(data / "c/two", 1234, 5678)
    os.setxattr(data / "c/four", "system.posix_acl_access", _acl_user(4321))
    os.chmod(data / "a/three", os.stat(data / "c/four").st_mode & 0o7777)
    at = os.stat(data / "a/one")
    for name in ("c/two", "a/three", "c/four"):
        os.utime(data / name, ns=(at.st_atime_ns, at.st_mtime_ns))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    for group, names in ((98, ("a/one", "c/two")), (99, ("a/three", "c/four"))):
        for name in names:
            store.execute("UPDATE disc_files SET link_group=? WHERE path=?",
                          (group, os.fsencode(data / name).lstrip(b"/")))
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    out = tmp_path / "out" / str(data).lstrip("/")
    assert _ino(out / "a/one") != _ino(out / "c/two") and _ino(out / "a/three") != _ino(out / "c/four")
    assert (os.lstat(out / "c/two").st_uid, os.lstat(out / "a/one").st_uid) == (1234, at.st_uid)
    assert os.getxattr(out / "c/four", "system.posix_acl_access") == _acl_user(4321)
    assert "system.posix_acl_access" not in os.listxattr(out / "a/three")
    named = sorted(os.path.basename(name) for kind, name, _why in res.written.not_restored if kind == "hard link")
    assert named == [b"four", b"two"], res.written.not_restored


def _acl_user(uid: int) -> bytes:
    """A POSIX access ACL (its xattr form): user::rw-, user:uid:r--, group::r--, mask::r--, other::r--."""
    import struct
    entries = [(0x01, 6, 0xFFFFFFFF), (0x02, 4, uid), (0x04, 4, 0xFFFFFFFF), (0x10, 4, 0xFFFFFFFF),
               (0x20, 4, 0xFFFFFFFF)]
    return struct.pack("<I", 2) + b"".join(struct.pack("<HHI", tag, perm, ident) for tag, perm, ident in entries)



def test_names_of_one_file_share_a_disc_and_come_back_linked(tmp_path):
    """A tree of files with two or three names each: the names go onto the disc of the file's
    data, which xorriso writes once, so one disc holds what counted name by name takes two; the
    image stays within the disc, and the tree comes back with its links."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    for d in ("a", "b", "c"):
        os.makedirs(data / d)
    for i in range(300):
        (data / f"a/f{i:03d}").write_bytes(os.urandom(i * 20))
        os.link(data / f"a/f{i:03d}", data / f"b/l{i:03d}")
        if i % 2:
            os.link(data / f"a/f{i:03d}", data / f"c/m{i:03d}")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    assert store.one("SELECT COUNT(DISTINCT disc) FROM disc_files")[0] == 1
    isos = list((tmp_path / "iso").rglob("*.iso"))
    assert len(isos) == 1 and isos[0].stat().st_size <= 4 * 1024 * 1024
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    assert not res.incomplete() and res.written.not_restored == [], res.summary
    out = tmp_path / "out" / str(data).lstrip("/")
    assert differences(data, out, acls=False, xattrs=False) == []
    assert _ino(out / "a/f299") == _ino(out / "b/l299") == _ino(out / "c/m299")


def test_the_discs_own_recipe_joins_a_cut_file_from_its_parts_alone(tmp_path):
    """README.txt's recipe for a file cut into parts, followed with plain tools on the discs
    extracted into one folder, joins only its parts: a file beside it whose name begins as they do
    (big.bin.partial, a download left unfinished) is no part of it (`cat big.bin.part*` took it in)."""
    import glob
    import subprocess

    cfg, store, number, data = _cut_and_restored(
        tmp_path, {"big.bin": 6_000_000, "big.bin.partial": b"half a download"})
    plain = tmp_path / "plain"
    for iso in sorted((tmp_path / "iso").iterdir()):
        subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}", "-extract", "/", str(plain)],
                       check=True, capture_output=True)
        (plain / "README.txt").chmod(0o600)     # the next disc's README.txt is extracted over it
    [recipe] = [line.split() for line in (plain / "README.txt").read_text().splitlines()
                if line.strip().startswith("cat NAME.part")]
    assert recipe[0] == "cat" and recipe[2:] == [">", "NAME"], recipe
    where = plain / "data" / "loc" / str(data).lstrip("/")
    pattern = recipe[1].replace("NAME", "big.bin").replace("MM", "02")
    joined = b"".join((where / p).read_bytes() for p in sorted(glob.glob(pattern, root_dir=where)))
    assert joined == (data / "big.bin").read_bytes()


def test_the_discs_give_the_sha256_of_a_file_joined_from_its_parts(tmp_path):
    """Each disc holding a part of a cut file gives, in README.txt, the whole file's sha256 in a line
    `sha256sum -c` reads: the join made with plain tools is checked as README.txt says (the catalog
    gave each part's alone), and a join that differs fails. The sums come from the plan's one read
    of the parts."""
    import hashlib
    import json
    import subprocess

    cfg, store, number, data = _cut_and_restored(tmp_path, {"big.bin": 6_000_000, "small.bin": b"small"})
    plan = json.loads(store.one("SELECT plan FROM checkpoints WHERE number=?", (number,))["plan"])
    whole = hashlib.sha256((data / "big.bin").read_bytes()).hexdigest()
    assert plan["joined"] == [{"path": f"data/loc{data}/big.bin", "sha256": whole, "discs": [1, 2]}], plan["joined"]
    where = tmp_path / "plain"
    where.mkdir()
    for iso in sorted((tmp_path / "iso").iterdir()):
        subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}", "-extract", "/",
                        str(tmp_path / iso.stem)], check=True, capture_output=True)
        for part in (tmp_path / iso.stem).rglob("big.bin.part*"):
            shutil.copyfile(part, where / part.name)
        readme = (tmp_path / iso.stem / "README.txt").read_text()
        assert "  sha256sum -c --ignore-missing /mnt/README.txt\n" in readme
        assert re.search(r"^      [0-9a-f]{64}  big\.bin$", readme, re.M), readme
    check = ["sha256sum", "-c", "--ignore-missing", str(tmp_path / f"RAB{number}D02" / "README.txt")]
    parts = sorted(where.glob("big.bin.part[0-9][0-9]-of-02"))
    assert len(parts) == 2
    (where / "big.bin").write_bytes(b"".join(p.read_bytes() for p in parts))
    done = subprocess.run(check, cwd=where, capture_output=True, text=True)
    assert done.returncode == 0 and done.stdout == "big.bin: OK\n", done
    (where / "big.bin").write_bytes(parts[0].read_bytes())      # the second part left out
    done = subprocess.run(check, cwd=where, capture_output=True, text=True)
    assert done.returncode == 1 and "big.bin: FAILED" in done.stdout, done


def test_the_discs_name_the_hard_links_plain_tools_restore_apart(tmp_path, monkeypatch):
    """Names of one file on two discs, and two names of a file cut into parts, come back apart from
    the discs with plain tools (only rabtui's restore links them again): README.txt says so, and its
    query of the disc's copy of the state names them all, and only them (a file alike of its own is
    not named; the catalog tells no link). README.txt said nothing of it."""
    import subprocess

    if shutil.which("sqlite3") is None:
        pytest.skip("the sqlite3 program README.txt names is not installed")
    group_of = prepare._group_of      # the names placed in path order: x.bin's apart (as in the test above)
    monkeypatch.setattr(prepare, "_group_of", lambda *a: dataclasses.replace(group_of(*a), same={}))
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"a/x.bin": 1_500_000, "b/y.bin": 1_500_000, "c/z.bin": 1_500_000, "d/big.bin": 5_000_000})
    os.link(data / "a/x.bin", data / "c/x-link.bin")
    os.link(data / "d/big.bin", data / "d/big-link.bin")
    (data / "c/copy.bin").write_bytes((data / "a/x.bin").read_bytes())
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    plain = tmp_path / "plain"
    for iso in sorted((tmp_path / "iso").iterdir()):
        assert iso.name.startswith(f"RAB{number}D")
        subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-hardlinks", "on", "-indev", f"stdio:{iso}",
                        "-extract", "/", str(plain)], check=True, capture_output=True)
        for name in ("README.txt", "rabtui", "rabtui/rabtui.db"):
            (plain / name).chmod(0o700)     # the next disc's are extracted over them
    where = plain / "data" / "loc" / str(data).lstrip("/")
    assert _ino(where / "a/x.bin") != _ino(where / "c/x-link.bin")
    readme = (plain / "README.txt").read_text()
    assert "come back from plain tools as files of their own" in readme, readme
    command = readme[readme.index("      sqlite3 /mnt/rabtui/rabtui.db "):]
    query = command[command.index('"') + 1:command.index('"', command.index('"') + 1)]
    done = subprocess.run(["sqlite3", str(plain / "rabtui" / "rabtui.db"), query], capture_output=True, text=True,
                          check=True)
    prefix = f"data/loc{data}/"
    groups: dict[str, set[str]] = {}
    for line in done.stdout.splitlines():
        group, _disc, path = line.split("|", 2)
        groups.setdefault(group, set()).add(re.sub(r"\.part[0-9]{2}-of-[0-9]{2}$", "", path.removeprefix(prefix)))
    assert sorted(map(sorted, groups.values())) == [["a/x.bin", "c/x-link.bin"],
                                                    ["d/big-link.bin", "d/big.bin"]], done.stdout


def test_rebuild_state_verifies_a_disc_holding_parts_of_two_names_of_one_file(tmp_path, capsys):
    """Two names of one file cut into parts, a part of each on one disc (parts are files of their
    own there, never linked): rebuild-state, the database lost, verifies that disc again as the burn
    did, and the file comes back from the discs. It failed the disc ("not hard-linked to ... on the
    disc as backed up"), so the checkpoint was unfinished and the file not restorable from it."""
    from rabtui.cli import main

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"huge": 8_000_000})
    os.link(data / "huge", data / "huge.link")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    rows = store.all("SELECT disc, link_group FROM disc_files WHERE parts>1")
    shared = {r["disc"] for r in rows if sum(o["disc"] == r["disc"] for o in rows) > 1}
    assert shared and len({r["link_group"] for r in rows}) == 1, [dict(r) for r in rows]

    lab.lose_database()
    shutil.rmtree(lab.media[0][1] / "loc")     # the discs alone
    assert main(["--config", str(lab.config_path), "rebuild-state"]) in (0, 3)
    out = capsys.readouterr().out
    assert "failed its verification" not in out, out
    store = lab.store()
    assert {r["state"] for r in store.all("SELECT state FROM discs WHERE number=?", (number,))} == {"verified"}
    assert store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] == "completed"
    res = R.restore(cfg, store, "loc", str(data / "huge"), to=tmp_path / "out")
    assert (tmp_path / "out" / str(data / "huge").lstrip("/")).read_bytes() == (data / "huge").read_bytes(), res.summary
