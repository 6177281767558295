"""Xattr values over 4 KiB (XFS, btrfs and tmpfs take up to 64 KiB): a disc holds them whole, but
xorriso's listing shows each only as `# oversized: name N , value M bytes`. Verification reads
them back from the disc and compares them byte for byte, and a restore from the discs brings them
back. Real backups and real xorriso onto an `images:` drive, everything on /dev/shm (the ext4 of
/tmp takes no such value); skipped, with the reason, where /dev/shm takes none."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rabtui.checkpoint import disc_xattrs, xorriso, xorriso_output
from rabtui.restore import run as R
from tests.test_checkpoint_deep import no_room_to_extract
from tests.test_disc_verify_metadata import _verify, alter, burn_one
from tests.trees import Lab, burn_due, write_files

ROOMS = ["extracted", "streamed"]


@pytest.fixture
def big(shm):
    """`shm`, where a file takes a 60,000-byte user. value."""
    try:
        (shm / "probe").write_bytes(b"")
        os.setxattr(shm / "probe", "user.big", b"v" * 60_000)
    except OSError as exc:
        pytest.skip(f"/dev/shm takes no 60,000-byte xattr value here: {exc.strerror}")
    (shm / "probe").unlink()
    return shm


def _value(size: int) -> bytes:
    """Every byte but 0 (xorriso's -setfattr, which alter() uses, takes none), in no order."""
    return bytes((k * 131 + 7) % 255 + 1 for k in range(size))


def _backed_up(base: Path, size: int, state: Path | None = None):
    lab = Lab(base, media_count=1)
    if state is not None:
        lab.state = state
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"f": b"content of f", "sub/g": b"content of g"})
    os.setxattr(data / "f", "user.big", _value(size))
    os.setxattr(data / "sub", "user.dir", _value(size))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)     # written and verified
    iso = base / "iso" / f"RAB{number}D01.iso"
    return lab, cfg, store, number, iso, "/data/loc/" + str(data).lstrip("/")


@pytest.mark.parametrize("size", [5_000, 20_000, 60_000])
@pytest.mark.parametrize("room", ROOMS)
def test_a_large_value_is_verified_and_restored(big, monkeypatch, size, room):
    lab, cfg, store, number, _iso, _prefix = _backed_up(big, size)
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    assert _verify(cfg, store, number) == ""
    data = lab.src / "data"
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=big / "out")
    assert not res.written.problems(), res.summary
    out = big / "out" / str(data).lstrip("/")
    assert os.getxattr(out / "f", "user.big") == _value(size)
    assert os.getxattr(out / "sub", "user.dir") == _value(size)


@pytest.mark.parametrize("room", ROOMS)
@pytest.mark.parametrize("entry, name", [("f", "user.big"), ("sub", "user.dir")])
def test_a_large_value_changed_on_the_disc_fails_it_by_name(big, monkeypatch, room, entry, name):
    """One byte of the value changed, its length kept: the listing shows the same line for it."""
    _lab, cfg, store, number, iso, prefix = _backed_up(big, 20_000)
    changed = bytearray(_value(20_000))
    changed[12_345] = changed[12_345] % 254 + 1
    alter(iso, "-setfattr", name, os.fsdecode(bytes(changed)), f"{prefix}/{entry}", "--")
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(cfg, store, number)
    assert "verification failed" in why and f"/{entry} (xattr {name} differs from the backup's)" in why, why


def test_a_large_value_removed_from_the_disc_fails_it_by_name(big):
    _lab, cfg, store, number, iso, prefix = _backed_up(big, 20_000)
    alter(iso, "-setfattr", "-user.big", "", f"{prefix}/f", "--")
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/f (xattr user.big missing on the disc)" in why, why


def _backed_up_beside_a_refusing_state(big: Path, tmp_path: Path):
    """A disc of a 20,000-byte value written and verified, with the state directory in `tmp_path`,
    whose file system refuses such a value (skipped where it takes it)."""
    try:
        (tmp_path / "probe").write_bytes(b"")
        os.setxattr(tmp_path / "probe", "user.big", _value(20_000))
        pytest.skip(f"{tmp_path} takes a 20,000-byte value: nothing is refused here")
    except OSError:
        pass
    lab, cfg, store, number, _iso, _prefix = _backed_up(big, 20_000, state=tmp_path / "state")
    return lab, cfg, store, number


def test_a_value_the_scratch_cannot_hold_is_read_back_elsewhere_or_named(big, tmp_path, monkeypatch):
    """The state directory on a file system that refuses the value (the ext4 of /tmp): it is read
    back on /dev/shm; with no such place, the disc fails, naming the file and the file system's
    reason."""
    _lab, cfg, store, number = _backed_up_beside_a_refusing_state(big, tmp_path)
    assert _verify(cfg, store, number) == ""
    monkeypatch.setattr(disc_xattrs, "ELSEWHERE", ("/proc", "/nonexistent"))   # none it may write in
    why = _verify(cfg, store, number)
    assert "verification failed" in why, why
    assert "/f (xattr of 20000 bytes not read back from the disc: Disk file" in why, why
    assert "user.big" in why, why


