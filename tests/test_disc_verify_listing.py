"""A disc's verification lists its entries per directory (checkpoint/disc_listing.py), not entry by
entry by path (`-find -exec lsdl`, quadratic in a directory's entries), and finds in that listing
all it found in the old one: each entry's kind, mode (an ACL's mask in its group bits), owner,
symlink target, time as listed, and the data a file's names share; hostile names, names that look
like xorriso's own lines, 255-byte names, a deep path, ACLs, device nodes, a FIFO, symlinks of
other owners, hard links. A disc changed in what only the listing shows still fails, as a user
other than root and read back as a stream. Real xorriso, real backups onto an `images:` drive."""

from __future__ import annotations

import os
import stat

import pytest

from rabtui.checkpoint import verify_listing
from rabtui.checkpoint.verify_result import VerifyResult
from tests import fidelity
from tests.fidelity import ACCESS_ACL, DEFAULT_ACL, OLD_MTIME
from tests.test_attrs_changed_since_plan import _made_anew
from tests.test_checkpoint_deep import _deep_tree, no_room_to_extract
from tests.test_disc_verify_metadata import _as_nobody, _verify, alter, burn_one
from tests.test_restore_disc_listing import LOOKALIKES, named_files
from tests.trees import HOSTILE_NAMES, Lab, write_files

NAMES = HOSTILE_NAMES + LOOKALIKES + [b"File data lba:  0 ,       40 ,        1 ,          1 , '/x'"]


def _awkward(root) -> None:
    """Every kind of entry the listing reads, under awkward names."""
    root_b = os.fsencode(root)
    files = named_files(NAMES)
    files.update({b"acl/f": b"in a directory with an ACL", b"with-acl": b"acl of a file", b"setuid": b"s"})
    write_files(root, files)
    os.setxattr(os.path.join(root_b, b"acl"), "system.posix_acl_default", DEFAULT_ACL)
    os.setxattr(os.path.join(root_b, b"with-acl"), "system.posix_acl_access", ACCESS_ACL)
    os.chmod(os.path.join(root_b, b"setuid"), 0o4750)
    os.chmod(os.path.join(root_b, b"acl"), 0o3770)
    os.link(os.path.join(root_b, b"with-acl"), os.path.join(root_b, b"acl/hard\nlink"))
    os.link(os.path.join(root_b, HOSTILE_NAMES[3]), os.path.join(root_b, b"d-lsl/" + b"\xc3" * 255))
    os.symlink(HOSTILE_NAMES[3], os.path.join(root_b, b"link\nto line"))
    os.symlink(b"x" * 255, os.path.join(root_b, b"'' link"))
    os.mkfifo(os.path.join(root_b, b"fifo 'q'"), 0o620)
    os.mknod(os.path.join(root_b, b"dev\\ice"), 0o640 | stat.S_IFCHR, os.makedev(1, 3))
    os.mknod(os.path.join(root_b, b"block"), 0o600 | stat.S_IFBLK, os.makedev(7, 0))
    os.chown(os.path.join(root_b, b"link\nto line"), 777, 778, follow_symlinks=False)
    os.chown(os.path.join(root_b, b"dev\\ice"), 12, 34)
    os.chown(os.path.join(root_b, b"acl/f"), 12345, 23456)
    os.mkdir(os.path.join(root_b, b"deep"))
    _deep_tree(root / "deep", len(root_b) + 3000)
    for dirpath, dirs, names in os.walk(root_b, topdown=False):
        for name in dirs + names:
            os.utime(os.path.join(dirpath, name), (OLD_MTIME, OLD_MTIME), follow_symlinks=False)


def _listed(iso, runs: list | None = None):
    res = VerifyResult(volid="RAB1D01")
    dates: dict = {}
    starts: dict = {}
    got = verify_listing.listing("xorriso", f"stdio:{iso}", "RAB1D01", res, None, None, dates, starts)
    assert got is not None and not res.messages, res.messages
    return got, dates, starts


