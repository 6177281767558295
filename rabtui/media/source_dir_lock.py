"""A source's directory on a medium (<medium>/<source>/, its backups and archive unions below it)
flocked: shared by a restore reading backups there that could not make its reading lock file
(locks.reading_lock: the state directory out of room or inodes), tried whole by a cleanup before it
deletes any of the source's backups there. Linux takes an flock on a directory, on a read-only
mount too: no new file is needed, and the kernel drops it when its process dies."""

from __future__ import annotations

import fcntl
import os
from contextlib import contextmanager
from typing import Iterator

from rabtui.media.medium_layout import source_root


def _opened(medium_path: str | os.PathLike, source_id: str) -> int | None:
    """The directory opened (never through a symlink planted in its place), or None."""
    try:
        return os.open(source_root(medium_path, source_id), os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return None


@contextmanager
def reading(medium_path: str | os.PathLike, source_id: str) -> Iterator[bool]:
    """Held shared for the block: yields True; False when the directory cannot be opened (not
    there, closed to this user: nothing is held). Waited for while a cleanup tries it (a moment)."""
    fd = _opened(medium_path, source_id)
    if fd is None:
        yield False
        return
    try:
        try:
            # a cleanup tries it whole (read_now): where it cannot be had whole at all (NFS: none on a
            # directory, opened to read), a cleanup sees no restore, and a shared one would hold nothing
            _whole_can_be_had(fd)
            fcntl.flock(fd, fcntl.LOCK_SH)
        except OSError:     # a file system that locks no directory: nothing held
            yield False
        else:
            yield True
    finally:
        os.close(fd)


def _whole_can_be_had(fd: int) -> None:
    """OSError where no flock can be had whole on the directory open at `fd`; held by others (a
    restore, a cleanup) counts as one that can."""
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        pass


def read_now(medium_path: str | os.PathLike, source_id: str) -> bool:
    """Whether a restore holds it now (tried whole, let go at once): looked at by a cleanup once it
    holds the source's reading lock, whose file is there from then on; a restore that found no such
    file and takes this lock later tries that file again (Reading.on_medium), and is refused. Not
    held through the deletion: an open directory would keep the medium from being unmounted."""
    fd = _opened(medium_path, source_id)
    if fd is None:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:     # NFS takes no whole lock on a directory opened to read: no restore holds one there
        return False
    finally:
        os.close(fd)
    return False
