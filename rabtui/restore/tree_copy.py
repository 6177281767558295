"""Copying a file or a tree below a restore's target directory, what it would replace found first."""

from __future__ import annotations

import contextlib
import errno
import os
import stat
from collections.abc import Iterator

from rabtui import faults, fmt
from rabtui.checkpoint import closed_dirs
from rabtui.errors import Cancelled, WorkFailed
from rabtui.events import Emit, no_emit
from rabtui.restore.target_dirs import Refused, check_name
from rabtui.restore.write import SafeWriter
from rabtui.restore.written import Written, os_reason


def _via(dir_fd: int, name: bytes) -> bytes:
    # a short path to an entry through its directory's descriptor: any depth of tree can be read
    return b"/proc/self/fd/%d/%s" % (dir_fd, name)


def _walk(top_fd: int, topdown: bool = True, unread: list[tuple[bytes, str]] | None = None):
    """(path usable during the iteration, name below the top, lstat) of everything below the
    directory open as `top_fd`, in pre-order; not `topdown`: (its open descriptor, name, stat) of
    each directory itself, after its contents. Into `unread`: (name below the top, why) of each
    directory whose contents could not be read (they are not walked), and of each entry that could
    not be looked at (gone meanwhile: a medium that loses it, an I/O error). Walked from the
    descriptor, not by its path: a medium unmounted lazily meanwhile (an eject while files are open)
    is read on where the restore opened it."""
    def said(exc: OSError) -> None:
        if unread is not None:
            name = os.path.normpath(os.fsencode(exc.filename))
            unread.append((b"" if name == b"." else name, f"what is in it could not be read: {os_reason(exc)}"))

    for dirpath, dirnames, filenames, dfd in os.fwalk(b".", topdown=topdown, onerror=said, dir_fd=top_fd):
        under = dirpath[1:].lstrip(b"/")
        if topdown:
            dirnames.sort()
            for name in dirnames + sorted(filenames):
                rel = os.path.join(under, name) if under else name
                try:
                    st = os.stat(name, dir_fd=dfd, follow_symlinks=False)
                except OSError as exc:   # gone since its directory was listed (restoring those before it), unreadable
                    if unread is not None:
                        unread.append((rel, f"could not be read: {os_reason(exc)}"))
                    if name in dirnames:
                        dirnames.remove(name)
                    continue
                yield _via(dfd, name), rel, st
            if unread is not None:
                dirnames[:] = [name for name in dirnames if _readable(dfd, name, under, unread)]
        else:
            yield dfd, under, os.stat(dfd)


def _readable(dir_fd: int, name: bytes, under: bytes, unread: list[tuple[bytes, str]]) -> bool:
    """Whether the directory `name` can be read, which fwalk would pass over in silence; if not, why
    into `unread`. A symlink to a directory (fwalk lists it with them, never goes into it) is not."""
    try:
        os.close(os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=dir_fd))
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENOTDIR):
            unread.append((os.path.join(under, name) if under else name,
                           f"what is in it could not be read: {os_reason(exc)}"))
        return False
    return True


