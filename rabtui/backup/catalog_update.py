"""The catalog (`paths`, `versions`) from rsync's itemized stream, in bulk.

While rsync runs, each file item goes into a connection-local temporary table in batches
(`executemany`, one transaction per batch), so memory stays flat in the number of files; the
unchanged files (most of a nightly backup) into a narrower one of their own. In the same
transaction the batch's unchanged files are looked up in the catalog: the ids of their versions in
the --link-dest base are staged in another temporary table (the lookups are most of the catalog's
work, and done here they overlap rsync instead of following it); each other file gets the id of
its path as it goes in; the paths the catalog does not know yet are added to `paths` once
PATHS_AT_ONCE of them have come, in a short write transaction of their own, so that step 7 adds
at most that many and looks none up (the first backup of a million files spent 3 s of step 7 on
that). A source's first backup (the catalog knows none of its paths) looks nothing up: each new
path takes the id its row's rowid gives past the largest id, so neither the row nor step 7 looks
it up again. A path names a file and
claims nothing: only a version says that a medium holds it, so the paths of a backup that fails
later stay behind harmlessly, as those whose versions a cleanup dropped do (every reader of `paths`
goes through `versions` or `disc_files`), and the next backup of those files finds them. When the
backup is complete, a few set-based statements update the catalog in one transaction:

- standard directory: an unchanged file (`hf`, linked from the --link-dest base) extends the
  version whose last_backup is the base to this backup; a written file is a new version
  (first = last = this backup);
- archive directory: only new files are in the backup; each is a new version.

A file whose base version is unknown to the database (a base made before `rebuild-state`, say)
gets a new version as well, so the catalog never misses a file of a complete backup. The
versions a backup wrote are, in the same transaction, the changed-files trigger's input
(changes.py).
"""

from __future__ import annotations

from itertools import chain
from operator import itemgetter
from sqlite3 import Connection
from typing import Iterator

from rabtui.state import changes
from rabtui.rsync import BASE_OTHER, SAME
from rabtui.state.store import Store, rollback

# a batch of items as they go into temp.backup_items, each file with the id of its path: a look-up
# in the index of `paths` alone (with the path's `dir` as well, a read of the table per file, the
# batch took twice as long); and whether `changes` holds its version already, under the item's
# directory (a row of `changes` is in the directory its backup saved it under: changes.py)
_WITH_PATH = ("SELECT v.*, p.id, EXISTS (SELECT 1 FROM changes c WHERE c.source=p.source AND c.dir=v.column1"
              " AND c.path_id=p.id AND c.size=v.column5 AND c.mtime=v.column6) FROM (VALUES {}) v"
              " LEFT JOIN paths p ON v.column3=? AND p.source=? AND p.path=v.column2")

# paths added at a time: each transaction writes the pages of `paths` it changed, and a batch of
# 1,000 new paths took about 0.4 us more per path than one of 50,000
PATHS_AT_ONCE = 50_000
# a staged file's path id (see CatalogSpool._first), of temp.backup_items as `i`
_PATH_ID = "COALESCE(i.path_id, :ids + i.rowid)"
BATCH = 1000      # small: the last batch is written after rsync has ended, in step 7
PATHS_IN = 500    # paths named in one statement (SQLite's default limit of parameters: 999)
ROWS_PER_INSERT = 100
_F = ord("f")
_FTYPE = itemgetter(2)


def insert_rows(conn: Connection, table: str, width: int, rows: list[tuple], select: str = "VALUES {}",
                extra: tuple = ()) -> None:
    """`rows` (tuples of `width` values) into `table`, in their order: ROWS_PER_INSERT at a time
    by one INSERT with as many VALUES, the rest by executemany. executemany runs the statement once
    per row, which costs more than the row: the spool's rows took 1.2 us each that way, 0.8 us
    this way. `select`: what is inserted, with `{}` for the VALUES (e.g. a SELECT joining them,
    as `v`, with another table), and `extra` the parameters it has after them."""
    marks = "(" + ",".join("?" * width) + ")"
    whole = len(rows) - len(rows) % ROWS_PER_INSERT
    if whole:
        insert = f"INSERT INTO {table} " + select.format(",".join([marks] * ROWS_PER_INSERT))
        for i in range(0, whole, ROWS_PER_INSERT):
            conn.execute(insert, [*chain.from_iterable(rows[i:i + ROWS_PER_INSERT]), *extra])
    if whole < len(rows):
        conn.executemany(f"INSERT INTO {table} " + select.format(marks), [(*row, *extra) for row in rows[whole:]])


