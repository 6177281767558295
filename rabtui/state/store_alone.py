"""The state database read where its directory is too full for SQLite's -shm (a restore goes on
there: Store's full_ok), without another process writing it under the reader."""

from __future__ import annotations

import fcntl
import os
import sqlite3
from pathlib import Path
from urllib.parse import quote

from rabtui.state.store_check import WAL_HEADER


def connect_alone(path: str | Path, busy_wait: float) -> sqlite3.Connection:
    """The database read without SQLite's -shm (which a full file system has no room for), read-only:
    under SQLite's exclusive lock, which reads the -wal's pages too (a crash's) and keeps every other
    connection out until this one is closed (the file read without locks had another process's
    checkpoint rewrite it mid-read: rows missing, "malformed"). Where not even the -wal can be opened
    (no inode left), the file alone, only right while no -wal holds pages (Store: a state directory
    full), SQLite's lock on it held by hand (_Alone)."""
    conn = sqlite3.connect(str(path), timeout=busy_wait, isolation_level=None, check_same_thread=False)
    try:
        conn.execute("PRAGMA locking_mode=EXCLUSIVE")
        conn.execute("PRAGMA query_only=1")
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()    # the lock taken, the -wal read
    except sqlite3.OperationalError as exc:
        conn.close()
        if getattr(exc, "sqlite_errorname", "") != "SQLITE_CANTOPEN" or _wal_pages(Path(path)):
            raise
        conn = sqlite3.connect(f"file:{quote(str(path))}?mode=ro&immutable=1", uri=True, isolation_level=None,
                               check_same_thread=False, factory=_Alone)
        conn.hold(path)
    conn.row_factory = sqlite3.Row
    return conn


class _Alone(sqlite3.Connection):
    """The database file read alone (immutable=1: SQLite locks nothing). The bytes SQLite's unix VFS
    locks to read a database are held whole (fcntl, as SQLite takes them) until it is closed: no
    other connection reads it meanwhile, nor folds its -wal into it under this one (inodes freed
    mid-read). A lock of the process: closing another descriptor of the file here would let it go."""
    SQLITE_LOCKS = (0x40000000, 512)   # PENDING_BYTE, then RESERVED and the SHARED range (os_unix.c)
    held: int | None = None

    def hold(self, path: str | Path) -> None:
        fd = os.open(path, os.O_RDWR | os.O_CLOEXEC | os.O_NOFOLLOW)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, self.SQLITE_LOCKS[1], self.SQLITE_LOCKS[0])
        except OSError:
            os.close(fd)
            self.close()
            raise sqlite3.OperationalError("database is locked (another connection reads it)") from None
        self.held = fd

    def close(self) -> None:
        try:
            super().close()
        finally:
            if self.held is not None:
                os.close(self.held)
                self.held = None


def _wal_pages(path: Path) -> bool:
    """Whether the database's -wal holds pages (more than its header)."""
    try:
        return os.stat(f"{path}-wal").st_size > WAL_HEADER
    except FileNotFoundError:
        return False
