"""Several sources in one run (`backup --all`, several ids, `run-due`): all onto the day's medium,
as RAB does, up to `max_parallel` at once.

Each source runs in a thread of its own, as its own job, under its own source lock and with its
own database connection (Store keeps one per thread); a slow, hung or failing source holds only
its own thread. The medium is mounted and checked once before any source starts, so that the
backups neither mount and unmount it under each other nor race to label a new one.
"""

from __future__ import annotations

import os
import queue
import resource
import sqlite3
import sys
import threading
from contextlib import ExitStack, contextmanager
from typing import Callable, Iterator, Sequence, TypeVar

from rabtui import fmt
from rabtui.media import medium as media, mounting
from rabtui.config import Medium
from rabtui.errors import EXIT_FAILED, Cancelled, LockBusy, WorkFailed
from rabtui.events import LOG, WARNING, Emit, Event, no_emit
from rabtui.state import jobs, locks
from rabtui.state.store import Store
from rabtui.state.store_check import state_failure

T = TypeVar("T")
R = TypeVar("R")
NOT_STARTED = "cancelled before it started"


class RunCancel:
    """One cancel for a whole run: sets the cancel event of every backup under way, and a source
    whose turn comes after it is recorded cancelled instead of starting."""

    def __init__(self):
        self._set = threading.Event()
        self._lock = threading.RLock()     # set() runs in a signal handler, maybe within covering()
        self._events: set[threading.Event] = set()

    def set(self) -> None:
        with self._lock:
            self._set.set()
            for event in self._events:
                event.set()

    def is_set(self) -> bool:
        return self._set.is_set()

    @property
    def event(self) -> threading.Event:
        """Set with the run's cancel: for a wait of the run's own (the medium's lock) to end on it."""
        return self._set

    def not_started(self, recorder) -> bool:
        """True, with the job recorded as cancelled, when the run was cancelled before this
        source's turn came, or the job itself was (`jobs cancel` of a queued job)."""
        if not (self._set.is_set() or recorder.cancel.is_set()):
            return False
        recorder.finish("cancelled", EXIT_FAILED, NOT_STARTED)
        return True

    @contextmanager
    def covering(self, event: threading.Event) -> Iterator[None]:
        """While a backup runs: the run's cancel sets its cancel event too."""
        with self._lock:
            self._events.add(event)
            if self._set.is_set():
                event.set()
        try:
            yield
        finally:
            with self._lock:
                self._events.discard(event)


@contextmanager
def day_medium(store: Store, medium: Medium, emit: Emit = no_emit,
               cancel: threading.Event | None = None) -> Iterator[bool]:
    """The run's medium, mounted for the whole run (when it has a device) and checked once, an
    empty one labelled now. Yields whether the sources may run at once: not when it could not be
    mounted (each source then tries at its step 2 in turn, and its job says why it failed). A
    check that fails is left to each source's step 2 too, which records the reason in its job (as is
    one whose record the state database cannot take: full, or held by another process). `cancel`
    ends the wait for the medium's lock at once: each source is then recorded cancelled in its turn."""
    with ExitStack() as stack:
        try:
            stack.enter_context(mounting.mounted(medium, emit, store.state_dir, cancel=cancel))
        except Cancelled:      # while another process mounted it: each source is recorded cancelled
            mounted = False
        except WorkFailed as exc:
            emit(Event(WARNING, str(exc)))
            mounted = False
        else:
            mounted = True
            lock = locks.medium_lock(store.state_dir, medium.id, f"the backups of a run onto medium {medium.id}")
            try:
                # held (shared) to the run's end: no `media label` between this check and the sources'
                stack.enter_context(lock.acquire_within(locks.MEDIUM_WAIT, cancel, lambda text: emit(Event(LOG, text)),
                                                        shared=True))
                media.check_medium(medium, emit, store)
            except (WorkFailed, LockBusy, Cancelled, sqlite3.Error):
                pass
        yield mounted


def run_queued(store: Store, medium: Medium, items: Sequence[T], titles: Callable[[T], tuple[str, str]],
               work: Callable[[T, int], R], max_parallel: int, emit: Emit = no_emit,
               failed: Callable[[T, Exception], R] | None = None, cancel: RunCancel | None = None) -> list[R]:
    """Several sources' backups on the run's medium: each `item` shown at once as a queued job row
    (`titles(item)`: its source and the row's title), then `work(item, that row's id)` when its
    turn comes, up to `max_parallel` at once while the medium is mounted; the results in order.
    The rows name the medium, so that a backup started while they wait joins it. `failed`: as
    for run_each; `cancel`: the run's, which ends its wait for the medium's lock."""
    entries = [titles(item) for item in items]
    with ExitStack() as stack:
        waiting = _queued(stack, store, medium, entries, emit)
        together = stack.enter_context(day_medium(store, medium, emit, cancel and cancel.event))
        turns = [(item, waiting.get(source)) for item, (source, _) in zip(items, entries)]
        at_once = _within_open_files(min(max_parallel, len(items)), max_parallel, emit) if together else 1
        try:
            return run_each(store, turns, lambda turn: work(*turn), at_once,
                            failed and (lambda turn, exc: failed(turn[0], exc)))
        except KeyboardInterrupt:     # the backups under way end with rabtui: their jobs say so
            jobs.interrupted(store, waiting.values())
            raise


