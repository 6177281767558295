"""Writing a restored tree below a target directory, contained and complete.

Containment (restore/target_dirs.py): every directory below the target is opened one component at
a time without following symlinks. A symlink found where the restored tree has a directory or a
file is either replaced (`replace_symlinks`, with `overwrite`) or refused and reported, never
written through.

Completeness: regular files (written sparse), directories, symlinks, hard links, FIFOs, device
nodes and sockets; their metadata (restore/metadata.py) after the content; directories' modes and
times last. What cannot be restored is counted by kind and named with the reason; the restore goes
on with the rest.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from rabtui import faults, fmt
from rabtui.filecopy import copy_sparse, new_file, tmp_name
from rabtui.restore.metadata import MetadataWriter
from rabtui.restore.target_dirs import NotCrossed, Refused, TargetDirs, check_name
from rabtui.restore.written import Written, kept_directory, kind_of, os_reason


# what link(2) says where the target cannot make a hard link at all (not a name taken meanwhile)
LINKS_REFUSED = (errno.EXDEV, errno.EPERM, errno.EOPNOTSUPP, errno.EMLINK)


class DirectoryKept(Exception):
    """A directory where the backup has another kind, which an overwrite does not remove: `why`."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


class ReplacedMeanwhile(Exception):
    """A file read for the restore is not the one looked at: another took its name in between."""