def test_a_place_other_users_can_change_is_not_where_values_are_read_back(big, tmp_path, monkeypatch):
    """A place to read values back in that another user may write in (not sticky): they could swap
    the folder extracted there for a symlink of theirs and read the values (a file's secrets, its
    capabilities). It is passed over: the disc fails naming the value, nothing was made there."""
    _lab, cfg, store, number = _backed_up_beside_a_refusing_state(big, tmp_path)
    open_to_all = big / "open"
    open_to_all.mkdir()
    open_to_all.chmod(0o777)
    monkeypatch.setattr(disc_xattrs, "ELSEWHERE", (str(open_to_all),))
    why = _verify(cfg, store, number)
    assert "verification failed" in why and "/f (xattr of 20000 bytes not read back from the disc" in why, why
    assert os.listdir(open_to_all) == []


def test_a_value_an_xorriso_this_machine_fails_cannot_read_back_judges_no_disc(big, monkeypatch):
    """The xorriso that reads the large values back is killed by a signal (its stack overflowing):
    this machine's failure, not the disc's. The disc keeps its state, no rewrite is offered."""
    import shutil

    from rabtui.events import REWRITE
    from tests.test_disc_verify_unjudged import _verify_again

    if not shutil.which("prlimit"):
        pytest.skip("needs prlimit")
    _lab, cfg, store, number, _iso, _prefix = _backed_up(big, 5_000)
    real = disc_xattrs.read_back_argv
    monkeypatch.setattr(disc_xattrs, "read_back_argv", lambda *a: ["prlimit", "--stack=16000", "--", *real(*a)])
    q, state = _verify_again(cfg, store, number)
    assert state == "verified" and REWRITE not in q.choices, (state, q.text)
    assert "could not be verified: xorriso was killed by signal SIGSEGV while reading xattrs back" in q.text, q.text

def test_the_listing_names_the_values_it_leaves_out():
    lines = [b"# file: a/f\n", b'user.small="x"\n', b"# oversized: name 8 , value 20000 bytes\n", b"\n",
             b"# file: a/sp\\040ace\n", b"# oversized: name 10 , value 5000 bytes\n",
             b"# oversized: name 8 , value 60000 bytes\n"]
    assert xorriso_output.parse_oversized(lines) == {b"a/f": [(8, 20000)], b"a/sp ace": [(10, 5000), (8, 60000)]}
    assert xorriso_output.parse_getfattr(lines) == {b"a/f": {b"user.small": b"x"}}


def _cut(base: Path, size: int):
    """A file larger than a disc (cut into parts) with a value of `size` bytes, backed up."""
    lab = Lab(base, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"big.bin": 6_000_000, "small.bin": b"small"})
    os.setxattr(data / "big.bin", "user.big", _value(size))
    os.setxattr(data / "big.bin", "user.small", b"kept")
    assert lab.backup(cfg).status == "completed"
    return lab, cfg, lab.store(), data


@pytest.mark.parametrize("room", ROOMS)
def test_each_part_of_a_cut_file_carries_a_long_value_verified_and_restored(big, monkeypatch, room):
    """15,000 bytes of every value but 0: each part is given it from a line of xorriso's
    -setfattr_list (16 KiB), which holds it when only the bytes a line cannot hold are coded."""
    lab, cfg, store, data = _cut(big, 15_000)
    number = burn_one(lab, cfg, store)
    assert store.one("SELECT MAX(parts) FROM disc_files")[0] == 2
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    assert _verify(cfg, store, number) == ""
    res = R.restore(cfg, store, "loc", str(data / "big.bin"), checkpoint=number, to=big / "out")
    assert not res.written.problems(), res.summary
    out = big / "out" / str(data / "big.bin").lstrip("/")
    assert os.getxattr(out, "user.big") == _value(15_000) and os.getxattr(out, "user.small") == b"kept"
    assert out.read_bytes() == (data / "big.bin").read_bytes()


@pytest.mark.parametrize("size", [20_000, 60_000])
def test_a_file_to_cut_whose_value_xorriso_cannot_give_its_parts_is_refused_when_planned(big, size):
    """No line of -setfattr_list holds it: the plan names the file and the xattr, and nothing is
    recorded or written."""
    from rabtui.checkpoint import prepare
    from rabtui.errors import UsageError

    _lab, cfg, store, _data = _cut(big, size)
    with pytest.raises(UsageError) as info:
        prepare.compute(cfg, store)
    assert "big.bin' is larger than a disc and is cut into parts, but its xattr user.big" in info.value.message
    assert f"({size} bytes)" in info.value.message and "xorriso cannot give it to the parts" in info.value.message
    assert store.one("SELECT COUNT(*) FROM checkpoints")[0] == 0
    assert not (big / "iso").exists() or not list((big / "iso").iterdir())


