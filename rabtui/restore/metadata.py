"""The metadata of what a restore made: ownership (as root), modes, times, and extended attributes
(POSIX ACLs and capabilities are xattrs too), applied after the content, capabilities after the
chown that would clear them. What cannot be set is recorded with the reason: an owner the target
refuses (vfat, an NFS export that squashes root) too, the entry restored all the same."""

from __future__ import annotations

import errno
import os
import stat

from rabtui import fmt
from rabtui.filecopy import read_xattrs
from rabtui.restore.target_dirs import Refused
from rabtui.restore.written import Written, bits_left_off, os_reason

SELINUX = b"security.selinux"
ACCESS_ACL = b"system.posix_acl_access"
CAPABILITY = b"security.capability"


def _runs_privileged(mode: int) -> bool:
    """Whether a file of `mode` runs with its owner's or group's rights: setuid on a file someone may
    run, setgid with the group's x (without it, the kernel takes it for a mark of mandatory locking)."""
    return bool(mode & stat.S_ISUID and mode & 0o111 or mode & stat.S_ISGID and mode & stat.S_IXGRP)


class MetadataWriter:
    """Sets the backup's metadata on entries made below a target, noting in `result` what it could not."""

    def __init__(self, result: Written):
        self.result = result
        self.as_root = os.geteuid() == 0
        self.times_cut: tuple[int, bytes] = (0, b"")   # entries whose time lost its fraction, the first

    def note_times_cut(self) -> None:
        """Once all is written: the entries whose time lost its fraction, counted, the first named."""
        count, first = self.times_cut
        if count:
            self.result.not_restored.append(("time", first, f"the target keeps times to the second only: {count}"
                                                            f" entries lost their fraction of a second, this one first"))

    def _time_kept(self, st: os.stat_result, now: os.stat_result, shown: bytes) -> None:
        """A file system that keeps whole seconds drops a time's fraction without an error: counted."""
        if now.st_mtime_ns != st.st_mtime_ns:
            count, first = self.times_cut
            self.times_cut = (count + 1, first if count else shown)

    def owned(self, chown, st: os.stat_result, shown: bytes) -> bool:
        """`chown(uid, gid)` with the backup's owner, as root; False where the target refuses it,
        the owner named as not restored (the entry keeps the restoring user's)."""
        if not self.as_root:
            return True
        return self._done(lambda: chown(st.st_uid, st.st_gid), "owner", shown, f"{st.st_uid}:{st.st_gid}",
                          bits_left_off(st.st_mode))

    def _done(self, action, kind: str, shown: bytes, value: str = "", then: str = "") -> bool:
        """`action()` (a chown, a chmod, a utime); False where the target refuses it (vfat, some
        network file systems; root without CAP_FOWNER on another user's file), named as not restored
        (`kind`, "owner", "mode" or "time", and `value`; `then`: what follows from it): the entry
        keeps what it was made with (0600, 0700 for a directory) or the time it was restored at."""
        try:
            action()
            return True
        except OSError as exc:
            said = f"{kind} {value}" if value else kind
            self.result.not_restored.append((kind, shown, f"{said} not set: {os_reason(exc)}{then}"))
            return False

    def _set_xattrs(self, target, attrs: list[tuple[bytes, bytes]], shown: bytes, *, follow: bool = False) -> None:
        for n, value in attrs:
            try:
                if isinstance(target, int):
                    os.setxattr(target, n, value)
                else:
                    os.setxattr(target, n, value, follow_symlinks=follow)
                self.result.attributes += 1
            except OSError as exc:
                self.result.not_restored.append(("attribute", shown, f"{fmt.name(n)}: {os_reason(exc)}"))

    def _drop_others(self, target, attrs: list[tuple[bytes, bytes]], shown: bytes) -> None:
        """The xattrs (ACLs included) the backup's entry has not, removed: one made in a directory with
        a default ACL has that ACL from the kernel, a directory there put back with --overwrite keeps
        its own (rsync -X removes them too). The security module's label stays."""
        have = {n for n, _ in attrs}
        try:
            names = [os.fsencode(n) for n in os.listxattr(target)]
        except OSError:
            return
        for n in names:
            if n in have or n == SELINUX:
                continue
            try:
                os.removexattr(target, n)
            except OSError as exc:
                if exc.errno not in (errno.ENODATA, errno.EOPNOTSUPP):
                    self.result.not_restored.append(("attribute", shown, f"{fmt.name(n)} not removed: {os_reason(exc)}"))

    def on_fd(self, fd: int, src: bytes | int, st: os.stat_result, shown: bytes = b"") -> None:
        """The backup's metadata on an open descriptor (a file, a directory)."""
        attrs = read_xattrs(src)   # before the chown, which clears the capability of a linked staged file
        mode = _mode(st, self.owned(lambda uid, gid: os.fchown(fd, uid, gid), st, shown))
        self._drop_others(fd, attrs, shown)
        moded = self._done(lambda: os.fchmod(fd, mode), "mode", shown, f"{mode:04o}")   # after chown: it clears setuid
        self._set_xattrs(fd, attrs, shown)       # ACLs after chmod, the capability after chown
        if moded and any(n == ACCESS_ACL for n, _ in attrs):
            # the mode again: a directory opened up in the staging (checkpoint/closed_dirs.py) has an
            # ACL that gives its owner rwx, which setting it gave the mode too
            os.fchmod(fd, mode)
        if stat.S_ISREG(st.st_mode) and (moded and _runs_privileged(mode) or any(n == CAPABILITY for n, _ in attrs)):
            self.result.note_privileged(shown)
        if self._done(lambda: os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns)), "time", shown) \
                and st.st_mtime_ns % 1_000_000_000:
            self._time_kept(st, os.fstat(fd), shown)

    def on_path(self, fd: int, name: bytes, st: os.stat_result, *, is_link: bool = False,
                src: bytes | None = None, shown: bytes = b"") -> None:
        """A symlink's or a special file's metadata, by its name in the directory `fd`."""
        if is_link:
            owned = self.owned(lambda uid, gid: os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False), st, shown)
            attrs = read_xattrs(src) if src is not None else []
            if attrs:   # trusted. and security. ones (root's): set through the link itself, never its target
                link = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
                try:
                    made = os.fstat(link)
                    if not stat.S_ISLNK(made.st_mode) or made.st_uid != (st.st_uid if self.as_root and owned
                                                                      else os.geteuid()):
                        raise Refused(f"{fmt.name(shown)}: replaced by another file while it was restored")
                    self._set_xattrs(b"/proc/self/fd/%d" % link, attrs, shown, follow=True)
                finally:
                    os.close(link)
            if self._done(lambda: os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=fd, follow_symlinks=False),
                          "time", shown) and st.st_mtime_ns % 1_000_000_000:
                self._time_kept(st, os.stat(name, dir_fd=fd, follow_symlinks=False), shown)
            return
        # chmod and the attributes follow symlinks: they go through a descriptor of the node made,
        # never by its name, which whoever may write in the directory can put a symlink at meanwhile
        node = os.open(name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
        try:
            made = os.fstat(node)
            if stat.S_IFMT(made.st_mode) != stat.S_IFMT(st.st_mode) or made.st_uid != os.geteuid():
                raise Refused(f"{fmt.name(shown)}: replaced by another file while it was restored")
            path = b"/proc/self/fd/%d" % node
            mode = _mode(st, self.owned(lambda uid, gid: os.chown(path, uid, gid), st, shown))
            attrs = read_xattrs(src) if src is not None else []
            self._drop_others(path, attrs, shown)
            self._done(lambda: os.chmod(path, mode), "mode", shown, f"{mode:04o}")
            self._set_xattrs(path, attrs, shown, follow=True)
            if self._done(lambda: os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns)), "time", shown) \
                    and st.st_mtime_ns % 1_000_000_000:
                self._time_kept(st, os.fstat(node), shown)
        finally:
            os.close(node)

    def kept_dir(self, rel: bytes, found: os.stat_result, st: os.stat_result) -> None:
        """A directory there already keeps its own mode and owner: named when they are not the
        backup's (one a killed restore made before it could set them, one tightened since)."""
        pairs = [("mode", f"{stat.S_IMODE(found.st_mode):04o}", f"{stat.S_IMODE(st.st_mode):04o}")]
        if self.as_root:
            pairs.append(("owner", f"{found.st_uid}:{found.st_gid}", f"{st.st_uid}:{st.st_gid}"))
        differ = [(what, there, backup) for what, there, backup in pairs if there != backup]
        if differ:
            there = " and ".join(f"{what} {value}" for what, value, _ in differ)
            backup = " and ".join(value for _, _, value in differ)
            self.result.not_restored.append(("directory", rel, f"there already with {there}, kept (the backup has"
                                                               f" {backup}); --overwrite sets the backup's"))


def _privileged_bits(st: os.stat_result) -> list[str]:
    """The setuid and setgid bits of an entry other than a directory (whose setgid grants nothing)."""
    if stat.S_ISDIR(st.st_mode):
        return []
    return [name for bit, name in ((stat.S_ISUID, "setuid"), (stat.S_ISGID, "setgid")) if st.st_mode & bit]


def _mode(st: os.stat_result, owned: bool) -> int:
    """The mode to give an entry: the backup's, without setuid and setgid where it could not be
    given the backup's owner (another user's setuid program never becomes the restorer's)."""
    mode = stat.S_IMODE(st.st_mode)
    return mode if owned or not _privileged_bits(st) else mode & ~(stat.S_ISUID | stat.S_ISGID)