def dir_prefix(dir_path: str) -> bytes:
    rel = dir_path.strip("/")
    return (rel.encode("utf-8", "surrogateescape") + b"/") if rel else b""


class CatalogSpool:
    """Collects the items of one backup in `temp.backup_items` (this thread's connection)."""

    def __init__(self, store: Store):
        self.store = store
        self._rows: list[tuple] = []
        conn = store.conn
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS backup_items("
            " dir TEXT NOT NULL, path BLOB NOT NULL, ftype INTEGER NOT NULL, state INTEGER NOT NULL,"
            " size INTEGER NOT NULL, mtime INTEGER NOT NULL,"
            # a file's path in `paths`, looked up while rsync runs (NULL: a path the catalog does not know yet)
            " path_id INTEGER,"
            # 1: its version was in `changes` then (true still if none of its rows were taken since)
            " recorded INTEGER)"
        )
        # the written files whose version `changes` did not hold when looked up: on a medium's first
        # backup a few of a million, which step 7 then reads without a pass over the others
        conn.execute("CREATE INDEX IF NOT EXISTS temp.backup_items_unrecorded ON backup_items(ftype) WHERE recorded=0")
        conn.execute(
            "CREATE TEMP TABLE IF NOT EXISTS backup_same("
            " dir TEXT NOT NULL, path BLOB NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL)"
        )
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS backup_extends(version INTEGER PRIMARY KEY)")
        # the symlinks and special files (catalog `others`), apart: step 7 reads none of the files for them
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS backup_others("
                     " dir TEXT NOT NULL, path BLOB NOT NULL, ftype INTEGER NOT NULL, state INTEGER NOT NULL,"
                     " mtime INTEGER NOT NULL, target BLOB, rdev INTEGER)")
        self._same: list[tuple] = []
        self._other_rows: list[tuple] = []
        self._empty()
        self._params: dict = {}

    def target(self, *, source: str, medium: str, base_id: int | None) -> None:
        """Where the backup goes, and the base whose versions its unchanged files extend (None: no
        base the catalog knows); set before the first item."""
        self._params = {"s": source, "m": medium, "base": base_id, "f": _F, "same": SAME}
        if self._first is None:
            self._first = self.store.conn.execute("SELECT 1 FROM paths WHERE source=? LIMIT 1",
                                                  (source,)).fetchone() is None

    def _empty(self) -> None:
        conn = self.store.conn
        for table in ("backup_items", "backup_same", "backup_extends", "backup_others"):
            conn.execute(f"DELETE FROM temp.{table}")
        self._rows.clear()
        self._same.clear()
        self._other_rows.clear()
        self._dirs: set[str] = set()    # the directories of the items
        # per configured directory, its directories that were symlinks (transfer.py) or other files
        # in the basis: an archive's union makes them directories when the backup is complete,
        # files below them or not
        self.became_dirs: dict[str, list[bytes]] = {}
        self.count = self.same_count = 0
        self._same_taken = 0     # of same_count, taken back since (take_back_same)
        self._others = 0     # symlinks and special files staged (none: `others` is not looked at)
        self._unknown_from: int | None = None   # a rowid after which are all the paths not added yet
        self._unknown = 0
        # the catalog knew no path of the source when the backup began (its first): nothing is
        # looked up, and each new path's id is `_ids` + its row's rowid, not noted in the row
        # (path_id stays NULL) unless it had to be looked up after all
        self._first: bool | None = None
        self._ids: int | None = None
        self._all_added = True   # every path added by the spool itself (in its row's directory)
        # a first backup's files per directory of their items (None: not known, after a forget)
        self._files: dict[str, int] | None = {}
        self._batch_files = 0   # the regular files among self._rows (counted by add, but on a later backup)
        # changes.removed() when the first version was found in `changes` (None: none looked up)
        self._removed: int | None = None

    def add(self, dir_path: str, rows: list[tuple], same: list[tuple] = (), others: list[tuple] = ()) -> None:
        """Items of the configured directory `dir_path` as (dir_path, path, ftype, state, size,
        mtime): `path` relative to `/` (bytes), `ftype` ord of rsync's type letter, `state` from
        rsync.file_state (NEW for other new items; never SAME: those are `same`, nor ABSENT: those
        are not in the backup). `same`: the regular files unchanged since the link base
        (rsync.SAME), as (dir_path, path, size, mtime). `others`: the symlinks and special files
        for the catalog's `others`, as (dir_path, path, ftype, state, mtime), state NEW or
        BASE_OTHER (unchanged since the link base); an archive directory's are among `rows` too."""
        self._other_rows += others
        if others:
            self._dirs.add(dir_path)
        if rows or same:
            self._dirs.add(dir_path)
        if self._first is not False and rows:
            files = list(map(_FTYPE, rows)).count(_F)
            self._batch_files += files
            if self._files is not None:
                self._files[dir_path] = self._files.get(dir_path, 0) + files
        self._rows += rows
        self._same += same
        if len(self._rows) + len(self._same) + len(self._other_rows) >= BATCH:
            self.flush()

    def flush(self) -> None:
        if not self._rows and not self._same and not self._other_rows:
            return
        conn = self.store.conn
        conn.execute("BEGIN")
        try:
            if self._rows:
                last = conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM temp.backup_items").fetchone()[0]
                if self._first:
                    insert_rows(conn, "temp.backup_items(dir, path, ftype, state, size, mtime)", 6, self._rows)
                    unknown = self._batch_files    # each file's path: none looked up
                else:   # each file's path looked up now, as it goes in, not in step 7
                    if self._removed is None:
                        self._removed = changes.removed(conn)    # read as the look-ups below, at once
                    insert_rows(conn, "temp.backup_items", 6, self._rows, _WITH_PATH, (_F, self._params.get("s")))
                    unknown = conn.execute("SELECT COUNT(*) FROM temp.backup_items WHERE rowid>? AND ftype=?"
                                           " AND path_id IS NULL", (last, _F)).fetchone()[0]
            if self._other_rows:
                insert_rows(conn, "temp.backup_others(dir, path, ftype, state, mtime)", 5, self._other_rows)
            if self._same:
                insert_rows(conn, "temp.backup_same", 4, self._same)
                if self._params.get("base") is not None:
                    # rowids of a table only appended to since it was emptied: this batch's are > same_count
                    conn.execute(
                        "INSERT OR IGNORE INTO temp.backup_extends(version) SELECT v.id FROM temp.backup_same i"
                        " JOIN paths p ON p.source=:s AND p.path=i.path"
                        " JOIN versions v ON v.path_id=p.id AND v.medium=:m AND v.last_backup=:base"
                        " WHERE i.rowid>:done", {**self._params, "done": self.same_count})
        except BaseException:
            rollback(conn)
            raise
        conn.execute("COMMIT")
        if self._rows and unknown:
            # the lowest: rows taken back at the end (forget) free their ids for the next ones
            if self._unknown_from is None or last < self._unknown_from:
                self._unknown_from = last
            self._unknown += unknown
            if self._unknown >= PATHS_AT_ONCE:
                self._add_paths()
        self.count += len(self._rows)
        self.same_count += len(self._same)
        self._others += len(self._other_rows)
        self._batch_files = 0
        self._rows.clear()
        self._same.clear()
        self._other_rows.clear()

    def held_times(self, dir_path: str, held: dict[bytes, int]) -> None:
        """Staged items of `dir_path` (path -> mtime, paths as staged) that the medium holds at
        another time than rsync gave them (one its file system cannot hold, times_held.py): staged
        at the medium's, as the catalog says what the media hold; looked up again in step 7."""
        self.flush()
        with self.store.transaction() as conn:
            conn.execute("CREATE TEMP TABLE IF NOT EXISTS held_times(path BLOB PRIMARY KEY, mtime INTEGER NOT NULL)")
            conn.execute("DELETE FROM temp.held_times")
            conn.executemany("INSERT OR REPLACE INTO temp.held_times(path, mtime) VALUES (?, ?)", list(held.items()))
            for table, more in (("backup_items", ", recorded=0"), ("backup_others", "")):
                conn.execute(f"UPDATE temp.{table} SET mtime=(SELECT h.mtime FROM temp.held_times h"
                             f" WHERE h.path={table}.path){more} WHERE dir=? AND path IN (SELECT path FROM temp.held_times)",
                             (dir_path,))

    def new_others(self, dir_path: str, kinds: tuple[int, ...]) -> list[tuple[int, bytes, int]]:
        """(rowid, path, kind) of the symlinks and device nodes of `dir_path` staged as new (not the
        base's: those extend its entry, which says what it holds); none looked for where the backup
        staged none."""
        self.flush()
        if not self._others:
            return []
        marks = ",".join("?" * len(kinds))
        return self.store.conn.execute(
            f"SELECT rowid, path, ftype FROM temp.backup_others WHERE dir=? AND state<>? AND ftype IN ({marks})",
            (dir_path, BASE_OTHER, *kinds)).fetchall()

    def held_as(self, found: list[tuple[bytes | None, int | None, int]]) -> None:
        """(target, rdev, rowid) of staged symlinks and device nodes (new_others'), as the medium
        holds them: recorded with their entries."""
        with self.store.transaction() as conn:
            conn.executemany("UPDATE temp.backup_others SET target=?, rdev=? WHERE rowid=?", found)

    def _add_paths(self) -> None:
        """The files staged since the last call whose path the catalog did not know when looked up:
        their paths added, in the directory they were first seen in (a path added meanwhile keeps
        its own), and their ids noted, committed at once (a writer waits its turn, as step 7 does)."""
        if self._unknown_from is None:
            return
        params = {**self._params, "last": self._unknown_from, "ids": self._ids}
        unknown = self._unknown
        self._unknown_from, self._unknown = None, 0
        unset = " FROM temp.backup_items WHERE rowid>:last AND ftype=:f AND path_id IS NULL"
        with self.store.transaction() as conn:
            if self._first and self._ids_free(conn, params):
                added = conn.execute("INSERT OR IGNORE INTO paths(id, source, dir, path)"
                                     " SELECT :ids + rowid, :s, dir, path" + unset, params).rowcount
                # every row staged since was counted, unless rows were taken out of the spool since
                # (forget, take_back): then they are counted again (not a pass over them otherwise)
                if self._files is None:
                    unknown = conn.execute("SELECT COUNT(*)" + unset, params).fetchone()[0]
                if added == unknown:
                    return
            else:
                conn.execute("INSERT OR IGNORE INTO paths(source, dir, path) SELECT :s, dir, path" + unset, params)
            self._all_added = False
            conn.execute("UPDATE temp.backup_items SET path_id=(SELECT id FROM paths WHERE source=:s"
                         " AND path=backup_items.path) WHERE rowid>:last AND ftype=:f AND path_id IS NULL", params)

    def _ids_free(self, conn: Connection, params: dict) -> bool:
        """Whether the rows after params["last"] can take the ids `self._ids + rowid`: all past the
        largest id of `paths` (set so at the first adding). Not when another added paths past them
        meanwhile, nor when rows taken back left their rowids, and so their paths' ids, to others."""
        largest = conn.execute("SELECT COALESCE(MAX(id), 0) FROM paths").fetchone()[0]
        if self._ids is None:
            self._ids = params["ids"] = largest - params["last"]
        return largest <= self._ids + params["last"]

    def forget(self, dir_path: str, paths: list[bytes]) -> None:
        """Items of `dir_path` handed over before (not unchanged files) that are not in the backup
        after all: copied again, they come back as items of their own."""
        self.flush()
        self._files = None
        for table in ("backup_items", "backup_others"):
            self.store.conn.executemany(f"DELETE FROM temp.{table} WHERE dir=? AND path=?",
                                        [(dir_path, path) for path in paths])

    def take_back(self, dir_path: str, paths: list[bytes]) -> list[tuple]:
        """The written files of `dir_path` at `paths` (distinct; each perhaps staged more than once),
        taken out of the spool; their rows returned as `add` takes them, those of a path in the
        order they came. A scan of the staged items per PATHS_IN paths, not one per path."""
        self.flush()
        self._files = None
        conn, rows = self.store.conn, []
        for i in range(0, len(paths), PATHS_IN):
            chunk = paths[i:i + PATHS_IN]
            where = f" FROM temp.backup_items WHERE dir=? AND ftype=? AND path IN ({','.join('?' * len(chunk))})"
            rows += conn.execute("SELECT dir, path, ftype, state, size, mtime" + where + " ORDER BY rowid",
                                 (dir_path, _F, *chunk)).fetchall()
            conn.execute("DELETE" + where, (dir_path, _F, *chunk))
        return rows

    def file_paths(self, dir_path: str) -> Iterator[bytes]:
        """The paths of the regular files this backup holds of `dir_path`: written and unchanged."""
        for (path,) in self._streamed("SELECT path FROM temp.backup_items WHERE dir=? AND ftype=?"
                                      " UNION ALL SELECT path FROM temp.backup_same WHERE dir=?", (dir_path, _F, dir_path)):
            yield bytes(path)

    def take_back_same(self, dir_path: str, paths: list[bytes]) -> list[int]:
        """The unchanged files of `dir_path` at `paths` taken out of the spool, the base's versions of
        them no longer extended to this backup; their sizes returned."""
        self.flush()
        conn, sizes = self.store.conn, []
        for i in range(0, len(paths), PATHS_IN):
            chunk = paths[i:i + PATHS_IN]
            where = f" FROM temp.backup_same WHERE dir=? AND path IN ({','.join('?' * len(chunk))})"
            sizes += [r[0] for r in conn.execute("SELECT size" + where, (dir_path, *chunk)).fetchall()]
            if self._params.get("base") is not None:
                conn.execute("DELETE FROM temp.backup_extends WHERE version IN (SELECT v.id FROM paths p JOIN versions v"
                             " ON v.path_id=p.id AND v.medium=? AND v.last_backup=? WHERE p.source=? AND p.path IN"
                             f" ({','.join('?' * len(chunk))}))",
                             (self._params["m"], self._params["base"], self._params["s"], *chunk))
            conn.execute("DELETE" + where, (dir_path, *chunk))
        self._same_taken += len(sizes)
        return sizes

    def _streamed(self, sql: str, args: tuple) -> Iterator[tuple]:
        """The rows of a query of the spool's tables (flushed first), a batch at a time."""
        self.flush()
        cur = self.store.conn.execute(sql, args)
        while rows := cur.fetchmany(1000):
            yield from rows

    def new_items(self, dir_path: str) -> Iterator[tuple[bytes, int, int]]:
        """(path, ftype, size) of the items written by this backup in one directory, streamed."""
        for path, ftype, size in self._streamed(
                "SELECT path, ftype, size FROM temp.backup_items WHERE dir=? AND state<>?", (dir_path, SAME)):
            yield bytes(path), ftype, size

    def new_file_states(self, dir_path: str) -> Iterator[tuple[bytes, int]]:
        """(path, rsync.file_state) of the regular files in new_items."""
        for path, state in self._streamed(
                "SELECT path, state FROM temp.backup_items WHERE dir=? AND state<>? AND ftype=?", (dir_path, SAME, _F)):
            yield bytes(path), state

    def new_file_times(self, dir_path: str) -> Iterator[tuple[bytes, int, int]]:
        """(path, rsync.file_state, mtime as rsync gave it) of the regular files in new_items."""
        for path, state, mtime in self._streamed("SELECT path, state, mtime FROM temp.backup_items"
                                                 " WHERE dir=? AND state<>? AND ftype=?", (dir_path, SAME, _F)):
            yield bytes(path), state, mtime

    def same_files(self, dir_path: str, least: int) -> Iterator[bytes]:
        """The paths of the unchanged files (hard-linked from the base) of `least` bytes or more."""
        for (path,) in self._streamed("SELECT path FROM temp.backup_same WHERE dir=? AND size>=?", (dir_path, least)):
            yield bytes(path)

    def resize(self, dir_path: str, sizes: list[tuple[bytes, int]]) -> None:
        """The written files of `dir_path` given as (path, size) are recorded at that size: the
        size the medium holds them at, where rsync listed another (union_link.link_new_files); the
        checkpoint trigger's `changes` did not hold that version when they were looked up."""
        self.store.conn.executemany("UPDATE temp.backup_items SET size=?, recorded=0 WHERE dir=? AND path=? AND ftype=?",
                                    [(size, dir_path, path, _F) for path, size in sizes])

    def apply(self, backup_id: int) -> int:
        """Update the catalog for a complete backup; returns the number of files recorded."""
        self.flush()
        self._add_paths()
        params = {**self._params, "b": backup_id, "ids": self._ids}
        # the writes to `versions` are OR FAIL: a statement that fails stops where it is (ABORT would
        # undo its rows first) and the whole transaction is rolled back all the same, but SQLite
        # keeps no statement journal for it (the first state of every page a statement changes: on a
        # medium's first backup of 1,000,000 files, 8,000 pages written to a temporary file)
        with self.store.transaction(durable=True) as conn:
            before = conn.execute("SELECT COALESCE(MAX(id), 0) FROM versions").fetchone()[0]
            # no row of `changes` taken since the versions were found there: they still are
            # (every row looked up has 0 or 1 there: `recorded=0` is what the index above holds)
            recorded = ("i.recorded=0" if self._removed is not None and changes.removed(conn) == self._removed
                        else f"NOT EXISTS (SELECT 1 FROM changes c WHERE c.source=:s AND c.dir=i.dir"
                             f" AND c.path_id={_PATH_ID} AND c.size=i.size AND c.mtime=i.mtime)")
            same = self.same_count - self._same_taken
            extended = 0
            # every path added by the spool itself (a first backup's are all new): each in the
            # directory of its row
            in_own_dirs = self._first and self._all_added
            if params["base"] is not None and same:
                # the base's versions staged while rsync ran (still the base's: checked again here)
                extended = conn.execute(
                    "UPDATE OR FAIL versions SET last_backup=:b WHERE id IN (SELECT version FROM temp.backup_extends)"
                    " AND medium=:m AND last_backup=:base", params).rowcount
            if extended == same:
                # the usual case: every unchanged file extended its version; only written files are new
                cur = conn.execute(
                    "INSERT OR FAIL INTO versions(path_id, medium, size, mtime, first_backup, last_backup)"
                    f" SELECT {_PATH_ID}, :m, size, mtime, :b, :b FROM temp.backup_items i WHERE ftype=:f", params)
                # the versions just inserted are exactly these, each in its item's directory; but
                # for those `changes` holds already under their item's directory (a medium's first
                # backup: nearly all; see _WITH_PATH), left out before their paths are read
                written = (f"SELECT i.dir, {_PATH_ID}, i.path, i.size, i.mtime FROM temp.backup_items i WHERE i.ftype=:f"
                           if in_own_dirs else
                           f"SELECT i.dir, p.id, i.path, i.size, i.mtime FROM temp.backup_items i"
                           f" JOIN paths p ON p.id={_PATH_ID} WHERE i.ftype=:f AND {recorded}")
            else:
                # some unchanged files have no version in the base (a base the catalog does not know)
                conn.execute("INSERT OR IGNORE INTO paths(source, dir, path) SELECT :s, dir, path"
                             " FROM temp.backup_same", params)
                cur = conn.execute(
                    "INSERT OR FAIL INTO versions(path_id, medium, size, mtime, first_backup, last_backup)"
                    " SELECT p.id, :m, i.size, i.mtime, :b, :b FROM"
                    " (SELECT path, size, mtime FROM temp.backup_items WHERE ftype=:f"
                    "  UNION ALL SELECT path, size, mtime FROM temp.backup_same) i"
                    " JOIN paths p ON p.source=:s AND p.path=i.path"
                    " WHERE NOT EXISTS (SELECT 1 FROM versions v"
                    "   WHERE v.path_id=p.id AND v.medium=:m AND v.last_backup=:b)", params)
                written = ("SELECT i.dir, p.id, p.path, i.size, i.mtime FROM temp.backup_items i"
                           " JOIN paths p ON p.source=:s AND p.path=i.path WHERE i.ftype=:f AND i.state<>:same")
            inserted = cur.rowcount
            if self._others:
                _apply_others(conn, params)
            changes.record(conn, params["s"], backup_id, written, {**params, "before": before}, self._dirs,
                           dirs_exact=in_own_dirs and extended == same, files=self._files)
        return inserted

    def discard(self) -> None:
        self._empty()


# the symlinks and special files of the backup into `others`: one unchanged since the base
# (BASE_OTHER) extends the base's entry, anything else is new
_EXTEND_OTHERS = (
    "UPDATE others SET last_backup=:b WHERE id IN (SELECT o.id FROM temp.backup_others i JOIN others o"
    " ON o.source=:s AND o.path=i.path AND o.medium=:m AND o.last_backup=:base AND o.kind=i.ftype"
    " AND o.mtime=i.mtime WHERE i.state=:base_other)")
_NEW_OTHERS = (
    "INSERT INTO others(source, dir, path, kind, medium, mtime, first_backup, last_backup, target, rdev)"
    " SELECT :s, i.dir, i.path, i.ftype, :m, i.mtime, :b, :b, i.target, i.rdev FROM temp.backup_others i"
    " WHERE NOT EXISTS (SELECT 1 FROM others o WHERE o.source=:s AND o.path=i.path AND o.medium=:m"
    " AND o.last_backup=:b) GROUP BY i.path")


def _apply_others(conn: Connection, params: dict) -> None:
    others = {**params, "base_other": BASE_OTHER}
    if params["base"] is not None:
        conn.execute(_EXTEND_OTHERS, others)
    conn.execute(_NEW_OTHERS, others)