def _queued(stack: ExitStack, store: Store, medium: Medium, entries: list[tuple[str, str]],
            emit: Emit) -> dict[str, int]:
    """The queued job rows of a run's sources (jobs.queued), held open by `stack`; none when the
    state database cannot take them (full, or held by another process past its busy timeout): the
    run goes on without them, each source's job recorded in its turn, or its failure to be, so that
    every source's outcome is still reported and notified, and run-due goes on to its health check."""
    try:
        return stack.enter_context(jobs.queued(store, "backup", entries, jobs.naming_medium(sys.argv, medium.id)))
    except sqlite3.Error as exc:
        emit(Event(WARNING, f"the sources waiting their turn could not be recorded as queued jobs:"
                            f" {state_failure(exc, store.path)}"))
        return {}


JOIN_NAP = 0.2          # seconds between two looks of the main thread at its signals, while backups run
FILES_PER_BACKUP = 16     # open files of a backup under way (11 measured: its database, log, lock, rsync's pipes ...)
FILES_KEPT = 64           # for the rest of the run (its database, the medium's mount, notifications ...)


def _within_open_files(wanted: int, max_parallel: int, emit: Emit) -> int:
    """How many of `wanted` backups run at once: no more than the open-file limit (ulimit -n) leaves
    room for, said in a warning when that is fewer (they failed with "Too many open files")."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return wanted
    try:
        in_use = len(os.listdir("/proc/self/fd"))
    except OSError:
        in_use = 0
    room = max(1, (soft - in_use - FILES_KEPT) // FILES_PER_BACKUP)
    if room >= wanted:
        return wanted
    emit(Event(WARNING, f"max_parallel is {max_parallel}, but the open-file limit (ulimit -n) of {soft} leaves room"
                        f" for {fmt.count(room, 'backup')} at once: {room} at a time"))
    return room


def run_each(store: Store, items: Sequence[T], work: Callable[[T], R], max_parallel: int,
             failed: Callable[[T, Exception], R] | None = None) -> list[R]:
    """`work(item)` for every item, up to `max_parallel` at once; the results in order. An item's
    exception is its result through `failed(item, exception)`, so that one source's fault (the
    state database full as its job starts, say) neither stops the others nor hides their
    outcomes; without `failed`, the first item's exception is raised once all have ended.

    A worker thread's database connection is closed after each item, not left to the garbage
    collector when the threads end. The threads are daemons: a KeyboardInterrupt (a second Ctrl-C)
    ends the wait for them, and rabtui, at once, and what they run dies with it (a thread pool's
    were waited for at exit, post-backup commands and all)."""
    if failed is not None:
        work = _turned(work, failed)
    if max_parallel <= 1 or len(items) <= 1:
        return [work(item) for item in items]
    todo: queue.SimpleQueue = queue.SimpleQueue()
    for turn in enumerate(items):
        todo.put(turn)
    results: dict[int, R] = {}
    errors: dict[int, BaseException] = {}

    def worker() -> None:
        while True:
            try:
                index, item = todo.get_nowait()
            except queue.Empty:
                return
            try:
                results[index] = work(item)
            except BaseException as exc:
                errors[index] = exc
            finally:
                store.close()

    threads = [threading.Thread(target=worker, name=f"backup-{n}", daemon=True)
               for n in range(min(max_parallel, len(items)))]
    for thread in threads:
        thread.start()
    for thread in threads:
        # a signal the kernel hands to a worker thread is handled by the main thread only once it
        # runs again: a join without a limit left SIGTERM unheeded until a backup ended by itself
        while thread.is_alive():
            thread.join(JOIN_NAP)
    if errors:
        raise errors[min(errors)]
    return [results[index] for index in range(len(items))]


def _turned(work: Callable[[T], R], failed: Callable[[T, Exception], R]) -> Callable[[T], R]:
    def run(item: T) -> R:
        try:
            return work(item)
        except Exception as exc:     # a KeyboardInterrupt or SystemExit still ends the run
            return failed(item, exc)

    return run