class SafeWriter(TargetDirs):
    """Copies entries of a source tree below `root` (see the module's doc)."""

    def __init__(self, root: str | bytes | os.PathLike, overwrite: bool = False, *,
                 replace_symlinks: bool = True, follow_root: bool = True, link_files: bool = False,
                 cross_mounts: bool = True):
        """`follow_root`, `cross_mounts`: see TargetDirs.
        `link_files`: the files read are in a private staging directory thrown away afterwards (what
        came off a disc): each is hard-linked into place where it is on the same file system, so that
        the target needs room for it once, not twice."""
        super().__init__(root, follow_root, cross_mounts)
        self.not_crossed: set[bytes] = set()
        self.overwrite = overwrite
        self.link_files = link_files
        self.replace_symlinks = replace_symlinks and overwrite
        self.inodes: dict[tuple[int, int], tuple[bytes, tuple[int, int]]] = {}   # -> (name, what was made)
        self.found_dirs: set[bytes] = set()     # directories there before: kept as found (no overwrite)
        self.result = Written()
        self.meta = MetadataWriter(self.result)

    def close(self) -> None:
        super().close()
        self.meta.note_times_cut()

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
        except DirectoryKept as exc:
            self.result.not_restored.append((kind_of(st.st_mode), rel, kept_directory(kind_of(st.st_mode), exc.why)))
        except (Refused, ReplacedMeanwhile, OSError) as exc:
            self._recorded(rel, exc)

    def _recorded(self, rel: bytes, exc: Refused | ReplacedMeanwhile | OSError) -> None:
        """A refusal or an error while `rel` was restored, recorded against it."""
        if isinstance(exc, NotCrossed):     # once, by the mount's own name, for all below it
            if exc.at not in self.not_crossed:
                self.not_crossed.add(exc.at)
                self.result.refused.append((exc.at, str(exc)))
        elif isinstance(exc, Refused):
            self.result.refused.append((rel, str(exc)))
        elif isinstance(exc, ReplacedMeanwhile):
            self.result.errors.append((rel, str(exc)))
        else:
            self.result.errors.append((rel, os_reason(exc)))

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
        tmp = tmp_name()
        if st.st_nlink > 1 and not stat.S_ISDIR(mode) and key in self.inodes:
            first, made = self.inodes[key]
            first_dir, first_name = os.path.split(first)
            first_fd = os.dup(self.parent_fd(first_dir))
            made_link = True
            try:
                fd = self.parent_fd(rel_dir)
                os.link(first_name, tmp, src_dir_fd=first_fd, dst_dir_fd=fd, follow_symlinks=False)
            except OSError as exc:
                # the names on two file systems there (a mount inside the target), one without hard
                # links (vfat), a file at its file system's most links: this name gets a copy
                if exc.errno not in LINKS_REFUSED:
                    raise
                self.result.not_restored.append(("hard link", rel, f"not linked to {fmt.name(first)}:"
                                                                   f" {os_reason(exc)}: a copy"))
                made_link = False
            finally:
                os.close(first_fd)
            if made_link:
                linked = os.stat(tmp, dir_fd=fd, follow_symlinks=False)
                if (linked.st_dev, linked.st_ino) == made:
                    if self._into_place(fd, tmp, name, rel):
                        self.result.links += 1
                    return
                # another entry took the first name since it was made (by whoever may write there):
                # this name gets the backup's entry of its own
                os.unlink(tmp, dir_fd=fd)
                del self.inodes[key]
                self.result.not_restored.append(("hard link", rel, f"not linked to {fmt.name(first)}, which was"
                                                                   f" replaced on the target meanwhile: a copy"))
        if stat.S_ISREG(mode):
            made = self._file(src, fd, tmp, rel, st)
            counter = "files"
        elif stat.S_ISLNK(mode):
            os.symlink(os.readlink(src), tmp, dir_fd=fd)
            counter = "symlinks"
        elif self._special(fd, tmp, rel, st):
            counter = "special"
        else:
            return
        if counter != "files":
            now = os.stat(tmp, dir_fd=fd, follow_symlinks=False)
            made = (now.st_dev, now.st_ino)
        if counter != "files":
            try:
                self.meta.on_path(fd, tmp, st, src=src, is_link=counter == "symlinks", shown=rel)
            except BaseException:
                os.unlink(tmp, dir_fd=fd)
                raise
        if not self._into_place(fd, tmp, name, rel):
            return
        setattr(self.result, counter, getattr(self.result, counter) + 1)
        if counter == "files":
            self.result.bytes += st.st_size
        if st.st_nlink > 1 and key not in self.inodes:   # one not linked keeps the first as the one to link to
            self.inodes[key] = (rel, made)

    def _into_place(self, fd: int, tmp: bytes, name: bytes, rel: bytes) -> bool:
        """`tmp` renamed to `name` (rename(2) replaces a symlink itself, never what it points to);
        without overwrite, linked there only if nothing is there by then (made since it was looked
        at: it is kept, and False is returned)."""
        try:
            if self.overwrite:
                try:
                    os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
                except IsADirectoryError:
                    # an empty directory in the way goes, as rsync onto an SSH source removes one; one
                    # holding files (rmdir(2) refuses it, whatever is put there meanwhile) stays
                    try:
                        os.rmdir(name, dir_fd=fd)
                    except OSError as exc:
                        if exc.errno in (errno.ENOTEMPTY, errno.EEXIST):
                            raise DirectoryKept("holding files") from None
                        if exc.errno == errno.EBUSY:
                            raise DirectoryKept("in use (a mount point)") from None
                        raise
                    try:
                        os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
                    except IsADirectoryError:     # one made at the name since (by whoever may write there)
                        raise DirectoryKept("made there again while the restore replaced it") from None
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

    def _file(self, src: bytes, fd: int, tmp: bytes, rel: bytes, st: os.stat_result) -> tuple[int, int]:
        """The file, content and attributes, as `tmp` in the directory `fd`. A copy is written into
        an unnamed file (O_TMPFILE) that gets its name once whole: a restore killed meanwhile leaves
        no half file behind (a file system without unnamed files gets a named one). A staged file
        (`link_files`) on the target's file system is given its attributes and linked instead."""
        fd_in = os.open(src, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            now = os.fstat(fd_in)
            # an archive's union names a newer version once a backup running meanwhile links it in:
            # its bytes under this version's size and times would be neither
            if (now.st_dev, now.st_ino) != (st.st_dev, st.st_ino):
                raise ReplacedMeanwhile("replaced by another file where it is read (a backup running meanwhile"
                                        " saved a newer version): restore it again")
            if self.link_files and os.fstat(fd_in).st_dev == os.fstat(fd).st_dev:
                self.meta.on_fd(fd_in, fd_in, st, rel)
                faults.point("restore.file_written")
                try:
                    os.link(src, tmp, dst_dir_fd=fd, follow_symlinks=False)
                    return now.st_dev, now.st_ino
                except OSError as exc:
                    # another mount of the same file system (a bind mount): copied, as all after it
                    if exc.errno != errno.EXDEV:
                        raise
                    self.link_files = False
            fd_out, named = new_file(fd, tmp)
            try:
                copy_sparse(fd_in, fd_out, st.st_size)
                self.meta.on_fd(fd_out, fd_in, st, rel)
                faults.point("restore.file_written")
                if not named:
                    os.link(b"/proc/self/fd/%d" % fd_out, tmp, dst_dir_fd=fd, follow_symlinks=True)
            except BaseException:
                os.close(fd_out)
                if named:
                    os.unlink(tmp, dir_fd=fd)
                raise
            made = os.fstat(fd_out)
            os.close(fd_out)
            return made.st_dev, made.st_ino
        finally:
            os.close(fd_in)

    def _special(self, fd: int, tmp: bytes, rel: bytes, st: os.stat_result) -> bool:
        mode = st.st_mode
        kind = kind_of(mode)
        try:
            if stat.S_ISFIFO(mode):
                os.mkfifo(tmp, 0o600, dir_fd=fd)
            else:
                os.mknod(tmp, stat.S_IFMT(mode) | 0o600, st.st_rdev if kind == "device" else 0, dir_fd=fd)
        except OSError as exc:
            why = os_reason(exc) + (" (device nodes need root)" if exc.errno == errno.EPERM else "")
            self.result.not_restored.append((kind, rel, why))
            return False
        return True

    # --- directories' metadata, last ---------------------------------------------------------

    def own_made(self, made: list[bytes], saved: list[os.stat_result | None], modes: list[int]) -> None:
        """The directories make_parents made on the way (`made`, b"" for one there before) given,
        deepest first, once all below them is written, as each restored directory's own: their
        modes in `modes` (make_parents left the owner all its bits, so that a user other than root
        could write below one the backup has read-only, and the program's umask of 077 took the
        others'), and from root the owners the backup has for them (`saved`, None where not known)."""
        for rel, st, mode in reversed(list(zip(made, saved, modes))):
            if not rel:
                continue
            try:
                rel_dir, name = os.path.split(rel)
                fd = self._open_child(self.parent_fd(rel_dir), name, rel)
                try:
                    if st is not None:
                        self.meta.owned(lambda uid, gid: os.fchown(fd, uid, gid), st, rel)
                    if stat.S_IMODE(os.fstat(fd).st_mode) != mode:
                        os.fchmod(fd, mode)
                finally:
                    os.close(fd)
            except (Refused, OSError) as exc:
                self._recorded(rel, exc)

    def finish_root(self, src: bytes | int, st: os.stat_result) -> None:
        """The root's own ownership, mode, attributes and times, as finish_dir's for a directory."""
        try:
            if self.root_found and not self.overwrite:
                self.meta.kept_dir(b".", os.fstat(self.root_fd), st)
            else:
                self.meta.on_fd(self.root_fd, src, st, b".")
        except OSError as exc:
            self.result.errors.append((b".", os_reason(exc)))

    def finish_dir(self, src: bytes | int, rel: bytes, st: os.stat_result) -> None:
        """A directory's ownership, mode, attributes and times, after everything inside it; one that
        was there before keeps its own unless the restore overwrites (a mode tightened since the
        backup stays tight)."""
        try:
            self._drop_cache()
            rel_dir, name = os.path.split(rel)
            pfd = self.parent_fd(rel_dir)
            if rel in self.found_dirs:
                self.meta.kept_dir(rel, os.stat(name, dir_fd=pfd, follow_symlinks=False), st)
                return
            dfd = self._open_child(pfd, name, rel)
            try:
                self.meta.on_fd(dfd, src, st, rel)
            finally:
                os.close(dfd)
        except (Refused, OSError) as exc:
            self._recorded(rel, exc)
