"""This run's private directories in the temporary directory (TMPDIR, else /tmp) or another
(/dev/shm, the state directory, a medium's root), and those of runs killed before they removed
theirs (SIGKILL): the next run that makes one in the same directory removes them. Each is named
`rabtui-<pid>-<n>` (short: a restore from discs reads them below one, within xorriso's longest
path: shortpath.alias), or with another prefix where other names are (a medium's root, where a
name may be longer: `<prefix><pid>-<n>-<ticks>-<boot>`, its process's identity, `marked`) and
locked (flock) while its run holds it: one is removed only when its lock is free and its process
runs no more (by the identity its name tells, else: its pid runs a process that began after it was
made), so a run that has just made its directory, and not yet locked it, keeps it. Nothing of another name, not ours, or not a directory is touched:
the operator's files in the temporary directory are never looked into. A temporary directory
another user can change (a symlink of theirs in /tmp, say) is not used: they could swap a run's
directory, or the links made in it, for their own."""

from __future__ import annotations

import fcntl
import itertools
import os
import re
import shutil
import stat
import tempfile
import threading
from contextlib import contextmanager
from typing import Callable, Iterator

from rabtui import fmt, privacy, proc_table
from rabtui.errors import WorkFailed

PREFIX = "rabtui-"
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_count = itertools.count()
_count_lock = threading.Lock()


def _remove(path: bytes) -> None:
    shutil.rmtree(path, ignore_errors=True)


Remover = Callable[[bytes], None]


@contextmanager
def private(parent: str | bytes | os.PathLike | None = None, prefix: str = PREFIX,
            remove: Remover = _remove, marked: bool = False) -> Iterator[bytes]:
    """A new directory (0700) of this run in `parent` (the temporary directory when None), named
    `<prefix><pid>-<n>` (`marked`: with own_mark after it), removed afterwards; those killed runs left there under `prefix` are removed
    first. `remove(path)` removes one, quietly (what a verification extracts may be read-only).
    OSError when none can be made; WorkFailed when the temporary directory is one another user can
    change."""
    tmp = os.fsencode(tempfile.gettempdir() if parent is None else parent)
    why = privacy.others_can_change(tmp) if parent is None else None
    if why:       # they could swap the directory, or the links made in it, for their own
        raise WorkFailed(f"the temporary directory {fmt.name(tmp)}: {why}",
                         hint="set TMPDIR to a directory no other user can change (as /tmp, sticky)")
    remove_dead(tmp, prefix, remove)
    while True:
        with _count_lock:
            n = next(_count)
        path = os.path.join(tmp, os.fsencode(prefix) + b"%d-%d" % (os.getpid(), n) + (own_mark() if marked else b""))
        try:
            os.mkdir(path, 0o700)
            break
        except FileExistsError:      # a killed run's of the same pid, not removable: the next number
            continue
    fd = None
    try:
        fd = os.open(path, _DIR_FLAGS)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except OSError:     # a file system without locks (a medium on some network ones): used all the
            pass            # same, and never taken for a dead run's there (its lock cannot be had)
        yield path
    finally:
        remove(path)
        if fd is not None:
            os.close(fd)      # after the removal: until then no other run takes it for a dead one's


def remove_dead(tmp: bytes, prefix: str = PREFIX, remove: Remover = _remove) -> list[bytes]:
    """Remove each directory of this user named as `private` names them in `tmp` whose run is
    dead; returns the paths of those gone (one `remove` could not remove, a mount point in it say,
    is tried again by the next run)."""
    name = re.compile(re.escape(os.fsencode(prefix)) + rb"(\d+)-\d+" + MARK)
    try:
        entries = [e for e in os.scandir(tmp) if name.fullmatch(e.name)]
    except OSError:
        return []
    removed = []
    for entry in entries:
        found = name.fullmatch(entry.name)
        pid, ident = int(found.group(1)), marked_identity(found)
        try:
            fd = os.open(entry.path, _DIR_FLAGS)
        except OSError:
            continue
        try:
            st = os.fstat(fd)
            if not stat.S_ISDIR(st.st_mode) or not left_by_dead_run(pid, st, ident):
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                continue       # held: a run of another pid namespace that shares this directory
            remove(entry.path)
            if not os.path.lexists(entry.path):
                removed.append(entry.path)
        finally:
            os.close(fd)
    return removed


def left_by_dead_run(pid: int, st: os.stat_result, ident: str | None = None) -> bool:
    """Whether an entry of this user (`st`, its lstat) named by `pid` (and `ident`, its process's
    proc_table.identity, where its name tells it: marked_identity) was left by a run that runs no
    more: by its change time, which no one sets back (an mtime can be), a live run is not taken for
    one begun after it."""
    return (st.st_uid == os.geteuid() and pid != os.getpid()
            and not proc_table.pid_alive(pid, since=st.st_ctime, ident=ident))


# the head of the boot id a mark carries: names in the temporary directory carry none (a restore from
# discs reads below one, within 32 bytes: disc_names.DISC_PATH_MAX)
BOOT_CHARS = 8
# a name's optional mark, `-<ticks>-<boot>`: groups 2 and 3 after the name's own first
MARK = rb"(?:-(\d+)-([0-9a-f]{%d}))?" % BOOT_CHARS


def own_mark() -> bytes:
    """`-<ticks>-<boot>` of this process (proc_table.identity: its start in clock ticks, its boot id's
    head), b"" where /proc does not tell it."""
    boot, _, ticks = (proc_table.identity(os.getpid()) or "").rpartition(":")
    head = boot[:BOOT_CHARS].encode()
    return b"-%s-%s" % (ticks.encode(), head) if re.fullmatch(MARK, b"-%s-%s" % (ticks.encode(), head)) \
        and ticks else b""


def marked_identity(found: re.Match) -> str | None:
    """The proc_table.identity of the process a name's mark tells (MARK's groups 2 and 3), None where
    it has none: whole when it ran in this boot; else one no process now has (its run ended with its
    boot)."""
    if not found.group(2):
        return None
    head = found.group(3).decode()
    ours = (proc_table.identity(os.getpid()) or "").rpartition(":")[0]
    return f"{ours if ours[:BOOT_CHARS] == head else head}:{int(found.group(2))}"
