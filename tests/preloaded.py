"""`python -m rabtui ...` and `python -c CODE ...` as processes of their own, forked from a process
that has imported rabtui already: a test that needs a real process (killed with SIGKILL at a fault
point, its exit status, its own locks and file descriptors) pays a fork, not an interpreter's start
and rabtui's import (half a second each on a busy machine; the tests start such processes over a
thousand times).

`run(argv, **kw)` takes what `subprocess.run` takes for these argvs and returns what it returns. The
forked process gets the test's environment, working directory and standard streams, no other file
descriptor, and its own start time where rabtui keeps one (file_replace._STARTED). The variables of
the environment that act only at a process's start (_AT_START: Python's, the locale, TZ, the
temporary directories SQLite reads once) are the preloaded process's: one is started for each set
of them a test gives. Where another keyword is given, it is subprocess.run itself.

`Popen(argv, **kw)` is the same for subprocess.Popen: a process the test signals, waits for and reads
from while it runs, started by a waiter forked apart that says its pid and then its wait status."""

from __future__ import annotations

import atexit
import contextlib
import locale
import os
import pickle
import select
import signal
import struct
import subprocess
import sys
import tempfile
import threading
import time

# The preloaded process: reads a request, forks a child that runs it, says the child's pid, waits
# for it and says its wait status (for Popen: the waiter's starter, which ends at once).
_SERVER = r'''
import atexit, io, os, pickle, runpy, select, signal, struct, sys, tempfile, threading, time, traceback
import rabtui.program, rabtui.backup.pipeline, rabtui.actions.rebuild, rabtui.config, rabtui.state.store
from rabtui import file_replace

def read(n):
    data = b""
    while len(data) < n:
        part = os.read(0, n - len(data))
        if not part:
            os._exit(0)
        data += part
    return data

def named(argv):
    """The process's command line (/proc/PID/cmdline, as messages name a process) made `argv`, written
    over this one's where it fits, the rest NULs."""
    fields = open("/proc/self/stat", "rb").read().rsplit(b")", 1)[1].split()
    start, end = int(fields[45]), int(fields[46])       # arg_start and arg_end
    line = b"\0".join(os.fsencode(a) for a in argv) + b"\0"
    if len(line) <= end - start:
        with open("/proc/self/mem", "r+b", buffering=0) as mem:
            mem.seek(start)
            mem.write(line.ljust(end - start, b"\0"))

def fresh_streams():
    """Python's streams made again on the child's descriptors, buffered as this server's were (as
    an interpreter starts them): one made on a file this server had (seekable) asks the child's
    pipe where it is (Illegal seek)."""
    for name, fd, mode in (("stdin", 0, "r"), ("stdout", 1, "w"), ("stderr", 2, "w")):
        old = getattr(sys, name)
        binary = open(fd, mode + "b", 0 if isinstance(old.buffer, io.FileIO) else -1, closefd=False)
        stream = io.TextIOWrapper(binary, old.encoding, old.errors, line_buffering=old.line_buffering or os.isatty(fd),
                                  write_through=old.write_through)
        setattr(sys, name, stream)
        setattr(sys, f"__{name}__", stream)

def child(req):
    for fd, stream in enumerate(req["streams"]):
        if isinstance(stream, int):         # as another of its streams (2>&1)
            os.dup2(stream, fd)
            continue
        new = os.open(stream[0], stream[1], 0o600)
        os.dup2(new, fd)
        os.close(new)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))     # its waiter reads the end of its pipe: the streams are open
    fresh_streams()
    if req["new_session"]:
        os.setsid()
    elif "status" in req:
        os.setpgid(0, 0)    # a signal to its group reaches it and what it started, never this server
    os.chdir(req["cwd"])
    os.environb.clear()
    os.environ.clear()
    os.environ.update(req["env"])
    os.environb.update((os.fsencode(k), os.fsencode(v)) for k, v in req["env"].items())
    tempfile.tempdir = None         # found again from TMPDIR
    file_replace._STARTED = time.time()
    named([req["executable"], *req["argv"]])
    argv = req["argv"]
    code = 0
    try:
        if argv[0] == "-m":
            sys.argv = [os.path.join(os.path.dirname(rabtui.__file__), "__main__.py"), *argv[2:]]
            sys.path[0] = os.getcwd()
            runpy.run_module(argv[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = ["-c", *argv[2:]]
            exec(compile(argv[1], "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
    except SystemExit as exc:
        if exc.code is None:
            code = 0
        elif isinstance(exc.code, int):
            code = exc.code
        else:
            print(exc.code, file=sys.stderr)
            code = 1
    except BaseException as exc:
        traceback.print_exception(type(exc), exc, exc.__traceback__.tb_next)     # from the code run, as python prints it
        code = 1
    try:    # as an interpreter ends: its threads waited for, its exit functions run
        threading._shutdown()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code & 0xFF)

def waiter(req):
    """A process that runs on its own (this one ends at once, the server waits for it): it starts the
    child, writes its pid to req["status"] once the child's streams are open, then its wait status. A
    child still there when the test process has gone (the pipe's reader) is killed, stopped or not."""
    if os.fork():
        os._exit(0)
    null = os.open(os.devnull, os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.closerange(3, os.sysconf("SC_OPEN_MAX"))
    status = os.open(req["status"], os.O_WRONLY)
    opened, opening = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(opened)
        child(req)
    os.close(opening)
    os.read(opened, 1)
    os.write(status, struct.pack("!i", pid))
    watch = select.poll()
    watch.register(os.pidfd_open(pid), select.POLLIN)
    watch.register(status, 0)        # POLLERR: no reader any more
    if any(fd == status for fd, _ in watch.poll()):
        os.kill(pid, signal.SIGKILL)
    _, code = os.waitpid(pid, 0)
    os.write(status, struct.pack("!i", code))
    os._exit(0)

import rabtui
while True:
    req = pickle.loads(read(struct.unpack("!I", read(4))[0]))
    pid = os.fork()
    if pid == 0:
        if "status" in req:
            waiter(req)
        child(req)
    os.write(1, struct.pack("!i", pid))
    _, status = os.waitpid(pid, 0)
    os.write(1, struct.pack("!i", status))
'''

