"""The flock of a source's directory on a medium (media/source_dir_lock.py) that a restore without
its reading lock file holds: it says held only where a cleanup can see it held. NFS emulates flock
by byte-range locks: shared on a file opened to read, never whole on one (a directory) opened to
read (EBADF); no NFS here, so its flock stands in for the kernel's on a local directory."""

from __future__ import annotations

import errno
import fcntl
import os

from rabtui.media import source_dir_lock


def _as_nfs(monkeypatch) -> None:
    flock = fcntl.flock

    def nfs_flock(fd, op):
        if op & fcntl.LOCK_EX and not os.fstat(fd).st_mode & 0o170000 == 0o100000:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))    # a directory: never open to write
        return flock(fd, op)

    monkeypatch.setattr(source_dir_lock.fcntl, "flock", nfs_flock)


def test_a_restore_holds_the_directory_only_where_a_cleanup_sees_it_held(tmp_path, monkeypatch):
    (tmp_path / "loc").mkdir()
    with source_dir_lock.reading(tmp_path, "loc") as held:
        assert held and source_dir_lock.read_now(tmp_path, "loc")
    _as_nfs(monkeypatch)
    with source_dir_lock.reading(tmp_path, "loc") as held:
        assert not held or source_dir_lock.read_now(tmp_path, "loc"), "said held, and a cleanup sees none"
