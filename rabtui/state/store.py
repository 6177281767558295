"""The state database (SQLite, WAL): backups, jobs, events, prompts, catalog, checkpoints.

One connection per thread. Everything here can be rebuilt from the media and the discs
(`rabtui rebuild-state`); the media and discs are the truth, this is the index.

Catalog model: `paths` holds each file path of a source once (as bytes, relative to `/`);
`versions` holds each version of a file on a medium as a range of backups: the version
(size, mtime) was present in every completed backup of that source on that medium whose id lies
in [first_backup, last_backup]. An unchanged file only moves `last_backup` forward, so the catalog
grows with changes, not with the number of backups.
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, TypeVar
from urllib.parse import quote

from rabtui import privacy
from rabtui.errors import Cancelled
from rabtui.state import changes
from rabtui.state.locks import Lock
from rabtui.state.store_check import StateUnusable, check_tables, check_usable, state_failure

T = TypeVar("T")

SCHEMA_VERSION = 1

# Backup states that count as complete: usable as --link-dest base, restorable, checkpointable.
COMPLETE = ("completed", "warnings")
COMPLETE_SQL = "('completed', 'warnings')"
# A backup whose data is whole but whose post-backup command failed: the run failed (exit 1) and
# the data is kept. Kept data is restorable, in the catalog and retained like a complete backup;
# it is never a --link-dest base.
KEPT = "kept"
RESTORABLE = COMPLETE + (KEPT,)
RESTORABLE_SQL = "('completed', 'warnings', 'kept')"

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta(key TEXT PRIMARY KEY, value TEXT);

CREATE TABLE IF NOT EXISTS media(
    id TEXT PRIMARY KEY,
    label TEXT,                 -- contents of .rabtui-medium (JSON)
    last_used REAL,             -- time of the last backup started on it
    last_seen REAL,             -- time it was last found mounted and labelled
    total_bytes INTEGER, free_bytes INTEGER, total_inodes INTEGER, free_inodes INTEGER
);

CREATE TABLE IF NOT EXISTS backups(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    medium TEXT NOT NULL,
    name TEXT NOT NULL,         -- backup-YYYYmmddHHMMSS[-N]
    path TEXT NOT NULL,         -- absolute path of the backup directory
    status TEXT NOT NULL,       -- running | completed | warnings | kept | failed | abandoned | deleted
    started REAL NOT NULL,
    finished REAL,
    total_bytes INTEGER,        -- what a copy of the backup would take
    new_bytes INTEGER,          -- what this backup added on the medium
    files INTEGER,
    new_files INTEGER,
    reason TEXT,                -- why it failed or warned
    job_id INTEGER,
    link_dest INTEGER,          -- id of the backup used as --link-dest base
    UNIQUE(medium, source, name)
);
CREATE INDEX IF NOT EXISTS backups_source ON backups(source, medium, status, started);

CREATE TABLE IF NOT EXISTS backup_steps(
    backup_id INTEGER NOT NULL,
    step INTEGER NOT NULL,      -- 1..7
    name TEXT NOT NULL,
    state TEXT NOT NULL,        -- pending | running | ok | warning | failed | skipped
    started REAL, finished REAL,
    message TEXT,
    PRIMARY KEY(backup_id, step)
);

CREATE TABLE IF NOT EXISTS backup_dirs(
    backup_id INTEGER NOT NULL,
    path TEXT NOT NULL,         -- directory path on the source
    kind TEXT NOT NULL,
    state TEXT,                 -- ok | warning | failed
    rsync_exit INTEGER,
    total_bytes INTEGER, new_bytes INTEGER,
    files INTEGER, new_files INTEGER, changed_files INTEGER,
    PRIMARY KEY(backup_id, path)
);

-- per source directory: the checkpoint trigger's inputs
CREATE TABLE IF NOT EXISTS dir_state(
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    changed_since_checkpoint INTEGER NOT NULL DEFAULT 0,
    last_checkpoint INTEGER,    -- checkpoint number
    last_checkpoint_time REAL,
    did_not_fit REAL,           -- time a backup of it did not fit on its medium (cleared by a checkpoint)
    PRIMARY KEY(source, path)
);
-- the file versions written since a directory's last checkpoint, each once whatever medium it went
-- to (rabtui/state/changes.py); dir_state.changed_since_checkpoint counts their distinct paths
CREATE TABLE IF NOT EXISTS changes(
    source TEXT NOT NULL,
    dir TEXT NOT NULL,
    path_id INTEGER NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    backup INTEGER NOT NULL,    -- the backup that wrote it first
    PRIMARY KEY(source, dir, path_id, size, mtime)
) WITHOUT ROWID;

CREATE TABLE IF NOT EXISTS jobs(
    id INTEGER PRIMARY KEY,
    kind TEXT NOT NULL,         -- backup | checkpoint | restore | run-due
    target TEXT,                -- source id, or drive
    title TEXT,
    argv TEXT,                  -- JSON list
    pid INTEGER,
    status TEXT NOT NULL,       -- queued | running | waiting | completed | warnings | failed | cancelled | dead
    started REAL, finished REAL, heartbeat REAL,
    exit_code INTEGER,
    summary TEXT,
    progress TEXT,              -- JSON of the newest progress event
    cancel_requested INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS events(
    id INTEGER PRIMARY KEY,
    job_id INTEGER,
    ts REAL NOT NULL,
    kind TEXT NOT NULL,
    message TEXT,
    data TEXT                   -- JSON
);
CREATE INDEX IF NOT EXISTS events_job ON events(job_id, id);
CREATE TABLE IF NOT EXISTS prompts(
    id INTEGER PRIMARY KEY,
    job_id INTEGER,
    created REAL NOT NULL,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    choices TEXT NOT NULL,      -- JSON list
    data TEXT,                  -- JSON
    answer TEXT,
    answered REAL
);

CREATE TABLE IF NOT EXISTS paths(
    id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    dir TEXT NOT NULL,          -- the configured directory it belongs to
    path BLOB NOT NULL,         -- bytes, relative to /, e.g. b'etc/ssh/sshd_config'
    UNIQUE(source, path)
);
CREATE TABLE IF NOT EXISTS versions(
    id INTEGER PRIMARY KEY,
    path_id INTEGER NOT NULL,
    medium TEXT NOT NULL,
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    first_backup INTEGER NOT NULL,
    last_backup INTEGER NOT NULL
);
-- no index holds first_backup or last_backup: a backup moves last_backup of every unchanged file,
-- and with those columns indexed each move rewrote two index entries (step 7 took 2.4x longer)
DROP INDEX IF EXISTS versions_path;
DROP INDEX IF EXISTS versions_last;
CREATE INDEX IF NOT EXISTS versions_of_path ON versions(path_id, medium);

CREATE TABLE IF NOT EXISTS checkpoints(
    number INTEGER PRIMARY KEY,
    created REAL NOT NULL,
    status TEXT NOT NULL,       -- planned | burning | completed | aborted
    disc_type TEXT NOT NULL,
    disc_sectors INTEGER NOT NULL,
    drive TEXT,
    discs INTEGER NOT NULL,
    lower_bound INTEGER,
    plan TEXT                   -- JSON of the whole plan
);
CREATE TABLE IF NOT EXISTS checkpoint_dirs(
    number INTEGER NOT NULL,
    source TEXT NOT NULL,
    path TEXT NOT NULL,
    role TEXT NOT NULL,         -- data | filler
    backup_id INTEGER,          -- the backup it was taken from
    reason TEXT,                -- why it was due
    PRIMARY KEY(number, source, path)
);
CREATE TABLE IF NOT EXISTS discs(
    number INTEGER NOT NULL,
    disc INTEGER NOT NULL,      -- 1..n
    volid TEXT NOT NULL,        -- RAB<checkpoint>D<nn>
    state TEXT NOT NULL,        -- planned | writing | written | verified | failed | skipped
    written REAL, verified REAL,
    image TEXT,                 -- ISO path for images: drives
    message TEXT,
    PRIMARY KEY(number, disc)
);
CREATE TABLE IF NOT EXISTS disc_files(
    number INTEGER NOT NULL,
    disc INTEGER NOT NULL,
    source TEXT NOT NULL,
    path BLOB NOT NULL,         -- original path, bytes, relative to /
    disc_path BLOB NOT NULL,    -- path on the disc
    size INTEGER NOT NULL,
    mtime INTEGER NOT NULL,
    sha256 TEXT,
    part INTEGER, parts INTEGER, -- for files cut into parts
    mode INTEGER,               -- st_mode as backed up (NULL: recorded before rabtui kept it)
    link BLOB,                  -- a symlink's target as backed up
    link_group INTEGER,         -- files hard-linked to each other as backed up share it
    uid INTEGER, gid INTEGER    -- the owner as backed up
);
CREATE INDEX IF NOT EXISTS disc_files_path ON disc_files(source, path);

CREATE TABLE IF NOT EXISTS health(
    check_id TEXT PRIMARY KEY,  -- e.g. "stale:web1"
    level TEXT NOT NULL,        -- ok | warning | critical
    message TEXT,
    since REAL
);
CREATE TABLE IF NOT EXISTS schedule_runs(
    source TEXT PRIMARY KEY,
    last_due REAL               -- the schedule time last run for
);
"""


