"""The holes of files rsync copied from the --link-dest base (or an archive's --compare-dest union).
Where a file's size and time are the base's and an attribute is not (mode, owner, xattrs, ACLs),
rsync (3.5.0) copies the base's file (`cf` itemized) and writes every byte of it, --sparse
notwithstanding: a 40 GB disk image of a few blocks, chmod-ed on the source, took 40 GB on the
medium, and every later backup linked to that. The copy holds the base's content; within each of
the base's holes (SEEK_HOLE) the copy is punched again where it reads zeros, in place (its other
names, -H, are the same inode), and what the kernel takes from a file written into (setuid,
setgid, the capability) and its times set back. A zero range punched is still zeros: a run
stopped half way changes no content."""

from __future__ import annotations

import ctypes
import errno
import os
import stat
import threading

from rabtui import faults
from rabtui.errors import Cancelled
from rabtui.filecopy import CAPABILITY, read_xattrs
from rabtui.media import below

_FALLOC_FL_KEEP_SIZE, _FALLOC_FL_PUNCH_HOLE = 0x01, 0x02
_CAP_FOWNER, _CAP_FSETID, _CAP_SETFCAP = 3, 4, 31
_libc = ctypes.CDLL(None, use_errno=True)
_fallocate = _libc.fallocate
_fallocate.argtypes = (ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64)
_CHUNK = 1 << 20
_ZEROS = bytes(_CHUNK)


def holes(fd: int, size: int) -> list[tuple[int, int]]:
    """The holes of the open file `fd` of `size` bytes: (offset, length) each."""
    out, pos = [], 0
    while pos < size:
        try:
            start = os.lseek(fd, pos, os.SEEK_HOLE)
        except OSError:
            break
        if start >= size:
            break
        try:
            end = os.lseek(fd, start, os.SEEK_DATA)
        except OSError as exc:
            if exc.errno != errno.ENXIO:
                raise
            end = size                      # a hole to the end
        out.append((start, end - start))
        pos = end
    return out


def punch(fd: int, ranges: list[tuple[int, int]], cancel: threading.Event | None = None) -> None:
    """Punch holes in `fd` within `ranges`, where it reads zeros only (a chunk at a time): never
    where it holds data, whatever the ranges say. Cancelled when `cancel` is set (a copy of 40 GB
    takes minutes to read)."""
    for offset, length in ranges:
        end = offset + length
        while offset < end:
            if cancel is not None and cancel.is_set():
                raise Cancelled("cancelled: while punching again the holes of files copied from the last backup")
            count = min(_CHUNK, end - offset)
            read = os.pread(fd, count, offset)
            if read == _ZEROS[:len(read)] and read and \
                    _fallocate(fd, _FALLOC_FL_PUNCH_HOLE | _FALLOC_FL_KEEP_SIZE, offset, len(read)) != 0:
                err = ctypes.get_errno()
                raise OSError(err, os.strerror(err))
            if not read:
                break
            offset += len(read)


def settle(dest: os.PathLike, base: os.PathLike, names: list[bytes], *,
           cancel: threading.Event | None = None) -> list[tuple[bytes, OSError]]:
    """Punch again in each of `names` (copied by rsync into `dest` from the same name in `base`) the
    holes of the base's file; a name that is not such a copy (another file now, the base's own
    inode, one that cannot be written) is left. Returns the names whose mode, xattrs or times could
    not be put back, and why. Cancelled when `cancel` is set, the attributes of the file at hand
    put back first."""
    dest_b, base_b = os.fsencode(dest) + b"/", os.fsencode(base) + b"/"
    failed: list[tuple[bytes, OSError]] = []
    for name in names:
        try:
            was = below.open_file(base_b, name)
        except (OSError, ValueError):
            continue
        try:
            old = os.fstat(was)
            if not stat.S_ISREG(old.st_mode) or old.st_blocks * 512 >= old.st_size:
                continue
            try:
                fd, st, attrs = _open_copy(dest_b, name, old)
            except (OSError, ValueError):
                continue
            try:
                if not _a_whole_copy(st, old) or not _may_put_back(st, attrs):
                    continue
                try:
                    punch(fd, holes(was, old.st_size), cancel)
                    faults.point("backup.holes_punched")
                except OSError:
                    pass        # a file system that punches none (EOPNOTSUPP): the copy stays whole, as rsync wrote it
                finally:
                    try:
                        _attrs_back(fd, st, attrs)
                    except OSError as exc:
                        failed.append((name, exc))
            finally:
                os.close(fd)
        finally:
            os.close(was)
    return failed


