"""A restore from discs onto a file system that holds xattrs but no ACLs (a btrfs mounted
`noacl`): every xattr comes back, those of files and directories without an ACL as those of one
with an ACL, whose ACL alone is named as not restored; so from the medium. Real xorriso, an
`images:` drive."""

from __future__ import annotations

import os

import pytest

from rabtui.restore import run as R
from tests import fidelity
from tests.trees import Lab, burn_due, write_files


def test_xattrs_come_back_onto_a_file_system_without_acls(tmp_path, btrfs_noacl):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("4MiB")
    data = lab.src / "data"
    write_files(data, {"plain": b"user xattrs only", "with-acl": b"an ACL too", "sub/g": b"in sub"})
    try:
        os.setxattr(data / "with-acl", "system.posix_acl_access", fidelity.ACCESS_ACL)
    except OSError as exc:
        pytest.skip(f"the source's file system takes no ACLs: {exc.strerror}")
    os.setxattr(data / "plain", "user.note", b"\x00binary\nvalue\xff")
    os.setxattr(data / "plain", b"user.odd \xff name", b"2")
    os.setxattr(data / "with-acl", "user.kept", b"beside the ACL")
    os.setxattr(data / "sub", "user.dir", b"a directory's")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store)
    for where, given in (("discs", {"checkpoint": number}), ("medium", {})):
        res = R.restore(cfg, store, "loc", str(data), to=btrfs_noacl / where, **given)
        out = btrfs_noacl / where / str(data).lstrip("/")
        assert (out / "plain").read_bytes() == b"user xattrs only" and (out / "sub/g").read_bytes() == b"in sub"
        assert os.getxattr(out / "plain", "user.note") == b"\x00binary\nvalue\xff", where
        assert os.getxattr(out / "plain", b"user.odd \xff name") == b"2", where
        assert os.getxattr(out / "with-acl", "user.kept") == b"beside the ACL", where
        assert os.getxattr(out / "sub", "user.dir") == b"a directory's", where
        assert "system.posix_acl_access" not in os.listxattr(out / "with-acl")
        named = {(kind, os.path.basename(name)) for kind, name, _why in res.written.not_restored}
        assert named == {("attribute", b"with-acl")}, (where, res.written.not_restored)
        assert res.incomplete()
