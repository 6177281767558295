"""A file of the source whose names a backup holds as another file's too, made apart there
(links_apart.py): a copy of it (content, holes, owner, mode, ACLs, xattrs, times; a symlink or
special file made anew) under a temporary name beside its first name, linked under one beside each
other name, then each renamed over its name: each name is there throughout. Where a link cannot be
made, the temporary names go and every name stays as rsync made it; where a rename fails after
others, those renamed are apart and the rest still the base's file, as NotApart says. The
directories touched keep their modes and times (set_back)."""

from __future__ import annotations

import os
import stat
from typing import Callable

from rabtui import faults, fmt
from rabtui.filecopy import copy_sparse, new_file, read_xattrs, tmp_name
from rabtui.media import below


def _opened(dest: bytes, rel: bytes, around: dict[bytes, os.stat_result]) -> int:
    """below.open_dir(dest, rel), its mode and times taken into `around` first (given back by
    set_back): a name made there sets its time. One its user may not write in (a directory the
    source holds read-only, rabtui not run as root) is opened for the while."""
    fd = below.open_dir(dest, rel)
    try:
        if rel not in around:
            st = os.fstat(fd)
            if stat.S_IMODE(st.st_mode) & 0o300 != 0o300:
                os.chmod(b"/proc/self/fd/%d" % fd, stat.S_IMODE(st.st_mode) | 0o300)
            around[rel] = st
    except BaseException:
        os.close(fd)
        raise
    return fd


def set_back(dest: bytes, around: dict[bytes, os.stat_result]) -> tuple[bytes, OSError] | None:
    """The directories of `around` given back their modes and times; the first that could not be."""
    unset = None
    for rel, st in around.items():
        try:
            fd = below.open_dir(dest, rel)
            try:
                at = b"/proc/self/fd/%d" % fd
                if stat.S_IMODE(os.fstat(fd).st_mode) != stat.S_IMODE(st.st_mode):
                    os.chmod(at, stat.S_IMODE(st.st_mode))
                os.utime(at, ns=(st.st_atime_ns, st.st_mtime_ns))
            finally:
                os.close(fd)
        except OSError as exc:
            unset = unset or (rel, exc)
    return unset


class NotApart(Exception):
    """A file's names made apart in part, or not at all with a temporary name left (made_apart)."""

    def __init__(self, error: OSError, apart: list[bytes], joined: list[bytes], left: list[bytes], size: int):
        super().__init__(error)
        self.error, self.apart, self.joined, self.left, self.size = error, apart, joined, left, size


