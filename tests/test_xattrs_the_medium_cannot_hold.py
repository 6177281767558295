"""A source's xattrs that the medium's file system cannot hold (ext4 keeps about 4 KiB of a file's
xattrs, XFS, btrfs and tmpfs take values of up to 64 KiB): rsync's setxattr on the medium fails with
ENOSPC. That is no full medium: the backup keeps every file and names those whose xattrs it could
not keep, and why, instead of failing the directory as "medium too small". Real rsync, the source
on /dev/shm, the medium on the test's own (ext4) file system."""

from __future__ import annotations

import os

import pytest

from rabtui import rsync_exit
from rabtui.media import medium_layout
from tests.trees import Lab


def _xattr_line(path: str, name: str) -> str:
    return (f'rsync: [receiver] rsync_xal_set: fsetxattr("{path}","{name}") failed: No space left on device (28)')


def test_setxattr_failures_alone_are_no_full_medium():
    lines = [_xattr_line("/m/loc/b/data/src/.big.KWQd0Z", "user.big"),
             _xattr_line("/m/loc/b/data/src/sub/.many.eGJE6J", "user.n0094"),
             _xattr_line("/m/loc/b/data/src/sub/.many.eGJE6J", "user.n0095"),
             'rsync: [receiver] rsync_xal_set: lsetxattr("/m/loc/b/data/src/dir","user.d") failed: No space left on'
             ' device (28)',
             "rsync error: some files/attrs were not transferred (see previous errors) (code 23)"]
    out = rsync_exit.interpret_exit(23, lines)
    assert (out.state, out.no_space) == ("warning", False), out
    assert "3 entries" in out.reason and "xattrs" in out.reason, out.reason
    assert "big" in out.reason and "KWQd0Z" not in out.reason, out.reason
    full = rsync_exit.interpret_exit(23, [*lines, 'rsync: [receiver] write failed on "/m/loc/b/data/src/f": No space'
                                                  ' left on device (28)'])
    assert full.no_space and full.state == "failed"


def test_a_file_whose_xattrs_the_medium_cannot_hold_is_kept_and_named(tmp_path, shm):
    data = shm / "data"
    data.mkdir()
    (data / "big").write_text("a file with a 64 KiB xattr")
    (data / "fine").write_text("a file with a small xattr")
    os.setxattr(data / "fine", "user.small", b"fits")
    try:
        os.setxattr(data / "big", "user.big", b"v" * 65536)
    except OSError as exc:
        pytest.skip(f"/dev/shm takes no 64 KiB xattr value here: {exc.strerror}")
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{data}"\n')
    res = lab.backup(cfg)
    copy = medium_layout.backup_data_path(res.path, str(data))
    assert res.status == "warnings", res.reason       # not "failed": every file is there
    assert (copy / "big").read_text() == "a file with a 64 KiB xattr"
    assert os.getxattr(copy / "fine", "user.small") == b"fits"
    said = "\n".join(lab.messages())
    assert rsync_exit.NO_SPACE not in said, said
    assert "xattrs of 1 entry not kept" in said and ": big" in said, said
