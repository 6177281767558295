"""The private directory beside the config where a save makes its new file before exchanging it with
the config (rename_exchange): once exchanged, the file it replaced is there under the new file's name,
`new.<sha256 of the new contents>`, beside `was.<sha256 of the contents the save read>`, made before
the exchange. The save removes that file when it holds what it read, else has it kept aside (an
editor saved it in the instant before the exchange).

A save killed at any step leaves the directory; the next one's sweep compares what it holds with the
two sums: the killed save's own new contents (never put in place) or what it read (no edit since)
are removed; anything else (a hand edit, a symlink planted) is kept aside. Without the `was.` name the
exchange never happened: what is there is the killed save's own new file. One kept aside is renamed
`kept.<sum>` there until said (config/conflict_kept): alone, its kept name was removed, and so is it.
Where the file system links no names, it is renamed aside instead, and `note.<sum>` there holds its
name until said: a note whose file is gone (merged and removed) is removed.

Only this user's directories are swept or forgotten; root looks into another user's (`linked`, `noted`)
to name what they hold, and leaves them to their owner."""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import os
import stat
import tempfile
from pathlib import Path
from typing import Callable, Iterator

_NEW, _WAS, _KEPT, _NOTE = "new.", "was.", "kept.", "note."
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _sum(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class Aside:
    """The directory of one save, locked (flock) until `close`: another save's sweep leaves it."""

    def __init__(self, path: Path, data: bytes, was: bytes, prefix: str, suffix: str):
        self.dir = tempfile.mkdtemp(prefix=prefix, suffix=suffix, dir=path.parent)
        self._dfd = os.open(self.dir, _DIR_FLAGS)
        self._was = was
        self.new = os.path.join(self.dir, _NEW + _sum(data))
        try:
            fcntl.flock(self._dfd, fcntl.LOCK_EX)
            self.fd = os.open(self.new, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
        except BaseException:
            self.close()
            raise

    def mark(self) -> None:
        """Before the exchange (the new file synced): what the save read, by its sum, on disk."""
        os.close(os.open(_WAS + _sum(self._was), os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600,
                         dir_fd=self._dfd))
        os.fsync(self._dfd)

    def settle(self, keep: Callable[[str], None]) -> None:
        """After the exchange: the file replaced is removed when it holds what the save read, else
        `keep(its path)` keeps it aside."""
        name = os.path.basename(self.new)
        if _holds(self._dfd, name, lambda data: data == self._was):
            os.unlink(name, dir_fd=self._dfd)
        else:
            keep(self.new)

    def close(self) -> None:
        try:
            _remove_emptied(self._dfd, self.dir)
        finally:
            os.close(self._dfd)


def sweep(directory: str, keep: Callable[[str], None]) -> None:
    """What a save killed at any step left in `directory` (one of this user's, held by no live
    save): removed where it is the save's own new file or what it read, else `keep(its path)`."""
    with _held(directory, fcntl.LOCK_EX) as dfd:
        if dfd is None:
            return
        names = sorted(os.listdir(dfd), key=lambda n: not n.startswith(_NOTE))   # before a new note replaces one
        sums = {n[len(_WAS):] for n in names if n.startswith(_WAS)}
        for name in names:
            if name.startswith(_NOTE):      # renamed aside: said, or its note removed where it is gone
                if noted(os.path.join(directory, name)) is not None:
                    keep(os.path.join(directory, name))
                else:
                    os.unlink(name, dir_fd=dfd)
                continue
            if name.startswith(_KEPT):      # kept aside: said, or its kept name removed (merged) if alone
                if os.stat(name, dir_fd=dfd, follow_symlinks=False).st_nlink > 1:
                    keep(os.path.join(directory, name))
                else:
                    os.unlink(name, dir_fd=dfd)
                continue
            if not name.startswith(_NEW):
                continue
            if not sums or _holds(dfd, name, lambda data: _sum(data) in sums | {name[len(_NEW):]}):
                os.unlink(name, dir_fd=dfd)
            else:
                keep(os.path.join(directory, name))
        _remove_emptied(dfd, directory)


def linked(directory: str) -> list[str]:
    """The files in `directory` (one of this user's, or any as root; held by no live save) that have a
    second name, or are notes naming one renamed aside: each the file an exchange replaced, kept aside
    under that name (conflict_kept) and not yet forgotten, as it is once the kept name was said."""
    with _held(directory, fcntl.LOCK_SH, root_looks=True) as dfd:
        if dfd is None:
            return []
        found = []
        try:
            for name in os.listdir(dfd):
                st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                if name.startswith((_NEW, _KEPT)) and (stat.S_ISREG(st.st_mode) or stat.S_ISLNK(st.st_mode)) and st.st_nlink > 1:
                    found.append(os.path.join(directory, name))
                elif name.startswith(_NOTE) and noted(os.path.join(directory, name)) is not None:
                    found.append(os.path.join(directory, name))
        except OSError:
            return []
        return found


def marked_kept(name: str) -> str:
    """`name`, the file an exchange replaced, once given a second name beside the config: renamed
    `kept.<sum>` in its directory, so that a sweep finding it with one name left knows the kept one
    was removed (merged by hand), not that it was never kept. Its path now."""
    head, leaf = os.path.split(name)
    if not leaf.startswith(_NEW):
        return name
    marked = os.path.join(head, _KEPT + leaf[len(_NEW):])
    try:
        os.rename(name, marked)
    except OSError:     # left unmarked: the next sweep keeps it again, found kept already
        return name
    return marked


def note_kept(name: str, kept: str) -> str:
    """`name`, the file an exchange replaced, about to be renamed `kept` (a path beside the save's
    directory) where the file system links no names: a note of `kept`'s name made in its directory
    first, which stands for a second name until said (a save killed before leaves it named). Its path."""
    head, leaf = os.path.split(name)
    note = os.path.join(head, _NOTE + leaf.partition(".")[2])
    fd = os.open(note, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW | os.O_CLOEXEC, 0o600)
    try:
        os.write(fd, os.fsencode(os.path.basename(kept)))
        os.fsync(fd)
    finally:
        os.close(fd)
    dfd = os.open(head, _DIR_FLAGS)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
    return note


def noted(name: str) -> str | None:
    """Where `name` is a note (note_kept's): the path of the file it names, when that is there (beside
    the save's directory, a regular file named `<name>.conflict-<time>`); else None."""
    head, leaf = os.path.split(name)
    if not leaf.startswith(_NOTE):
        return None
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        kept = f.read(256) if stat.S_ISREG(os.fstat(fd).st_mode) else b""
    if b"/" in kept or b".conflict-" not in kept or len(kept) > 255:     # only a name conflict_kept gives
        return None
    path = os.path.join(os.path.dirname(head), os.fsdecode(kept))
    try:
        return path if stat.S_ISREG(os.lstat(path).st_mode) else None
    except OSError:
        return None


def forget(name: str) -> None:
    """`name`, a file of a save's directory (this user's) kept aside under another name, or the note
    of one, removed, and the directory once emptied; left where a save holds the directory (it sees
    to it)."""
    directory = os.path.dirname(name)
    with _held(directory, fcntl.LOCK_EX) as dfd:
        if dfd is None:
            return
        try:
            os.unlink(os.path.basename(name), dir_fd=dfd)
            _remove_emptied(dfd, directory)
        except OSError:     # gone meanwhile
            pass


@contextlib.contextmanager
def _held(directory: str, lock: int, root_looks: bool = False) -> Iterator[int | None]:
    """`directory` open and locked (flock `lock`, not waited for): its descriptor, or None where it
    is gone, another user's (unless `root_looks`, as root) or a live save's."""
    try:
        dfd = os.open(directory, _DIR_FLAGS)
    except OSError:
        yield None
        return
    try:
        left = os.fstat(dfd).st_uid != os.geteuid() and not (root_looks and os.geteuid() == 0)
        try:
            if not left:
                fcntl.flock(dfd, lock | fcntl.LOCK_NB)
        except OSError:     # a live save's
            left = True
        yield None if left else dfd
    finally:
        os.close(dfd)


def _holds(dfd: int, name: str, test: Callable[[bytes], bool]) -> bool:
    """Whether `name` is a regular file whose contents pass `test` (a symlink is not followed, a FIFO
    not waited on: neither does)."""
    try:
        fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=dfd)
    except OSError:
        return False
    with os.fdopen(fd, "rb") as f:
        return stat.S_ISREG(os.fstat(fd).st_mode) and test(f.read())


def _remove_emptied(dfd: int, directory: str) -> None:
    """The `was.` name and the directory removed once no file of the save's is left in it."""
    names = os.listdir(dfd)
    if any(n.startswith((_NEW, _KEPT, _NOTE)) for n in names):
        return
    for name in names:
        if name.startswith(_WAS):
            os.unlink(name, dir_fd=dfd)
    try:
        os.rmdir(directory)
    except OSError:     # something else in it: left as it is
        pass
