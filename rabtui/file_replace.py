"""A file written whole in place of the one there (replace_file): atomically, its mode, owner, ACL
and xattrs given or kept, and the temporary files (and exchanges' directories) killed writes of the
same file left swept away."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import re
import stat
import tempfile
import time
from pathlib import Path
from typing import Callable, ContextManager

from rabtui import exchange_aside, faults, file_attrs, rename_exchange
from rabtui.privacy import FILE_MODE, OTHERS


class GroupNotKept(PermissionError):
    """replace_file, keeping the file's group: this user may not give a file that group."""


def replace_file(path: str | os.PathLike, data: bytes, mode: int = FILE_MODE,
                 owner: tuple[int, int] | None = None,
                 renaming: Callable[[], ContextManager[None]] | None = None, keep: bool = False,
                 replaced: Callable[[str], None] | None = None, was: bytes = b"") -> None:
    """Put `data` in place of `path` atomically, with `mode` (and `owner`, uid and gid, where this
    user may give it), or with `keep` those of the file there and its ACL and xattrs (`mode` and
    `owner` are then for a file made anew): a temporary file beside it, fsync, rename, fsync of the
    directory. A crash leaves the old file or the new one, never half of one; the temporary file a
    killed write left is removed by the next write of the same file. `renaming()` is entered once
    the data is on disk, and the rename made in it: what it raises as it is entered leaves the file
    as it is. With `replaced`, the rename is an exchange where the file system makes one
    (rename_exchange, exchange_aside): the file it replaced, as it was at that instant, is removed
    when it holds `was` (what the caller read), else given to `replaced(name)` to keep aside, as is
    such a file a killed write of `path` left (once this one is in place: one refused leaves it).
    With `keep`, a group this user may not give (not one of theirs) is GroupNotKept, the file left
    as it was."""
    path = Path(path)
    _remove_leftovers(path)
    attrs: list[tuple[str, bytes]] = []
    if keep:
        mode, owner, attrs = _kept(path, mode, owner)
    aside = None
    if replaced is None:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=_TMP_SUFFIX, dir=path.parent)
    else:
        aside = exchange_aside.Aside(path, data, was, prefix=f".{path.name}.", suffix=_TMP_SUFFIX)
        fd, tmp = aside.fd, aside.new
    swapped = False
    try:
        with os.fdopen(fd, "wb") as f:
            fcntl.flock(fd, fcntl.LOCK_EX)      # held until renamed: another write's sweep keeps it
            made = os.fstat(fd)     # in a setgid directory, with the directory's group
            if owner is not None and owner != (made.st_uid, made.st_gid):
                try:
                    os.fchown(fd, *owner)
                except PermissionError:     # only root gives a file away, or a group one is not in
                    if keep:    # who may read it would change
                        raise GroupNotKept(errno.EPERM, "its group cannot be given to a new file", str(path)) from None
                    mode &= ~OTHERS     # what the old group and others could read, no other group may
                    attrs = [(n, v) for n, v in attrs if not n.startswith(_ACL)]
            os.fchmod(fd, mode)
            why = file_attrs.give(fd, attrs, leave=_SYSTEMS)
            if why:
                raise OSError(errno.EPERM, f"its xattrs cannot be kept on a new file ({why})")
            f.write(data)
            f.flush()
            os.fsync(fd)
            if aside is not None:
                aside.mark()
            faults.point("replace.written")
            with renaming() if renaming is not None else contextlib.nullcontext():
                swapped = aside is not None and rename_exchange.exchange(tmp, path)
                if swapped:
                    faults.point("replace.exchanged")
                    aside.settle(replaced)
                else:
                    os.replace(tmp, path)
    except BaseException:
        if not swapped:     # else it is the file replaced, which stays until compared
            Path(tmp).unlink(missing_ok=True)
        raise
    finally:
        if aside is not None:
            aside.close()
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
    if replaced is not None:    # once saved: a hand edit a killed write left is kept aside and said
        with contextlib.suppress(OSError):     # else left for the next write
            _remove_leftovers(path, replaced)


_ACL = "system.posix_acl_"
_SYSTEMS = ("security.", "trusted.")    # the system's own labels: a new file gets its own


def _kept(path: Path, mode: int, owner: tuple[int, int] | None):
    """The mode, owner and xattrs of the file at `path` (not followed), or those given when none is there."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except FileNotFoundError:
        return mode, owner, []
    try:
        st = os.fstat(fd)
        attrs = [(n, v) for n, v in file_attrs.read(fd) if not n.startswith(_SYSTEMS)]
        return stat.S_IMODE(st.st_mode), (st.st_uid, st.st_gid), attrs
    finally:
        os.close(fd)


_TMP_SUFFIX = ".tmp"
_MKSTEMP_PART = re.compile(r"[a-z0-9_]{8}")    # the random part of mkstemp's names
_STARTED = time.time()


def leftovers(path: Path) -> list[os.DirEntry]:
    """The entries beside `path` named as replace_file names the temporary files (and exchanges'
    directories) of writes of `path`: `.<name>.XXXXXXXX.tmp`, not those of another file whose name
    begins alike."""
    prefix = f".{path.name}."
    try:
        with os.scandir(path.parent) as entries:
            return [e for e in entries if e.name.startswith(prefix) and e.name.endswith(_TMP_SUFFIX)
                    and _MKSTEMP_PART.fullmatch(e.name[len(prefix):-len(_TMP_SUFFIX)])]
    except OSError:
        return []


def _remove_leftovers(path: Path, replaced: Callable[[str], None] | None = None) -> None:
    """Remove the temporary files that writes of `path` killed between their write and their rename
    left beside it: named as replace_file names those of `path` (not those of another file whose
    name begins alike), older than this process, locked by no live writer, regular files of one name
    that this user owns (in a sticky directory open to all, another user may name a file of theirs
    so; one a root's write gave its file's owner is left to that owner's next write). With `replaced`,
    the directories of killed exchanges too (exchange_aside.sweep: what may hold a hand edit is
    given to `replaced`)."""
    for entry in leftovers(path):
        try:
            st = entry.stat(follow_symlinks=False)
            if st.st_mtime >= _STARTED:
                continue
            if stat.S_ISDIR(st.st_mode):
                if replaced is not None:
                    exchange_aside.sweep(entry.path, replaced)
                continue
            if not stat.S_ISREG(st.st_mode):
                continue
            fd = os.open(entry.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        try:
            held = os.fstat(fd)
            if not (stat.S_ISREG(held.st_mode) and held.st_nlink == 1 and held.st_uid == os.geteuid()):
                continue
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            now = os.lstat(entry.path)
            if (now.st_dev, now.st_ino) == (held.st_dev, held.st_ino):   # not another file put in its place
                os.unlink(entry.path)
        except OSError:     # a live writer holds it, or it is gone meanwhile
            pass
        finally:
            os.close(fd)