def _many(path: Path, count: int) -> None:
    for k in range(count):
        os.setxattr(path, f"user.v{k:02d}", _value(60_000)[k:] + _value(k))


@pytest.mark.parametrize("give, named", [
    (lambda f: _many(f, 16), "its 16 xattrs take 960"),
    (lambda f: [os.setxattr(f, "user.empty", b""), os.setxattr(f, "user.big", _value(20_000))],
     "its xattr user.big (20000 bytes) takes"),
])
def test_a_file_whose_xattrs_no_disc_carries_is_refused_when_planned(big, give, named):
    """xorriso stops writing a disc on a file whose xattrs libisofs cannot decode again: past its
    budget of 1,000,000 bytes a file (-md5 and -hardlinks add some to every file). One with an empty
    value is given its others from a list (test_disc_empty_xattrs.py), which holds no line longer
    than 16 KiB. The plan names the file, and nothing is recorded or written."""
    from rabtui.checkpoint import prepare
    from rabtui.errors import UsageError

    lab = Lab(big, media_count=1)
    cfg = lab.with_discs("cd-700", [("data", "standard")])
    write_files(lab.src / "data", {"f": b"content of f", "g": b"g"})
    try:
        give(lab.src / "data" / "f")
    except OSError as exc:
        pytest.skip(f"/dev/shm takes no such xattrs here: {exc.strerror}")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    with pytest.raises(UsageError) as info:
        prepare.compute(cfg, store)
    assert "1 entry holds xattrs no disc can carry, e.g. 'f': " + named in info.value.message, info.value.message
    assert store.one("SELECT COUNT(*) FROM checkpoints")[0] == 0
    assert not (big / "iso").exists() or not list((big / "iso").iterdir())


def test_a_file_with_as_many_xattrs_as_a_disc_carries_is_verified_and_restored(big):
    """Fifteen values of 60,000 bytes: under libisofs's budget, written, read back and restored."""
    lab = Lab(big, media_count=1)
    cfg = lab.with_discs("cd-700", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"f": b"content of f"})
    _many(data / "f", 15)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    assert _verify(cfg, store, number) == ""
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=big / "out")
    assert not res.written.problems(), res.summary
    out = big / "out" / str(data / "f").lstrip("/")
    assert {n: os.getxattr(out, n) for n in os.listxattr(out)} == {n: os.getxattr(data / "f", n)
                                                                   for n in os.listxattr(data / "f")}


def test_a_restore_onto_a_file_system_that_refuses_a_value_names_it(big, tmp_path):
    """Restored into /tmp (ext4 takes about 4 KiB of xattrs a file): the file and the directory
    whose value it refuses are restored without their xattrs, the directory with what it holds,
    and each is named with the xattr and the file system's reason (it failed as a whole)."""
    try:
        (tmp_path / "probe").write_bytes(b"")
        os.setxattr(tmp_path / "probe", "user.big", _value(20_000))
        pytest.skip(f"{tmp_path} takes a 20,000-byte value: nothing is refused here")
    except OSError:
        pass
    lab, cfg, store, number, _iso, _prefix = _backed_up(big, 20_000)
    res = R.restore(cfg, store, "loc", str(lab.src / "data"), checkpoint=number, to=tmp_path / "out")
    out = tmp_path / "out" / str(lab.src / "data").lstrip("/")
    assert (out / "f").read_bytes() == b"content of f" and (out / "sub/g").read_bytes() == b"content of g"
    named = {(k, os.path.basename(n)): why for k, n, why in res.written.not_restored}
    assert set(named) == {("attribute", b"f"), ("attribute", b"sub")}, named
    assert named[("attribute", b"f")].startswith("xattr user.big not set (No space left on device)"), named