def holes_of(base: os.PathLike, names: list[bytes]) -> tuple[int, int]:
    """How many of `names` are sparse files in `base`, and the bytes of their holes: what rsync's
    whole copies of them take on the medium beyond their data until they are punched again."""
    base_b, files, total = os.fsencode(base) + b"/", 0, 0
    for name in names:
        try:
            st = below.lstat(base_b, name)
        except (OSError, ValueError):
            continue
        if stat.S_ISREG(st.st_mode) and st.st_blocks * 512 < st.st_size:
            files, total = files + 1, total + st.st_size - st.st_blocks * 512
    return files, total


def _a_whole_copy(st: os.stat_result, old: os.stat_result) -> bool:
    """`st` is a file of its own, the size of the base's file `old` and with more blocks."""
    return stat.S_ISREG(st.st_mode) and (st.st_dev, st.st_ino) != (old.st_dev, old.st_ino) \
        and st.st_size == old.st_size and st.st_blocks > old.st_blocks


def _open_copy(dest: bytes, name: bytes, old: os.stat_result) -> tuple[int, os.stat_result, list[tuple[bytes, bytes]]]:
    """The copy opened for writing, its status and xattrs as rsync left them. One that rabtui, run
    as its own user, may not write (0444: it owns every file of its backups) is made writable for
    its owner first, once known to be such a copy (never the base's file); _attrs_back puts its
    mode back (a run killed between leaves a backup that never becomes complete)."""
    try:
        fd = below.open_file(dest, name, write=True)
    except PermissionError:
        pass
    else:
        return fd, os.fstat(fd), read_xattrs(fd)
    parent, leaf = os.path.split(name)
    at = below.open_dir(dest, parent)
    try:
        held = os.open(leaf, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=at)
    finally:
        os.close(at)
    try:
        st = os.fstat(held)
        where = b"/proc/self/fd/%d" % held
        attrs = read_xattrs(where, follow=True)     # before chmod changes an ACL's mask
        if not _a_whole_copy(st, old) or st.st_uid != os.geteuid() or os.geteuid() == 0 \
                or not _may_put_back(st, attrs):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES))
        os.chmod(where, stat.S_IMODE(st.st_mode) | stat.S_IRUSR | stat.S_IWUSR)
        try:
            return os.open(where, os.O_RDWR | os.O_NONBLOCK | os.O_CLOEXEC), st, attrs
        except OSError:
            os.chmod(where, stat.S_IMODE(st.st_mode))
            raise
    finally:
        os.close(held)


def _may_put_back(st: os.stat_result, attrs: list[tuple[bytes, bytes]]) -> bool:
    """Whether what a write takes from the file can be put back: its times and mode as its owner or
    with CAP_FOWNER, its setgid bit without CAP_FSETID only in its group, its capability with
    CAP_SETFCAP (root in a container may lack them: the copy is left whole then)."""
    caps = _effective_capabilities()
    if st.st_uid != os.geteuid() and not caps & 1 << _CAP_FOWNER:
        return False
    if st.st_mode & stat.S_ISGID and not caps & 1 << _CAP_FSETID \
            and st.st_gid not in (os.getegid(), *os.getgroups()):
        return False
    return bool(caps & 1 << _CAP_SETFCAP) or all(key != CAPABILITY for key, _ in attrs)


def _effective_capabilities() -> int:
    try:
        with open("/proc/self/status", "rb") as f:
            for line in f:
                if line.startswith(b"CapEff:"):
                    return int(line.split()[1], 16)
    except OSError:
        pass
    return 0


def _attrs_back(fd: int, st: os.stat_result, attrs: list[tuple[bytes, bytes]]) -> None:
    """What a write into the file takes from it put back: setuid and setgid (not as root), the
    capability (as root too), its times."""
    if os.fstat(fd).st_mode != st.st_mode:
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
    now = dict(read_xattrs(fd))
    for key, value in attrs:                    # after chmod: the capability, an ACL's mask
        if now.get(key) != value:
            os.setxattr(fd, key, value)
    os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
