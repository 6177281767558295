"""A directory restored from a checkpoint's disc is listed per directory (disc_listing.py), not
entry by entry by path (`-find -exec lsdl`, quadratic in a directory's entries): hostile names,
names that look like xorriso's own lines and marks, names of 255 bytes, directories and files with
ACLs, foreign owners, symlinks and hard links come back as backed up (rsync's own comparison).
Real backup, real xorriso onto an `images:` drive."""

from __future__ import annotations

import os

from rabtui.checkpoint import disc_listing
from rabtui.restore import disc_extract, run as R
from tests import fidelity
from tests.fidelity import ACCESS_ACL, DEFAULT_ACL, OLD_MTIME
from tests.trees import HOSTILE_NAMES, Lab, burn_due, write_files

LOOKALIKES = [b"previous working directory:", b"''", b"'", b"'d'", disc_listing.MARK, disc_listing.ACL_MARK,
              b"Valid ISO nodes found: 1", b"-rw-r--r--    1 0        0               1 Dec  7 03:03 'x'",
              b"-lsl", b"--", b"-cd", b"x" * 255, b"\xc3" * 255]


def named_files(names: list[bytes]) -> dict[bytes, bytes]:
    """A file of each name, and one of each name in a directory named after it."""
    files: dict[bytes, bytes] = {}
    for i, name in enumerate(names):
        files[name] = b"file %d" % i
        files[b"d" + name[:254] + b"/" + name] = b"nested %d" % i
    return files


def _tree(data) -> None:
    files = named_files(HOSTILE_NAMES + LOOKALIKES)
    files.update({b"acl/f": b"in a directory with an ACL", b"acl/sub/g": b"deeper", b"with-acl": b"acl of a file"})
    write_files(data, files)
    os.setxattr(data / "acl", "system.posix_acl_access", ACCESS_ACL)
    os.setxattr(data / "acl/sub", "system.posix_acl_default", DEFAULT_ACL)
    os.setxattr(data / "with-acl", "system.posix_acl_access", ACCESS_ACL)
    os.link(data / "with-acl", data / "acl/hard link")
    os.link(os.path.join(bytes(data), HOSTILE_NAMES[3]), os.path.join(bytes(data), b"d-lsl/hard\nlink"))
    os.symlink(HOSTILE_NAMES[3], os.path.join(bytes(data), b"link\nto line"))
    os.symlink("acl", data / "acl link")
    if fidelity.is_root():
        os.chown(data / "acl/f", 12345, 23456)
        os.chown(data / "acl/sub", 12346, 23457)
        os.chown(os.path.join(bytes(data), LOOKALIKES[-1]), 777, 778, follow_symlinks=False)
    os.chmod(data / "acl/sub", 0o2770)
    for dirpath, dirs, _ in os.walk(data, topdown=False):
        for d in dirs:
            os.utime(os.path.join(dirpath, d), (OLD_MTIME, OLD_MTIME))


def test_a_directory_of_awkward_names_comes_back_from_a_disc_listed_per_directory(tmp_path, monkeypatch):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.with_discs("64MiB", [("data", "standard")])
    data = lab.src / "data"
    _tree(data)
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    number = burn_due(cfg, store, asked={"*"})
    runs: list[list[str]] = []
    real = disc_extract.xorriso_extract_argv
    monkeypatch.setattr(disc_extract, "xorriso_extract_argv", lambda *a, **k: runs.append(real(*a, **k)) or runs[-1])
    got = R.restore(cfg, store, "loc", str(data), checkpoint=number, to=tmp_path / "out")
    assert not got.written.problems(), got.summary
    assert fidelity.differences(data, tmp_path / "out" / str(data).lstrip("/")) == []
    assert runs and all("lsdl" not in argv for argv in runs), runs      # no entry looked up by its path
    one = R.restore(cfg, store, "loc", str(data / "acl"), checkpoint=number, to=tmp_path / "one")
    assert not one.written.problems(), one.summary
    assert fidelity.differences(data / "acl", tmp_path / "one" / str(data / "acl").lstrip("/")) == []
