"""One job per source and per drive: an flock on a file in `state_dir/locks/`.

The kernel drops an flock when its process dies, so a lock left by a killed job is never stale;
the pid and start time written into the file are only for the message.
"""

from __future__ import annotations

import errno
import fcntl
import hashlib
import json
import os
import re
import threading
import time
from contextlib import ExitStack, contextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Callable, Iterable, Iterator, TypeVar

from rabtui import faults, privacy, proc_table
from rabtui.state import lock_table
from rabtui.errors import Cancelled, LockBusy, WorkFailed

WAIT_POLL = 0.2     # seconds between two tries of a lock waited for
MARK_EVERY = 0.5    # seconds between two marks of a holder's progress (Lock.moved), at the least
MEDIUM_WAIT = 60.0  # seconds a backup waits for a `media label` under way (it takes a moment)


def _lock_name(name: str) -> str:
    """A name of [A-Za-z0-9._-] only is itself (every id a config allows). Another has all but those
    made '_' (no '/' makes a subdirectory), then '~' (in no such name) and a hash of the whole name
    (bytes not UTF-8 too: surrogatepass): without it `images:/a b` and `images:/a_b` were one
    lock. One too long for a file name (255 bytes: a drive's folder deep down) keeps 100 of its
    characters and the whole hash."""
    readable = re.sub(r"[^A-Za-z0-9._-]", "_", name)
    if readable == name and len(name) + len(".lock") <= 255:
        return name
    digest = hashlib.sha256(name.encode("utf-8", "surrogatepass")).hexdigest()
    if len(readable) + 18 + len(".lock") <= 255:
        return f"{readable}~{digest[:17]}"
    return f"{readable[:100]}~{digest}"


class LockFileUnmade(WorkFailed):
    """A lock file cannot be made for want of room or inodes in the state directory (`where`)."""

    def __init__(self, message: str, where, strerror: str, **kw):
        super().__init__(message, **kw)
        self.where, self.strerror = where, strerror