# read once, as a process starts (the interpreter, the C library, SQLite's temporary directory)
_AT_START = ("PYTHON", "LC_", "LANG", "TZ", "TMPDIR", "SQLITE_TMPDIR", "LD_", "MALLOC_")
_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))     # rabtui imported from here, as by the tests
_lock = threading.Lock()
# the environment's start-time part (sorted items) -> (preloaded process, pid of the process that started it)
_servers: dict[tuple, tuple] = {}


def _start_part(env) -> dict:
    return {k: v for k, v in env.items() if k.startswith(_AT_START)}


def _serving(env):
    """The preloaded process of this test process for the start-time part of `env` (one for each:
    a test that gives TZ, say, has its own), started if need be."""
    part = _start_part(env)
    key = tuple(sorted(part.items()))
    server, pid = _servers.get(key, (None, None))
    if server is not None and pid == os.getpid() and server.poll() is None:
        return server
    server = subprocess.Popen([sys.executable, "-c", _SERVER], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                              env={**{k: v for k, v in os.environ.items() if not k.startswith(_AT_START)}, **part},
                              cwd=_ROOT, start_new_session=True)
    _servers[key] = (server, os.getpid())
    atexit.register(_stop, server)
    return server


def _stop(server) -> None:
    server.stdin.close()        # it ends when it reads the end
    server.wait()


def _read(fd, n: int, timeout: float | None) -> bytes | None:
    data = b""
    while len(data) < n:
        if not select.select([fd], [], [], timeout)[0]:
            return None
        part = os.read(fd, n - len(data))
        if not part:
            raise RuntimeError("the preloaded process ended")
        data += part
    return data


def _reopened(fd: int) -> bool:
    """Whether a process can open what this one's `fd` is (not so a socket), to write there too."""
    try:
        os.close(os.open(f"/proc/self/fd/{fd}", os.O_WRONLY | os.O_APPEND))
    except OSError:
        return False
    return True


