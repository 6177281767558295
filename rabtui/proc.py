"""The one place that starts processes.

Commands come in as argv lists (built by pure functions elsewhere); each runs in a new session so
that cancelling kills its whole process group (proc_started.py reads it to its end). Output is
split into records on both `\\r` and `\\n` (proc_records.py).
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence

from rabtui import privacy
from rabtui.errors import MissingTool, WorkFailed
from rabtui.proc_lifeline import MARK, dies_with_stdin, group_dies_with_stdin
from rabtui.proc_records import DataCallback, LineCallback
from rabtui.proc_started import Completed, Progress, Started

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
    if not found and os.sep in program:      # a path: nothing to install by that name
        raise MissingTool(f"{program}: {'not an executable file' if os.path.exists(program) else 'no such file'}")
    if not found:
        package = PACKAGES.get(program, program)
        raise MissingTool(
            f"{program} is not installed", hint=f"install it with: sudo apt-get install {package}"
        )
    return found


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
    busy: bool = False,
    progress: Progress | None = None,
    die_with_parent: bool = False,
    lifeline: bool = False,
    output_after_end: float | None = None,
    subreaper: bool = False,
) -> Completed:
    """Run `argv` to its end, streaming its output records to the callbacks.

    `on_stdout_data` instead gets stdout as it is read, records cut anywhere (for a stream of many
    records, which its reader takes apart in bulk).
    `capture` keeps all of stdout in the result (only for small outputs). The last
    `stderr_lines` records of stderr are always kept. `cancel` kills the process
    group and raises Cancelled; `timeout` (seconds in all) kills it and raises TimedOut (a failure). `silence` (seconds) kills it and raises Stalled when it has
    written nothing, on stdout or stderr, for that long; with `busy`, only when its group has neither used the
    processor (BUSY_CPU seconds) nor read (BUSY_READ bytes) meanwhile: xorriso says nothing while it hashes a
    large file, which on a slow drive takes longer than a hung drive is waited for; `progress` likewise when the callbacks
    have not marked it moved for its seconds.

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

    `output_after_end` (seconds): once the process itself has ended, its output is read on only
    until it has been silent that long, for a shell command that starts a service: the service
    keeps the output open, and is neither waited for nor killed (a later write of its to that
    output fails, SIGPIPE, as one after an SSH session has ended). A cancel or a limit reached
    meanwhile ends that reading, killing nothing: the caller sees the cancel.

    `subreaper`: see `start`.
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
        script = group_dies_with_stdin('"$@"', grace=0, lifeline_fd=pipe[0] if pipe else 0)
        argv, lifeline = ["/bin/sh", "-c", script, "rabtui", *argv], True
    started = start(argv, stdin_data=stdin_data, cwd=cwd, env=env, lifeline=lifeline, name=name,
                    lifeline_pipe=pipe, subreaper=subreaper)
    return started.finish(on_stdout=on_stdout, on_stdout_data=on_stdout_data, on_stderr=on_stderr,
                          capture=capture, cancel=cancel, timeout=timeout, stderr_lines=stderr_lines, nap=nap,
                          silence=silence, busy=busy, progress=progress, output_after_end=output_after_end)


def start(
    argv: Sequence[str],
    *,
    stdin_data: bytes | None = None,
    cwd: str | os.PathLike | None = None,
    env: Mapping[str, str] | None = None,
    lifeline: bool = False,
    name: str | None = None,
    lifeline_pipe: tuple[int, int] | None = None,
    subreaper: bool = False,
) -> Started:
    """Start `argv` now and read it later with `finish` (for a process whose wait can overlap
    other work; its output must be small enough to wait in the pipe). `name`: what messages call
    it (default: its program's name). `lifeline_pipe`: (read, write) ends of the lifeline of a
    process whose standard input is its own: the read end goes to the process, the write end is
    held until it has ended. `subreaper` (Linux): the process is made its descendants' reaper
    (prctl PR_SET_CHILD_SUBREAPER) before it runs `argv`, so that one orphaned while it runs (a
    daemon's double fork) stays below it, where a cancel or a timeout finds and kills it with every
    other process below it."""
    began = time.monotonic()
    try:
        name = name or os.path.basename(os.fspath(argv[0]))
        argv = [os.fspath(a) for a in argv]
        full_env = None if env is None else {**os.environ, **env}
        run_argv = argv
        if subreaper and sys.executable:     # none where Python is embedded: the group alone is killed then
            ctype = (os.environ if full_env is None else full_env).get("LC_CTYPE")
            run_argv = [sys.executable, "-I", "-S", "-c", _AS_SUBREAPER, "-" if ctype is None else f"={ctype}", *argv]
        popen = subprocess.Popen(
            run_argv,
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
    token = (env or {}).get(MARK) if subreaper else None
    return Started(argv, popen, began, lifeline, name, lifeline_pipe[1] if lifeline_pipe else None,
                   subreaper, f"{MARK}={token}".encode() if token else None)


# sets PR_SET_CHILD_SUBREAPER (36), which execve keeps, then runs its arguments after the first;
# where prctl fails (not Linux) they run all the same, and a daemon's double fork escapes as before.
# The first gives LC_CTYPE back as it was ("-": unset): in the C locale Python sets it to C.UTF-8.
_AS_SUBREAPER = ("import ctypes, os, sys\n"
                 "try: ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)\n"
                 "except (AttributeError, OSError): pass\n"
                 "ctype = sys.argv[1]\n"
                 "if ctype == '-': os.environ.pop('LC_CTYPE', None)\n"
                 "else: os.environ['LC_CTYPE'] = ctype[1:]\n"
                 "os.execv(sys.argv[2], sys.argv[2:])")


def _feed_stdin(proc: subprocess.Popen, data: bytes) -> None:
    try:
        proc.stdin.write(data)
        proc.stdin.close()
    except (BrokenPipeError, OSError):
        pass


def run_shell(command: str, *, env: Mapping[str, str] | None = None, **kwargs) -> Completed:
    """The operator's own pre/post commands on the local machine: shell by design. They die with
    rabtui, SIGKILL included, with the processes they started that left their group (see
    `dies_with_stdin`: its token, a new one for each command, is in their environment)."""
    token = secrets.token_hex(16)
    return run(["/bin/sh", "-c", dies_with_stdin("/bin/sh", token=token), "rabtui", command], lifeline=True,
               subreaper=True, env={**(env or {}), MARK: token}, **kwargs)


def spawn_detached(argv: Sequence[str], *, log_path: str | os.PathLike, env: Mapping[str, str] | None = None) -> int:
    """Start `argv` in its own session, detached from our terminal; return its pid.

    It survives the end of this process and the loss of the terminal (used for jobs).
    """
    argv = [os.fspath(a) for a in argv]
    fd = privacy.open_own(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT)
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
