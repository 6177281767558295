"""A target that cannot take the owners a backup has (a vfat or NFS root_squash mount refuses
root's chown; here, root without CAP_CHOWN): each entry is restored all the same, its content,
mode, times and xattrs, and its owner is named as not restored, from a medium and from discs; a
setuid or setgid file left with the restoring user's owner loses those bits (a setuid program of
another user's never comes back as root's), and says so; a file cut into parts across discs is
named once, by its own name. Discs that need a privilege the restore lacks say which, not that
they may be damaged."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests import fidelity
from tests.trees import Lab, burn_due, restore_without

FOREIGN = (12345, 23456)


@pytest.fixture(scope="module")
def _owners_made(tmp_path_factory):
    from tests.trees import made_once

    def make(live):
        lab = Lab(live, media_count=1)
        cfg = lab.with_discs("4MiB")
        data = lab.src / "data"
        (data / "theirs").mkdir()
        (data / "theirs/inside").write_text("a file of theirs\n")
        (data / "theirs/setuid").write_text("a program of theirs\n")
        (data / "theirs/cut").write_bytes(os.urandom(5_000_000))   # cut into parts on two discs
        (data / "mine").write_text("root's own\n")
        os.mknod(data / "null-like", stat.S_IFCHR | 0o666, os.makedev(1, 3))
        os.setxattr(data / "theirs/inside", "user.kept", b"an xattr")
        os.symlink("inside", data / "theirs/link")
        (data / "theirs/with-acl").write_text("user 1234 may read it\n")
        os.setxattr(data / "theirs/with-acl", "system.posix_acl_access", fidelity.ACCESS_ACL)
        for name in ("theirs/inside", "theirs/setuid", "theirs/with-acl", "theirs/cut", "theirs"):
            os.chown(data / name, *FOREIGN)
        os.lchown(data / "theirs/link", *FOREIGN)
        for name in ("theirs/setuid", "theirs/cut"):
            os.chmod(data / name, 0o6755)
        assert lab.backup(cfg).status == "completed"
        burn_due(cfg, lab.store(), asked={"*"})
        assert lab.store().one("SELECT MAX(parts) FROM disc_files")[0] == 2
        return str(data)

    if not fidelity.is_root():
        pytest.skip("only root restores owners")
    yield from made_once(tmp_path_factory, make)


@pytest.mark.parametrize("checkpoint", [None, 1], ids=["medium", "discs"])
def test_owners_the_target_cannot_take_are_named_and_the_rest_restored(_owners_made, checkpoint):
    data, made = _owners_made
    live = made.anew()
    lab = Lab(live, media_count=1)
    out = live / "out"
    got = restore_without("chown", lab, data, out, checkpoint=checkpoint)
    assert not got["errors"], got
    restored = out / data.lstrip("/")
    assert (restored / "theirs/inside").read_text() == "a file of theirs\n"
    assert os.getxattr(restored / "theirs/inside", "user.kept") == b"an xattr"
    assert os.readlink(restored / "theirs/link") == "inside"
    assert (restored / "mine").read_text() == "root's own\n"
    for name in ("theirs/setuid", "theirs/cut"):
        setuid = os.stat(restored / name)
        assert (setuid.st_uid, setuid.st_mode & 0o7777) == (0, 0o755), (name, oct(setuid.st_mode))
    assert (restored / "theirs/cut").read_bytes() == (Path(data) / "theirs/cut").read_bytes()
    # each named once, with the owner it could not be given (a directory from the discs as one that
    # did not come off as they hold it)
    named = {os.path.relpath("/" + n["path"], data): n["why"] for n in got["not_restored"] if "12345:23456" in n["why"]}
    assert sorted(named) == ["theirs", "theirs/cut", "theirs/inside", "theirs/link", "theirs/setuid",
                             "theirs/with-acl"], got["not_restored"]
    assert len(got["not_restored"]) == 6, got["not_restored"]
    assert all(n["kind"] == "owner" for n in got["not_restored"] if n["path"] != data.lstrip("/") + "/theirs")
    assert "setuid and setgid" in named["theirs/cut"] and "setuid" not in named["theirs/inside"], named
    assert os.getxattr(restored / "theirs/with-acl", "system.posix_acl_access") == fidelity.ACCESS_ACL
    assert "6 not restored" in got["summary"], got["summary"]


def test_discs_that_need_a_privilege_the_restore_lacks_say_so_not_that_they_are_damaged(_owners_made):
    """A device node the restore may not make (CAP_MKNOD dropped, as in a container) is named with
    the privilege it takes, not as a damaged disc to check; the rest is restored (exit 3)."""
    data, made = _owners_made
    live = made.anew()
    done = subprocess.run(["setpriv", "--bounding-set=-mknod", "--inh-caps=-mknod", sys.executable, "-m", "rabtui",
                           "--config", str(live / "rabtui.toml"), "restore", "loc", data, "--to", str(live / "out"),
                           "--checkpoint", "1"], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert "null-like" in done.stdout and "CAP_MKNOD" in done.stdout, done.stdout
    assert "verify" not in done.stdout + done.stderr and "Traceback" not in done.stderr, done.stderr
    assert (live / "out" / data.lstrip("/") / "mine").read_text() == "root's own\n"


def test_modes_and_times_the_target_refuses_are_named_and_the_rest_restored(_owners_made):
    """Root without CAP_FOWNER may give a file another user's owner but then not its mode nor its
    times (as a vfat or a network file system may refuse them): each file is restored all the
    same, made 0600, and what was not set is named."""
    data, made = _owners_made
    live = made.anew()
    out = live / "out"
    got = restore_without("fowner", Lab(live, media_count=1), data, out)
    assert not got["errors"], got
    restored = out / data.lstrip("/")
    assert (restored / "theirs/inside").read_text() == "a file of theirs\n"
    st = os.stat(restored / "theirs/setuid")
    assert (st.st_uid, st.st_mode & 0o7777) == (12345, 0o600), oct(st.st_mode)
    named = {(n["kind"], os.path.relpath("/" + n["path"], data)) for n in got["not_restored"]}
    assert {("mode", "theirs/setuid"), ("time", "theirs/setuid"), ("time", "theirs/link")} <= named, named
    assert all(re.match(r"(mode [0-7]{4}|time) not set: ", n["why"])
               for n in got["not_restored"] if n["kind"] in ("mode", "time")), got["not_restored"]


def test_modes_and_times_refused_from_discs_are_named_and_the_rest_restored(_owners_made):
    """The same from the discs: xorriso gives an entry its owner, then may not give a setuid file
    its mode again (the chown cleared it) nor a directory its time. The whole restore failed; now
    each file comes back with its content and owner, without the bits it could not keep, and each
    mode and time not set is named (the parts of a cut file by its own name)."""
    data, made = _owners_made
    live = made.anew()
    out = live / "out"
    got = restore_without("fowner", Lab(live, media_count=1), data, out, checkpoint=1)
    assert not got["errors"], got
    restored = out / data.lstrip("/")
    assert (restored / "theirs/inside").read_text() == "a file of theirs\n"
    assert (restored / "theirs/cut").read_bytes() == (Path(data) / "theirs/cut").read_bytes()
    assert os.getxattr(restored / "theirs/with-acl", "system.posix_acl_access") == fidelity.ACCESS_ACL
    for name in ("theirs/setuid", "theirs/cut"):
        st = os.stat(restored / name)
        assert (st.st_uid, st.st_mode & 0o7777) == (12345, 0o755), (name, oct(st.st_mode))
    assert os.stat(restored / "theirs/inside").st_mtime == int(os.stat(Path(data) / "theirs/inside").st_mtime)
    named = {(n["kind"], os.path.relpath("/" + n["path"], data)): n["why"] for n in got["not_restored"]}
    assert {("mode", "theirs/setuid"), ("mode", "theirs/cut"), ("time", "theirs")} <= set(named), named
    assert all(re.match(r"(mode [0-7]{4}|time) not set: ", why) for (kind, _), why in named.items()
               if kind in ("mode", "time")), named
    assert "6755" in named[("mode", "theirs/setuid")] and "setuid and setgid" in named[("mode", "theirs/setuid")]
    assert not any("part" in name for _, name in named), named
    assert len(named) == len(got["not_restored"]), got["not_restored"]     # each named once
