"""Notifications of a run delivered on one thread of their own, in the order they were posted.

A backup that posts its notification goes on at once: a hung `notify.command` (waited for up to
its timeout, each) holds neither the backup's worker slot nor its job's end. The run waits for
what is still being delivered at its end (and between its phases: run-due's cleanup is notified
before its health check runs), at most WAIT_AT_END seconds in all; the command then running is
stopped, and every notification not delivered is said as one (with what it was about). A cancel
coming while the run waits (the operator's Ctrl-C, a SIGTERM) ends the wait: there is nothing else
left to stop.
"""

from __future__ import annotations

import queue
import threading
import time
from typing import Callable

from rabtui import faults

WAIT_AT_END = 60.0      # seconds a run waits at its end, in all, for its notifications still being delivered
STOP_GRACE = 10.0       # seconds the run waits, at its end, for the command under way to be stopped
POLL = 0.1              # seconds between looks at the run's cancel while it waits

Deliver = Callable[[dict, threading.Event], list]   # (event, stop) -> the problems met


class Outbox:
    def __init__(self, deliver: Deliver, cancel: threading.Event | None = None):
        self._deliver = deliver
        self._cancel = cancel                   # the run's: set while the run waits, it ends the wait
        self._cancelled_waiting = False
        self._todo: queue.SimpleQueue = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._open: list[dict] = []            # posted, not yet delivered (in order)
        self._problems: list[str] = []
        self._stop = threading.Event()          # the run's end came: the delivery under way is stopped
        self._closed = False
        self._idle = threading.Event()
        self._idle.set()
        self._budget = WAIT_AT_END              # seconds left to wait for deliveries, in all
        self._thread = threading.Thread(target=self._run, name="notify", daemon=True)
        self._thread.start()

    def post(self, event: dict, deliver: Deliver | None = None) -> None:
        """`event` delivered in its turn, by `deliver` if given (the config that sent it), else the outbox's."""
        with self._lock:
            if self._closed:        # a worker still running after the run gave up waiting (Ctrl-C)
                self._problems.append(not_delivered(event, "it came after the run had ended"))
                return
            self._open.append(event)
            self._idle.clear()
        self._todo.put((event, deliver or self._deliver))

    def _run(self) -> None:
        while True:
            item = self._todo.get()
            if item is None:
                return
            event, deliver = item
            if self._stop.is_set():      # the run has ended: said as not delivered, not started now
                continue
            try:
                problems = deliver(event, self._stop)
            except Exception as exc:     # a notifier's own bug: said, and the next ones still go out
                problems = [f"notification not delivered: {type(exc).__name__}: {exc}"]
            with self._lock:
                if self._closed:         # already said as not delivered
                    continue
                self._open.remove(event)
                self._problems += problems
                if not self._open:
                    self._idle.set()

    def wait(self) -> None:
        """Until the notifications posted so far are delivered, within what is left of the run's
        wait, or until a cancel that comes meanwhile (one set before, while the backups ran, leaves
        the notifications of the backups it cancelled their time)."""
        if self._cancelled_waiting:
            return
        began = time.monotonic()
        cancel = self._cancel if self._cancel is not None and not self._cancel.is_set() else None
        if not self._idle.is_set():
            faults.point("notify.waiting")
        while not self._idle.wait(max(0.0, min(POLL, self._budget - (time.monotonic() - began)))):
            if time.monotonic() - began >= self._budget:
                break
            if cancel is not None and cancel.is_set():
                self._cancelled_waiting = True
                break
        self._budget -= time.monotonic() - began

    def close(self, waiting: bool = True) -> list[str]:
        """Waits (`waiting`) for the notifications posted; returns the problems met, those not
        delivered by then among them (the command under way is stopped)."""
        if waiting:
            self.wait()
        with self._lock:
            self._closed = True
            for n, event in enumerate(self._open):
                self._problems.append(not_delivered(event, (
                    "still being delivered when the run was cancelled, and stopped"
                    if n == 0 and self._cancelled_waiting else
                    f"still being delivered when the run ended ({WAIT_AT_END:g} s waited for its notifications),"
                    " and stopped" if n == 0 and waiting else
                    "still being delivered when the run was interrupted, and stopped" if n == 0 else
                    "it was waiting its turn behind a notification that had not been delivered")))
            self._open.clear()
            self._stop.set()
        self._todo.put(None)
        self._thread.join(STOP_GRACE)      # the command under way stopped, not left behind as rabtui exits
        return list(self._problems)


def not_delivered(event: dict, why: str) -> str:
    return f"notification not delivered ({event.get('kind')}: {event.get('message')}): {why}"