@contextlib.contextmanager
def _opened_dir(path: bytes, looked: os.stat_result) -> Iterator[int]:
    """The directory at `path`, open, if it is still the one looked at (`looked`)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError as exc:
        raise WorkFailed(f"cannot read {fmt.name(path)}: {os_reason(exc)}") from None
    try:
        now = os.fstat(fd)
        if (now.st_dev, now.st_ino) != (looked.st_dev, looked.st_ino):
            raise WorkFailed(f"{fmt.name(path)} was replaced by another directory while the restore began: restore again")
        yield fd
    finally:
        os.close(fd)


def _still_there(path: bytes, fd: int) -> bool:
    """Does `path` still lead to the directory open as `fd`?"""
    try:
        st, now = os.stat(path, follow_symlinks=False), os.fstat(fd)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == (now.st_dev, now.st_ino)


def _is_dir(path: bytes) -> bool:
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def _clashes(writer: SafeWriter, rels) -> list[bytes]:
    out = []
    for rel, st in rels:
        if not rel:
            continue
        rel_dir, name = os.path.split(rel)
        try:
            old = os.stat(name, dir_fd=writer.parent_fd(rel_dir), follow_symlinks=False)
        except (OSError, Refused):
            continue
        if not (stat.S_ISDIR(st.st_mode) and stat.S_ISDIR(old.st_mode)):
            out.append(rel)
    return out


def _picked(entries, pick):
    """The entries of a walk, each regular file as `pick` chooses it (left out on None)."""
    for path, rel, st in entries:
        if not stat.S_ISREG(st.st_mode):
            if hasattr(pick, "below_a_file") and pick.below_a_file(rel, st):
                continue
        if pick is not None and stat.S_ISREG(st.st_mode):
            chosen = pick(rel, path, st)
            if chosen is None:
                continue
            path, st = chosen
        elif (pick is not None and not stat.S_ISDIR(st.st_mode) and hasattr(pick, "not_saved")
              and pick.not_saved(rel, path)):
            continue
        yield path, rel, st


def _parents_as_saved(src: bytes, count: int, staged: bool) -> list[os.stat_result | None]:
    """The `count` directories above `src` where the backup has it, from the top down, for those a
    restore makes on the way to it (their modes, and owners once it is done): a file the backup
    kept from others in a closed directory stays out of their reach. None where they are not at
    hand: a staging directory (what came off a disc) holds none of them."""
    if staged or not count:
        return [None] * count
    found: list[os.stat_result | None] = []
    try:      # by `..` from the directory holding it: a path past PATH_MAX reaches it through a shortcut
        fd = os.open(os.path.dirname(src), os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            while True:
                found.append(os.fstat(fd))
                if len(found) == count:
                    break
                up = os.open(b"..", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
                os.close(fd)
                fd = up
        finally:
            os.close(fd)
    except OSError:
        pass
    found += [None] * (count - len(found))
    return found[::-1]


def copy_into(src: bytes, target_root: bytes, rel_dest: bytes, overwrite: bool, emit: Emit = no_emit,
              cancel=None, *, onto_source: bool = False, pick=None, staged: bool = False,
              dir_modes: dict[bytes, int] | None = None, cross_mounts: bool = True) -> Written:
    """Copy `src` (a file or a tree) to `target_root/rel_dest` (b"": the root itself), safely and
    completely (see rabtui.restore.write). `onto_source`: `target_root` is a source's directory,
    where a symlink is never replaced, nor followed (the directory itself included). `pick(rel,
    path, stat)`: which copy of each regular file to take, as (path, stat), or None to leave it out.
    `staged`: `src` is a private staging copy, thrown away afterwards (its files are linked, not copied).
    `dir_modes`: the modes its directories opened up there have, by their path below `src`.
    `cross_mounts`: write below other mounts inside `target_root` too (a new disk's partitions below
    `--to`); else each is refused, named."""
    if rel_dest:
        check_name(rel_dest)
    top = os.lstat(src)
    is_dir = stat.S_ISDIR(top.st_mode)
    if pick is not None and not is_dir:
        chosen = next(_picked([(src, b"", top)], pick), None)
        if chosen is None:
            raise WorkFailed(f"/{fmt.name(rel_dest)} is not in that backup")
        src, _, top = chosen
    join = (lambda r: os.path.join(rel_dest, r) if r else rel_dest) if rel_dest else (lambda r: r)
    try:
        writer = SafeWriter(target_root, overwrite, replace_symlinks=not onto_source, follow_root=not onto_source,
                            link_files=staged, cross_mounts=cross_mounts)
    except Refused as exc:
        raise WorkFailed(f"refusing to restore into {fmt.name(target_root)}: {exc}") from None
    except OSError as exc:
        raise WorkFailed(f"cannot restore into {fmt.name(target_root)}: {os.strerror(exc.errno or 0)}") from None
    with writer, contextlib.ExitStack() as held:
        src_fd = held.enter_context(_opened_dir(src, top)) if is_dir else -1
        listed = [(rel_dest, top)] + ([(join(r), st) for _, r, st in _picked(_walk(src_fd), pick)] if is_dir else [])
        # an archive's files that its union does not show (kept data's), after the walk that tells them
        found, lost = pick.unseen() if is_dir and hasattr(pick, "unseen") else ([], [])
        listed += [(join(r), st) for _, r, st in found]
        for rel, _ in listed:
            if rel:
                check_name(rel)
        if not overwrite:
            clash = _clashes(writer, listed)
            if clash:
                shown = ", ".join(fmt.name(c) for c in clash[:5]) + (" ..." if len(clash) > 5 else "")
                raise WorkFailed(f"{fmt.count(len(clash), 'file')} {'exists' if len(clash) == 1 else 'exist'} in the target already: {shown}",
                                 hint="use --overwrite to replace them, or restore to another directory")
        del listed
        if rel_dest:
            try:
                saved = _parents_as_saved(src, rel_dest.count(b"/"), staged)
                modes = [0o700 if st is None else stat.S_IMODE(st.st_mode) for st in saved]
                made_parents = writer.make_parents(rel_dest, modes)
            except Refused as exc:
                writer.result.refused.append((rel_dest, str(exc)))
                return writer.result
            except OSError as exc:
                writer.result.errors.append((os.path.dirname(rel_dest), os.strerror(exc.errno or 0)))
                return writer.result
            writer.put(src, rel_dest, top)
        if is_dir:
            unread: list[tuple[bytes, str]] = []
            for path, r, st in _picked(_walk(src_fd, unread=unread), pick):
                if cancel is not None and cancel.is_set():   # what is written stays: say how much
                    raise Cancelled(f"restore cancelled: {writer.result.counts()} written before it stopped",
                                    hint="they stay where they are; restore again with --overwrite to finish it")
                writer.put(path, join(r), st)
            made: list[tuple[bytes, bytes, os.stat_result]] = []   # directories the union lacks
            for path, r, st in found:
                if stat.S_ISDIR(st.st_mode):
                    if not _is_dir(os.path.join(src, r)):   # made as the backup that saved it has it
                        made.append((path, r, st))
                        writer.put(path, join(r), st)
                    continue
                try:
                    writer.make_parents(join(r))
                except Refused as exc:
                    writer.result.refused.append((join(r), str(exc)))
                    continue
                except OSError as exc:
                    writer.result.errors.append((join(r), os_reason(exc)))
                    continue
                writer.put(path, join(r), st)
            writer.result.not_restored += [(kind, join(r), why) for kind, r, why in lost]
            faults.point("restore.entries_put")
            writer.result.errors += [(join(r), why) for r, why in unread]
            if hasattr(pick, "own_dir") and not _still_there(src, src_fd):
                # the backup's own directories (their modes, times, attributes) are read by path
                writer.result.errors.append((rel_dest, "the copy on the medium was unmounted or replaced while it"
                                                       " was restored: its directories may not have the backup's"
                                                       " modes, times and attributes"))
            for path, r, st in reversed(made):      # deepest first, before the union's around them
                writer.finish_dir(path, join(r), st)
            for path, r, st in _walk(src_fd, topdown=False):
                if hasattr(pick, "below_a_file") and pick.below_a_file(r, st):
                    continue
                if hasattr(pick, "own_dir"):     # an archive's union: the backup's own directory
                    path, st = pick.own_dir(r, path, st)
                st = closed_dirs.as_extracted(st, (dir_modes or {}).get(r))
                if join(r):
                    writer.finish_dir(path, join(r), st)
                else:
                    writer.finish_root(path, st)
        if rel_dest:
            writer.own_made(made_parents, saved, modes)
        return writer.result
