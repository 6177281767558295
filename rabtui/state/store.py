"""The state database (SQLite, WAL): backups, jobs, events, prompts, catalog, checkpoints; its
tables are in schema.py.

One connection per thread. Everything here can be rebuilt from the media and the discs
(`rabtui rebuild-state`); the media and discs are the truth, this is the index.
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence, TypeVar
from urllib.parse import quote

from rabtui import faults, privacy
from rabtui.errors import Cancelled
from rabtui.state import changes
from rabtui.state.locks import Lock
from rabtui.state.schema import (SCHEMA_VERSION, add_columns, drop_unused, looks_per_backup, old_looks_kept,
                                 others_unrecorded, schema_columns, schema_complete, schema_script)
from rabtui.state.store_alone import connect_alone
from rabtui.state.store_check import (StateUnusable, check_tables, check_usable, damaged, emptied_under_its_users,
                                      is_file, is_full, refuse_changeable, state_failure)
from rabtui.state.store_whole import check_columns

T = TypeVar("T")

# which file version, and which other entry, each backup holds, and the versions written since each
# directory's last checkpoint: read from the media again by rebuild-state, never from a disc's copy
BACKUPS_CATALOG = ("paths", "versions", "others", "changes")

# Backup states that count as complete: usable as --link-dest base, restorable, checkpointable.
STATUSES = ("running", "completed", "warnings", "kept", "failed", "abandoned", "deleted")   # of a backup
COMPLETE = ("completed", "warnings")
COMPLETE_SQL = "('completed', 'warnings')"
# A backup whose data is whole but whose post-backup command failed: the run failed (exit 1) and
# the data is kept. Kept data is restorable, in the catalog and retained like a complete backup;
# it is never a --link-dest base.
KEPT = "kept"
RESTORABLE = COMPLETE + (KEPT,)
RESTORABLE_SQL = "('completed', 'warnings', 'kept')"
# A backup row whose directory on its medium is its own: not one of a run that ended before it made it
# (its name was only planned then, and an older backup the database does not know may bear it). NULL:
# a row of rebuild-state's, or written before runs recorded it, taken as its own.
OWN_DIR_SQL = "dir_made IS NOT 0"


def made_first() -> str:
    """SQL: the WITH clause a statement that ranks backups as_made starts with. It names `made(id,
    at)` for the backups of one source (its one parameter, which comes before the statement's own):
    each backup's start, or the earliest start of a backup made after it (a higher id, on any
    medium) when that one is dated before it. Each backup's time is read once from the index
    backups_made, in the order of the ids, not looked up again for each backup as made before it:
    with 4,000 backups of a source, 0.01 s instead of 0.5 s."""
    return ("WITH made(id, at) AS (SELECT id, MIN(started, COALESCE(MIN(started) OVER (ORDER BY id ROWS BETWEEN"
            " 1 FOLLOWING AND UNBOUNDED FOLLOWING), started)) FROM backups WHERE source=?) ")


def as_made(b: str = "b") -> str:
    """SQL: the time backup `b` (an alias of `backups`, of the source of the statement's made_first)
    is ranked by when the newest is wanted. A backup dated ahead by a clock that was wrong then (NTP
    stepped it back since, a dead RTC battery) would stay the newest for years over every backup
    made after it, which hold the source's newer state; ranked so, it comes just before them, also
    when they went to other media (its own went offsite)."""
    return f"(SELECT made.at FROM made WHERE made.id={b}.id)"


# meta: the highest backup id a database that rebuild-state replaced gave. Backups on media that
# rebuild did not read (offsite) hold ids up to it: the ids given after it go on above it.
BACKUP_IDS_USED = "backup_ids_used"
# an id recorded from it up (by hand: SQLite's largest is 2**63-1) is none to go on above: the ids
# after it would soon pass SQLite's largest
ID_REACH = 2 ** 62
# (none, for SQLite to choose a free one, past its largest integer: an id put there by hand)
NEXT_BACKUP_ID_SQL = ("(SELECT CASE WHEN n < 9223372036854775807 THEN n + 1 END FROM (SELECT MAX(COALESCE(MAX(id), 0),"
                      f" COALESCE((SELECT CAST(value AS INTEGER) FROM meta WHERE key='{BACKUP_IDS_USED}'), 0)) AS n"
                      " FROM backups))")


MADE_WAIT = 30     # seconds a process waits for another making the database (as SQLite's busy timeout)


BUSY_WAIT = 30       # seconds a write waits for another connection's (PRAGMA busy_timeout below)
BUSY_TRY = 0.2       # seconds of one try of a write that can be given up (Store.write_unless)


class WriteGivenUp(Exception):
    """A write given up while the database was busy: nothing of it was written."""


IN_CHUNK = 500     # values per IN (...) list, well below SQLite's limit on parameters


def in_chunks(values: Sequence[T]) -> Iterator[tuple[Sequence[T], str]]:
    """`values` in slices of IN_CHUNK, each with the `?,?,...` of its IN (...) list."""
    for at in range(0, len(values), IN_CHUNK):
        chunk = values[at:at + IN_CHUNK]
        yield chunk, ",".join("?" * len(chunk))


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    try:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=OFF")
        conn.execute(f"PRAGMA busy_timeout={BUSY_WAIT * 1000}")
    except BaseException:   # closed now, not when its error is let go: it may hold a lock on the file
        conn.close()
        raise
    return conn


def rollback(conn: sqlite3.Connection) -> None:
    """The transaction under way given up, unless SQLite has already rolled it back itself (as it
    does when the disk is full): a ROLLBACK then fails, and its error would hide the real one."""
    if conn.in_transaction:
        conn.execute("ROLLBACK")


def read_only(db: str | Path, read: Callable[[sqlite3.Connection], T], nothing: T) -> T:
    """What `read` finds in the database file `db`, opened read-only (rebuild-state reads the one
    it replaces); `nothing` when it cannot be read: gone, damaged, or no rabtui database."""
    if not is_file(db):
        return nothing
    try:
        conn = sqlite3.connect(f"file:{quote(str(db))}?mode=ro", uri=True)
    except sqlite3.Error:
        return nothing
    try:
        return read(conn)
    except sqlite3.Error:
        return nothing
    finally:
        conn.close()



def _create(path: Path) -> None:
    """A new database, made whole beside its place (0600: SQLite gives its -wal and -shm files the
    database's mode) and linked into it: another process opening it at the same time (run-due and
    the UI started together) finds no file or the whole database, never an empty or half-made one.
    An empty file there (check_usable: rabtui never ran here) is replaced by it the same way: filled
    in place, it stayed empty beside the locks/ this lock has just made, where another process
    starting took it for a database emptied in use ("damaged", `check` critical)."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    try:
        privacy.create_private_file(tmp)
        conn = connect(tmp)
        try:
            conn.executescript(schema_script())
        finally:
            conn.close()
        # bounded: a process stopped while it held this would hang every command that starts
        with Lock(path.parent, "database-made", what="the making of the state database").acquire_within(MADE_WAIT):
            empty = _empty_file(path)
            if empty or not os.path.lexists(path):
                _set_aside_left_wal(path)
            try:
                if empty:
                    os.replace(tmp, path)
                else:
                    os.link(tmp, path)
            except FileExistsError:       # made by another process meanwhile
                pass
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


def _empty_file(path: Path) -> bool:
    try:
        st = os.lstat(path)
    except OSError:
        return False
    return stat.S_ISREG(st.st_mode) and st.st_size == 0


def _set_aside_left_wal(path: Path) -> None:
    """A -wal and -shm with no database (left by a lost one) go before a new database takes the
    name: SQLite would replay that -wal onto it. The -wal is kept, as `rabtui.db-wal.left-<time>`:
    it may hold the lost database's last transactions; so is a -shm that is no file (a directory
    there, with what it holds: unlinked, it ended the command with a traceback)."""
    wal, shm = Path(f"{path}-wal"), Path(f"{path}-shm")
    left = f".left-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}"
    if os.path.lexists(wal):
        os.rename(wal, wal.with_name(wal.name + left))
    if os.path.lexists(shm) and not is_file(shm):
        os.rename(shm, shm.with_name(shm.name + left))
    shm.unlink(missing_ok=True)


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


class ChangeWatch:
    """Whether anything was committed to the database since the last look, by any process or
    thread: SQLite's `PRAGMA data_version` on a connection of its own (it counts the commits of the
    other connections), read from the WAL index in memory, so asking costs next to nothing. For
    pollers that should do nothing while nothing happens."""

    def __init__(self, path: str | Path):
        self._path = Path(path)
        self._file = _file_id(self._path)
        self._conn = connect(path)
        self._seen: int | None = None

    def changed(self) -> bool:
        now = _file_id(self._path)
        if now is not None and now != self._file:      # a rebuilt database put in place
            self._conn.close()
            self._file, self._conn, self._seen = now, connect(self._path), None
        try:
            version = self._conn.execute("PRAGMA data_version").fetchone()[0]
        except sqlite3.Error:     # cannot tell: say changed, the poll that follows says what is wrong
            return True
        changed, self._seen = version != self._seen, version
        return changed

    def close(self) -> None:
        self._conn.close()


def storable(params: Any) -> Any:
    """Query parameters with each text made valid UTF-8: the bytes of a name that is not UTF-8
    (surrogates, as os.fsdecode gives them) as \\xNN escapes."""
    def text(value: Any) -> Any:
        if not isinstance(value, str):
            return value
        try:
            return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        except UnicodeEncodeError:    # a surrogate that no byte stands for
            return value.encode("utf-8", "backslashreplace").decode("utf-8")

    if isinstance(params, dict):
        return {k: text(v) for k, v in params.items()}
    return [text(v) for v in params]


class Store:
    """The state database of one `state_dir`. Safe to share between threads (one connection each)."""

    def __init__(self, state_dir: str | Path, full_ok: bool = False):
        """`full_ok`: a state directory full is no refusal (check_usable); a write meets it."""
        self.state_dir = Path(state_dir)
        refuse_changeable(self.state_dir)
        privacy.private_dir(self.state_dir)
        self.path = self.state_dir / "rabtui.db"
        self._local = threading.local()
        # read-only without SQLite's -shm (connect_alone: no room for it), one connection for all threads
        self._alone, self._shared, self._owner = False, None, None
        try:
            if not check_usable(self.state_dir, self.path, full_ok):
                _create(self.path)
            try:
                conn = self.conn
            except sqlite3.OperationalError:
                if not (full_ok and is_full(self.state_dir)):
                    raise
                self.close()
                self._alone = True
                conn = self.conn
            check_tables(conn, self.path, SCHEMA_VERSION)
            check_columns(conn, self.path, schema_columns())
            counted = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='changes'").fetchone()
            entries = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='others'").fetchone()
            if not schema_complete(conn):
                conn.executescript(schema_script("OR IGNORE"))   # tables added by a newer version, if any
            add_columns(conn)
            drop_unused(conn)
            if not entries:      # a database made before the others table: its backups' are not in it
                with self.transaction() as tx:
                    others_unrecorded(tx)
            if not counted:      # a database made before the changes table: count them from the catalog
                self._count_changes()
            if old_looks_kept(conn):     # a database that kept the looks at unions per medium, not per backup
                with self.transaction() as tx:
                    looks_per_backup(tx)
        except sqlite3.Error as exc:
            self.close()
            raise state_failure(exc, self.path) from None
        except StateUnusable:
            self.close()
            raise

    def _count_changes(self) -> None:
        """A database made before the `changes` table: its counters were added per backup and
        medium; count them again from the catalog."""
        with self.transaction() as conn:
            changes.rebuild(conn)

    @property
    def conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not self._alone and not conn.in_transaction and self._replaced():
            # rebuild-state put a new database in place (the old one is kept aside, read by no one)
            conn.close()
            conn = None
        if conn is None and self._alone:
            if self._shared is None:
                self._shared, self._owner = connect_alone(self.path, BUSY_WAIT), threading.get_ident()
            conn = self._local.conn = self._shared
        if conn is None:
            self._local.file = _file_id(self.path)
            emptied = emptied_under_its_users(self.path)
            if emptied:    # said at once: SQLite would wait its busy timeout on the WAL left beside it
                raise damaged(self.path, emptied)
            conn = self._local.conn = connect(self.path)
        return conn

    def _replaced(self) -> bool:
        """Whether another file is at the database's path than this thread's connection opened."""
        now = _file_id(self.path)
        return now is not None and now != getattr(self._local, "file", None)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            if conn is not self._shared:
                conn.close()
            elif threading.get_ident() == self._owner:    # not by another thread of the restore
                conn.close()
                self._shared = None
            self._local.conn = None

    @contextmanager
    def transaction(self, durable: bool = False) -> Iterator[sqlite3.Connection]:
        """`durable`: on the disk when it is committed, with every transaction before it. A commit
        is otherwise written into the -wal and left to the kernel (synchronous=NORMAL), on the disk at
        the next write-back of the -wal: a power cut, or a write of the disk failing later (EIO), loses
        it while the run that made it went on. A commit that the media's state depends on from then
        on (a backup's archive links and its backup.json saying complete) is durable first."""
        conn = self.conn
        if durable:
            conn.execute("PRAGMA synchronous=FULL")     # the -wal synced as the transaction commits
        try:
            conn.execute("BEGIN IMMEDIATE")
            try:
                yield conn
            except BaseException:
                rollback(conn)
                raise
            else:
                conn.execute("COMMIT")
                faults.point("state.written")
        finally:
            if durable:
                conn.execute("PRAGMA synchronous=NORMAL")

    @contextmanager
    def interruptible(self, cancel: threading.Event | None) -> Iterator[None]:
        """Queries of this thread inside stop soon after `cancel` is set (SQLite checks it every
        few thousand steps), raising Cancelled: a superseded search does not read on."""
        if cancel is None:
            yield
            return
        conn = self.conn
        conn.set_progress_handler(cancel.is_set, 10_000)
        try:
            yield
        except sqlite3.OperationalError:
            if cancel.is_set():
                raise Cancelled("superseded") from None
            raise
        finally:
            conn.set_progress_handler(None, 0)
        if cancel.is_set():
            raise Cancelled("superseded")

    def execute(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        try:
            done = self.conn.execute(sql, params)
        except UnicodeEncodeError:
            # a message naming a file whose name is not UTF-8 (as os.fsdecode gives it): SQLite
            # takes UTF-8 only, so those bytes are stored as \xNN escapes
            done = self.conn.execute(sql, storable(params))
        if done.rowcount > 0 and not self.conn.in_transaction:
            faults.point("state.written")
        return done

    def write_unless(self, give_up: threading.Event, write: Callable[[], T]) -> T:
        """`write()` (on this thread's connection) tried again and again while another connection
        holds the database, BUSY_WAIT seconds in all as any write, each try BUSY_TRY seconds: once
        `give_up` is set, a try that finds the database busy raises WriteGivenUp, so whoever set it
        learns within a try whether the write was made."""
        conn, end = self.conn, time.monotonic() + BUSY_WAIT
        conn.execute(f"PRAGMA busy_timeout={int(BUSY_TRY * 1000)}")
        try:
            while True:
                try:
                    return write()
                except sqlite3.OperationalError as exc:
                    if exc.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() >= end:
                        raise
                    if give_up.is_set():
                        raise WriteGivenUp() from None
        finally:
            conn.execute(f"PRAGMA busy_timeout={BUSY_WAIT * 1000}")

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def tuples(self, sql: str, params: Any = ()) -> sqlite3.Cursor:
        """The rows as plain tuples, not sqlite3.Row: read by position, a third as dear where a
        directory's hundreds of thousands of files are read."""
        cur = self.conn.cursor()
        cur.row_factory = None
        return cur.execute(sql, params)

    def meta(self, key: str) -> str | None:
        """The value kept under `key` in the table of keys and values (`meta`), or None."""
        row = self.one("SELECT value FROM meta WHERE key=?", (key,))
        return None if row is None else row["value"]

    def set_meta(self, key: str, value: str) -> None:
        """`value` kept under `key` in `meta`, in place of the one there."""
        self.execute("INSERT INTO meta(key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value",
                     (key, value))

    def watch(self) -> "ChangeWatch":
        return ChangeWatch(self.path)

    def backup_to(self, target: str | Path, catalog: bool = True) -> None:
        """A consistent copy of the database (SQLite's backup API), e.g. for a checkpoint disc;
        without `catalog`, the backups' catalog (BACKUPS_CATALOG's tables) left empty in it."""
        dest = sqlite3.connect(str(target))
        try:
            self.conn.backup(dest)
            if not catalog:
                for table in BACKUPS_CATALOG:
                    dest.execute(f"DELETE FROM {table}")
                dest.commit()
                dest.execute("VACUUM")
        finally:
            dest.close()

    # --- jobs, events, prompts (shared by the CLI, the job runner and the TUI) -------------------

    def add_event(self, job_id: int | None, kind: str, message: str = "", data: dict | None = None,
                  ts: float | None = None) -> int:
        cur = self.execute(
            "INSERT INTO events(job_id, ts, kind, message, data) VALUES (?,?,?,?,?)",
            (job_id, ts or time.time(), kind, message, json.dumps(data or {}, default=str)),
        )
        return cur.lastrowid

    def events_after(self, job_id: int, after_id: int = 0, limit: int = 1000) -> list[sqlite3.Row]:
        return self.all(
            "SELECT * FROM events WHERE job_id=? AND id>? ORDER BY id LIMIT ?", (job_id, after_id, limit)
        )
