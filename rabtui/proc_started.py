"""A process started by proc.py, read to its end: its output records to callbacks, the limits
(cancel, timeout, silence), naps between reads; or stopped, its whole process group with it."""

from __future__ import annotations

import fcntl
import os
import select
import selectors
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field

from rabtui import faults, proc_table
from rabtui.errors import Cancelled, Stalled, TimedOut, one_line
from rabtui.proc_records import DataCallback, LineCallback, LineSplitter
from rabtui.proc_table import GROUP_DEATH

READ_BYTES = 1 << 16
NAP_PIPE_BYTES = 1 << 20   # with `nap`: /proc/sys/fs/pipe-max-size, the most an unprivileged process may ask for
NAP_UNTIL = 1 << 18        # a read this large means the output comes faster than naps let through
BUSY_CPU = 0.05            # with `busy`: the processor seconds a silent process must use to count as working,
BUSY_READ = 1 << 16        # or the bytes it must read (a disc read slowly: little processor time, data coming in)


@dataclass
class Completed:
    """A process that has ended."""

    argv: list[str]
    returncode: int
    stdout: bytes = field(default=b"", repr=False)
    stderr_tail: list[str] = field(default_factory=list, repr=False)
    seconds: float = field(default=0.0, repr=False)

    @property
    def ok(self) -> bool:
        return self.returncode == 0

    @property
    def killed_by(self) -> str | None:
        """The name of the signal that ended the process (SIGKILL), if one did."""
        if self.returncode >= 0:
            return None
        try:
            return signal.Signals(-self.returncode).name
        except ValueError:
            return str(-self.returncode)

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_tail)

    def stderr_said(self, limit: int = 300) -> str:
        """The end of its stderr as a one-line reason (a job's summary, a log line): its lines
        stripped, blank ones dropped, joined by " | ", the last `limit` characters."""
        return one_line(self.stderr_text())[-limit:]


def _kill_group(proc: subprocess.Popen, grace: float = 5.0, descendants: bool = False,
                mark: bytes | None = None) -> None:
    """SIGTERM to the process's group, SIGKILL to what is left of it after `grace` seconds; returns
    once nothing of it runs. The leader's end is not enough: a child that ignores SIGTERM, or that
    is merely slower to die, outlives it. With `descendants` (a `subreaper` leader's), every process
    descended from it goes too, one that left the group included (`setsid`, a daemon's double fork),
    all of them stopped first so that none forks unseen; with `mark` (NAME=value in their
    environment: proc_lifeline.MARK's token) also those of them orphaned to init, their parent
    dead at SIGTERM with the subreaper (one forked in a SIGTERM handler). Interrupted (a second Ctrl-C, SIGTERM's
    exit), what it stopped, or left in its grace, is killed at once: it stayed stopped for good, or
    a process that ignored SIGTERM ran on."""
    tree: dict[int, bytes] = {}
    try:
        _term_then_kill(proc, tree, grace, descendants, mark)
    except BaseException:
        while True:     # each interruption of this too sends it all again
            try:
                _kill_now(proc, tree, descendants, mark)
                break
            except (KeyboardInterrupt, SystemExit):
                continue
        raise


def _term_then_kill(proc: subprocess.Popen, tree: dict[int, bytes], grace: float, descendants: bool,
                    mark: bytes | None) -> None:
    """_kill_group's work; `tree` holds what it stopped, as soon as it is known."""
    # its pid is still its own until it is reaped
    tree.update(proc_table.stop_tree(proc.pid) if descendants and proc.returncode is None else {})
    faults.point("proc.tree_stopped")
    for sig in (signal.SIGTERM, signal.SIGCONT):   # a stopped process acts on SIGTERM (cleans up) only once it runs
        try:
            os.killpg(proc.pid, sig)
        except (ProcessLookupError, PermissionError):     # none of it left, or none of it ours to signal
            if not tree:
                return
        proc_table.signal_each(tree, sig)
    faults.point("proc.kill_grace")
    gone = _all_gone(proc, tree, grace)
    orphans = _marked(mark) if tree else {}     # out of the tree, their parent and the subreaper dead
    if not gone or proc_table.any_runs(orphans):
        if tree:    # what those that ignored SIGTERM started meanwhile (a supervisor's new children)
            tree.update(proc_table.stop_below({**tree, **orphans}))
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc_table.signal_each(tree, signal.SIGKILL)
        _all_gone(proc, tree, GROUP_DEATH)
    try:
        proc.wait(timeout=GROUP_DEATH)
    except subprocess.TimeoutExpired:
        pass    # stuck in the kernel (state D) with SIGKILL pending: it runs no more code of its own


