"""The private staging directories of restores (what comes off the discs; a tree put together before
rsync sends it to a source). Each is locked (flock) while its restore runs, so that one a killed
restore left behind is known by its lock being free: the next restore that stages in the same
directory, or writes into it as a target, removes it; one in the state directory goes with the next
restore of any kind, or the next cleanup."""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import tempfile
from contextlib import contextmanager
from typing import Iterator

from rabtui import fmt
from rabtui.events import LOG, Emit, Event, no_emit

PREFIX = b".rabtui-restore-"
MAKING = b".rabtui-staging-"    # a staging directory being made, not locked yet
ACLS = ("system.posix_acl_default", "system.posix_acl_access")    # the xattrs that hold POSIX ACLs
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC


@contextmanager
def staging(parent: bytes, emit: Emit = no_emit) -> Iterator[bytes]:
    """A new private directory in `parent` (which nobody else can change), removed afterwards. It is
    made under a name no restore removes, locked, and only then named as a staging directory: one
    made a moment ago is never taken by another restore for one a killed restore left."""
    remove_abandoned(parent, emit)
    made = tempfile.TemporaryDirectory(prefix=MAKING, dir=parent)
    try:
        fd = os.open(made.name, _DIR_FLAGS)
    except BaseException:
        made.cleanup()
        raise
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        # made in a directory with a default ACL (a --to target), it would hand that ACL on to each
        # file extracted in it, which has the backup's own
        for acl in ACLS:
            with contextlib.suppress(OSError):
                os.removexattr(fd, acl)
        with made:
            path = os.path.join(parent, PREFIX + os.path.basename(made.name)[len(MAKING):])
            os.rename(made.name, path)
            try:
                yield path
            finally:
                os.rename(path, made.name)      # removed by `made`, which can empty read-only directories
    finally:
        os.close(fd)      # after the removal: until then it is not free for another to remove


def remove_abandoned(parent: bytes, emit: Emit = no_emit) -> None:
    """Remove each staging directory of this user in `parent` that no running restore holds."""
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
            if os.fstat(fd).st_uid != os.geteuid():
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue          # a restore that runs now
            shutil.rmtree(path, ignore_errors=True)
            if not os.path.lexists(path):      # one that could not go (a mount point in it) is tried again next time
                emit(Event(LOG, f"removed {fmt.name(path)}, the staging directory of a restore that did not end"))
        finally:
            os.close(fd)
