"""Locks: one job per source and per drive. Whether a lock is held is read without taking it."""

from __future__ import annotations

import io
import multiprocessing
import os
import shutil
import subprocess
import sys
import tempfile

import pytest

from rabtui.errors import LockBusy
from rabtui.state import lock_table
from rabtui.state.locks import source_lock
from tests import preloaded
from tests.trees import fill_up


@pytest.fixture(params=["/proc/locks", "no /proc"])
def proc_locks(request, monkeypatch):
    """Whether a lock is held, read from /proc/locks, and where there is no /proc."""
    if request.param == "no /proc":
        def no_proc(path, *args, **kwargs):
            if str(path) == "/proc/locks":
                raise FileNotFoundError(2, "No such file or directory", path)
            return open(path, *args, **kwargs)

        monkeypatch.setattr(lock_table, "open", no_proc, raising=False)
    return request.param


def test_is_held_sees_a_lock_another_process_holds(tmp_path, proc_locks):
    code = ("import sys; from rabtui.state.locks import source_lock\n"
            "l = source_lock(sys.argv[1], 's').acquire(); print('held', flush=True); sys.stdin.read()")
    child = preloaded.Popen([sys.executable, "-c", code, str(tmp_path)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "held\n"
        assert source_lock(tmp_path, "s").is_held()
        assert not source_lock(tmp_path, "other").is_held()
    finally:
        child.stdin.close()
        child.wait()
    assert not source_lock(tmp_path, "s").is_held()


def _poll(state_dir, stop) -> None:
    lock = source_lock(state_dir, "s")
    while not stop.is_set():
        lock.is_held()


def test_a_display_asking_whether_a_lock_is_held_never_makes_a_job_fail(tmp_path):
    """The Checkpoints screen and `status` ask on every poll; a job starting at that moment must
    get its lock (a check that took the lock for an instant failed about one start in fifteen)."""
    source_lock(tmp_path, "s").acquire().release()
    stop = multiprocessing.Event()
    poller = multiprocessing.Process(target=_poll, args=(str(tmp_path), stop))
    poller.start()
    refused = 0
    try:
        for _ in range(1000):
            try:
                source_lock(tmp_path, "s").acquire().release()
            except LockBusy:
                refused += 1
    finally:
        stop.set()
        poller.join()
    assert refused == 0


@pytest.mark.skipif(os.geteuid() != 0, reason="a lock file of another user's takes root to make")
def test_a_lock_file_this_user_cannot_open_is_said_plainly():
    """Root ran rabtui once on this user's state directory: its lock files are root's, 0600. The
    user's nightly run ended in a traceback; it says which file and why, as every refusal does."""
    top = tempfile.mkdtemp(prefix="rabtui-locks-")
    try:
        os.chmod(top, 0o755)
        state = os.path.join(top, "state")
        os.makedirs(os.path.join(state, "locks"), mode=0o700)
        os.chown(state, 65534, 65534)
        os.chown(os.path.join(state, "locks"), 65534, 65534)
        theirs = os.path.join(state, "locks", "state.lock")
        os.close(os.open(theirs, os.O_CREAT | os.O_WRONLY, 0o600))
        repo = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        code = (f"import sys; sys.path.insert(0, {repo!r}); from rabtui.errors import RabtuiError;"
                " from rabtui.state.locks import state_lock\n"
                f"try: state_lock({state!r}).acquire(shared=True)\n"
                "except RabtuiError as exc: print(exc)\n")
        out = subprocess.run(["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", sys.executable, "-c",
                              code], capture_output=True, text=True, timeout=60, cwd=top)
        assert out.returncode == 0, out.stderr
        assert theirs in out.stdout and "Permission denied" in out.stdout and "uid 0" in out.stdout, out.stdout
    finally:
        shutil.rmtree(top)


def test_a_lock_taken_in_a_full_state_directory_is_held_all_the_same(tmp_path, tmpfs):
    """The pid and time written into the lock file are only for a refusal's message: a state
    directory that filled up during a run made taking a lock fail with "No space left on device",
    the flock already taken and left held by a descriptor nothing would close."""
    state = tmpfs(tmp_path / "state", "size=256k")
    fill_up(state / "filler")
    lock = source_lock(state, "s").acquire()
    try:
        with pytest.raises(LockBusy):
            source_lock(state, "s").acquire()
    finally:
        lock.release()
    source_lock(state, "s").acquire().release()


class _Paged:
    """/proc/locks as the kernel serves it: a page at a time (binary, unbuffered, as read now; or
    as text, as it was read once)."""

    def __init__(self, pages: list[bytes], text: bool):
        self.pages, self.text = list(pages), text

    def __enter__(self):
        return io.StringIO(b"".join(self.pages).decode()) if self.text else self

    def __exit__(self, *exc) -> None:
        pass

    def read(self, size: int = -1) -> bytes:
        return self.pages.pop(0) if self.pages else b""


def test_a_lock_held_is_seen_when_a_page_of_the_kernels_table_skipped_it(tmp_path, monkeypatch):
    """The kernel serves /proc/locks a page at a time, each from where the last ended by count of
    lines: locks before that point going in between (a busy machine's databases) skip the line at
    the page's edge. A held lock read as free showed a burn under way as interrupted."""
    held = source_lock(tmp_path, "s").acquire()
    with open("/proc/locks", "rb") as f:
        table = f.read()
    st = os.stat(held.path)
    line = next(x for x in table.splitlines(keepends=True)
                if f"{os.major(st.st_dev):02x}:{os.minor(st.st_dev):02x}:{st.st_ino} ".encode() in x)
    others = [x for x in table.splitlines(keepends=True) if x != line] or [b"1: POSIX  ADVISORY  READ 1 00:01:1 0 EOF\n"]
    served = [[b"".join(others[:1]), b"".join(others[1:])],            # the line skipped at the page's edge
              [b"".join(others[:1]), line + b"".join(others[1:])]]     # and read again
    real = open

    def paged(path, mode="r", *args, **kwargs):
        if str(path) != "/proc/locks":
            return real(path, mode, *args, **kwargs)
        return _Paged(served.pop(0) if served else [table], text="b" not in mode)

    monkeypatch.setattr(lock_table, "open", paged, raising=False)
    assert source_lock(tmp_path, "s").is_held()
    assert source_lock(tmp_path, "s").live_pids() == {os.getpid()}
    held.release()
    served[:] = [[b"".join(others[:1]), b"".join(others[1:])]] * lock_table.TABLE_READS
    assert not source_lock(tmp_path, "s").is_held()    # a lock no read shows is free
