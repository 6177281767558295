"""Linux's renameat2(RENAME_EXCHANGE): two names swap their files in one step. A file put in place
this way leaves the one it replaced under its own old name, whatever was written into it (or renamed
there) up to that instant, where a rename drops it."""

from __future__ import annotations

import ctypes
import errno
import os

_AT_FDCWD = -100
_RENAME_EXCHANGE = 2
_libc = ctypes.CDLL(None, use_errno=True)
_renameat2 = getattr(_libc, "renameat2", None)      # glibc 2.28 and later
# the kernel (before 3.15), or the file system (NFS, FUSE, vfat, ...), that cannot exchange
_CANNOT = (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP, errno.ENOTSUP)


def exchange(a: str | os.PathLike, b: str | os.PathLike) -> bool:
    """Swap the files that `a` and `b` name (both there, in one file system); False, nothing done,
    where the kernel or the file system cannot, or `b` is not there. OSError for anything else."""
    if _renameat2 is None:
        return False
    if _renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _CANNOT or (err == errno.ENOENT and os.path.lexists(a)):
        return False
    raise OSError(err, os.strerror(err), os.fspath(b))