def _kill_now(proc: subprocess.Popen, tree: dict[int, bytes], descendants: bool, mark: bytes | None) -> None:
    """SIGKILL to the process's group and to all below it (those of `tree` and their descendants,
    or the leader's, not reaped yet, when the tree was being stopped), not waited for."""
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    roots: dict[int, bytes | None] = {**tree, **_marked(mark)}
    if descendants and proc.returncode is None:
        roots[proc.pid] = None
    proc_table.kill_below(roots)


def _marked(mark: bytes | None) -> dict[int, bytes]:
    return proc_table.marked(mark) if mark else {}


def _all_gone(proc: subprocess.Popen, tree: dict[int, bytes], seconds: float) -> bool:
    """Wait up to `seconds` until no process of `proc`'s group, nor of `tree`, runs (reaping the leader)."""
    end = time.monotonic() + seconds
    while True:
        proc.poll()
        if not proc_table.group_runs(proc.pid) and not proc_table.any_runs(tree):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)


class Progress:
    """A limit on the time a process may go without making progress, which the reader of its
    output marks (`moved`): for one that keeps writing lines while it gets nowhere (xorriso says
    "Thank you for being patient" every second while its drive or image takes no data)."""

    def __init__(self, seconds: float, what: str):
        self.seconds, self.what = seconds, what    # `what`: "wrote no sector", said as "xorriso wrote no sector for 3 s"
        self.last = time.monotonic()

    def moved(self) -> None:
        self.last = time.monotonic()


