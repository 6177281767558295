"""The directories below a restore's target, contained: every one is opened one component at a time
with O_NOFOLLOW, relative to its parent's descriptor, so a symlink that is in the target (or is
swapped in while the restore runs) is never followed; everything is created relative to those
descriptors."""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from rabtui import fmt, mount_points
from rabtui.errors import WorkFailed
from rabtui.restore.written import kind_of

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


class NotCrossed(Refused):
    """A directory below the target that is another mount: nothing is written through it."""

    def __init__(self, shown: bytes):
        super().__init__(f"{fmt.name(shown)} is another mount (a file system or a bind mount there): not crossed,"
                         f" nothing below it restored")
        self.at = shown


def open_target(path: bytes | str | os.PathLike) -> tuple[int, bool]:
    """(a descriptor of the directory `path`, whether it was there), the directories missing on the
    way made (see made_target). It is walked from / one component at a time, and a symlink on the way is followed only
    where no one but root and this user could have put it: theirs, in a directory only they can
    change (as the kernel's protected_symlinks does in sticky directories, which not every system
    turns on). Another's raises Refused: a user's symlink in their home, or in /tmp, would send
    what root restores anywhere. A `..` is the parent of the directory reached, as the kernel takes
    it: after a symlink, the parent of where it leads, never the name before it cancelled."""
    fd, made = made_target(path)
    return fd, not made


def made_target(path: bytes | str | os.PathLike) -> tuple[int, int]:
    """open_target's descriptor, and how many of the last directories of `path` it made itself
    (one another process made meanwhile is not counted, nor any above it)."""
    fd, _, made = _walk(path, make=True)
    return fd, made


def resolve_target(path: bytes | str | os.PathLike) -> bytes:
    """The directory `path` names, from /, with no symlink on the way: each followed as open_target
    follows it (Refused where it would not be) and its `..` taken as the kernel takes them. Below a
    directory that is not there yet, a `..` cancels the name before it (open_target makes those as
    real directories, and not the one the `..` cancels). Nothing is made."""
    fd, way, _ = _walk(path, make=False)
    os.close(fd)
    return way


def remove_made(path: bytes, made: int) -> None:
    """Remove the last `made` directories of `path` (as resolve_target gave it), those a restore
    that failed had made on the way to its target (made_target), deepest first and only while each is empty:
    one that holds anything, or is no directory any more, stays with all above it. Never raises:
    the restore's own error is what the operator is told."""
    parts = [p for p in path.split(b"/") if p]
    if not 0 < made <= len(parts):
        return
    try:        # walked as the restore did: a symlink swapped in on the way is not followed
        fd, _, missing = _walk(b"/" + b"/".join(parts[:-made]), make=False)
    except (Refused, OSError):
        return
    fds = [fd]
    try:
        if missing:
            return
        for part in parts[-made:]:
            try:
                fds.append(os.open(part, _DIR_FLAGS, dir_fd=fds[-1]))
            except OSError:
                break
        for name in reversed(parts[len(parts) - made:][:len(fds) - 1]):
            os.close(fds.pop())
            try:
                os.rmdir(name, dir_fd=fds[-1])
            except OSError:
                return
    finally:
        for f in fds:
            os.close(f)