MADE_WAIT = 30     # seconds a process waits for another making the database (as SQLite's busy timeout)


def connect(path: str | Path) -> sqlite3.Connection:
    conn = sqlite3.connect(str(path), timeout=30, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA foreign_keys=OFF")
    conn.execute("PRAGMA busy_timeout=30000")
    return conn


def read_only(db: str | Path, read: Callable[[sqlite3.Connection], T], nothing: T) -> T:
    """What `read` finds in the database file `db`, opened read-only (rebuild-state reads the one
    it replaces); `nothing` when it cannot be read: gone, damaged, or no rabtui database."""
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


def _schema_script(insert: str = "") -> str:
    """The tables and the schema version, in one transaction."""
    return (f"BEGIN IMMEDIATE;\n{SCHEMA}\nINSERT {insert} INTO meta(key, value)"
            f" VALUES ('schema_version', '{SCHEMA_VERSION}');\nCOMMIT;")


# columns added to tables since they were first made: NULL in the rows written before
ADDED_COLUMNS = (("disc_files", "mode", "INTEGER"), ("disc_files", "link", "BLOB"),
                 ("disc_files", "link_group", "INTEGER"), ("disc_files", "uid", "INTEGER"),
                 ("disc_files", "gid", "INTEGER"))


def _add_columns(conn: sqlite3.Connection) -> None:
    for table, column, kind in ADDED_COLUMNS:
        if column in {r[1] for r in conn.execute(f"PRAGMA table_info({table})").fetchall()}:
            continue
        try:
            conn.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
        except sqlite3.OperationalError as exc:   # another process added it meanwhile
            if "duplicate column" not in str(exc):
                raise


def _create(path: Path) -> None:
    """A new database, made whole beside its place (0600: SQLite gives its -wal and -shm files the
    database's mode) and linked into it: another process opening it at the same time (run-due and
    the UI started together) finds no file or the whole database, never an empty or half-made one."""
    tmp = path.with_name(f".{path.name}.new-{os.getpid()}-{threading.get_ident()}")
    try:
        privacy.create_private_file(tmp)
        conn = connect(tmp)
        try:
            conn.executescript(_schema_script())
        finally:
            conn.close()
        # bounded: a process stopped while it held this would hang every command that starts
        with Lock(path.parent, "database-made", what="the making of the state database").acquire_within(MADE_WAIT):
            if not os.path.lexists(path):
                _set_aside_left_wal(path)
            try:
                os.link(tmp, path)
            except FileExistsError:       # made by another process meanwhile, or an empty file of old
                pass
    finally:
        for leftover in (tmp, Path(f"{tmp}-wal"), Path(f"{tmp}-shm")):
            leftover.unlink(missing_ok=True)


def _set_aside_left_wal(path: Path) -> None:
    """A -wal and -shm with no database (left by a lost one) go before a new database takes the
    name: SQLite would replay that -wal onto it. The -wal is kept, as `rabtui.db-wal.left-<time>`:
    it may hold the lost database's last transactions."""
    wal = Path(f"{path}-wal")
    if os.path.lexists(wal):
        kept = wal.with_name(f"{wal.name}.left-{time.strftime('%Y%m%d%H%M%S')}-{os.getpid()}")
        os.rename(wal, kept)
    Path(f"{path}-shm").unlink(missing_ok=True)


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

    def __init__(self, state_dir: str | Path):
        self.state_dir = Path(state_dir)
        privacy.private_dir(self.state_dir)
        self.path = self.state_dir / "rabtui.db"
        self._local = threading.local()
        try:
            if not check_usable(self.state_dir, self.path):
                _create(self.path)
            conn = self.conn
            check_tables(conn, self.path, SCHEMA_VERSION)
            counted = conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='changes'").fetchone()
            conn.executescript(_schema_script("OR IGNORE"))   # tables added by a newer version, if any
            _add_columns(conn)
            if not counted:      # a database made before the changes table: count them from the catalog
                self._count_changes()
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
        if conn is not None and not conn.in_transaction and self._replaced():
            # rebuild-state put a new database in place (the old one is kept aside, read by no one)
            conn.close()
            conn = None
        if conn is None:
            self._local.file = _file_id(self.path)
            conn = self._local.conn = connect(self.path)
        return conn

    def _replaced(self) -> bool:
        """Whether another file is at the database's path than this thread's connection opened."""
        now = _file_id(self.path)
        return now is not None and now != getattr(self._local, "file", None)

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        conn = self.conn
        conn.execute("BEGIN IMMEDIATE")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        else:
            conn.execute("COMMIT")

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
            return self.conn.execute(sql, params)
        except UnicodeEncodeError:
            # a message naming a file whose name is not UTF-8 (as os.fsdecode gives it): SQLite
            # takes UTF-8 only, so those bytes are stored as \xNN escapes
            return self.conn.execute(sql, storable(params))

    def one(self, sql: str, params: Any = ()) -> sqlite3.Row | None:
        return self.conn.execute(sql, params).fetchone()

    def all(self, sql: str, params: Any = ()) -> list[sqlite3.Row]:
        return self.conn.execute(sql, params).fetchall()

    def watch(self) -> "ChangeWatch":
        return ChangeWatch(self.path)

    def backup_to(self, target: str | Path) -> None:
        """A consistent copy of the database (SQLite's backup API), e.g. for a checkpoint disc."""
        dest = sqlite3.connect(str(target))
        try:
            self.conn.backup(dest)
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