@pytest.mark.skipif(os.geteuid() != 0, reason="only root sets security. xattrs")
@pytest.mark.parametrize("size", [5_000, 20_000])
def test_a_directory_with_a_security_xattr_and_a_large_value(big, size):
    """A directory with a security. xattr (an SELinux label) is given its xattrs from lists, whose
    lines take no value over 16 KiB: with a user. value that fits, the checkpoint completes and
    a restore from the disc gives all back; with one of 20,000 bytes it is refused as its plan is
    made, naming the directory, nothing recorded (every disc of it failed as it was staged, so
    the checkpoint could never complete)."""
    from rabtui.checkpoint import prepare
    from rabtui.errors import UsageError

    lab = Lab(big, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"sub/g": b"content of g"})
    os.setxattr(data / "sub", "security.s", b"label\0")
    os.setxattr(data / "sub", "user.dir", _value(size))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    if size > xorriso.LIST_LINE:
        with pytest.raises(UsageError) as info:
            prepare.compute(cfg, store, asked={"*"})
        assert "'sub': its xattr user.dir (20000 bytes) takes" in info.value.message, info.value.message
        assert "it has a trusted. or security. xattr" in info.value.message
        assert not store.all("SELECT * FROM checkpoints")
        return
    number = burn_one(lab, cfg, store)
    assert _verify(cfg, store, number) == ""
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=big / "out")
    assert not res.written.problems(), res.summary
    out = big / "out" / str(data).lstrip("/") / "sub"
    assert os.getxattr(out, "user.dir") == _value(size)
    assert os.getxattr(out, "security.s") == b"label\0"


def test_a_restore_onto_a_file_system_that_refuses_an_acl_names_it(big, tmp_path):
    """An ACL of 600 named users (4.8 KB, which tmpfs holds) restored into /tmp, whose ext4 takes
    about 4 KiB of xattrs a file: xorriso says the ACL, not an xattr, was refused, and the whole
    restore failed on it; the file comes off again without its ACL, with its other xattrs and the
    mode the source showed (its mask's group bits: xorriso gives the owning group's without the
    ACL, which the checks against the catalog then took for a damaged disc), and is named."""
    from tests.fidelity import ACL_GROUP_OBJ, ACL_MASK, ACL_OTHER, ACL_USER, ACL_USER_OBJ, UNDEFINED_ID, posix_acl

    acl = posix_acl([(ACL_USER_OBJ, 6, UNDEFINED_ID), *((ACL_USER, 4, 10_000 + k) for k in range(600)),
                     (ACL_GROUP_OBJ, 6, UNDEFINED_ID), (ACL_MASK, 4, UNDEFINED_ID), (ACL_OTHER, 4, UNDEFINED_ID)])
    try:
        (tmp_path / "probe").write_bytes(b"")
        os.setxattr(tmp_path / "probe", "system.posix_acl_access", acl)
        pytest.skip(f"{tmp_path} takes an ACL of 4.8 KB: nothing is refused here")
    except OSError:
        pass
    lab = Lab(big, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"f": b"content of f", "plain": b"no ACL", "sub/g": b"content of g"})
    os.setxattr(data / "f", "system.posix_acl_access", acl)
    os.chmod(data / "sub", 0o775)
    os.setxattr(data / "sub", "system.posix_acl_access", acl)     # its mask r--: shown as 0745
    os.setxattr(data / "f", "user.kept", b"a small one")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, asked={"*"})
    res = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    out = tmp_path / "out" / str(data).lstrip("/")
    assert (out / "f").read_bytes() == b"content of f" and (out / "plain").read_bytes() == b"no ACL"
    assert os.getxattr(out / "f", "user.kept") == b"a small one"
    # without its ACL, with the mode the source showed (the ACL's mask as its group bits, r--)
    assert os.stat(out / "f").st_mode & 0o7777 == os.stat(data / "f").st_mode & 0o7777 == 0o644
    named = {(k, os.path.basename(n)): why for k, n, why in res.written.not_restored}
    assert (out / "sub/g").read_bytes() == b"content of g"
    assert os.stat(out / "sub").st_mode & 0o7777 == os.stat(data / "sub").st_mode & 0o7777
    assert set(named) == {("attribute", b"f"), ("attribute", b"sub")}, named
    assert named[("attribute", b"f")].startswith("ACL not set (No space left on device)"), named
    assert res.incomplete()


def test_without_the_backup_an_entry_whose_value_the_listing_leaves_out_is_said_not_compared_with_its_sum(big):
    """The entry's xattrs are not compared with the sum its plan recorded (xattr_sum.py), a value
    being listed by its length alone: where no backup is at hand to compare them with, said so."""
    import threading

    from rabtui.checkpoint import run
    from rabtui.events import READY, ScriptedPrompter

    lab, cfg, store, number, _iso, prefix = _backed_up(big, 20_000)
    for m in [p for p in lab.tmp.iterdir() if p.name.startswith("medium")]:
        m.rename(m.with_name(m.name + "-away"))
    out = run.verify_checkpoint(cfg, store, number, disc=1, emit=lambda e: None, cancel=threading.Event(),
                                prompter=ScriptedPrompter([READY]))
    assert out.verified == [1], out.message
    assert f"the xattrs of 1 entry, e.g. {prefix}/f, which the disc lists without their values" in out.message, \
        out.message