def _ask(server, argv, env, cwd, start_new_session, streams, **more) -> int:
    """Sends the preloaded process a request; returns the pid of the process it forked for it."""
    request = pickle.dumps({"executable": argv[0], "argv": [os.fsdecode(a) for a in argv[1:]],     # as sys.argv has them
                            "env": env, "cwd": os.fspath(cwd or os.getcwd()),
                            "new_session": start_new_session, "streams": streams, **more})
    server.stdin.write(struct.pack("!I", len(request)) + request)
    server.stdin.flush()
    return struct.unpack("!i", _read(server.stdout.fileno(), 4, None))[0]


def _forkable(argv) -> bool:
    return (len(argv) >= 3 and argv[0] == sys.executable and argv[1] in ("-m", "-c")
            and (argv[1] != "-m" or argv[2] == "rabtui"))


def run(argv, *, env=None, cwd=None, capture_output=False, text=False, timeout=None, stdin=None,
        input=None, check=False, start_new_session=False, **other):
    plain = dict(env=env, cwd=cwd, capture_output=capture_output, text=text, timeout=timeout, stdin=stdin,
                 input=input, check=check, start_new_session=start_new_session, **other)
    env = {os.fsdecode(k): os.fsdecode(v) for k, v in (os.environ if env is None else env).items()}
    if (other or not _forkable(argv) or stdin not in (None, subprocess.DEVNULL)
            or (input is not None and stdin is not None) or not (capture_output or _reopened(1) and _reopened(2))
            or not _lock.acquire(blocking=False)):
        return subprocess.run(argv, **plain)
    try:
        server = _serving(env)
        return _run(server, argv, env, cwd, capture_output, text, timeout, stdin, input, check, start_new_session)
    finally:
        _lock.release()


def _run(server, argv, env, cwd, capture_output, text, timeout, stdin, input, check, start_new_session):
    with tempfile.TemporaryDirectory(prefix="rabtui-run-") as tmp:
        into = os.path.join(tmp, "in")
        with open(into, "wb") as f:
            if input is not None:
                f.write(input.encode(locale.getpreferredencoding(False)) if isinstance(input, str) else input)
        if stdin is not None or input is None:
            into = os.devnull       # a test process's own standard input is /dev/null under xdist
        outs = [os.path.join(tmp, n) if capture_output else f"/proc/{os.getpid()}/fd/{fd}"
                for n, fd in (("out", 1), ("err", 2))]
        write = os.O_WRONLY | os.O_CREAT | (os.O_TRUNC if capture_output else os.O_APPEND)
        pid = _ask(server, argv, env, cwd, start_new_session, [(into, os.O_RDONLY), (outs[0], write), (outs[1], write)])
        fd = server.stdout.fileno()
        status = _read(fd, 4, timeout)
        if status is None:
            os.kill(pid, signal.SIGKILL)
            _read(fd, 4, None)
        out = err = None
        if capture_output:
            with open(outs[0], "rb") as f:
                out = f.read()
            with open(outs[1], "rb") as f:
                err = f.read()
            if text:      # as subprocess.run decodes
                encoding = locale.getpreferredencoding(False)
                out, err = (b.decode(encoding).replace("\r\n", "\n").replace("\r", "\n") for b in (out, err))
        if status is None:
            raise subprocess.TimeoutExpired(argv, timeout, out, err)
        done = subprocess.CompletedProcess(argv, os.waitstatus_to_exitcode(struct.unpack("!i", status)[0]), out, err)
        if check:
            done.check_returncode()
        return done


def Popen(argv, *, env=None, cwd=None, stdin=None, stdout=None, stderr=None, text=False, start_new_session=False,
          **other):
    """What subprocess.Popen takes for these argvs (streams: None, DEVNULL, PIPE, STDOUT for stderr, a
    file to write), and an object that answers as its Popen does (pid, poll, wait, send_signal, terminate, kill,
    communicate, stdout, stderr, returncode). The process is forked (in a process group of its own
    unless start_new_session) by a waiter that reports its end; otherwise it is subprocess.Popen."""
    plain = dict(env=env, cwd=cwd, stdin=stdin, stdout=stdout, stderr=stderr, text=text,
                 start_new_session=start_new_session, **other)
    env = {os.fsdecode(k): os.fsdecode(v) for k, v in (os.environ if env is None else env).items()}
    streams = [stdin if stdin in (subprocess.PIPE, subprocess.DEVNULL) else (os.devnull, os.O_RDONLY) if stdin is None
               else None, _stream(stdout, 1), _stream(stderr, 2)]
    if other or not _forkable(argv) or None in streams or not _lock.acquire(blocking=False):
        return subprocess.Popen(argv, **plain)
    try:
        server = _serving(env)
        return _Forked(server, argv, env, cwd, start_new_session, streams, text)
    finally:
        _lock.release()


