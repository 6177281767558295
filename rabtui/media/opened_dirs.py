"""Directories closed to their owner (mode 0000, 0555, an ACL of user::rw-) for a user other than
root, who owns them: in a backup such a user made (rsync wrote them as the source has them), or
staged off a disc. What is in them can be read (and written, removed) once the owner's rights are
added (open_up); closed_again gives each its own mode back."""

from __future__ import annotations

import os
import shutil
import stat
from contextlib import contextmanager
from typing import Iterator

from rabtui.media import below
from rabtui.media.opened_journal import Journal, give_back

OWNER = stat.S_IRWXU
READ = stat.S_IRUSR | stat.S_IXUSR


def open_up(top: bytes, need: int = OWNER, *, as_can: bool = False, journal: Journal | None = None) -> dict[bytes, int]:
    """Each directory at or below `top` that is ours and lacks some of the owner's rights `need`
    given them; returns the st_mode each one had, by its path below `top` (b"": `top`). Root reads
    and writes every directory as it is: nothing to do. `as_can`: one that cannot be changed (a
    medium mounted read-only) is left as it is, and what reads it says so; else that raises.
    `journal`: each written down there before it is opened (opened_journal)."""
    if os.geteuid() == 0:
        return {}
    me = os.geteuid()
    was: dict[bytes, int] = {}
    try:
        st = os.lstat(top)
    except FileNotFoundError:
        return was
    if not stat.S_ISDIR(st.st_mode):
        return was
    if st.st_mode & need != need and st.st_uid == me and _chmod(top, b"", st, need, None, as_can, journal):
        was[b""] = st.st_mode
    for dirpath, dirnames, _files, fd in os.fwalk(top):    # by descriptor: any depth
        under = dirpath[len(top):].lstrip(b"/")
        for name in dirnames:     # before fwalk goes into them
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            rel = os.path.join(under, name) if under else name
            if stat.S_ISDIR(st.st_mode) and st.st_mode & need != need and st.st_uid == me \
                    and _chmod(name, rel, st, need, fd, as_can, journal, top):
                was[rel] = st.st_mode
    return was


def _chmod(path: bytes, under: bytes, st: os.stat_result, need: int, dir_fd: int | None, as_can: bool,
           journal: Journal | None = None, top: bytes | None = None) -> bool:
    """`path` (`under` below `top`; b"": `path` itself) given the rights `need` besides its own."""
    mode = stat.S_IMODE(st.st_mode) | need
    try:
        if journal is not None:
            journal.note(path if top is None else top, under, st, mode)
        os.chmod(path, mode, dir_fd=dir_fd)
    except OSError:
        if not as_can:
            raise
        return False
    return True


def close_again(top: bytes, was: dict[bytes, int]) -> None:
    """Give each directory `open_up` opened its mode back, the deepest first."""
    for under in sorted(was, key=lambda u: u.count(b"/") + bool(u), reverse=True):
        parent, name = os.path.split(under)
        if not name:
            os.chmod(top, stat.S_IMODE(was[under]))
            continue
        fd = below.open_dir(top, parent)
        try:
            os.chmod(name, stat.S_IMODE(was[under]), dir_fd=fd)
        finally:
            os.close(fd)


@contextmanager
def opened_to_read(top: bytes, state_dir: str | os.PathLike | None = None) -> Iterator[dict[bytes, int]]:
    """The directories at or below `top` in a backup (or an archive's union) that are ours and
    closed to us, opened to be read for the time of the `with` and closed again as they were; yields
    the modes they have there, by their path below `top`. With `state_dir`, written down there
    first, and those a killed run left open given back (opened_journal)."""
    give_back(state_dir)
    journal = Journal(state_dir)
    was = open_up(top, READ, as_can=True, journal=journal)
    try:
        yield was
    finally:
        close_again(top, was)
        journal.done()


@contextmanager
def searchable_on_the_way(root: bytes, rel: bytes, state_dir: str | os.PathLike | None = None) -> Iterator[None]:
    """`root` and the directories below it on the way to `rel` (not `rel` itself) that are ours and
    that we cannot search, made searchable for the time of the `with` (`rel` can be looked at and
    opened) and closed again as they were. Stops where the way ends (a part missing, not a
    directory, not ours to change). `state_dir`: as opened_to_read's."""
    give_back(state_dir)
    journal = Journal(state_dir)
    opened: list[tuple[bytes, int]] = []
    try:
        if os.geteuid() != 0:
            path = root
            for part in [b""] + [p for p in os.path.dirname(rel).split(b"/") if p]:
                path = os.path.join(path, part) if part else root
                try:
                    st = os.lstat(path)
                except OSError:
                    break
                if not stat.S_ISDIR(st.st_mode):
                    break
                if st.st_mode & stat.S_IXUSR or st.st_uid != os.geteuid():
                    continue
                if not _chmod(path, b"", st, stat.S_IXUSR, None, True, journal):
                    break
                opened.append((path, st.st_mode))
        yield
    finally:
        for path, mode in reversed(opened):
            os.chmod(path, stat.S_IMODE(mode))
        journal.done()


def remove_tree(path) -> None:
    """Remove the tree, opening up the directories in it closed to us (read-only, or 0000 as a
    backup made by a user other than root holds them); raises the first error when some of it stays
    (a read-only file system, an immutable file, a directory of another user's)."""
    errors: list[OSError] = []
    try:
        open_up(os.fsencode(path))
    except OSError as exc:
        errors.append(exc)

    def onerror(func, p, exc_info):
        exc = exc_info[1]
        if func not in (os.rmdir, os.unlink) or not isinstance(exc, PermissionError):
            errors.append(exc)   # a directory that cannot be read (os.open, os.scandir): said below
            return
        try:                     # a read-only directory inside the backup, as root made it: opened, tried again
            os.chmod(os.path.dirname(p), 0o700)
            func(p)
        except OSError as again:
            errors.append(again)

    shutil.rmtree(path, onerror=onerror)
    if errors and os.path.lexists(path):
        raise errors[0]
