"""An xattr with an empty value (`setfattr -n user.x -v ""`): libisofs cannot write it beside other
pairs (xorriso stops: "Error with decoding AAIP info"), and drops it alone. The checkpoint carries
it beside the discs instead: the entry goes onto the disc with its other xattrs and its ACL, the
empty ones are recorded in the state (which every disc holds a copy of), verification compares
them with the backup and the record, and a restore from the discs sets them again, after a
rebuild from the discs too. Real backups, real xorriso onto an `images:` drive, through the CLI."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from rabtui.cli import main
from rabtui.restore import run as R
from rabtui.state.store import Store
from tests.fidelity import ACCESS_ACL
from tests.test_checkpoint_deep import no_room_to_extract
from tests.test_disc_verify_metadata import _verify, alter
from tests.test_rebuild_disc_state import _rebuilt
from tests.trees import Lab, write_files

ROOMS = ["extracted", "streamed"]


@pytest.fixture
def place(tmp_path):
    """`tmp_path`, where a file takes an empty user. xattr beside others."""
    probe = tmp_path / "probe"
    probe.write_bytes(b"")
    try:
        os.setxattr(probe, "user.a", b"1")
        os.setxattr(probe, "user.empty", b"")
    except OSError as exc:
        pytest.skip(f"{tmp_path} takes no empty user. xattr here: {exc.strerror}")
    probe.unlink()
    return tmp_path


def _xattrs(path) -> dict[str, bytes]:
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in os.listxattr(path, follow_symlinks=False)}


def _tree(data: Path) -> None:
    write_files(data, {"alone": b"only an empty xattr", "among": b"an empty one among others", "among-too": b"2",
                       "first-too": b"3",
                       "acl": b"an ACL and an empty xattr", "linked": b"hard links", "plain": b"none",
                       "sub/inside": b"in a directory with an empty xattr"})
    os.setxattr(data / "alone", "user.empty", b"")
    os.setxattr(data, "user.empty", b"")        # the directory checkpointed itself
    os.setxattr(data, "user.top", b"kept")
    for name, value in (("user.a", b"first"), ("user.empty", b""), ("user.z", b"last")):
        os.setxattr(data / "among", name, value)     # the empty one listed between the others, whatever the order
    for name, value in (("user.empty", b""), ("user.a", b"first")):
        os.setxattr(data / "among-too", name, value)     # and last (or first), as the file system lists them
    os.setxattr(data / "first-too", "user.a", b"first")
    os.setxattr(data / "first-too", "user.empty", b"")
    os.setxattr(data / "acl", "system.posix_acl_access", ACCESS_ACL)
    os.setxattr(data / "acl", "user.empty", b"")
    os.setxattr(data / "acl", "user.kept", b"beside-it")
    os.setxattr(data / "linked", "user.empty", b"")
    os.setxattr(data / "linked", "user.kept", b"on-both-names")
    os.link(data / "linked", data / "sub" / "linked-too")
    os.setxattr(data / "sub", "user.d", b"of-the-directory")
    os.setxattr(data / "sub", "user.empty", b"")
    subprocess.run(["setfacl", "-d", "-m", "u:1234:rwx", str(data / "sub")], check=True)


def _burnt(base: Path):
    lab = Lab(base, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    _tree(data)
    assert lab.backup(lab.load()).status == "completed"
    argv = ["--config", str(lab.config_path)]
    assert main([*argv, "checkpoint", "burn", "--yes", "--now"]) == 0     # written and verified
    return lab, argv, data, "/data/loc/" + str(data).lstrip("/")


def _listed(iso: Path, path: str) -> str:
    done = subprocess.run(["xorriso", "-no_rc", "-acl", "on", "-xattr", "any", "-indev", f"stdio:{iso}",
                           "-find", path, "-exec", "getfattr", "--", "-end"], capture_output=True, check=True)
    return done.stdout.decode()


def test_entries_with_an_empty_xattr_are_written_recorded_and_come_back_from_the_discs(place, capsys):
    lab, argv, data, prefix = _burnt(place)
    store = Store(lab.state)
    rel = str(data).lstrip("/")
    assert {(bytes(r["path"]), bytes(r["name"])) for r in store.all("SELECT * FROM disc_xattrs_off")} == {
        (f"{rel}/{name}".encode().rstrip(b"/"), b"user.empty")
        for name in ("", "alone", "among", "among-too", "first-too", "acl", "linked", "sub/linked-too", "sub")}
    listed = _listed(place / "iso" / "RAB1D01.iso", prefix)
    assert "user.empty" not in listed
    assert 'user.a="first"' in listed and 'user.z="last"' in listed and 'user.kept="beside-it"' in listed, listed
    assert 'user.d="of-the-directory"' in listed, listed
    res = R.restore(lab.load(), store, "loc", str(data), checkpoint=1, to=place / "out")
    assert not res.written.problems(), res.summary
    out = place / "out" / rel
    for name in ("", "alone", "among", "among-too", "first-too", "acl", "linked", "plain", "sub", "sub/inside",
                 "sub/linked-too"):
        assert _xattrs(out / name) == _xattrs(data / name), name
    assert os.stat(out / "linked").st_ino == os.stat(out / "sub" / "linked-too").st_ino
    res = R.restore(lab.load(), store, "loc", str(data / "among"), checkpoint=1, to=place / "one")
    assert not res.written.problems(), res.summary
    assert _xattrs(place / "one" / rel / "among") == _xattrs(data / "among")


@pytest.mark.parametrize("room", ROOMS)
def test_a_disc_with_entries_kept_so_verifies_and_one_holding_such_a_name_fails_by_name(place, monkeypatch, room):
    lab, _argv, _data, prefix = _burnt(place)
    cfg, store = lab.load(), Store(lab.state)
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    assert _verify(cfg, store, 1) == ""
    alter(place / "iso" / "RAB1D01.iso", "-setfattr", "user.empty", "planted", f"{prefix}/among", "--")
    why = _verify(cfg, store, 1)
    assert "verification failed" in why and "/among (xattr user.empty on the disc, though recorded as kept off" in why, why


@pytest.mark.parametrize("room", ROOMS)
def test_without_the_backup_a_disc_holding_a_name_kept_off_it_fails(place, monkeypatch, room):
    lab, _argv, _data, prefix = _burnt(place)
    alter(place / "iso" / "RAB1D01.iso", "-setfattr", "user.empty", "planted", f"{prefix}/sub", "--",
          "-setfattr", "user.empty", "planted", f"{prefix}/alone", "--")
    for m in [p for p in place.iterdir() if p.name.startswith("medium")]:
        m.rename(m.with_name(m.name + "-away"))
    if room == "streamed":
        no_room_to_extract(monkeypatch)
    why = _verify(lab.load(), Store(lab.state), 1)
    assert "verification failed" in why, why
    assert "/alone (xattr user.empty on the disc, though recorded as kept off" in why, why
    assert "/sub (xattr user.empty on the disc, though recorded as kept off" in why, why


def test_the_backup_holding_a_value_where_the_record_has_an_empty_one_fails_the_disc(place):
    lab, _argv, data, _prefix = _burnt(place)
    cfg, store = lab.load(), Store(lab.state)
    backed_up = next((lab.media[0][1] / "loc").glob("backup-*")) / "data" / str(data).lstrip("/")
    os.setxattr(backed_up / "sub", "user.empty", b"now a value")
    why = _verify(cfg, store, 1)
    assert "verification failed" in why, why
    assert ("/sub (xattr user.empty (recorded empty) given a value in the backup on the medium after the checkpoint"
            " was planned)") in why, why


def test_a_checkpoint_rebuilt_from_its_discs_still_restores_them(place, capsys):
    lab, argv, data, _prefix = _burnt(place)
    store = Store(lab.state)
    before = {tuple(r) for r in store.all("SELECT source, path, disc_path, name FROM disc_xattrs_off")}
    store.close()
    _rebuilt(lab, argv)
    store = Store(lab.state)
    assert {tuple(r) for r in store.all("SELECT source, path, disc_path, name FROM disc_xattrs_off")} == before
    res = R.restore(lab.load(), store, "loc", str(data), checkpoint=1, to=place / "out")
    assert not res.written.problems(), res.summary
    out = place / "out" / str(data).lstrip("/")
    for name in ("alone", "among", "acl", "sub"):
        assert _xattrs(out / name) == _xattrs(data / name), name


def test_a_file_cut_into_parts_with_an_empty_xattr_is_verified_and_restored(place):
    lab = Lab(place, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"big.bin": 6_000_000, "small.bin": b"small"})
    os.setxattr(data / "big.bin", "user.kept", b"on each part")
    os.setxattr(data / "big.bin", "user.empty", b"")
    assert lab.backup(lab.load()).status == "completed"
    assert main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--now"]) == 0
    cfg, store = lab.load(), Store(lab.state)
    assert store.one("SELECT MAX(parts) FROM disc_files")[0] == 2
    assert _verify(cfg, store, 1) == ""
    res = R.restore(cfg, store, "loc", str(data / "big.bin"), checkpoint=1, to=place / "out")
    assert not res.written.problems(), res.summary
    out = place / "out" / str(data / "big.bin").lstrip("/")
    assert _xattrs(out) == _xattrs(data / "big.bin") and out.read_bytes() == (data / "big.bin").read_bytes()


@pytest.mark.skipif(os.geteuid() != 0, reason="only root sets a trusted. xattr (a symlink takes no user. one)")
def test_a_symlink_with_an_empty_trusted_xattr_is_carried_and_restored_as_root(place):
    lab = Lab(place, media_count=1)
    lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"f": b"f"})
    os.symlink("f", data / "l")
    with pytest.raises(OSError):
        os.setxattr(data / "l", "user.empty", b"", follow_symlinks=False)
    os.setxattr(data / "l", "trusted.kept", b"v", follow_symlinks=False)
    os.setxattr(data / "l", "trusted.empty", b"", follow_symlinks=False)
    assert lab.backup(lab.load()).status == "completed"
    assert main(["--config", str(lab.config_path), "checkpoint", "burn", "--yes", "--now"]) == 0
    store = Store(lab.state)
    assert [bytes(r["name"]) for r in store.all("SELECT name FROM disc_xattrs_off")] == [b"trusted.empty"]
    # osirrox extracts a symlink without its xattrs: each is set on the link, not on what it points to
    for what, to in ((data, "out"), (data / "l", "one")):
        res = R.restore(lab.load(), store, "loc", str(what), checkpoint=1, to=place / to)
        assert not res.written.problems(), res.summary
        out = place / to / str(data).lstrip("/")
        assert _xattrs(out / "l") == {"trusted.kept": b"v", "trusted.empty": b""}, to
    assert _xattrs(place / "out" / str(data).lstrip("/") / "f") == {}


def test_a_directory_tried_beforehand_for_xorriso_holding_such_an_entry_is_tried_and_written(place):
    """Three symlinks with 764-byte targets: a directory libisofs may miscount, which is written
    beforehand to /dev/null (continuation.py) as the disc will be, its entry with an empty xattr
    mapped as on the disc; it could not be tried otherwise, and the plan warned so."""
    from rabtui.checkpoint import prepare
    from rabtui.events import WARNING
    from tests.test_checkpoint_plan_limits import _burn
    from tests.trees import path_target

    lab = Lab(place, media_count=1)
    cfg = lab.with_discs("8MiB")
    many = lab.src / "data" / "many"
    many.mkdir()
    for i in range(3):
        os.symlink(path_target(764), many / f"l{i:02d}")
    write_files(many, {"f": b"with an empty xattr", "g": b"and another"})
    for name, value in (("user.a", b"first"), ("user.empty", b"")):     # last or first, as the file system lists them
        os.setxattr(many / "f", name, value)
    for name, value in (("user.empty", b""), ("user.a", b"first")):
        os.setxattr(many / "g", name, value)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    said = []
    prepare.compute(cfg, store, emit=said.append)
    assert not [e.message for e in said if e.kind == WARNING], [e.message for e in said]
    _burn(place, cfg, store)
    assert _verify(cfg, store, 1) == ""


def test_a_restore_onto_a_file_system_that_takes_no_xattrs_names_each_one(place, ramfs):
    """A ramfs refuses every xattr (and its statvfs shows no block at all, free or not): what comes
    off the discs is put together in the state directory instead of beside the target, and the
    restore names each xattr and ACL refused, as one from the medium does, instead of stopping at
    the first one xorriso could not set (nor saying that the target is full)."""
    target = ramfs(place / "ram")
    lab, _argv, data, _prefix = _burnt(place)
    store = Store(lab.state)
    refused = {}
    for how, kw in (("medium", {}), ("discs", {"checkpoint": 1})):
        res = R.restore(lab.load(), store, "loc", str(data), to=target / how, **kw)
        assert not res.written.errors and not res.written.refused, res.summary
        out = target / how / str(data).lstrip("/")
        assert (out / "sub/inside").read_bytes() == b"in a directory with an empty xattr"
        assert os.stat(out / "linked").st_ino == os.stat(out / "sub/linked-too").st_ino
        refused[how] = sorted((os.path.relpath(n, str(data).lstrip("/").encode()), why.split(":")[0])
                              for kind, n, why in res.written.not_restored if kind == "attribute")
    assert refused["discs"] == refused["medium"], refused
    assert (b"acl", "system.posix_acl_access") in refused["discs"] and (b"sub", "system.posix_acl_default") in \
        refused["discs"] and (b".", "user.top") in refused["discs"] and len(refused["discs"]) == 18, refused
