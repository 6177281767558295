"""The one place that starts processes.

Commands come in as argv lists (built by pure functions elsewhere); each runs in a new session so
that cancelling kills its whole process group. Output is split on both `\\r` and `\\n`, because
rsync's and xorriso's progress records end in `\\r`.
"""

from __future__ import annotations

import fcntl
import os
import re
import select
import selectors
import shutil
import signal
import subprocess
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from collections.abc import Callable, Mapping, Sequence

from rabtui import privacy, proc_table
from rabtui.proc_table import GROUP_DEATH
from rabtui.errors import Cancelled, MissingTool, Stalled, WorkFailed

LineCallback = Callable[[bytes], None]
DataCallback = Callable[[bytes], None]
_RECORD_END = re.compile(rb"[\r\n]")
READ_BYTES = 1 << 16
NAP_PIPE_BYTES = 1 << 20   # with `nap`: /proc/sys/fs/pipe-max-size, the most an unprivileged process may ask for
NAP_UNTIL = 1 << 18        # a read this large means the output comes faster than naps let through

# Debian package that ships each program we drive, for the "how to install" hint.
PACKAGES = {
    "rsync": "rsync",
    "ssh": "openssh-client",
    "sshd": "openssh-server",
    "xorriso": "xorriso",
    "osirrox": "xorriso",
    "dirsplit": "genisoimage",
}


def which(program: str) -> str:
    """Full path of `program`, or MissingTool with the apt-get line that installs it."""
    found = shutil.which(program) or (
        f"/usr/sbin/{program}" if os.access(f"/usr/sbin/{program}", os.X_OK) else None
    )
    if not found:
        package = PACKAGES.get(program, program)
        raise MissingTool(
            f"{program} is not installed", hint=f"install it with: sudo apt-get install {package}"
        )
    return found


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

    def stderr_text(self) -> str:
        return "\n".join(self.stderr_tail)


class LineSplitter:
    """Feeds bytes in, calls back once per record ending in `\\r` or `\\n` (empty records dropped)."""

    def __init__(self, callback: LineCallback):
        self._callback = callback
        self._pending = b""

    def feed(self, chunk: bytes) -> None:
        parts = _RECORD_END.split(self._pending + chunk)
        self._pending = parts.pop()
        for part in parts:
            if part:
                self._callback(part)

    def close(self) -> None:
        if self._pending:
            self._callback(self._pending)
            self._pending = b""


def split_records(data: bytes) -> list[bytes]:
    """Pure form of LineSplitter, for tests and small outputs."""
    out: list[bytes] = []
    splitter = LineSplitter(out.append)
    splitter.feed(data)
    splitter.close()
    return out


def _kill_group(proc: subprocess.Popen, grace: float = 5.0) -> None:
    """SIGTERM to the process's group, SIGKILL to what is left of it after `grace` seconds; returns
    once nothing of the group runs. The leader's end is not enough: a child that ignores SIGTERM,
    or that is merely slower to die, outlives it."""
    try:
        os.killpg(proc.pid, signal.SIGTERM)
    except (ProcessLookupError, PermissionError):     # none of it left, or none of it ours to signal
        return
    if not _group_gone(proc, grace):
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        _group_gone(proc, GROUP_DEATH)
    try:
        proc.wait(timeout=GROUP_DEATH)
    except subprocess.TimeoutExpired:
        pass    # stuck in the kernel (state D) with SIGKILL pending: it runs no more code of its own


def _group_gone(proc: subprocess.Popen, seconds: float) -> bool:
    """Wait up to `seconds` until no process of `proc`'s group runs (reaping the leader)."""
    end = time.monotonic() + seconds
    while True:
        proc.poll()
        if not proc_table.group_runs(proc.pid):
            return True
        if time.monotonic() >= end:
            return False
        time.sleep(0.02)


