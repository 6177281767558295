"""Notes of the console's cancels while they are being written, beside its log: a console killed
while one waits for a busy database (SIGKILL, the terminal closed) leaves its note, and the next
console says that cancel was not written, where its job still goes on unstopped."""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import stat
import time
from pathlib import Path

from rabtui import privacy, proc_table
from rabtui.actions import jobs as jobviews
from rabtui.state import queries
from rabtui.state.store import Store

log = logging.getLogger("rabtui.tui")     # the console's log

LARGEST = 4096      # bytes of a note read: it holds a few numbers
_ID_MAX = 2**63 - 1     # the largest id the state database holds
_PID_MAX = 2**31 - 1    # the largest pid (pid_t) os.kill takes


def _folder(state_dir: Path) -> Path:
    return Path(state_dir) / "logs" / "tui-cancels"


def noted(state_dir: Path, job_id: int, post_commands_too: bool, write: int) -> Path | None:
    """A note of this console's cancel `write` of job `job_id`, made before it is written; None
    where it cannot be made (logged: the cancel is written all the same)."""
    pid = os.getpid()
    # made anew, never over a note a killed console of this pid left unread
    path = _folder(state_dir) / f"{pid}-{write}-{time.time_ns()}.json"
    try:
        privacy.private_dir(path.parent.parent)
        privacy.private_dir(path.parent)
        fd = privacy.open_own(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL)
    except OSError as exc:
        log.warning("no note of the cancel of job %s: %s", job_id, exc)
        return None
    try:
        with open(fd, "w", encoding="utf-8") as f:
            json.dump({"job": job_id, "post_commands_too": post_commands_too, "pid": pid,
                       "identity": proc_table.identity(pid)}, f)
    except OSError as exc:      # (the state directory full): no half a note left for the next console
        log.warning("no note of the cancel of job %s: %s", job_id, exc)
        ended(path)
        return None
    return path


def ended(path: Path | None) -> None:
    """The cancel's write has ended (written or said not to be): its note goes."""
    if path is not None:
        try:
            path.unlink()
        except OSError as exc:
            log.warning("the note %s of a cancel is left: %s", path, exc)


def left_unwritten(state_dir: Path, store: Store) -> list[tuple[int | None, bool, int, bool]]:
    """The cancels the notes of consoles that have ended name (each note removed), of jobs that
    still go on, not asked to stop (or their post-backup commands not): each as its job id, whether
    the stop of its post-backup commands, the pid of its console and whether the job's own cancel
    was written. A note its console left half written (killed as it wrote it: its cancel, noted
    first, was never written) is one of job None."""
    left: list[tuple[int | None, bool, int, bool]] = []
    try:
        paths = sorted(_folder(state_dir).glob("*.json"))
    except OSError:
        return []
    for path in paths:
        try:
            note, mtime = _read(path)
            if note is None:
                first = path.name.split("-")[0]
                pid = int(first) if first.isascii() and first.isdigit() and len(first) <= 10 else 0
                if 0 < pid <= _PID_MAX and not proc_table.pid_alive(pid, since=mtime):
                    if _taken(path):
                        left.append((None, False, pid, False))
                else:
                    log.warning("the note %s of a cancel is not read: not whole", path)
                continue
            job_id, post, pid = note["job"], bool(note["post_commands_too"]), note["pid"]
            if not all(type(n) is int and 0 < n <= most for n, most in ((job_id, _ID_MAX), (pid, _PID_MAX))):
                raise ValueError(f"job {job_id!r} or pid {pid!r} is no id")
        except (OSError, ValueError, KeyError, TypeError) as exc:
            log.warning("the note %s of a cancel is not read: %s", path, exc)
            continue
        if proc_table.pid_alive(pid, since=mtime, ident=note.get("identity")):
            continue        # its console still runs
        try:
            row = queries.job(store, job_id)
        except sqlite3.Error as exc:     # kept for the next console
            log.warning("the job of the note %s is not read: %s", path, exc)
            continue
        if row is not None and row["status"] in jobviews.LIVE and \
                row["cancel_requested"] < (jobviews.CANCEL_AGAIN if post else 1):
            if _taken(path):
                left.append((job_id, post, pid, bool(row["cancel_requested"])))
        else:
            ended(path)
    return left


def _taken(path: Path) -> bool:
    """The note removed by this console, to say it: False where another console starting too
    removed it first (it says it)."""
    try:
        path.unlink()
    except FileNotFoundError:
        return False
    except OSError as exc:
        log.warning("the note %s of a cancel is left: %s", path, exc)
    return True


def _read(path: Path) -> tuple[dict | None, float]:
    """A note's JSON (None: not whole) and when it was written; OSError or ValueError for what no
    console writes: a FIFO (not waited on for a writer), a directory, a device."""
    fd = privacy.open_own(path, os.O_RDONLY | os.O_NONBLOCK)
    with open(fd, "rb") as f:
        st = os.fstat(f.fileno())
        if not stat.S_ISREG(st.st_mode):
            raise ValueError("not a regular file")
        try:
            note = json.loads(f.read(LARGEST))
        except ValueError:      # (not UTF-8 either)
            return None, st.st_mtime
    if not isinstance(note, dict):
        raise ValueError("not a note")
    return note, st.st_mtime