@pytest.mark.skipif(not fidelity.is_root(), reason="needs root for device nodes and owners")
def test_the_listing_per_directory_reads_what_the_listing_by_path_did(tmp_path, monkeypatch):
    import subprocess

    tree = tmp_path / "tree"
    _awkward(tree)
    iso = tmp_path / "RAB1D01.iso"
    subprocess.run(["xorriso", "-no_rc", "-for_backup", "-volid", "RAB1D01", "-outdev", f"stdio:{iso}",
                    "-map", str(tree), "/d", "-commit"], check=True, capture_output=True)
    runs: list[list[str]] = []
    real = verify_listing.disc_tree.run
    monkeypatch.setattr(verify_listing.disc_tree, "run", lambda argv, **k: runs.append(argv) or real(argv, **k))
    listing, dates, starts = _listed(iso)
    assert runs and all("lsdl" not in argv for argv in runs), runs      # no entry looked up by its path

    def unmade(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(verify_listing.temp_dirs, "private", unmade)   # the command file: as before
    old, old_dates, old_starts = _listed(iso)
    assert any("lsdl" in argv for argv in runs[2:]), runs[2:]
    assert listing == old and dates == old_dates and starts == old_starts
    on_disk = {b"d"} | {os.path.join(b"d", os.path.relpath(os.path.join(d, n), os.fsencode(tree)))
                        for d, ds, ns in os.walk(os.fsencode(tree)) for n in ds + ns}
    assert set(listing) == on_disk
    for path in on_disk:
        st = os.lstat(os.path.join(os.fsencode(tree), path[2:]) if path != b"d" else tree)
        mode, target, owner = listing[path]
        assert (mode, owner) == (st.st_mode, (st.st_uid, st.st_gid)), (path, oct(mode), owner)
        assert dates[path] == "Jan 1 2000" or path == b"d", (path, dates[path])
        if stat.S_ISLNK(mode):
            assert target == os.readlink(os.path.join(os.fsencode(tree), path[2:]))
    shared = starts[b"d/with-acl"]
    assert starts[b"d/acl/hard\nlink"] == shared and starts[b"d/d-lsl/" + b"\xc3" * 255] == starts[
        b"d/" + HOSTILE_NAMES[3]]
    assert listing[b"d/with-acl"][0] & 0o070 == 0o070    # the ACL's mask, as `-exec lsdl` showed it


def _burnt_awkward(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    data = lab.src / "data"
    data.mkdir(parents=True, exist_ok=True)
    _awkward(data)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)
    return lab, cfg, store, number, tmp_path / "iso" / f"RAB{number}D01.iso", "/data/loc/" + str(data).lstrip("/")


@pytest.mark.parametrize("way", ["as another user", "streamed"])
def test_a_disc_of_awkward_entries_verifies_and_fails_when_its_listing_differs(tmp_path, monkeypatch, way):
    """As a user other than root the device nodes and the symlinks' owners are compared as the disc
    lists them; read back as a stream, every entry. Verified first, then changed on the disc."""
    if not fidelity.is_root():
        pytest.skip("needs root for device nodes and owners, and to act as another user")
    _lab, cfg, store, number, iso, prefix = _burnt_awkward(tmp_path)
    runs: list[list[str]] = []
    real = verify_listing.disc_tree.run
    monkeypatch.setattr(verify_listing.disc_tree, "run", lambda argv, **k: runs.append(argv) or real(argv, **k))

    def verified() -> str:
        return _as_nobody(tmp_path, cfg, store, number) if way == "as another user" else _verify(cfg, store, number)

    if way == "streamed":
        no_room_to_extract(monkeypatch)
    assert verified() == ""
    assert runs and all("lsdl" not in argv for argv in runs), runs
    alter(iso, "-iso_rr_pattern", "off", "-chown", "4242", f"{prefix}/link\nto line", "--",
          "-chmod", "0666", f"{prefix}/dev\\ice", "--", "-chgrp", "99", f"{prefix}/acl/f", "--",
          "-chmod", "0750", f"{prefix}/acl", "--")
    why = verified()
    assert "/data/link\nto line (owner 4242:778, backed up 777:778)" in why, why
    assert "/data/dev\\ice (mode 0666, backed up 0640)" in why, why
    if way == "streamed":      # extracted, they are compared as extracted (test_disc_verify_metadata)
        assert "/data/acl/f (owner 12345:99, backed up 12345:23456)" in why, why
        assert "/data/acl (mode 0750, backed up 3770)" in why, why


@pytest.mark.parametrize("way", ["as another user", "streamed"])
def test_a_device_node_listed_with_other_numbers_than_the_plan_recorded_fails_its_disc(tmp_path, monkeypatch, way):
    """Not extracted (only root makes device nodes; no room to extract the disc), a device node's
    numbers are read in the disc's listing (`1,3` where a file's size is) and compared with those
    the plan recorded: a disc holding others than the backup had fails (the plan and the medium
    made to say 1,5 after it was written: what a disc damaged so would hold)."""
    if not fidelity.is_root():
        pytest.skip("needs root for device nodes, and to act as another user")
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("cd-700")
    write_files(lab.src / "data", {"f": b"a file"})
    os.mknod(lab.src / "data" / "null", 0o640 | stat.S_IFCHR, os.makedev(1, 3))
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_one(lab, cfg, store)

    def verified() -> str:
        return _as_nobody(tmp_path, cfg, store, number) if way == "as another user" else _verify(cfg, store, number)

    if way == "streamed":
        no_room_to_extract(monkeypatch)
    assert verified() == ""
    store.execute("UPDATE disc_files SET rdev=? WHERE number=? AND rdev IS NOT NULL", (os.makedev(1, 5), number))
    [node] = (lab.media[0][1] / "loc").glob("backup-*/data/**/src/data/null")
    _made_anew(node)
    why = verified()
    assert "/data/null (device 1,3, backed up 1,5)" in why, why
