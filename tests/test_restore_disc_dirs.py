"""Directories come back from checkpoint discs as they were backed up: owner, group, mode (setgid,
sticky, none for the owner to write in), times (after their files were written into them), access
and default ACLs and xattrs; compared with the backup by rsync's own comparison
(`rsync -naHAXc --numeric-ids --itemize-changes` prints nothing). Real backups, real xorriso
onto an `images:` drive, discs small enough that the directories are spread over several."""

from __future__ import annotations

import os

import pytest

from rabtui.restore import run as R
from tests import fidelity
from tests.fidelity import ACCESS_ACL, DEFAULT_ACL, OLD_MTIME
from tests.trees import Lab, burn_due, write_files

DIRS = ("closed", "closed/inner", "setgid", "sticky", "xattr", "owned", "acl", "default-acl", "both-acls",
        "empty-acl", "deep/er/still")


def _tree(data) -> None:
    files = {}
    for i, d in enumerate(DIRS[:-1]):
        files[f"{d}/small"] = f"in {d}".encode()
        files[f"{d}/big"] = 1_200_000 + i        # a few to a disc: each directory is on two or more
    files[f"{DIRS[-1]}/small"] = b"deep"
    write_files(data, files)
    for name in list(files):
        if name.endswith("/empty-acl/small") or name.startswith("empty-acl/"):
            os.unlink(data / name)
    os.setxattr(data / "xattr", "user.on-a-directory", b"kept")
    if fidelity.is_root():
        os.chown(data / "owned", 12345, 23456)
    for d in ("acl", "both-acls", "empty-acl"):
        os.setxattr(data / d, "system.posix_acl_access", ACCESS_ACL)
    for d in ("default-acl", "both-acls", "setgid"):
        os.setxattr(data / d, "system.posix_acl_default", DEFAULT_ACL)
    os.chmod(data / "setgid", 0o2775)
    os.chmod(data / "sticky", 0o1777)
    os.chmod(data / "both-acls", 0o2774)
    for dirpath, dirs, _ in os.walk(data, topdown=False):
        for d in dirs:
            os.utime(os.path.join(dirpath, d), (OLD_MTIME, OLD_MTIME))
    os.utime(data, (OLD_MTIME, OLD_MTIME))
    os.chmod(data / "closed/inner", 0o555)
    os.chmod(data / "closed", 0o555)


def test_directories_come_back_from_the_discs_as_backed_up(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    _tree(data)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, asked={"*"})
    assert store.one("SELECT discs FROM checkpoints WHERE number=?", (number,))["discs"] >= 3
    got = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    assert not got.written.problems(), got.summary
    assert fidelity.differences(data, tmp_path / "out" / str(data).lstrip("/")) == []
    one = R.restore(cfg, store, "loc", str(data / "both-acls"), checkpoint=number, to=tmp_path / "one")
    assert not one.written.problems(), one.summary
    assert fidelity.differences(data / "both-acls", tmp_path / "one" / str(data / "both-acls").lstrip("/")) == []


def test_a_directory_that_does_not_come_off_a_disc_as_the_disc_holds_it_is_named(tmp_path, monkeypatch):
    """The catalog holds no directory that is not empty; each one extracted is compared with the
    disc's own listing of it. Without the mask given back (acl_dirs), osirrox's extraction of a
    directory with an ACL is such a one: the restore names it instead of calling it restored."""
    from rabtui.checkpoint import acl_dirs

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"acl/f": b"in a directory with an ACL", "plain/f": b"elsewhere"})
    os.setxattr(data / "acl", "system.posix_acl_access", ACCESS_ACL)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, asked={"*"})
    monkeypatch.setattr(acl_dirs, "give_masks", lambda *args: None)
    got = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    named = [(kind, name, why) for kind, name, why in got.written.not_restored if kind == "directory"]
    assert [name for _, name, _ in named] == [os.fsencode(data / "acl").lstrip(b"/")], got.summary
    assert "mode 0644 as it came off RAB1D01, which holds 0674" in named[0][2], named
    assert "1 not restored" in got.summary and got.incomplete()


def test_directories_closed_to_their_owner_come_back_for_a_user_other_than_root(tmp_path):
    """A user other than root who restores from the discs: directories of mode 0000, 0555 and one
    whose ACL gives its owner no right to search it (user::rw-) come off the discs closed to them;
    what is in them is read all the same, and each comes back with its own mode."""
    import subprocess

    if not fidelity.is_root():
        pytest.skip("needs root to act as another user")
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB", [("data", "standard")])
    data = lab.src / "data"
    write_files(data, {"closed/in": b"inside", "read-only/in": b"inside", "acl/in": b"inside",
                       "acl/below/deeper": b"inside", "plain/in": b"elsewhere"})
    (data / "closed/empty").mkdir()
    os.setxattr(data / "acl", "system.posix_acl_access", ACCESS_ACL)     # user::rw-
    os.chmod(data / "read-only", 0o555)
    os.chmod(data / "closed/empty", 0)
    os.chmod(data / "closed", 0)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, asked={"*"})
    store.close()
    subprocess.run(["chown", "-R", "65534:65534", tmp_path / "state", tmp_path / "iso"], check=True)
    for d in (tmp_path, *tmp_path.parents):     # the way to it, below /tmp (pytest's are 0700)
        if str(d) in ("/", "/tmp"):
            break
        os.chmod(d, os.stat(d).st_mode | 0o055)
    (tmp_path / "out").mkdir()
    os.chown(tmp_path / "out", 65534, 65534)
    os.setegid(65534)
    os.seteuid(65534)
    try:
        got = R.restore(cfg, lab.store(), "loc", str(data), checkpoint=number, to=tmp_path / "out")
    finally:
        os.seteuid(0)
        os.setegid(0)
    assert not got.written.problems(), got.summary
    out = subprocess.run(["rsync", "-naHAXc", "--no-o", "--no-g", "--itemize-changes", f"{data}/",
                          f"{tmp_path / 'out' / str(data).lstrip('/')}/"], capture_output=True, text=True, check=True)
    assert out.stdout == "", out.stdout
