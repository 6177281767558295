"""Writing a restored tree below a target directory, contained and complete.

Containment: every directory below the target is opened one component at a time with
O_NOFOLLOW, relative to its parent's descriptor, so a symlink that is in the target (or is swapped
in while the restore runs) is never followed; everything is created relative to those
descriptors. A symlink found where the restored tree has a directory or a file is either replaced
(`replace_symlinks`, with `overwrite`) or refused and reported, never written through.

Completeness: regular files (written sparse), directories, symlinks, hard links, FIFOs, device
nodes and sockets; ownership (as root), modes, times, and extended attributes (POSIX ACLs and
capabilities are xattrs too) applied after the content, capabilities after the chown that would
clear them; directories' modes and times last. What cannot be restored is counted by kind and
named with the reason; the restore goes on with the rest.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import stat
from dataclasses import dataclass, field

from rabtui import faults, fmt
from rabtui.errors import WorkFailed
from rabtui.restore.filecopy import copy_sparse, new_file, read_xattrs

KINDS = ("files", "directories", "links", "symlinks", "special", "attributes")
SELINUX = b"security.selinux"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


def check_name(rel: bytes) -> bytes:
    """A relative name to write below a target: no absolute path, no `..`, no NUL, not empty."""
    if not rel or rel.startswith(b"/") or b"\0" in rel:
        raise WorkFailed(f"refusing to restore the unsafe name {fmt.name(rel)}")
    if any(p in (b"..", b".", b"") for p in rel.split(b"/")):
        raise WorkFailed(f"refusing to restore the unsafe name {fmt.name(rel)}")
    return rel


class Refused(Exception):
    """An entry that is not written, with the reason (a symlink in the way, an existing file)."""


@dataclass
class Written:
    files: int = 0
    dirs: int = 0
    links: int = 0          # hard links to a file restored before
    symlinks: int = 0
    special: int = 0        # FIFOs, device nodes, sockets
    attributes: int | None = 0  # extended attributes set (ACLs and capabilities included); None:
                                # set by rsync on an SSH source, which does not say how many
    bytes: int = 0
    skipped: list[bytes] = field(default_factory=list)                 # existed, no --overwrite
    refused: list[tuple[bytes, str]] = field(default_factory=list)     # symlinks in the way
    not_restored: list[tuple[str, bytes, str]] = field(default_factory=list)  # (kind, name, why)
    errors: list[tuple[bytes, str]] = field(default_factory=list)      # the restore could not finish

    def counts(self) -> str:
        attributes = ("attributes as rsync set them (uncounted)" if self.attributes is None
                      else f"{self.attributes} attributes")
        return (f"{self.files} files, {self.dirs} directories, {self.links} hard links, {self.symlinks} symlinks,"
                f" {self.special} special files, {attributes}, {self.bytes} bytes")

    def problems(self) -> list[str]:
        """One line per thing not restored, names escaped."""
        out = [f"error: {fmt.name(n)}: {why}" for n, why in self.errors]
        out += [f"refused: {fmt.name(n)}: {why}" for n, why in self.refused]
        out += [f"not restored ({kind}): {fmt.name(n)}: {why}" for kind, n, why in self.not_restored]
        out += [f"exists, kept: {fmt.name(n)}" for n in self.skipped]
        return out

    def as_json(self) -> dict:
        name = lambda b: os.fsdecode(b)  # noqa: E731  (JSON keeps exact names, surrogate-escaped)
        return {"restored": {"files": self.files, "directories": self.dirs, "hard_links": self.links,
                             "symlinks": self.symlinks, "special_files": self.special,
                             "attributes": self.attributes, "bytes": self.bytes},
                "not_restored": [{"kind": k, "path": name(n), "why": w} for k, n, w in self.not_restored],
                "refused": [{"path": name(n), "why": w} for n, w in self.refused],
                "existing_kept": [name(n) for n in self.skipped],
                "errors": [{"path": name(n), "why": w} for n, w in self.errors]}


def _tmp_name() -> bytes:
    return b".rabtui-" + secrets.token_hex(6).encode()   # short: fits beside any 255-byte name


def _why(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


class SafeWriter:
    """Copies entries of a source tree below `root` (see the module's doc)."""

    def __init__(self, root: str | bytes | os.PathLike, overwrite: bool = False, *,
                 replace_symlinks: bool = True, follow_root: bool = True, link_files: bool = False):
        """`follow_root`: the root itself may be a symlink (a target the operator named); else
        its last component must be a real directory (a source's configured directory).
        `link_files`: the files read are in a private staging directory thrown away afterwards (what
        came off a disc): each is hard-linked into place where it is on the same file system, so that
        the target needs room for it once, not twice."""
        self.root = os.fsencode(root)
        self.root_found = os.path.isdir(self.root)    # kept as found, unless the restore overwrites
        os.makedirs(self.root, exist_ok=True)
        parent, last = os.path.split(self.root.rstrip(b"/") or b"/")
        if follow_root or not last:
            self.root_fd = os.open(self.root, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        else:
            pfd = os.open(parent or b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self.root_fd = self._open_child(pfd, last, self.root)
            finally:
                os.close(pfd)
        self.overwrite = overwrite
        self.link_files = link_files
        self.replace_symlinks = replace_symlinks and overwrite
        self.as_root = os.geteuid() == 0
        self.inodes: dict[tuple[int, int], bytes] = {}
        self.found_dirs: set[bytes] = set()     # directories there before: kept as found (no overwrite)
        self.result = Written()
        self._cached: tuple[bytes, int] | None = None
        self.times_cut: tuple[int, bytes] = (0, b"")   # entries whose time lost its fraction, the first

    def close(self) -> None:
        self._drop_cache()
        os.close(self.root_fd)
        count, first = self.times_cut
        if count:
            self.result.not_restored.append(("time", first, f"the target keeps times to the second only: {count}"
                                                            f" entries lost their fraction of a second, this one first"))

    def _time_kept(self, st: os.stat_result, now: os.stat_result, shown: bytes) -> None:
        """A file system that keeps whole seconds drops a time's fraction without an error: counted."""
        if now.st_mtime_ns != st.st_mtime_ns:
            count, first = self.times_cut
            self.times_cut = (count + 1, first if count else shown)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- directories, one component at a time -------------------------------------------------

    @staticmethod
    def _open_child(dir_fd: int, name: bytes, shown: bytes) -> int:
        try:
            return os.open(name, _DIR_FLAGS, dir_fd=dir_fd)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                try:
                    is_link = stat.S_ISLNK(os.stat(name, dir_fd=dir_fd, follow_symlinks=False).st_mode)
                except OSError:
                    is_link = False
                raise Refused(f"{fmt.name(shown)} is a symlink, not followed" if is_link
                              else f"{fmt.name(shown)} is not a directory") from None
            raise

    def _drop_cache(self) -> None:
        if self._cached is not None:
            os.close(self._cached[1])
            self._cached = None

    def parent_fd(self, rel_dir: bytes) -> int:
        """A descriptor of the directory `rel_dir` below the root (b"" for the root itself), every
        component opened without following symlinks. Owned by the writer: do not close."""
        if self._cached is not None and self._cached[0] == rel_dir:
            return self._cached[1]
        self._drop_cache()
        fd = os.dup(self.root_fd)
        try:
            for i, part in enumerate(rel_dir.split(b"/") if rel_dir else []):
                nfd = self._open_child(fd, part, b"/".join(rel_dir.split(b"/")[: i + 1]))
                os.close(fd)
                fd = nfd
        except BaseException:
            os.close(fd)
            raise
        self._cached = (rel_dir, fd)
        return fd

    def make_parents(self, rel: bytes) -> None:
        """Create the directories leading to `rel` (0755, as the tree above a restored item)."""
        parts = rel.split(b"/")[:-1]
        for i in range(len(parts)):
            fd = self.parent_fd(b"/".join(parts[:i]))
            try:
                os.mkdir(parts[i], 0o755, dir_fd=fd)
            except FileExistsError:
                pass

    # --- entries --------------------------------------------------------------------------------

    def _existing(self, fd: int, name: bytes) -> os.stat_result | None:
        try:
            return os.stat(name, dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return None

    def put(self, src: bytes, rel: bytes, st: os.stat_result) -> None:
        """Restore one entry; a refusal or an OS error is recorded, not raised."""
        check_name(rel)
        try:
            self._put(src, rel, st)
        except Refused as exc:
            self.result.refused.append((rel, str(exc)))
        except OSError as exc:
            self.result.errors.append((rel, _why(exc)))

    def _put(self, src: bytes, rel: bytes, st: os.stat_result) -> None:
        rel_dir, name = os.path.split(rel)
        fd = self.parent_fd(rel_dir)
        old = self._existing(fd, name)
        mode = st.st_mode
        if old is not None and stat.S_ISLNK(old.st_mode) and not stat.S_ISLNK(mode) and not self.replace_symlinks:
            raise Refused(f"{fmt.name(rel)} is a symlink on the target, not followed nor replaced")
        if stat.S_ISDIR(mode):
            if old is not None and stat.S_ISDIR(old.st_mode):
                if not self.overwrite:
                    self.found_dirs.add(rel)
                return
            if old is not None:
                if not self.overwrite:
                    self.result.skipped.append(rel)
                    return
                os.unlink(name, dir_fd=fd)
            os.mkdir(name, 0o700, dir_fd=fd)   # its modes and times come after its contents
            self.result.dirs += 1
            return
        if old is not None and not self.overwrite:
            self.result.skipped.append(rel)
            return
        key = (st.st_dev, st.st_ino)
        tmp = _tmp_name()
        if st.st_nlink > 1 and not stat.S_ISDIR(mode) and key in self.inodes:
            first_dir, first_name = os.path.split(self.inodes[key])
            first_fd = os.dup(self.parent_fd(first_dir))
            try:
                fd = self.parent_fd(rel_dir)
                os.link(first_name, tmp, src_dir_fd=first_fd, dst_dir_fd=fd, follow_symlinks=False)
            finally:
                os.close(first_fd)
            if self._into_place(fd, tmp, name, rel):
                self.result.links += 1
            return
        if stat.S_ISREG(mode):
            self._file(src, fd, tmp, rel, st)
            counter = "files"
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), tmp, dir_fd=fd)
            counter = "symlinks"
        elif self._special(fd, tmp, rel, st):
            counter = "special"
        else:
            return
        if counter != "files":
            try:
                self._meta_path(fd, tmp, st, src=src, is_link=counter == "symlinks", shown=rel)
            except BaseException:
                os.unlink(tmp, dir_fd=fd)
                raise
        if not self._into_place(fd, tmp, name, rel):
            return
        setattr(self.result, counter, getattr(self.result, counter) + 1)
        if counter == "files":
            self.result.bytes += st.st_size
        if st.st_nlink > 1:
            self.inodes[key] = rel

    def _into_place(self, fd: int, tmp: bytes, name: bytes, rel: bytes) -> bool:
        """`tmp` renamed to `name` (rename(2) replaces a symlink itself, never what it points to);
        without overwrite, linked there only if nothing is there by then (made since it was looked
        at: it is kept, and False is returned)."""
        try:
            if self.overwrite:
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
                return True
            try:
                os.link(tmp, name, src_dir_fd=fd, dst_dir_fd=fd, follow_symlinks=False)
            except FileExistsError:
                os.unlink(tmp, dir_fd=fd)
                self.result.skipped.append(rel)
                return False
            except FileNotFoundError:     # `tmp` replaced meanwhile, by one who may write in the directory
                raise Refused(f"{fmt.name(rel)}: replaced by another file while it was restored") from None
            except OSError as exc:        # a file system without hard links (vfat): looked at again
                if exc.errno not in (errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK):
                    raise
                if self._existing(fd, name) is not None:
                    os.unlink(tmp, dir_fd=fd)
                    self.result.skipped.append(rel)
                    return False
                os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
                return True
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            raise
        os.unlink(tmp, dir_fd=fd)
        return True

    def _file(self, src: bytes, fd: int, tmp: bytes, rel: bytes, st: os.stat_result) -> None:
        """The file, content and attributes, as `tmp` in the directory `fd`. A copy is written into
        an unnamed file (O_TMPFILE) that gets its name once whole: a restore killed meanwhile leaves
        no half file behind (a file system without unnamed files gets a named one). A staged file
        (`link_files`) on the target's file system is given its attributes and linked instead."""
        fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            if self.link_files and os.fstat(fd_in).st_dev == os.fstat(fd).st_dev:
                self._meta_fd(fd_in, fd_in, st, rel)
                faults.point("restore.file_written")
                try:
                    os.link(src, tmp, dst_dir_fd=fd, follow_symlinks=False)
                    return
                except OSError as exc:
                    # another mount of the same file system (a bind mount): copied, as all after it
                    if exc.errno != errno.EXDEV:
                        raise
                    self.link_files = False
            fd_out, named = new_file(fd, tmp)
            try:
                copy_sparse(fd_in, fd_out, st.st_size)
                self._meta_fd(fd_out, fd_in, st, rel)
                faults.point("restore.file_written")
                if not named:
                    os.link(b"/proc/self/fd/%d" % fd_out, tmp, dst_dir_fd=fd, follow_symlinks=True)
            except BaseException:
                os.close(fd_out)
                if named:
                    os.unlink(tmp, dir_fd=fd)
                raise
            os.close(fd_out)
        finally:
            os.close(fd_in)

    def _special(self, fd: int, tmp: bytes, rel: bytes, st: os.stat_result) -> bool:
        mode = st.st_mode
        kind = "fifo" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "device"
        try:
            if stat.S_ISFIFO(mode):
                os.mkfifo(tmp, 0o600, dir_fd=fd)
            else:
                os.mknod(tmp, stat.S_IFMT(mode) | 0o600, st.st_rdev if kind == "device" else 0, dir_fd=fd)
        except OSError as exc:
            why = _why(exc) + (" (device nodes need root)" if exc.errno == errno.EPERM else "")
            self.result.not_restored.append((kind, rel, why))
            return False
        return True

    # --- metadata -------------------------------------------------------------------------------

    def _set_xattrs(self, target, attrs: list[tuple[bytes, bytes]], shown: bytes, *, follow: bool = False) -> None:
        for n, value in attrs:
            try:
                if isinstance(target, int):
                    os.setxattr(target, n, value)
                else:
                    os.setxattr(target, n, value, follow_symlinks=follow)
                self.result.attributes += 1
            except OSError as exc:
                self.result.not_restored.append(("attribute", shown, f"{fmt.name(n)}: {_why(exc)}"))

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
                    self.result.not_restored.append(("attribute", shown, f"{fmt.name(n)} not removed: {_why(exc)}"))

    def _meta_fd(self, fd: int, src: bytes | int, st: os.stat_result, shown: bytes = b"") -> None:
        attrs = read_xattrs(src)   # before the chown, which clears the capability of a linked staged file
        if self.as_root:
            os.fchown(fd, st.st_uid, st.st_gid)
        self._drop_others(fd, attrs, shown)
        os.fchmod(fd, stat.S_IMODE(st.st_mode))   # after chown, which clears setuid
        self._set_xattrs(fd, attrs, shown)       # ACLs after chmod, the capability after chown
        os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        if st.st_mtime_ns % 1_000_000_000:
            self._time_kept(st, os.fstat(fd), shown)

    def _meta_path(self, fd: int, name: bytes, st: os.stat_result, *, is_link: bool = False,
                   src: bytes | None = None, shown: bytes = b"") -> None:
        """A symlink's or a special file's metadata, by its name in the directory `fd`."""
        if is_link:
            if self.as_root:
                os.chown(name, st.st_uid, st.st_gid, dir_fd=fd, follow_symlinks=False)
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=fd, follow_symlinks=False)
            if st.st_mtime_ns % 1_000_000_000:
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
            if self.as_root:
                os.chown(path, st.st_uid, st.st_gid)
            attrs = read_xattrs(src) if src is not None else []
            self._drop_others(path, attrs, shown)
            os.chmod(path, stat.S_IMODE(st.st_mode))
            self._set_xattrs(path, attrs, shown, follow=True)
            os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
            if st.st_mtime_ns % 1_000_000_000:
                self._time_kept(st, os.fstat(node), shown)
        finally:
            os.close(node)

    def _kept_dir(self, rel: bytes, found: os.stat_result, st: os.stat_result) -> None:
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

    def finish_root(self, src: bytes | int, st: os.stat_result) -> None:
        """The root's own ownership, mode, attributes and times, as finish_dir's for a directory."""
        try:
            if self.root_found and not self.overwrite:
                self._kept_dir(b".", os.fstat(self.root_fd), st)
            else:
                self._meta_fd(self.root_fd, src, st, b".")
        except OSError as exc:
            self.result.errors.append((b".", _why(exc)))

    def finish_dir(self, src: bytes | int, rel: bytes, st: os.stat_result) -> None:
        """A directory's ownership, mode, attributes and times, after everything inside it; one that
        was there before keeps its own unless the restore overwrites (a mode tightened since the
        backup stays tight)."""
        try:
            self._drop_cache()
            rel_dir, name = os.path.split(rel)
            pfd = self.parent_fd(rel_dir)
            if rel in self.found_dirs:
                self._kept_dir(rel, os.stat(name, dir_fd=pfd, follow_symlinks=False), st)
                return
            dfd = self._open_child(pfd, name, rel)
            try:
                self._meta_fd(dfd, src, st, rel)
            finally:
                os.close(dfd)
        except Refused as exc:
            self.result.refused.append((rel, str(exc)))
        except OSError as exc:
            self.result.errors.append((rel, _why(exc)))
