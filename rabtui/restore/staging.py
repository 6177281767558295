"""The private staging directories of restores (what comes off the discs; a tree put together before
rsync sends it to a source). Each is locked (flock) while its restore runs, so that one a killed
restore left behind is known by its lock being free: the next restore that stages in the same
directory, or writes into it as a target, removes it; one in the state directory goes with the next
restore of any kind, or the next cleanup."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import tempfile
from contextlib import contextmanager
from typing import Iterator

from rabtui import fmt, privacy, temp_dirs
from rabtui.checkpoint import verify_scratch
from rabtui.errors import WorkFailed
from rabtui.events import LOG, WARNING, Emit, Event, no_emit
from rabtui.media import medium_fs
from rabtui.state.store_check import is_full

PREFIX = b".rabtui-restore-"
MAKING = b".rabtui-staging-"    # a staging directory being made, not locked yet
# set on each staging directory: a --to target is the operator's, and a directory of theirs may bear the name
MARK = "user.rabtui.staging"
ACLS = ("system.posix_acl_default", "system.posix_acl_access")    # the xattrs that hold POSIX ACLs
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
# what xorriso makes as it extracts a disc, and stops at the first it cannot (medium_fs.probe's names)
EXTRACTED = ("xattrs", "system_xattrs", "acls", "symlinks", "hardlinks", "fifos", "devices")
NO_ROOM = (errno.ENOSPC, errno.EDQUOT)


def holds_what_discs_do(parent: bytes) -> bool:
    """Whether the file system of `parent` takes all that comes off a disc (a vfat, a ramfs or an
    NFS mount may not): where it does not, the discs are extracted elsewhere, and the restore names
    each thing the target refuses as it writes it there, instead of stopping at the first. What
    could not be tried for want of room counts as held: the extraction says that it is full."""
    try:
        holds = medium_fs.probe(parent, _tried)
    except OSError as exc:
        return exc.errno in NO_ROOM
    return all(holds.get(k) is not False for k in EXTRACTED)


def _tried(attempt) -> bool | None:
    try:
        return attempt() is not False
    except OSError as exc:
        return None if exc.errno in NO_ROOM else False


@contextmanager
def staged_in(state_dir, to: bytes | None, emit: Emit = no_emit) -> Iterator[bytes]:
    """Where a restore stages (what comes off the discs, extracted by path: xorriso; files put
    together before rsync sends them): beside its --to target `to` where nobody else can put a
    symlink in place of the staging directory and its file system takes all that comes off the
    discs; else in the state directory (private), or, that full (it failed there: a restore onto
    the source on a full state directory), a private directory of this run in the temporary
    directory, removed after; where none can be made there, why is said and the state directory used."""
    if to is not None and privacy.others_can_change(to) is None and holds_what_discs_do(to):
        yield to
        return
    state = os.fsencode(privacy.private_dir(state_dir))
    if is_full(state_dir):
        with contextlib.ExitStack() as stack:
            try:
                tmp = stack.enter_context(temp_dirs.private())
            except (OSError, WorkFailed) as exc:      # none that nobody else can change: as before
                tmp = None
                why = str(exc) if isinstance(exc, WorkFailed) else \
                    f"the temporary directory {fmt.name(os.fsencode(tempfile.gettempdir()))}: {exc.strerror or exc}"
                emit(Event(WARNING, f"the state directory is full, and no staging directory can be made in {why}:"
                                    " staged in the state directory all the same"))
            if tmp is not None:
                yield tmp
                return
    yield state


@contextmanager
def staging(parent: bytes, emit: Emit = no_emit) -> Iterator[bytes]:
    """A new private directory in `parent` (which nobody else can change), removed afterwards. It is
    made under a name no restore removes, locked, and only then named as a staging directory: one
    made a moment ago is never taken by another restore for one a killed restore left."""
    remove_abandoned(parent, emit, marked_only=True)
    made = tempfile.mkdtemp(prefix=MAKING, dir=parent)
    try:
        fd = os.open(made, _DIR_FLAGS)
    except BaseException:
        os.rmdir(made)
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # made in a directory with a default ACL (a --to target), it would hand that ACL on to each
        # file extracted in it, which has the backup's own
        for acl in ACLS:
            with contextlib.suppress(OSError):
                os.removexattr(fd, acl)
        with contextlib.suppress(OSError):     # unmarked, one left by a killed restore stays there
            os.setxattr(fd, MARK, b"1")
        try:
            path = os.path.join(parent, PREFIX + os.path.basename(made)[len(MAKING):])
            os.rename(made, path)
            try:
                yield path
            finally:
                os.rename(path, made)
        finally:
            _remove(made)
    finally:
        os.close(fd)      # after the removal: until then it is not free for another to remove


def _marked(fd: int) -> bool:
    try:
        return os.getxattr(fd, MARK) == b"1"
    except OSError:
        return False


def _remove(path: bytes) -> None:
    """Remove a staging directory, its read-only directories opened first. Never a file's mode
    changed (tempfile's removal made each it could not remove 0700): the files restored are links
    of those staged, and a symlink staged would have been followed to a file outside the target."""
    verify_scratch.remove_extracted(path)


def remove_abandoned(parent: bytes, emit: Emit = no_emit, marked_only: bool = False) -> None:
    """Remove each staging directory of this user in `parent` that no running restore holds; with
    `marked_only` (a --to target, where the operator's own directories may bear the name), only
    those a restore marked as its own."""
    try:
        names = [n for n in os.listdir(parent) if n.startswith(PREFIX)]
    except OSError:
        return
    for name in names:
        path = os.path.join(parent, name)
        try:
            fd = os.open(path, _DIR_FLAGS)
        except OSError:
            continue
        try:
            if os.fstat(fd).st_uid != os.geteuid() or (marked_only and not _marked(fd)):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue          # a restore that runs now
            _remove(path)
            if not os.path.lexists(path):      # one that could not go (a mount point in it) is tried again next time
                emit(Event(LOG, f"removed {fmt.name(path)}, the staging directory of a restore that did not end"))
        finally:
            os.close(fd)
