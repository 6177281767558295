"""Paths below a directory of a medium, of any length, reached part by part.

A backup's tree and an archive's union hold what a source sent: paths longer than the system
takes in one go (4,096 bytes, with the medium's own path in front), and symlinks that point
anywhere. Here each part of a path is opened from the directory before it (openat), with
O_NOFOLLOW: a symlink on the way is never followed, and no path is ever too long.
"""

from __future__ import annotations

import errno
import os
import stat
from typing import Iterator

_DIR = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# to pass through a directory only: no read permission needed on it
_PASS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def _parts(rel: bytes) -> list[bytes]:
    parts = [p for p in rel.split(b"/") if p and p != b"."]
    if b".." in parts:
        raise OSError(errno.EINVAL, "a path below a directory has no '..'", rel)
    return parts


def open_dir(root: bytes, rel: bytes, *, make: bool = False) -> int:
    """A descriptor of the directory `root/rel`. A part that is a symlink raises OSError (ELOOP or
    ENOTDIR), as does one that is a file. With `make`, missing parts are made. The descriptor is
    for passing through and for the *at calls (O_PATH: no read permission needed on the way);
    `entries` reads one. The caller closes it."""
    fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        for part in _parts(rel):
            try:
                nfd = os.open(part, _PASS, dir_fd=fd)
            except FileNotFoundError:
                if not make:
                    raise
                os.mkdir(part, dir_fd=fd)
                nfd = os.open(part, _PASS, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return fd
    except BaseException:
        os.close(fd)
        raise


def symlink_on_the_way(root: bytes, rel: bytes) -> bytes | None:
    """The first directory of `rel` (its last part is not one on the way) that is a symlink under
    `root`, or None (also when the path ends early: the root or a part missing, or a file). Other
    errors raise."""
    parts = _parts(rel)[:-1] if not rel.endswith(b"/") else _parts(rel)
    try:
        fd = os.open(root, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    except (FileNotFoundError, NotADirectoryError):
        return None
    try:
        for i, part in enumerate(parts):
            try:
                mode = os.stat(part, dir_fd=fd, follow_symlinks=False).st_mode
            except (FileNotFoundError, NotADirectoryError):
                return None
            if stat.S_ISLNK(mode):
                return b"/".join(parts[:i + 1])
            if not stat.S_ISDIR(mode):
                return None
            nfd = os.open(part, _PASS, dir_fd=fd)
            os.close(fd)
            fd = nfd
        return None
    finally:
        os.close(fd)


# a path shorter than this may be named in one call, an entry's name added (the system's limit is
# 4,096 bytes, the NUL included; a name is at most 255)
_SHORT = 4096 - 256 - 1


def named_at_once(path: bytes) -> bool:
    """Can `path` (and an entry's name below it) be named in one call?"""
    return len(path) < _SHORT


def lstat(root: bytes, rel: bytes) -> os.stat_result:
    """os.lstat of `root/rel`, however long. A path that can be named in one call is, as os.lstat
    would (a symlink on the way is followed there: for trees that hold none on the way, such as an
    archive's union, or whose way was checked); a longer one part by part, raising OSError for a
    symlink on the way. `..` raises OSError."""
    return _reached(root, rel, os.lstat, lambda name, fd: os.stat(name, dir_fd=fd, follow_symlinks=False))


# what ends a walk down a path part by part (reach)
MISSING, OTHER, DIR = "missing", "other", "dir"


def reach(root: bytes, rel: bytes) -> str:
    """What ends a walk down `rel` under `root`, part by part (lstat): MISSING, a part that cannot be
    looked at; OTHER, a part that is no directory (a file, a symlink, ...); DIR, every part a
    directory."""
    parts = rel.split(b"/")
    for i in range(1, len(parts) + 1):
        try:
            st = lstat(root, b"/".join(parts[:i]))
        except OSError:
            return MISSING
        if not stat.S_ISDIR(st.st_mode):
            return OTHER
    return DIR


def exists(root: bytes, rel: bytes) -> bool:
    """Whether `root/rel` can be looked at (lstat), however long its path."""
    try:
        lstat(root, rel)
    except OSError:
        return False
    return True


def missing(root: bytes, rel: bytes) -> bool:
    """Does `root` lack `rel` (as `lstat` reaches it)? Not where a symlink or a file on the way is
    what the root holds there."""
    try:
        lstat(root, rel)
    except FileNotFoundError:
        return True
    except OSError:
        return False
    return False


def readlink(root: bytes, rel: bytes) -> bytes:
    """os.readlink of `root/rel`, however long (as `lstat` reaches it)."""
    return _reached(root, rel, os.readlink, lambda name, fd: os.readlink(name, dir_fd=fd))


def xattrs(root: bytes, rel: bytes) -> dict[bytes, bytes]:
    """The xattrs of `root/rel` (of a symlink itself), name -> value, however long its path (as
    `lstat` reaches it: a longer one through its directory's descriptor, named in /proc)."""
    def of(path: bytes) -> dict[bytes, bytes]:
        return {os.fsencode(n): os.getxattr(path, n, follow_symlinks=False)
                for n in os.listxattr(path, follow_symlinks=False)}

    return _reached(root, rel, of, lambda name, fd: of(b"/proc/self/fd/%d/%s" % (fd, name)))


def _reached(root: bytes, rel: bytes, whole, in_dir):
    """`whole(path)` when `root/rel` can be named in one call, else `in_dir(name, fd)` with its
    directory opened part by part."""
    _parts(rel)
    path = os.path.join(root, rel)
    if named_at_once(path):
        return whole(path)
    parent, name = os.path.split(rel)
    fd = open_dir(root, parent)
    try:
        return in_dir(name, fd)
    finally:
        os.close(fd)


def is_file(root: bytes, rel: bytes, st: os.stat_result) -> bool:
    """Whether the entry at `root/rel` (as `lstat` reaches it) is the file `st` is (one inode)."""
    try:
        there = lstat(root, rel)
    except OSError:
        return False
    return (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino)


def unlink(root: bytes, rel: bytes) -> None:
    """os.unlink of `root/rel`, however long (as `lstat` reaches it)."""
    _parts(rel)
    path = os.path.join(root, rel)
    if named_at_once(path):
        os.unlink(path)
        return
    parent, name = os.path.split(rel)
    fd = open_dir(root, parent)
    try:
        os.unlink(name, dir_fd=fd)
    finally:
        os.close(fd)


def entries(root: bytes, rel: bytes) -> list[tuple[bytes, os.stat_result]]:
    """(name, lstat) of each entry of the directory `root/rel`, however long its path (as `lstat`
    reaches it)."""
    return _scanned(root, rel, lambda e: (os.fsencode(e.name), e.stat(follow_symlinks=False)))


def names(root: bytes, rel: bytes) -> list[bytes]:
    """The names the directory `root/rel` lists, as its file system spells them."""
    return _scanned(root, rel, lambda e: os.fsencode(e.name))


def _scanned(root: bytes, rel: bytes, each) -> list:
    """`each` of every os.DirEntry of the directory `root/rel` (entries')."""
    _parts(rel)
    path = os.path.join(root, rel) if rel else root
    if named_at_once(path):
        with os.scandir(path) as it:
            return [each(e) for e in it]
    way = open_dir(root, rel)
    try:
        fd = os.open(".", _DIR, dir_fd=way)
    finally:
        os.close(way)
    try:
        with os.scandir(fd) as it:
            return [each(e) for e in it]
    finally:
        os.close(fd)


def empty_dirs(root: bytes, rel: bytes, unread: list[bytes] | None = None) -> Iterator[bytes]:
    """The empty directories below `root/rel` (relative to `root`), never through a symlink, told
    apart by the kind each directory records of its entries (no lstat of each: 6x faster than
    walk over a tree of files). One removed meanwhile is passed over; one that cannot be read (no
    permission, an I/O error) too, added to `unread`."""
    stack = [rel]
    while stack:
        rel_dir = stack.pop()
        try:
            found = _scanned(root, rel_dir, lambda e: (os.fsencode(e.name), e.is_dir(follow_symlinks=False)))
        except OSError as exc:
            if unread is not None and exc.errno not in (errno.ENOENT, errno.ENOTDIR, errno.ELOOP):
                unread.append(rel_dir)
            continue
        if not found and rel_dir != rel:
            yield rel_dir
        stack.extend(os.path.join(rel_dir, name) if rel_dir else name for name, is_dir in found if is_dir)


def walk(root: bytes, rel: bytes = b"") -> Iterator[tuple[bytes, list[tuple[bytes, os.stat_result]]]]:
    """(path relative to `root`, its entries) of the directory `root/rel` and of each directory
    below it, never through a symlink; one that cannot be read (removed meanwhile) is passed over."""
    stack = [rel]
    while stack:
        rel_dir = stack.pop()
        try:
            items = entries(root, rel_dir)
        except OSError:
            continue
        yield rel_dir, items
        stack.extend(os.path.join(rel_dir, name) if rel_dir else name for name, st in items if stat.S_ISDIR(st.st_mode))


def open_file(root: bytes, rel: bytes, *, write: bool = False) -> int:
    """A descriptor of the file `root/rel` for reading (`write`: and writing, never truncated),
    however long the path, never through a symlink (nor one itself), nor waiting for a writer where
    it is a FIFO. The caller closes it."""
    parent, name = os.path.split(rel)
    fd = open_dir(root, parent)
    try:
        return os.open(name, (os.O_RDWR if write else os.O_RDONLY) | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC,
                       dir_fd=fd)
    finally:
        os.close(fd)
