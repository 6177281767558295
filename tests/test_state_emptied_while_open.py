"""The state database emptied (truncated) while a process has it open, as a console has for hours:
that process's new connections (a screen's load, a job poll, each in a thread of its own) wait on
the locks of the WAL left beside it and fail with SQLite's "database is locked". That is said as the
damage it is, with the way out (rebuild-state), not as a database busy that a run again would get."""

from __future__ import annotations

import os
import sqlite3

from rabtui.state.store import Store
from rabtui.state.store_check import StateUnusable, state_failure


def test_a_database_emptied_under_its_open_connections_is_said_damaged_not_busy(tmp_path):
    store = Store(tmp_path / "state")
    try:
        store.execute("INSERT INTO media(id, last_used) VALUES ('m', 1)")
        os.truncate(store.path, 0)
        # what a new connection of this process then raised, after SQLite's busy timeout (30 s)
        said = state_failure(sqlite3.OperationalError("database is locked"), store.path)
        # what a connection opened before raises, once it reads a page it does not hold: the same
        # reason (the console's toasts alternated between the two)
        said_before = state_failure(sqlite3.DatabaseError("database disk image is malformed"), store.path)
    finally:
        store.close()
    assert "is damaged: it is empty (truncated?)" in str(said), said
    assert "rebuild-state" in said.hint and "busy" not in str(said)
    assert str(said_before) == str(said), said_before


def test_a_database_held_by_another_process_is_still_said_busy(tmp_path):
    store = Store(tmp_path / "state")
    try:
        said = state_failure(sqlite3.OperationalError("database is locked"), store.path)
    finally:
        store.close()
    assert "is busy: database is locked" in str(said), said


def test_a_new_connection_to_a_database_emptied_under_this_process_says_so_at_once(tmp_path):
    """A thread's first read (each of the console's workers opens its own connection) is refused as
    damaged before SQLite is asked: SQLite waited its busy timeout on the WAL's locks, then said
    "database is locked" (every screen's load 30 s, then a wrong reason)."""
    import threading

    store = Store(tmp_path / "state")
    raised: list[BaseException] = []

    def read() -> None:
        try:
            store.all("SELECT count(*) FROM media")
        except BaseException as exc:
            raised.append(exc)

    try:
        store.execute("INSERT INTO media(id, last_used) VALUES ('m', 1)")
        os.truncate(store.path, 0)
        reader = threading.Thread(target=read)
        reader.start()
        reader.join()
    finally:
        store.close()
    assert len(raised) == 1 and isinstance(raised[0], StateUnusable), raised
    assert "is damaged: it is empty (truncated?)" in str(raised[0]) and "rebuild-state" in raised[0].hint