def run(
    argv: Sequence[str],
    *,
    on_stdout: LineCallback | None = None,
    on_stdout_data: DataCallback | None = None,
    on_stderr: LineCallback | None = None,
    capture: bool = False,
    stdin_data: bytes | None = None,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    cancel: threading.Event | None = None,
    timeout: float | None = None,
    stderr_lines: int = 200,
    nap: float | None = None,
    silence: float | None = None,
    die_with_parent: bool = False,
    lifeline: bool = False,
) -> Completed:
    """Run `argv` to its end, streaming its output records to the callbacks.

    `on_stdout_data` instead gets stdout as it is read, records cut anywhere (for a stream of many
    records, which its reader takes apart in bulk).
    `capture` keeps all of stdout in the result (only for small outputs). The last
    `stderr_lines` records of stderr are always kept. `cancel` (or `timeout`) kills the process
    group and raises Cancelled. `silence` (seconds) kills it and raises Stalled when it has
    written nothing, on stdout or stderr, for that long.

    `nap` (seconds), for a process that writes many small records: its stdout pipe is made
    roomy (1 MiB), and after a read the reader waits that long (or until the process ends) before
    reading again. A reader blocked on the pipe is woken by every write, and on two cores those
    wake-ups slow the writer itself (rsync itemizing 100,000 new files on tmpfs: 1.38 times bare
    rsync read eagerly, 1.24 read every 20 ms, 1.14 into /dev/null); on the default 64 KiB pipe a
    napping reader is worse still (1.71: the writer waits for room).

    `die_with_parent`: the process and every process of its group are killed when rabtui dies,
    SIGKILL included (see `dies_with_stdin`); for a writer such as rsync, which would otherwise go
    on writing into a backup that the next run throws away. (The kernel's parent-death signal
    reached rsync alone: over SSH the receiver it forks went on writing, and its ssh reading.)

    `lifeline`: its standard input is a pipe that rabtui holds open, writing nothing, until the
    process has ended; its end of file says that rabtui died (see `dies_with_stdin`).
    """
    name = os.path.basename(argv[0])
    pipe = None
    if die_with_parent:
        which(argv[0])     # a missing program is said as such, not as the shell's failure
        # a process that reads input gets the lifeline on a pipe of its own
        pipe = os.pipe() if stdin_data is not None else None
        if pipe and pipe[0] > 9 and not os.path.isdir("/proc/self/fd"):
            os.close(pipe[0])
            os.close(pipe[1])
            raise WorkFailed(f"cannot start {name}: /proc is not mounted, and without it the pipe that makes"
                             f" {name} die with rabtui cannot be handed to it", hint="mount /proc")
        # killed at once, as the power cut it stands for would (what it writes is thrown away)
        script = _group_dies_with_stdin('"$@"', grace=0, lifeline_fd=pipe[0] if pipe else 0)
        argv, lifeline = ["/bin/sh", "-c", script, "rabtui", *argv], True
    started = start(argv, stdin_data=stdin_data, cwd=cwd, env=env, lifeline=lifeline, name=name,
                    lifeline_pipe=pipe)
    return started.finish(on_stdout=on_stdout, on_stdout_data=on_stdout_data, on_stderr=on_stderr,
                          capture=capture, cancel=cancel, timeout=timeout, stderr_lines=stderr_lines, nap=nap,
                          silence=silence)


def start(
    argv: Sequence[str],
    *,
    stdin_data: bytes | None = None,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    lifeline: bool = False,
    name: str | None = None,
    lifeline_pipe: tuple[int, int] | None = None,
) -> Started:
    """Start `argv` now and read it later with `finish` (for a process whose wait can overlap
    other work; its output must be small enough to wait in the pipe). `name`: what messages call
    it (default: its program's name). `lifeline_pipe`: (read, write) ends of the lifeline of a
    process whose standard input is its own: the read end goes to the process, the write end is
    held until it has ended."""
    began = time.monotonic()
    try:
        argv = [os.fspath(a) for a in argv]
        full_env = None if env is None else {**os.environ, **env}
        popen = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE if stdin_data is not None or lifeline else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=cwd,
            env=full_env,
            start_new_session=True,
            pass_fds=lifeline_pipe[:1] if lifeline_pipe else (),
        )
    except BaseException as exc:
        if lifeline_pipe:
            os.close(lifeline_pipe[1])
        if isinstance(exc, FileNotFoundError):
            which(argv[0])  # raises MissingTool with the install hint
        raise
    finally:
        if lifeline_pipe:
            os.close(lifeline_pipe[0])
    if stdin_data is not None:
        threading.Thread(target=_feed_stdin, args=(popen, stdin_data), daemon=True).start()
    return Started(argv, popen, began, lifeline, name or os.path.basename(argv[0]),
                   lifeline_pipe[1] if lifeline_pipe else None)


