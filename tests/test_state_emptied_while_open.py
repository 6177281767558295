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



def _empty_file_of_old(state):
    state.mkdir(mode=0o700)
    (state / "rabtui.db").touch(mode=0o600)


def test_an_empty_file_where_rabtui_never_ran_is_a_new_database(tmp_path):
    """An empty file with no locks or logs beside it (a `touch`, a file SQLite made and a kill left
    empty) is a new database: the making of a database takes a lock in locks/, and the first
    connection took that lock's directory for a sign of a database emptied in use."""
    state = tmp_path / "state"
    _empty_file_of_old(state)
    store = Store(state)
    try:
        assert store.one("SELECT count(*) FROM backups")[0] == 0
        assert store.meta("schema_version")
    finally:
        store.close()
    assert (state / "rabtui.db").stat().st_size > 0


def test_processes_starting_at_once_on_an_empty_file_of_old_all_find_a_database(tmp_path):
    """Commands started together (run-due and the console, `check` by the monitoring) where an empty
    file is all there is: the first to make the database made locks/ and then filled the file in
    place, and the others, finding it still empty beside locks/, refused it as damaged (`check`:
    critical). It is put there whole, as a new database where no file was."""
    import subprocess
    import sys

    from tests import preloaded

    code = "import sys; from rabtui.state.store import Store; Store(sys.argv[1]).close()"
    for attempt in range(6):
        state = tmp_path / f"state{attempt}"
        _empty_file_of_old(state)
        procs = [preloaded.Popen([sys.executable, "-c", code, str(state)], stderr=subprocess.PIPE, text=True)
                 for _ in range(6)]
        errors = [p.communicate(timeout=120)[1] for p in procs]
        assert all(p.returncode == 0 for p in procs), errors
        assert not [n for n in os.listdir(state) if n.startswith(".rabtui.db.new")]