class Started:
    """A process from `proc.start`, until `finish` has read it to its end (or `kill` has stopped it)."""

    def __init__(self, argv: list[str], popen: subprocess.Popen, began: float, lifeline: bool = False,
                 name: str = "", lifeline_fd: int | None = None, subreaper: bool = False,
                 mark: bytes | None = None):
        self.argv, self.popen, self.began, self.lifeline, self.name = argv, popen, began, lifeline, name
        self.lifeline_fd = lifeline_fd      # the lifeline's write end, when it is not the standard input
        self.subreaper = subreaper          # stopped, every process below it goes (proc.start)
        self.mark = mark                    # and every process whose environment holds it (NAME=value)
        self.finished = False

    def kill(self) -> None:
        if not self.finished:
            self.finished = True
            _kill_group(self.popen, grace=2.0, descendants=self.subreaper, mark=self.mark)   # even when the leader itself has ended
            self._close()

    def _close(self) -> None:
        self.popen.stdout.close()
        self.popen.stderr.close()
        if self.lifeline_fd is not None:    # only now: its end tells the process that rabtui died
            os.close(self.lifeline_fd)
            self.lifeline_fd = None
        elif self.lifeline:
            self.popen.stdin.close()

    def finish(
        self,
        *,
        on_stdout: LineCallback | None = None,
        on_stdout_data: DataCallback | None = None,
        on_stderr: LineCallback | None = None,
        capture: bool = False,
        cancel: threading.Event | None = None,
        timeout: float | None = None,
        stderr_lines: int = 200,
        nap: float | None = None,
        silence: float | None = None,
        busy: bool = False,
        progress: Progress | None = None,
        output_after_end: float | None = None,
    ) -> Completed:
        """Read the process to its end; see `run`. `timeout` counts from its start."""
        self.finished = True
        argv, proc, started, name = self.argv, self.popen, self.began, self.name
        captured: list[bytes] = []
        tail: deque[str] = deque(maxlen=stderr_lines)

        def err_record(line: bytes) -> None:
            tail.append(line.decode("utf-8", "replace"))
            if on_stderr:
                on_stderr(line)

        out_split = LineSplitter(on_stdout) if on_stdout else None
        err_split = LineSplitter(err_record)
        sel = selectors.DefaultSelector()
        sel.register(proc.stdout, selectors.EVENT_READ, "out")
        sel.register(proc.stderr, selectors.EVENT_READ, "err")
        open_streams = 2
        napper = _Napper(proc.pid, nap) if nap else None
        if nap:
            _roomy_pipe(proc.stdout)
        out_bytes = NAP_PIPE_BYTES if nap else READ_BYTES
        last_output = time.monotonic()
        worked, read = 0.0, 0    # with `busy`: the group's processor time and bytes read when `last_output` was last moved on
        killed = False
        ended: float | None = None     # with `output_after_end`: when the process itself was seen ended

        def waiting() -> bool:
            """Whether output waits unread while nothing was read for the limit: the process is judged by
            it first (rabtui was the one away, suspended by Ctrl-Z or a paused VM, or held up in a
            callback or a nap)."""
            return bool(sel.get_map()) and bool(sel.select(timeout=0))

        def due() -> Exception | None:
            """The stop now due, if any: cancelled, past the timeout, silent or without progress too long."""
            nonlocal last_output, worked, read
            now = time.monotonic()
            if busy and silence is not None and now - last_output > silence:
                used, got = proc_table.group_work(proc.pid)
                if used - worked >= BUSY_CPU or got - read >= BUSY_READ:    # silent, but working (hashing a large file)
                    last_output, worked, read = now, used, got
            if cancel is not None and cancel.is_set():
                error: Exception = Cancelled(f"cancelled: {name}")
            elif timeout is not None and now - started > timeout:
                error = TimedOut(f"{name} ran longer than its limit of {timeout:g} s: killed after {now - started:.1f} s")
            elif silence is not None and now - last_output > silence and not waiting():
                error = Stalled(f"{name} wrote nothing for {silence:.0f} s")
            elif progress is not None and now - progress.last > progress.seconds and not (
                    now - last_output > progress.seconds and waiting()):   # read on while it writes apace
                error = Stalled(f"{name} {progress.what} for {progress.seconds:.0f} s")
            else:
                return None
            return error

        def check() -> None:
            """Stop the process's group when a stop is due."""
            nonlocal killed
            error = due()
            if error is None:
                return
            killed = True
            _kill_group(proc, descendants=self.subreaper, mark=self.mark)
            raise error

        try:
            while open_streams:
                if output_after_end is not None and proc.poll() is not None and due() is not None:
                    break     # it has ended: what it left running is not stopped (the caller sees the cancel)
                check()
                out_read = 0
                for key, _ in sel.select(timeout=0.2):
                    chunk = os.read(key.fileobj.fileno(), out_bytes if key.data == "out" else READ_BYTES)
                    last_output = time.monotonic()
                    if not chunk:
                        sel.unregister(key.fileobj)
                        open_streams -= 1
                        continue
                    if key.data == "out":
                        out_read = len(chunk)
                        if capture:
                            captured.append(chunk)
                        if out_split:
                            out_split.feed(chunk)
                        elif on_stdout_data:
                            on_stdout_data(chunk)
                    else:
                        err_split.feed(chunk)
                if napper is not None and 0 < out_read < NAP_UNTIL:
                    napper.nap()
                if output_after_end is not None and open_streams and proc.poll() is not None:
                    ended = ended or time.monotonic()
                    if time.monotonic() - max(ended, last_output) > output_after_end:
                        break     # what it left running holds its output open: left to it, not waited for
            if out_split:
                out_split.close()
            err_split.close()
            while True:
                # its output closed (or handed elsewhere, `exec >log`): the same limits hold
                try:
                    code = proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    check()
        except BaseException:
            if not killed:      # a callback failed, or the run was interrupted: its group goes too
                _kill_group(proc, grace=2.0, descendants=self.subreaper, mark=self.mark)
            raise
        finally:
            sel.close()
            if napper is not None:
                napper.close()
            self._close()
        return Completed(
            argv=list(argv),
            returncode=code,
            stdout=b"".join(captured),
            stderr_tail=list(tail),
            seconds=time.monotonic() - started,
        )


def _roomy_pipe(pipe) -> None:
    try:
        fcntl.fcntl(pipe.fileno(), fcntl.F_SETPIPE_SZ, NAP_PIPE_BYTES)
    except (OSError, AttributeError):
        pass   # the default 64 KiB pipe works, only slower


class _Napper:
    """Waits `seconds`, or less when the process ends (then its last output is read at once)."""

    def __init__(self, pid: int, seconds: float):
        self.seconds = seconds
        self._poll = select.poll()
        try:
            self._fd: int | None = os.pidfd_open(pid)
        except (OSError, AttributeError):   # Linux before 5.3: a plain sleep
            self._fd = None
        else:
            self._poll.register(self._fd, select.POLLIN)

    def nap(self) -> None:
        if self._fd is None:
            time.sleep(self.seconds)
        else:
            self._poll.poll(self.seconds * 1000)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

