"""Directories come back from checkpoint discs as they were backed up: owner, group, mode (setgid,
sticky, none for the owner to write in), times (after their files were written into them), access
and default ACLs and xattrs; compared with the backup by rsync's own comparison
(`rsync -naHAXc --numeric-ids --itemize-changes` prints nothing). Real backups, real xorriso
onto an `images:` drive, discs small enough that the directories are spread over several."""

from __future__ import annotations

import os

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
