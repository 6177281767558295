"""Where restores write on this machine: each running restore holds an flock on a file of its own
in `state_dir/locks/` naming the directory it restores into (its --to; onto a source on this machine, the
restored path's directory) and the tree it writes there (that directory joined with the restored path), both with
symlinks and `..` resolved. A restore whose places meet those of one running is refused, naming it:
two at once each keep what is there only as far as they looked before the other wrote.

The files are looked at and made under one lock held a moment, so that two restores starting at
once see each other. A restore removes its file as it ends; one a killed restore left (its flock
dropped by the kernel) is removed by the next look."""

from __future__ import annotations

import errno
import fcntl
import itertools
import json
import os
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from rabtui import faults, fmt
from rabtui.errors import LockBusy, WorkFailed
from rabtui.state.locks import Lock

PREFIX = "restoring-into-"
LOOK_WAIT = 30.0        # seconds a restore waits for another's look (a moment) to end
_made = itertools.count()


def _inside(path: bytes, top: bytes) -> bool:
    return path == top or path.startswith(top.rstrip(b"/") + b"/")


def meet(to: bytes, writes: bytes, other_to: bytes, other_writes: bytes) -> bool:
    """Whether two restores touch the same places: one's written tree holds the other's, or the
    directories on their ways down from their --to meet (both make or set them), the --to
    directories themselves included."""
    if _inside(writes, other_writes) or _inside(other_writes, writes):
        return True
    common = os.path.commonpath([writes, other_writes])
    return _inside(common, to) and _inside(common, other_to)


def _running(path: Path) -> dict | None:
    """What the file at `path` says of the restore holding it; None when none holds it (then it
    is removed, if it is still the file looked at); {} when it says nothing (a state directory full
    when it was written)."""
    try:
        fd = os.open(path, os.O_RDWR | os.O_NOFOLLOW | os.O_CLOEXEC)
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise WorkFailed(f"{fmt.name(os.fsencode(path))} cannot be opened: {exc.strerror or exc}; not followed,"
                         " nothing restored", hint="see `rabtui check`, then remove it") from None
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            try:
                said = json.loads(os.pread(fd, 1 << 20, 0) or b"null")
            except (OSError, ValueError):
                said = None
            return said if isinstance(said, dict) and "writes" in said else {}
        try:    # still the file at that name (not one made there since)
            now, was = os.fstat(fd), os.lstat(path)
            if (now.st_dev, now.st_ino) == (was.st_dev, was.st_ino):
                os.unlink(path)
        except OSError as exc:
            if exc.errno != errno.ENOENT:
                raise
        return None
    finally:
        os.close(fd)


def _refusal(said: dict) -> str:
    def place(key: str) -> str:
        return fmt.name(os.fsencode(said[key])) if isinstance(said.get(key), str) else "?"

    since = said.get("since")
    when = f" since {datetime.fromtimestamp(since):%Y-%m-%d %H:%M:%S}" if isinstance(since, (int, float)) else ""
    if "writes" not in said:
        return f"a restore is already running{when}, pid {said.get('pid', '?')} (where it writes is unknown)"
    return (f"a restore into {place('to')} is already running{when}, pid {said.get('pid')}, writing"
            f" {place('writes')}")


@contextmanager
def restoring_into(state_dir: str | Path, to: bytes, writes: bytes, cancel=None) -> Iterator[None]:
    """Held by a restore into `to` writing the tree `writes`, from its check to its end; LockBusy
    naming a running restore whose places meet these."""
    to, writes = os.path.realpath(to), os.path.realpath(writes)
    locks_dir = Path(state_dir) / "locks"
    look = Lock(state_dir, "restoring-look", what="the look at where running restores write")
    with look.acquire_within(LOOK_WAIT, cancel):
        for path in sorted(locks_dir.glob(PREFIX + "*.lock")):
            said = _running(path)
            if said is None:
                continue
            if "writes" not in said or meet(to, writes, os.fsencode(said.get("to", "/")), os.fsencode(said["writes"])):
                raise LockBusy(_refusal(said))
        faults.point("restore.places_looked")
        mine = Lock(state_dir, f"{PREFIX}{os.getpid()}-{next(_made)}-{os.urandom(4).hex()}",
                    what=f"a restore into {fmt.name(to)}", said={"to": os.fsdecode(to), "writes": os.fsdecode(writes)})
        mine.acquire()
    try:
        yield
    finally:
        try:    # removed before the flock goes: a look meanwhile sees it held, or not at all
            os.unlink(mine.path)
        except OSError:
            pass
        mine.release()