def listed(names: list[bytes]) -> str:
    """The first three of `names`, escaped, and how many more."""
    return ", ".join(fmt.name(n) for n in names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def made_apart(dest: bytes, names: list[bytes], around: dict[bytes, os.stat_result]) -> int:
    """The names of one file of the source, that the backup holds as another's too: a copy of the
    file made under a temporary name beside the first, linked under one beside each other name,
    then each renamed over its name. Returns the bytes written. Raises OSError where no name was
    made apart, each left as rsync made it; NotApart where a rename failed after others (those
    renamed are apart, the others still the base's file), or a temporary name could not be
    removed. `around`: as _opened's. The first name's directory stays open throughout, each other
    one only for its step: a file may have names in more directories than a process may open."""
    made: list[tuple[bytes, bytes, bytes, bytes]] = []      # (directory, temporary name, its name there, name)
    size = 0
    first, leaf0 = os.path.split(names[0])
    first_fd = _opened(dest, first, around)

    def at(where: bytes, act: Callable[[int], None]) -> None:
        if where == first:
            return act(first_fd)
        fd = _opened(dest, where, around)
        try:
            act(fd)
        finally:
            os.close(fd)

    try:
        try:
            tmp0, size = _made_copy(first_fd, leaf0)
            made.append((first, tmp0, leaf0, names[0]))
            for name in names[1:]:
                where, leaf = os.path.split(name)
                tmp = tmp_name()
                at(where, lambda fd: os.link(tmp0, tmp, src_dir_fd=first_fd, dst_dir_fd=fd, follow_symlinks=False))
                made.append((where, tmp, leaf, name))
            faults.point("backup.links_apart_made")
        except OSError as exc:
            left = _removed(made, at)
            if left:
                raise NotApart(exc, [], list(names), left, 0) from exc
            raise
        for i, (where, tmp, leaf, name) in enumerate(made):
            try:
                at(where, lambda fd: os.rename(tmp, leaf, src_dir_fd=fd, dst_dir_fd=fd))
            except OSError as exc:
                left = _removed(made[i:], at)
                if i or left:
                    raise NotApart(exc, list(names[:i]), list(names[i:]), left, size if i else 0) from exc
                raise
    finally:
        os.close(first_fd)
    return size


def _removed(made: list[tuple[bytes, bytes, bytes, bytes]], at: Callable) -> list[bytes]:
    """The temporary names of `made` removed; those that could not be, by their path."""
    left = []
    for where, tmp, _leaf, name in made:
        try:
            at(where, lambda fd: os.unlink(tmp, dir_fd=fd))
        except FileNotFoundError:
            pass
        except OSError:
            left.append(os.path.join(os.path.dirname(name), tmp))
    return left


def _made_copy(fd: int, name: bytes) -> tuple[bytes, int]:
    """A copy of `name` (a file, symlink or special file in the directory `fd`) under a temporary
    name beside it: that name, and the bytes written."""
    node = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    try:
        st = os.fstat(node)
        if not stat.S_ISREG(st.st_mode):        # never opened to read: a FIFO's open waits for a writer
            return _made_anew(node, st, fd, name), 0
        src = os.open(b"/proc/self/fd/%d" % node, os.O_RDONLY | os.O_CLOEXEC)
        try:
            return _copy(src, fd)
        finally:
            os.close(src)
    finally:
        os.close(node)


def _copy(src: int, fd: int) -> tuple[bytes, int]:
    """A copy of the open file `src` under a temporary name in the directory `fd`: that name, and
    the bytes written."""
    st = os.fstat(src)
    attrs = read_xattrs(src)
    out, named = new_file(fd, tmp := tmp_name())
    try:
        copy_sparse(src, out, st.st_size)
        os.fchown(out, st.st_uid, st.st_gid)
        os.fchmod(out, stat.S_IMODE(st.st_mode))        # after chown: it clears setuid
        for key, value in attrs:                        # ACLs after chmod, the capability after chown
            os.setxattr(out, key, value)
        os.utime(out, ns=(st.st_atime_ns, st.st_mtime_ns))
        if not named:
            os.link(b"/proc/self/fd/%d" % out, tmp, dst_dir_fd=fd, follow_symlinks=True)
    except BaseException:
        if named:
            try:
                os.unlink(tmp, dir_fd=fd)
            except FileNotFoundError:
                pass
        raise
    finally:
        os.close(out)
    return tmp, st.st_size - max(0, st.st_size - st.st_blocks * 512)


def _made_anew(node: int, st: os.stat_result, fd: int, name: bytes) -> bytes:
    """A new node like the symlink or special file `node` (an O_PATH descriptor of `name` in the
    directory `fd`) under a temporary name beside it: that name."""
    attrs = read_xattrs(b"/proc/self/fd/%d" % node, follow=True)
    target = os.readlink(name, dir_fd=fd) if stat.S_ISLNK(st.st_mode) else None
    tmp = tmp_name()
    if target is not None:
        os.symlink(target, tmp, dir_fd=fd)
    else:
        os.mknod(tmp, stat.S_IFMT(st.st_mode) | 0o600, st.st_rdev, dir_fd=fd)
    try:
        os.chown(tmp, st.st_uid, st.st_gid, dir_fd=fd, follow_symlinks=False)
        if target is None:
            os.chmod(tmp, stat.S_IMODE(st.st_mode), dir_fd=fd)
        made = os.open(tmp, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        try:                                        # through the node itself, never what a symlink points to
            for key, value in attrs:
                os.setxattr(b"/proc/self/fd/%d" % made, key, value)
        finally:
            os.close(made)
        os.utime(tmp, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=fd, follow_symlinks=False)
    except BaseException:
        try:
            os.unlink(tmp, dir_fd=fd)
        except FileNotFoundError:
            pass
        raise
    return tmp