class Started:
    """A process from `start`, until `finish` has read it to its end (or `kill` has stopped it)."""

    def __init__(self, argv: list[str], popen: subprocess.Popen, began: float, lifeline: bool = False,
                 name: str = "", lifeline_fd: int | None = None):
        self.argv, self.popen, self.began, self.lifeline, self.name = argv, popen, began, lifeline, name
        self.lifeline_fd = lifeline_fd      # the lifeline's write end, when it is not the standard input
        self.finished = False

    def kill(self) -> None:
        if not self.finished:
            self.finished = True
            _kill_group(self.popen, grace=2.0)   # its group, even when the leader itself has ended
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
        killed = False

        def check() -> None:
            """Stop the process's group when cancelled, past the timeout, or silent too long."""
            nonlocal killed
            now = time.monotonic()
            if cancel is not None and cancel.is_set():
                error: Exception = Cancelled(f"cancelled: {name}")
            elif timeout is not None and now - started > timeout:
                error = Cancelled(f"{name} took longer than {timeout:.0f} s")
            elif silence is not None and now - last_output > silence:
                error = Stalled(f"{name} wrote nothing for {silence:.0f} s")
            else:
                return
            killed = True
            _kill_group(proc)
            raise error

        try:
            while open_streams:
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
                _kill_group(proc, grace=2.0)
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


def _feed_stdin(proc: subprocess.Popen, data: bytes) -> None:
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def run_shell(command: str, **kwargs) -> Completed:
    """The operator's own pre/post commands on the local machine: shell by design. They die with
    rabtui, SIGKILL included (see `dies_with_stdin`)."""
    return run(["/bin/sh", "-c", dies_with_stdin("/bin/sh"), "rabtui", command], lifeline=True, **kwargs)


def dies_with_stdin(shell: str, grace: int = 5) -> str:
    """A sh script, the leader of a process group of its own, that runs its first argument with
    `shell` (its standard input: /dev/null) and kills the whole group, SIGTERM then SIGKILL after
    `grace` seconds, when its own standard input ends. rabtui never writes there and holds it open
    while the command runs (locally a pipe, over SSH the channel), so the end comes when rabtui
    dies, also by SIGKILL, which no handler of rabtui's sees: a pre-backup dump would otherwise go
    on beside the next run's own. What a command leaves running in the background when it ends
    normally is left alone, as before."""
    return _group_dies_with_stdin(f'{shell} -c "$1"', grace)


def _group_dies_with_stdin(command: str, grace: int = 5, lifeline_fd: int = 0) -> str:
    """`dies_with_stdin`'s script, running `command` (sh words: `"$@"` runs its arguments). With a
    `lifeline_fd` other than 0, the lifeline is that pipe (past 9, which sh cannot name, opened again
    through /proc) and the command keeps its standard input."""
    # the watcher dies with the group's SIGTERM of a cancel or a timeout, but outlives its own
    watcher = (f'read -r _ <&3; trap "" TERM; kill -s TERM -- -$$; i=0; while [ $i -lt {grace * 5} ]'
               ' && kill -s 0 -- -$$; do sleep 0.2; i=$((i+1)); done; kill -s KILL -- -$$')
    # a command killed by a signal is said so: the wrapper dies of the same signal
    take = ('exec 3<&0 </dev/null; ' if lifeline_fd == 0 else f'exec 3<&{lifeline_fd}; ' if lifeline_fd <= 9
            else f'exec 3</proc/self/fd/{lifeline_fd}; ')
    return (take + f'({watcher}) >/dev/null 2>&1 & w=$!; exec 3<&-; '
            f'{command}; s=$?; kill -s KILL $w 2>/dev/null; '
            'if [ $s -gt 128 ] && [ $s -lt 160 ]; then trap - $((s - 128)); kill -$((s - 128)) $$; fi; exit $s')


def spawn_detached(argv: Sequence[str], *, log_path: str | os.PathLike, env: Mapping[str, str] | None = None) -> int:
    """Start `argv` in its own session, detached from our terminal; return its pid.

    It survives the end of this process and the loss of the terminal (used for jobs).
    """
    argv = [os.fspath(a) for a in argv]
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, privacy.FILE_MODE)
    with open(fd, "ab") as log:
        proc = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            close_fds=True,
            env=None if env is None else {**os.environ, **env},
        )
    # Reap it in the background so that it does not linger as a zombie while we live.
    threading.Thread(target=proc.wait, daemon=True).start()
    return proc.pid