class Lock:
    def __init__(self, state_dir: str | Path, name: str, what: str | None = None, by: str | None = None,
                 kept_out: str | None = None, shared_by: str | None = None, said: dict | None = None):
        """`what` runs under this lock, as a refusal says it; `by`: another command that holds it
        to keep `what` out (rebuild-state), named instead of `what` in the refusal of others;
        `kept_out`: what the refusal by such a holder says cannot run, when that is not `what`;
        `shared_by`: what holds it shared (plural), as a refusal says them when the holder the file
        names has ended while others hold it still; `said`: more the file says of its holder."""
        self.dir = Path(state_dir) / "locks"
        self.path = self.dir / f"{_lock_name(name)}.lock"
        self.what = what or name
        self.by = by
        self.kept_out = kept_out or self.what
        self.shared_by = shared_by
        self.said = said or {}
        self._fd: int | None = None
        self._marked = 0.0

    def acquire(self, shared: bool = False) -> "Lock":
        """Take the lock, or raise LockBusy saying who holds it. `shared`: one of many readers,
        which only a holder of the whole lock keeps out (a wait for it: acquire_within)."""
        # never through a symlink planted there: the lock is written, by root often
        try:
            privacy.private_dir(self.dir)
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, privacy.FILE_MODE)
        except OSError as exc:
            if exc.errno != errno.ELOOP:
                raise self._unusable(exc, shared) from None
            raise WorkFailed(f"{self.path} is a symlink: not followed, nothing run; someone else may have"
                             " changed the state directory", hint="see `rabtui check`, then remove it") from None
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise LockBusy(self.refusal()) from None
        mine = {"pid": os.getpid(), "since": time.time()} | ({"by": self.by} if self.by else {}) | self.said
        try:
            os.ftruncate(fd, 0)
            os.write(fd, json.dumps(mine).encode())
        except OSError:     # a full state directory: the lock is held all the same, only the message lacks who
            pass
        self._fd = fd
        return self

    def acquire_within(self, seconds: float, cancel: threading.Event | None = None, say=None,
                       shared: bool = False) -> "Lock":
        """Take the lock (`shared`: as acquire), waiting for another process to release it at most
        `seconds` after it last marked its progress (moved; after the wait began, if it marks none:
        a long work that goes on is waited for, a hung holder is not). `say` is told at once who
        holds it (its pid and command: a stopped or hung one is never waited for in silence), and
        when it first marks its progress; LockBusy naming it once `seconds` pass without, Cancelled
        as soon as `cancel` is set."""
        try:
            return self.acquire(shared)
        except LockBusy:
            pass
        if say is not None:
            say(f"waiting (at most {seconds:g} s) for {self.holder_described()} to release the lock of {self.what}")
        faults.point("lock.waiting")
        cancel = cancel or threading.Event()
        began = time.monotonic()
        deadline, mark, moving = began + seconds, self._mark(), False
        while True:
            if cancel.wait(min(WAIT_POLL, max(0.0, deadline - time.monotonic()))):
                raise Cancelled(f"cancelled while waiting for the lock of {self.what}")
            try:
                return self.acquire(shared)
            except LockBusy:
                seen = self._mark()
                if seen != mark:       # its holder goes on: waited for again (the time of a change
                    mark, deadline = seen, time.monotonic() + seconds     # seen, not the file's: clocks jump)
                    if not moving and say is not None:
                        say(f"{self.holder_described()} is making progress: waiting for as long as it does"
                            f" (at most {seconds:g} s without)")
                    moving = True
                elif time.monotonic() >= deadline:
                    made = f" without progress (after {deadline - seconds - began:.0f} s of it)" if moving else ""
                    raise LockBusy(f"{self.holder_described()} held the lock of {self.what} for more than"
                                   f" {seconds:g} s{made}") from None

    def moved(self) -> None:
        """Mark the holder's progress (the lock file's time set to now, every MARK_EVERY seconds at
        the most): one waiting for the lock (acquire_within) waits on."""
        now = time.monotonic()
        if self._fd is None or now - self._marked < MARK_EVERY:
            return
        self._marked = now
        try:
            os.utime(self._fd)
        except OSError:     # a waiter then gives up after its time, as for a holder that marks nothing
            pass

    def _mark(self) -> int | None:
        """The lock file's last change (its holder taking it, or marking its progress: moved)."""
        try:
            return os.stat(self.path).st_mtime_ns
        except OSError:
            return None

    def refusal(self) -> str:
        """Why the lock cannot be had now, naming its holder: the one the file names while it holds
        the lock, else (the last of several shared holders ended) the processes that hold it."""
        holder = self.live_holder()
        if holder is None and self.shared_by:
            pids = self.pids_said()
            return f"{self.kept_out} cannot run now: {self.shared_by} are running" + (f" ({pids})" if pids else "")
        since = ""
        if holder:
            when = datetime.fromtimestamp(holder.get("since", 0)).strftime("%Y-%m-%d %H:%M:%S")
            since = f" since {when}, pid {holder.get('pid')}"
        if holder and holder.get("by"):
            return f"{self.kept_out} cannot run now: {holder['by']} is running{since}"
        return f"{self.what} is already running{since}"

    def holder_described(self) -> str:
        """Who holds the lock, as a message says it: what runs, its pid, command line and state."""
        holder = self.live_holder() or {}
        pid = holder.get("pid")
        if not isinstance(pid, int):
            pids = self.pids_said()
            return f"{self.shared_by} ({pids})" if self.shared_by and pids else "another rabtui process"
        since = holder.get("since")
        when = f", since {datetime.fromtimestamp(since):%Y-%m-%d %H:%M:%S}" if isinstance(since, (int, float)) else ""
        process = proc_table.described(pid, proc_table.COMMAND_SAID)
        return f"{holder.get('by') or 'another rabtui process'} (pid {pid}{', ' + process if process else ''}{when})"

    def _unusable(self, exc: OSError, shared: bool) -> WorkFailed:
        """The lock file cannot be opened or made: another user's (root ran rabtui on this state
        directory once), a full or read-only state directory. Said of what takes it: `what` names
        the one a refusal says runs, a cleanup for a source's reading lock its readers take."""
        taker = self.by or (self.kept_out if shared else self.what)
        where = exc.filename or self.path
        if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS):
            full = "read-only" if exc.errno == errno.EROFS else "full (no room or no inodes left)"
            made = WorkFailed if exc.errno == errno.EROFS else partial(LockFileUnmade, where=where, strerror=exc.strerror)
            return made(f"{taker} cannot run: the lock file {where} cannot be made: {exc.strerror};"
                        f" the state directory is {full}; nothing run",
                        hint="free space there (or make it writable), then run again")
        try:
            st = os.lstat(where)
            owner = f" (its owner: uid {st.st_uid}, mode {st.st_mode & 0o777:o})" if st.st_uid != os.geteuid() else ""
        except OSError:
            owner = ""
        return WorkFailed(f"{taker} cannot run: the lock file {where} cannot be opened: {exc.strerror or exc}"
                          f"{owner}; nothing run", hint=f"give {self.dir} and its files back to the user that runs"
                          " rabtui (chown), or run rabtui as their owner")

    def holder(self) -> dict | None:
        """Who holds (or last held) the lock, from the file."""
        try:
            return json.loads(self.path.read_text() or "null")
        except (OSError, ValueError):
            return None

    def live_holder(self) -> dict | None:
        """Who holds the lock, from the file, while that process holds it still: of a lock held
        shared, the file names the last to take it, which may have ended while others hold it.
        Without a table of locks to ask, the file's word."""
        holder = self.holder()
        pids = self.live_pids()
        if holder and pids is not None and holder.get("pid") not in pids:
            return None
        return holder

    def live_pids(self) -> set[int] | None:
        """The processes that hold the lock now (shared holders too); None when there is no table
        of locks to read (lock_table.py)."""
        return lock_table.holders(self.path)

    def holder_pids(self) -> list[int]:
        """The processes that hold the lock now, shared holders too, in order; without a table of
        locks to ask, the one the file names."""
        pids = self.live_pids()
        if pids is None:
            pid = (self.holder() or {}).get("pid")
            return [pid] if isinstance(pid, int) else []
        return sorted(pids)

    def pids_said(self) -> str:
        """The holders (holder_pids) as a message names them: "pid 12, pid 34"; "" for none."""
        return ", ".join(f"pid {pid}" for pid in self.holder_pids())

    def is_held(self) -> bool:
        """True when some live process holds the lock (used by status displays). Read from the
        kernel's table of locks, never by taking the lock: a display that took it for an instant
        made a backup starting at that instant fail with "already running"."""
        if self._fd is not None:
            return True
        pids = self.live_pids()
        if pids is None:       # no /proc here: try the lock, for as short a moment as can be
            return self._taken_by_another()
        return bool(pids)

    def _taken_by_another(self) -> bool:
        try:    # flock needs no write; never through a symlink, nor waiting on a FIFO put there
            fd = os.open(self.path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return False
        except OSError:     # a symlink (ELOOP), or what cannot be opened: no lock of a live process
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def release(self) -> None:
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "Lock":
        return self if self._fd is not None else self.acquire()   # `with lock.acquire(shared=True):`

    def __exit__(self, *exc) -> None:
        self.release()


def still() -> None:
    """No progress to mark (no lock held, or none waited for)."""


T = TypeVar("T")


def marking(items: Iterable[T], moved: Callable[[], None]) -> Iterator[T]:
    """`items`, `moved()` called at each: the progress of a long work under a lock marked
    (Lock.moved), so that one waiting for the lock waits on while it goes on."""
    for item in items:
        moved()
        yield item


def source_lock(state_dir: str | Path, source_id: str, by: str | None = None) -> Lock:
    return Lock(state_dir, f"source-{source_id}", what=f"a backup of {source_id}", by=by)


def drive_lock(state_dir: str | Path, drive: str, by: str | None = None) -> Lock:
    return Lock(state_dir, f"drive-{drive_key(drive)}", what=f"a checkpoint on {drive}", by=by)


def drive_key(drive: str) -> str:
    """The folder or device a drive names, however it is spelt: an `images:` drive's folder and a
    device's path with their symlinks, `..` and trailing slashes resolved. Keyed on the text,
    images:/x and images:/y/../x (or /dev/cdrom and the /dev/sr0 it points to) were two locks,
    and two burns wrote into one folder, or onto one disc, at once."""
    if drive.startswith("images:"):
        return "images:" + os.path.realpath(drive[len("images:"):] or "/")
    return os.path.realpath(drive) if drive.startswith("/") else drive


def medium_lock(state_dir: str | Path, medium_id: str, by: str) -> Lock:
    """Held shared by each backup onto the medium (from the check of its label to its end), whole
    by `media label`: a label written while a backup checks the medium's and records it, or while
    another `media label` writes its own, leaves the disk's label and the state's apart. `by`: what
    takes it, as the refusal of another says it."""
    return Lock(state_dir, f"medium-{medium_id}", what=f"medium {medium_id}", by=by, kept_out=by,
                shared_by=f"backups onto medium {medium_id}")


def mounting_lock(state_dir: str | Path, medium_id: str) -> Lock:
    """Whole by whoever mounts or unmounts the medium, one at a time (media/mounting.py)."""
    return Lock(state_dir, f"mounting-{medium_id}", what=f"mounting or unmounting medium {medium_id}")


def medium_users_lock(state_dir: str | Path, medium_id: str) -> Lock:
    """Held shared by each user of the mounted medium, whole by whoever would unmount it (media/
    mounting.py). Not `medium-users-<id>`: that is medium `users-<id>`'s medium_lock."""
    return Lock(state_dir, f"users-of-medium-{medium_id}", what=f"the use of medium {medium_id}")


def cleanup_lock(state_dir: str | Path, by: str | None = None) -> Lock:
    """One cleanup at a time, and none while the database is rebuilt."""
    return Lock(state_dir, "cleanup", what="a cleanup", by=by)


def reading_lock(state_dir: str | Path, source_id: str, by: str | None = None) -> Lock:
    """Held shared by whatever reads a source's backups on the media (a restore, a checkpoint
    burning), whole by a cleanup deleting some of them: neither pulls a tree from under the other;
    whole by rebuild-state too, which replaces the database a restore records its job in."""
    # rebuild-state takes it after the cleanup lock: only readers can hold it then
    what = f"a restore or a checkpoint reading {source_id}'s backups" if by else f"a cleanup of {source_id}'s backups"
    return Lock(state_dir, f"reading-{source_id}", what=what, by=by,
                kept_out=f"reading {source_id}'s backups (a restore, a checkpoint)")


def restoring_lock(state_dir: str | Path, onto: str) -> Lock:
    """Whole by a restore onto the source `onto` (--to-source), from its check to its end: two at
    once each keep what is there only as far as they looked before the other wrote. Where restores
    write on this machine: restore_places.py."""
    return Lock(state_dir, f"restoring-onto-{onto}", what=f"a restore onto {onto}")


def reading_lock_sources(state_dir: str | Path) -> list[str]:
    """The sources whose reading lock file is there (a source removed from the config included:
    its backups stay restorable), by their lock names."""
    return sorted(p.name[len("reading-"):-len(".lock")] for p in (Path(state_dir) / "locks").glob("reading-*.lock"))


def union_lock(state_dir: str | Path, source_id: str, by: str | None = None, kept_out: str | None = None) -> Lock:
    """Held (a short while) by whatever changes a source's archive union trees: a backup linking
    its new files in (`by` names it), which waits for it; a cleanup taking a deleted backup's files
    out, which does not wait (a hung backup would hang it) and keeps those backups for a later
    run. A cleanup that found a union entry to be its backup's must not remove it after a backup
    replaced it. `kept_out`: what a refusal says cannot run, when not a cleanup's deleting."""
    return Lock(state_dir, f"union-{source_id}", what=f"a change of {source_id}'s archive union trees", by=by,
                kept_out=kept_out or f"deleting {source_id}'s old backups")


@contextmanager
def reading(state_dir: str | Path, source_ids) -> Iterator[None]:
    """The reading locks of these sources, held shared for the block."""
    with ExitStack() as held:
        for source_id in sorted(set(source_ids)):
            held.enter_context(reading_lock(state_dir, source_id).acquire(shared=True))
        yield


def checkpoints_lock(state_dir: str | Path, by: str | None = None) -> Lock:
    """Held shared by every run that records, writes, verifies or abandons a checkpoint, on any
    drive; whole by rebuild-state, which replaces the database they write to."""
    return Lock(state_dir, "checkpoints", what="a checkpoint", by=by)


def new_checkpoint_lock(state_dir: str | Path) -> Lock:
    """One new checkpoint is planned and recorded at a time, whatever drive each burn names: two
    burns on two drives would both find no unfinished checkpoint and record one each."""
    return Lock(state_dir, "checkpoint-new", what="the planning of a new checkpoint")


def checkpoint_lock(state_dir: str | Path, number: int) -> Lock:
    """One run at a time writes, verifies or abandons a checkpoint, whatever drive each names."""
    return Lock(state_dir, f"checkpoint-{number}", what=f"work on checkpoint {number}")


def state_lock(state_dir: str | Path, by: str | None = None) -> Lock:
    """Held shared by every command that records in the state database, for as long as it runs;
    whole by rebuild-state, which replaces that database (what they wrote there would be lost with
    the old one, kept aside)."""
    return Lock(state_dir, "state", what="a command that records in the state database", by=by,
                kept_out="this command")


def rebuild_lock(state_dir: str | Path) -> Lock:
    """One rebuild-state at a time; taken before its other locks, so that a second one is told
    that rebuild-state runs, not that some lock of it is held."""
    return Lock(state_dir, "rebuild-state", what="rebuild-state")