def _walk(path, make: bool) -> tuple[int, bytes, int]:
    """(a descriptor of the deepest directory reached, the path to `path` without symlinks, how many
    of its last components were not there: with `make`, those it made itself, one after the other);
    see open_target and resolve_target."""
    from rabtui import privacy

    path = os.fsencode(path)
    if not path.startswith(b"/"):
        path = os.getcwdb() + b"/" + path    # not os.path.abspath: it cancels a `..` against a symlink
    todo = [p for p in path.split(b"/") if p]
    fd = os.open(b"/", _DIR_FLAGS)
    way: list[bytes] = []           # the directories walked so far, from /, none a symlink
    made, links = 0, 0
    try:
        while todo:
            part = todo.pop(0)
            if part in (b".", b".."):
                if part == b"..":
                    fd = _moved(fd, os.open(b"..", _DIR_FLAGS, dir_fd=fd))
                    way = way[:-1]
                    made = max(0, made - 1)
                continue
            shown = b"/" + b"/".join(way + [part])
            try:
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                if b".." in todo:     # below a directory still to be made: it cancels the name before it,
                    i = todo.index(b"..")     # one of those still to be made, never one past the `..`
                    missing = [p for p in [part] + todo[:i] if p != b"."]
                    todo = missing[:-1] + todo[i + 1:]
                    continue
                if not make:
                    rest = [part] + [p for p in todo if p != b"."]
                    return fd, b"/" + b"/".join(way + rest), len(rest)
                try:
                    os.mkdir(part, 0o777, dir_fd=fd)
                    made += 1
                except FileExistsError:     # made meanwhile (another restore into it): not ours to remove
                    made = 0
                st = os.stat(part, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISLNK(st.st_mode):
                links += 1
                if links > 40:
                    raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), shown)
                why = (f"it belongs to user {privacy.user_named(st.st_uid)}" if st.st_uid not in (0, os.geteuid())
                       else privacy.others_can_change_dir(os.fstat(fd), fd, fmt.name(b"/" + b"/".join(way))))
                if why:
                    raise Refused(f"{fmt.name(shown)} is a symlink that someone other than root and rabtui's user"
                                  f" could have put there ({why}): not followed; give the directory it leads to,"
                                  f" if that is the one meant")
                target = os.readlink(part, dir_fd=fd)
                if target.startswith(b"/"):
                    fd = _moved(fd, os.open(b"/", _DIR_FLAGS))
                    way = []
                todo = [p for p in target.split(b"/") if p] + todo
                continue
            fd = _moved(fd, _open_dir(fd, part, shown))
            way.append(part)
    except BaseException:
        os.close(fd)
        raise
    return fd, b"/" + b"/".join(way), made


def _open_dir(dir_fd: int, name: bytes, shown: bytes) -> int:
    """The directory `name` in `dir_fd` opened, not followed: Refused for a symlink or not a directory."""
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


def _moved(old: int, new: int) -> int:
    os.close(old)
    return new


class TargetDirs:
    """The target's root and the directories below it, opened without following symlinks."""

    def __init__(self, root: str | bytes | os.PathLike, follow_root: bool = True, cross_mounts: bool = True):
        """`follow_root`: the root itself may be a symlink (a target the operator named); else
        its last component must be a real directory (a source's configured directory).
        `cross_mounts`: directories below the root that are other mounts (another file system, a
        bind mount) are opened too; else each is refused (NotCrossed)."""
        self.root = os.fsencode(root)
        self._root_mount: int | None = None
        parent, last = os.path.split(self.root.rstrip(b"/") or b"/")
        if follow_root or not last:
            # kept as found, unless the restore overwrites
            self.root_fd, self.root_found = open_target(self.root)
        else:
            self.root_found = os.path.isdir(self.root)
            with contextlib.suppress(FileNotFoundError):
                mode = os.lstat(self.root).st_mode
                if not stat.S_ISDIR(mode) and not stat.S_ISLNK(mode):    # a symlink: refused as it is opened
                    raise Refused(f"{fmt.name(self.root)} is not a directory (a {kind_of(mode)})")
            os.makedirs(self.root, exist_ok=True)
            pfd = os.open(parent or b".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
            try:
                self.root_fd = self._open_child(pfd, last, self.root)
            finally:
                os.close(pfd)
        self._cached: tuple[bytes, int] | None = None
        if not cross_mounts and mount_points.mounts_below(self.root):
            self._root_mount = mount_points.mount_id(self.root_fd) or 0   # 0: told by device

    def close(self) -> None:
        self._drop_cache()
        os.close(self.root_fd)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def _open_child(self, dir_fd: int, name: bytes, shown: bytes) -> int:
        fd = _open_dir(dir_fd, name, shown)
        if self._root_mount is not None and self._other_mount(fd):
            os.close(fd)
            raise NotCrossed(shown)
        return fd

    def _other_mount(self, fd: int) -> bool:
        if self._root_mount:
            return mount_points.mount_id(fd) != self._root_mount
        return os.fstat(fd).st_dev != os.fstat(self.root_fd).st_dev

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

    def make_parents(self, rel: bytes, modes: list[int] | None = None) -> list[bytes]:
        """Create the directories leading to `rel`: each with its mode in `modes` (from the top
        down), the owner's bits all set until what is below it is written (SafeWriter.own_made),
        else 0755. One already there keeps its own. Returns, for each directory leading to `rel`,
        its path if this call made it, else b""."""
        parts = rel.split(b"/")[:-1]
        made = []
        for i in range(len(parts)):
            fd = self.parent_fd(b"/".join(parts[:i]))
            try:
                os.mkdir(parts[i], modes[i] | 0o700 if modes else 0o755, dir_fd=fd)
                made.append(b"/".join(parts[:i + 1]))
            except FileExistsError:
                made.append(b"")
        return made

