"""What changed of an entry between two backups is its attributes alone (mode, owner, time, ACL,
xattrs), its content the same: both backups keep each entry as the source had it then. rsync
(3.5.0) copies such a symlink, FIFO or device node from the --link-dest base (or an archive's
--compare-dest union) and leaves its xattrs behind where they are the base's (a SELinux label,
any trusted.* or security.* one); and the union of an archive directory holds the newer version,
of the same size and time as the older backup's own file. Real rsync, local source."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import datetime

import pytest

from rabtui.media import medium_layout
from rabtui.restore import run as R
from tests import fidelity, fidelity_more
from tests.trees import Lab

T1, T2 = datetime(2026, 6, 1, 3, 0), datetime(2026, 6, 2, 3, 0)


def _lxattrs(path) -> dict[str, bytes]:
    return {n: os.getxattr(path, n, follow_symlinks=False) for n in os.listxattr(path, follow_symlinks=False)}


@pytest.mark.skipif(not fidelity.is_root(), reason="a symlink, FIFO or device takes trusted.* xattrs from root only")
@pytest.mark.parametrize("kind", ["standard", "archive"])
def test_symlinks_and_special_files_whose_attributes_alone_changed_keep_their_xattrs(tmp_path, kind):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", kind)])
    data = lab.src / "data"
    os.symlink("nowhere", data / "link")
    os.mkfifo(data / "fifo", 0o600)
    os.mknod(data / "dev", stat.S_IFCHR | 0o600, os.makedev(1, 7))
    os.symlink("nowhere", data / "same")
    odd = os.fsdecode(b"new\nline \xff" + b"n" * 240)      # rsync escapes such a name (\#012)
    os.symlink("nowhere", data / odd)
    for name in ("link", "fifo", "dev", "same", odd):
        os.setxattr(data / name, "trusted.label", b"kept " + os.fsencode(name), follow_symlinks=False)
        os.setxattr(data / name, "security.label", b"kept too", follow_symlinks=False)
    assert lab.backup(cfg, now=T1).status == "completed"
    os.lchown(data / "link", 1234, 1234)
    os.lchown(data / odd, 1234, 1234)
    os.chmod(data / "fifo", 0o640)
    os.utime(data / "dev", (1, 1_000_000_000))
    second = lab.backup(cfg, now=T2)
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    # an archive's backup holds what changed; its union all
    copies = [(medium_layout.backup_data_path(second.path, str(data)), ("link", "fifo", "dev", odd))]
    if kind == "archive":
        copies.append((medium_layout.archive_root(lab.media[0][1], "loc", str(data)), ("link", "fifo", "dev", "same", odd)))
    else:
        copies[0] = (copies[0][0], ("link", "fifo", "dev", "same", odd))
    for copy, names in copies:
        for name in names:
            assert _lxattrs(copy / name) == _lxattrs(data / name), (copy, name)
    got = R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "out")
    assert not got.written.problems(), got.summary
    assert fidelity_more.differences(data, tmp_path / "out" / str(data).lstrip("/")) == []


def test_an_older_archive_backup_comes_back_with_the_attributes_it_saved(tmp_path):
    """The newer version in the union has the older one's size and time: the older backup's own
    file is restored, with its mode, owner, ACL and xattrs, not the union's."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "archive")])
    data = lab.src / "data"
    for name in ("mode", "xattr", "acl", "owner", "same"):
        (data / name).write_text(f"the content of {name}, never changed")
    os.chmod(data / "mode", 0o4750)
    os.setxattr(data / "xattr", "user.note", b"as it was")
    try:
        os.setxattr(data / "acl", "system.posix_acl_access", fidelity.ACCESS_ACL)
    except OSError as exc:
        pytest.skip(f"the test file system takes no POSIX ACLs: {exc.strerror}")
    assert lab.backup(cfg, now=T1).status == "completed"
    first = tmp_path / "first"
    subprocess.run(["cp", "-a", "--", str(data), str(first)], check=True)
    os.chmod(data / "mode", 0o644)
    os.setxattr(data / "xattr", "user.note", b"changed since")
    os.removexattr(data / "acl", "system.posix_acl_access")
    if fidelity.is_root():
        os.chown(data / "owner", 1234, 2345)
    second = lab.backup(cfg, now=T2)
    assert (second.status, second.exit_code) == ("completed", 0), second.reason
    out = tmp_path / "out"
    got = R.restore(cfg, lab.store(), "loc", str(data), to=out, backup="backup-20260601030000")
    assert not got.written.problems(), got.summary
    assert fidelity_more.differences(first, out / str(data).lstrip("/")) == []
    got = R.restore(cfg, lab.store(), "loc", str(data / "mode"), to=tmp_path / "one", backup="backup-20260601030000")
    assert not got.written.problems(), got.summary
    assert os.stat(tmp_path / "one" / str(data / "mode").lstrip("/")).st_mode & 0o7777 == 0o4750
    got = R.restore(cfg, lab.store(), "loc", str(data), to=tmp_path / "newest")
    assert fidelity_more.differences(data, tmp_path / "newest" / str(data).lstrip("/")) == []
