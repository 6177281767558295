"""A source's directory on a medium (<medium>/<source>/, its backups and archive unions below it)
flocked: shared by a restore reading backups there that could not make its reading lock file
(locks.reading_lock: the state directory out of room or inodes), whole by a cleanup before it
deletes any of the source's backups there. Linux takes an flock on a directory, on a read-only
mount too: no new file is needed, and the kernel drops it when its process dies."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Iterator

from rabtui.errors import LockBusy
from rabtui.media.medium_layout import source_root


def _opened(medium_path: str | os.PathLike, source_id: str) -> int | None:
    """The directory opened (never through a symlink planted in its place), or None."""
    try:
        return os.open(source_root(medium_path, source_id), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None


@contextmanager
def reading(medium_path: str | os.PathLike, source_id: str, medium_id: str) -> Iterator[bool]:
    """Held shared for the block: yields True; False when the directory cannot be opened (not
    there, closed to this user: nothing is held). LockBusy while a cleanup deletes some of the
    source's backups there."""
    fd = _opened(medium_path, source_id)
    if fd is None:
        yield False
        return
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockBusy(f"a cleanup is deleting {source_id}'s old backups on medium {medium_id} now;"
                           " nothing restored") from None
        yield True
    finally:
        os.close(fd)


def deleting(medium_path: str | os.PathLike, source_id: str) -> int | None:
    """Taken whole, not waited for: its descriptor (closed to let it go); None while a restore reads
    there. A directory that cannot be opened (not there) holds nothing to keep: -1."""
    fd = _opened(medium_path, source_id)
    if fd is None:
        return -1
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd
