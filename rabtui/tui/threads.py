"""The console's thread workers and a file system that hangs (an NFS server away, a medium that
stopped answering). A worker cancelled in Textual (superseded, or its dialog closed) goes on in its
thread until the call it waits in returns, and all thread workers share one pool: a key that starts
such a read again and again would fill the pool with threads that wait for good, and then no job
poll, no screen load, no check ever runs again. So the pool is larger than asyncio's default (6
threads on 2 cores), and each read that can hang is started only while few of its kind still run.
"""

from __future__ import annotations

import asyncio
import functools
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from concurrent.futures import ThreadPoolExecutor

POOL = 32
NAME = "rabtui-worker"


class _Pool(ThreadPoolExecutor):
    """asyncio.run waits for its default executor's threads at the end (in Python 3.11 without a
    bound): a read that waits for good would keep `q` from giving the terminal back. Unless it is to
    wait for them all (the tests: each test's workers end before the next one's sandbox is made),
    this pool waits a second (a write under way ends), then lets the app end."""

    def __init__(self, wait_at_end: bool):
        super().__init__(POOL, thread_name_prefix=NAME)
        self.wait_at_end = wait_at_end

    def shutdown(self, wait: bool = True, *, cancel_futures: bool = False) -> None:
        if self.wait_at_end:
            super().shutdown(wait, cancel_futures=cancel_futures)
            return
        super().shutdown(wait=False, cancel_futures=True)
        if wait:
            left_waiting(1.0)


def larger_pool(wait_at_end: bool) -> None:
    """The running loop's default executor (Textual's thread workers run there) with POOL threads;
    `wait_at_end`: whether the app's end waits for every one of them (see _Pool)."""
    asyncio.get_running_loop().set_default_executor(_Pool(wait_at_end))


def left_waiting(timeout: float) -> bool:
    """After the app ended: whether a worker's thread still waits (a read on a mount that hangs),
    given `timeout` seconds to end."""
    end = time.monotonic() + timeout
    for thread in threading.enumerate():
        if thread.name.startswith(NAME):
            thread.join(max(0.0, end - time.monotonic()))
    return any(thread.name.startswith(NAME) and thread.is_alive() for thread in threading.enumerate())


class Outstanding:
    """How many reads of one kind still run in their threads, superseded ones included (counted in
    the thread itself: a worker cancelled before its thread began never runs, and is not counted)."""

    def __init__(self, most: int):
        self.most = most
        self._running = 0
        self._lock = threading.Lock()

    def full(self) -> bool:
        """On the UI thread, before starting one: `most` still run (say so, start none)."""
        return self._running >= self.most

    @contextmanager
    def held(self) -> Iterator[None]:
        """In the worker's thread, around the read."""
        with self._lock:
            self._running += 1
        try:
            yield
        finally:
            with self._lock:
                self._running -= 1


def counted(attr: str):
    """A worker's function (below @work) counted in the Outstanding its object holds as `attr`."""
    def wrap(fn):
        @functools.wraps(fn)
        def counting(self, *args, **kwargs):
            with getattr(self, attr).held():
                return fn(self, *args, **kwargs)
        return counting
    return wrap
