"""A copy of one file's bytes and attributes (a restored file, a backup's file made apart from its
other names: backup/links_apart.py): the data regions copied and holes left holes, the extended
attributes read in the order they are to be set, a new file that has no name until it is whole."""

from __future__ import annotations

import errno
import os
import secrets

CAPABILITY = b"security.capability"


def tmp_name() -> bytes:
    """A name for a file being made beside its final one (short: fits beside any 255-byte name)."""
    return b".rabtui-" + secrets.token_hex(6).encode()


def read_xattrs(path: bytes | int, *, follow: bool = False) -> list[tuple[bytes, bytes]]:
    """The extended attributes of `path` (not followed unless `follow`: a /proc/self/fd path of an
    O_PATH descriptor), or of an open descriptor."""
    kw = {} if isinstance(path, int) or follow else {"follow_symlinks": False}
    try:
        names = os.listxattr(path, **kw)
    except OSError:
        return []
    out = []
    for n in names:
        try:
            out.append((os.fsencode(n), os.getxattr(path, n, **kw)))
        except OSError:
            continue
    out.sort(key=lambda kv: kv[0] == CAPABILITY)   # the capability last
    return out


def copy_sparse(fd_in: int, fd_out: int, size: int) -> None:
    """Copy the data regions only (SEEK_DATA/SEEK_HOLE): holes stay holes."""
    pos = 0
    while pos < size:
        try:
            start = os.lseek(fd_in, pos, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno == errno.ENXIO:   # only a hole is left
                break
            raise
        end = min(os.lseek(fd_in, start, os.SEEK_HOLE), size)
        _copy_range(fd_in, fd_out, start, end - start)
        pos = end
    if os.fstat(fd_in).st_size < size:     # cut short since: its end is no hole to leave as zeros
        raise OSError(errno.EIO, "the file on the backup is shorter than its size")
    os.ftruncate(fd_out, size)


def _copy_range(fd_in: int, fd_out: int, offset: int, count: int) -> None:
    done = 0
    try:
        while done < count:
            n = os.copy_file_range(fd_in, fd_out, count - done, offset + done, offset + done)
            if n == 0:
                break
            done += n
    except OSError:
        pass
    while done < count:
        chunk = os.pread(fd_in, min(1 << 20, count - done), offset + done)
        if not chunk:
            raise OSError(errno.EIO, "the file on the backup is shorter than its size")
        pwrite_all(fd_out, chunk, offset + done)
        done += len(chunk)


def pwrite_all(fd: int, data: bytes | memoryview, offset: int) -> None:
    """All of `data` written at `offset`. A write that fills the file system up writes only part of
    what it is given: the rest is written on from there, and that write says ENOSPC; taken for the
    whole, the rest would be a hole of zeros in a file said to be restored."""
    view = memoryview(data)
    while view:
        n = os.pwrite(fd, view, offset)
        if n <= 0:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        view, offset = view[n:], offset + n


def new_file(dir_fd: int, tmp: bytes) -> tuple[int, bool]:
    """A new file to write in the directory `dir_fd`, private: (descriptor, whether it is named
    `tmp` already); unnamed where the file system can."""
    try:
        return os.open(b".", os.O_TMPFILE | os.O_WRONLY | os.O_CLOEXEC, 0o600, dir_fd=dir_fd), False
    except OSError as exc:
        if exc.errno not in (errno.EOPNOTSUPP, errno.EISDIR, errno.EINVAL):
            raise
    return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600, dir_fd=dir_fd), True