def _stream(where, fd: int):
    """Where the forked process's `fd` goes, as _Forked takes it; None where only subprocess can."""
    if where == subprocess.STDOUT:
        return 1 if fd == 2 else None
    if where in (subprocess.PIPE, subprocess.DEVNULL):
        return where
    mine = fd if where is None else where if isinstance(where, int) else where.fileno()
    return (f"/proc/{os.getpid()}/fd/{mine}", os.O_WRONLY | os.O_APPEND) if _reopened(mine) else None


class _Forked:
    def __init__(self, server, argv, env, cwd, start_new_session, streams, text):
        self.args, self.returncode, self._readers = argv, None, []
        ends, pipes = [], []
        for n, where in enumerate(streams):     # its ends of the pipes, this process's
            if where == subprocess.PIPE:
                r, w = os.pipe()
                theirs, mine = (r, w) if n == 0 else (w, r)
                ends.append(theirs)
                pipes.append(open(mine, ("w" if n == 0 else "r") + ("" if text else "b"),
                                  encoding=locale.getpreferredencoding(False) if text else None))
                streams[n] = (f"/proc/{os.getpid()}/fd/{theirs}", os.O_RDONLY if n == 0 else os.O_WRONLY)
            else:
                pipes.append(None)
                if where == subprocess.DEVNULL:
                    streams[n] = (os.devnull, os.O_RDONLY if n == 0 else os.O_WRONLY)
        self.stdin, self.stdout, self.stderr = pipes
        self._status, w = os.pipe()
        ends.append(w)
        try:
            _ask(server, argv, env, cwd, start_new_session, streams, status=f"/proc/{os.getpid()}/fd/{w}")
            _read(server.stdout.fileno(), 4, None)      # the end of the waiter's starter, at once
            said = _read(self._status, 4, 60)
            if said is None:
                raise RuntimeError(f"the preloaded process forked no process for {argv}")
            self.pid = struct.unpack("!i", said)[0]
        finally:
            for w in ends:
                os.close(w)

    def poll(self):
        try:
            return self.wait(0)
        except subprocess.TimeoutExpired:
            return None

    def wait(self, timeout=None):
        if self.returncode is None:
            said = _read(self._status, 4, timeout)
            if said is None:
                raise subprocess.TimeoutExpired(self.args, timeout)
            self.returncode = os.waitstatus_to_exitcode(struct.unpack("!i", said)[0])
            os.close(self._status)
        return self.returncode

    def send_signal(self, sig) -> None:
        if self.poll() is None:
            with contextlib.suppress(ProcessLookupError):      # ended since
                os.kill(self.pid, sig)

    def terminate(self) -> None:
        self.send_signal(signal.SIGTERM)

    def kill(self) -> None:
        self.send_signal(signal.SIGKILL)

    def communicate(self, input=None, timeout=None):
        if self.stdin is not None and not self.stdin.closed:
            with contextlib.suppress(BrokenPipeError):
                if input is not None:
                    self.stdin.write(input)
                self.stdin.close()
        if not self._readers:
            self._read_all = [None, None]
            for n, pipe in enumerate((self.stdout, self.stderr)):
                if pipe is not None:
                    self._readers.append(threading.Thread(target=self._read_into, args=(n, pipe), daemon=True))
                    self._readers[-1].start()
        end = None if timeout is None else time.monotonic() + timeout
        for reader in self._readers:
            reader.join(None if end is None else max(0, end - time.monotonic()))
            if reader.is_alive():
                raise subprocess.TimeoutExpired(self.args, timeout)
        self.wait(None if end is None else max(0, end - time.monotonic()))
        return tuple(self._read_all)

    def _read_into(self, n, pipe) -> None:
        self._read_all[n] = pipe.read()
        pipe.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        for pipe in (self.stdout, self.stderr, self.stdin):
            if pipe is not None:
                with contextlib.suppress(BrokenPipeError):
                    pipe.close()
        self.wait()
