"""What copies of an archive directory hold that the copy a restore chose lacks
(restore/archive_elsewhere.py), set against each other in SQL: a copy's entries at or below a path
are gathered per path by one statement over the rows catalog.contents and others.archive_as_of read
(a disc's: its rows in `disc_files`), the chosen copy's kept in a temporary table, and of another
copy only the entries that table lacks come back. Reading every copy's whole contents into Python
took 11 s for three copies of 200,000 files.

Which of a copy's files shows where the source gave a place two shapes (a file, then a directory
holding files, or back) is shapes.py's to tell: `shaped` names those places, and the caller reads
what lies at or below them as catalog.contents gives it."""

from __future__ import annotations

import os

from rabtui.state import saved_kinds
from rabtui.state.catalog import _below, rel_path
from rabtui.state.store import KEPT, Store, rollback

TABLE = "temp.archive_held"
ASKED = "temp.archive_held_asked"


def backup_sql(store: Store, backup, archive_now: tuple[str, ...], rel: bytes,
               leave_out: tuple[bytes, ...] = (), unheld: bool = False) -> tuple[str, tuple]:
    """SQL (and its parameters) of the entries at or below `rel` the backup holds, one row each:
    (path, kind: 0 a file, else the `others` kind of a symlink or special file, mode: NULL), as
    archive_elsewhere read them (catalog.contents' files, the symlinks and special files of the
    directories it saved as archive ones: others.archive_as_of), where no place has two shapes.
    `archive_now`: the config's archive directories; `leave_out`: places whose paths at or below
    are left out (shaped's); `unheld`: those alone whose path is not held (`hold`)."""
    arc = saved_kinds.archive_in(store, backup, archive_now)
    below = _below(rel)
    medium, source, bid = backup["medium"], backup["source"], backup["id"]
    parts, params = [], []
    if not any(not d or rel == d or rel.startswith(d + b"/") for d in map(rel_path, arc)):
        # the files of the directories saved as standard ones: those the backup's range holds
        within = saved_kinds.below_sql("p.path", arc)
        first = "=" if backup["status"] == KEPT else "<="
        parts.append("SELECT p.path AS path, 'A' AS t, 0 AS f, 0 AS k FROM versions v CROSS JOIN paths p ON p.id=v.path_id"
                     f" WHERE v.medium=? AND p.source=? AND v.first_backup{first}? AND v.last_backup>=?{below[0]}"
                     f" AND p.dir NOT IN ({','.join('?' * len(arc))}) AND NOT {within[0]}")
        params += [medium, source, bid, bid, *below[1], *arc, *within[1]]
    if arc:
        within = saved_kinds.below_sql("p.path", arc)
        # (versions read in their order, paths looked up by id: catalog.contents' way, 5x faster
        # than through the source's paths)
        for table, column, t in (("versions v CROSS JOIN paths p ON p.id=v.path_id", "v.first_backup", "B"),
                                 ("others p", "p.first_backup", "E")):
            # B: the files saved into the union up to it, E: the symlinks and special files that
            # take a file's place in it where newer (catalog._with_entries)
            saved = saved_kinds.saved_sql(store, backup, arc, archive_now, column, "p.path")
            medium_of = "v.medium" if t == "B" else "p.medium"
            parts.append(f"SELECT p.path AS path, '{t}' AS t, {column} AS f, 0 AS k FROM {table}"
                         f" WHERE {medium_of}=? AND p.source=? AND {within[0]} AND {column}<=? AND {saved[0]}{below[0]}")
            params += [medium, source, *within[1], bid, *saved[1], *below[1]]
        for d in arc:
            # C: the symlinks and special files named (others.archive_saved's, by each directory)
            saved = saved_kinds.saved_sql(store, backup, (d,), (d,), "p.first_backup", "p.path")
            within = saved_kinds.below_sql("p.path", (d,))
            parts.append("SELECT p.path AS path, 'C' AS t, p.first_backup AS f, p.kind AS k FROM others p"
                         f" WHERE p.medium=? AND p.source=? AND {within[0]} AND p.first_backup<=? AND {saved[0]}{below[0]}")
            params += [medium, source, *within[1], bid, *saved[1], *below[1]]
    if not parts:
        return "SELECT NULL AS path, NULL AS kind, NULL AS mode WHERE 0", ()
    out, args = _left_out(leave_out, unheld, "u.path")
    # a file where the standard tree or the union holds one (the union's unless a newer entry took
    # its place), else the newest entry named at the path
    return (
        "SELECT path, CASE WHEN a OR b>=coalesce(e, -1) THEN 0 ELSE c % 256 END AS kind, NULL AS mode FROM ("
        "SELECT CAST(path AS BLOB) AS path, max(t='A') AS a, max(CASE WHEN t='B' THEN f END) AS b,"
        " max(CASE WHEN t='E' THEN f END) AS e, max(CASE WHEN t='C' THEN f * 256 + k END) AS c"
        f" FROM ({' UNION ALL '.join(parts)}) u WHERE 1{out} GROUP BY CAST(path AS BLOB))"
        " WHERE a OR b>=coalesce(e, -1) OR c IS NOT NULL", (*params, *args))


def disc_sql(number: int, source: str, rel: bytes, marks: tuple[str, ...], leave_out: tuple[bytes, ...] = (),
             unheld: bool = False) -> tuple[str, tuple]:
    """As backup_sql, the entries at or below `rel` of the source's files on the discs of
    checkpoint `number`: (path, kind: its mark, one of `marks` (checkpoint/marks.py), or NULL for
    a file, mode)."""
    out, args = _left_out(leave_out, unheld, "p.path")
    return (f"SELECT CAST(p.path AS BLOB) AS path, max(CASE WHEN p.sha256 IN ({','.join('?' * len(marks))})"
            f" THEN p.sha256 END) AS kind, max(p.mode) AS mode FROM disc_files p WHERE p.number=? AND p.source=?"
            f"{_below(rel)[0]}{out} GROUP BY CAST(p.path AS BLOB)", (*marks, number, source, *_below(rel)[1], *args))


def _left_out(places: tuple[bytes, ...], unheld: bool, column: str) -> tuple[str, tuple]:
    """SQL filter (" AND ...") on the path `column`: none at or below `places`; `unheld`: none held."""
    out = f" AND NOT EXISTS (SELECT 1 FROM {TABLE} h WHERE h.path=CAST({column} AS BLOB))" if unheld else ""
    if not places:
        return out, ()
    within = saved_kinds.below_sql(column, [os.fsdecode(b"/" + p) for p in places])
    return f"{out} AND NOT {within[0]}", within[1]


def shaped(store: Store, source: str, rel: bytes) -> list[bytes]:
    """The places at or below `rel` (or on the way to it) the catalog knows as a file, symlink or
    special file with a path below them too (the source made one a directory, or the reverse),
    none below another of them: which of their files a copy shows is shapes.py's to tell."""
    ways = [rel[:i] for i in range(len(rel)) if rel[i:i + 1] == b"/"]
    if ways and store.one(f"SELECT 1 FROM paths WHERE source=? AND CAST(path AS BLOB) IN ({','.join('?' * len(ways))})"
                          f" UNION ALL SELECT 1 FROM others WHERE source=? AND CAST(path AS BLOB) IN"
                          f" ({','.join('?' * len(ways))}) LIMIT 1", (source, *ways, source, *ways)):
        return [rel]
    below = _below(rel)
    # (through the index on source and path: the column itself, not CAST, compared)
    probe = ("EXISTS (SELECT 1 FROM {t} c WHERE c.source=? AND c.path>CAST(q.path||'/' AS BLOB)"
             " AND c.path<CAST(q.path||'0' AS BLOB))")
    rows = store.all(
        f"SELECT DISTINCT CAST(q.path AS BLOB) AS path FROM (SELECT p.path FROM paths p WHERE p.source=?{below[0]}"
        f" UNION ALL SELECT p.path FROM others p WHERE p.source=?{below[0]}) q"
        f" WHERE {probe.format(t='paths')} OR {probe.format(t='others')} ORDER BY 1",
        (source, *below[1], source, *below[1], source, source))
    out: list[bytes] = []
    for r in rows:
        path = bytes(r["path"])
        if not out or not path.startswith(out[-1] + b"/"):
            out.append(path)
    return out


def hold(store: Store, sql: tuple[str, tuple]) -> None:
    """The entries of `sql` (backup_sql's, disc_sql's) held: the chosen copy's."""
    store.execute(f"CREATE TEMP TABLE IF NOT EXISTS {TABLE.split('.')[1]}(path BLOB PRIMARY KEY) WITHOUT ROWID")
    store.execute(f"DELETE FROM {TABLE}")
    store.execute(f"INSERT OR IGNORE INTO {TABLE} SELECT path FROM ({sql[0]})", sql[1])


def not_held(store: Store, sql: tuple[str, tuple]) -> list:
    """The rows of `sql` (backup_sql's, disc_sql's given `unheld`), by path."""
    return store.all(f"SELECT * FROM ({sql[0]}) ORDER BY path", sql[1])


def add(store: Store, paths) -> None:
    """`paths` held too."""
    conn = store.conn
    conn.execute("BEGIN")       # one transaction (of the temporary table alone), not one per path
    try:
        conn.executemany(f"INSERT OR IGNORE INTO {TABLE} VALUES (?)", [(p,) for p in paths])
    except BaseException:
        rollback(conn)
        raise
    conn.execute("COMMIT")


def held_at_or_below(store: Store, paths) -> set[bytes]:
    """Those of `paths` held, or with a path below them held (a directory there): one statement
    (one per path took 3 s for 100,000 empty directories)."""
    conn = store.conn
    conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {ASKED.split('.')[1]}(path BLOB PRIMARY KEY, low BLOB, high BLOB)"
                 " WITHOUT ROWID")
    conn.execute("BEGIN")
    try:
        # (in the order of the key: 100,000 paths asked in 1.0 s, not 1.7 s as they came)
        conn.executemany(f"INSERT INTO {ASKED} VALUES (?,?,?)", [(p, p + b"/", p + b"0") for p in sorted(set(paths))])
        rows = conn.execute(f"SELECT a.path FROM {ASKED} a WHERE EXISTS (SELECT 1 FROM {TABLE} h WHERE h.path=a.path)"
                            f" OR EXISTS (SELECT 1 FROM {TABLE} h WHERE h.path>a.low AND h.path<a.high)").fetchall()
    finally:
        rollback(conn)      # the asked paths are not kept
    return {bytes(r[0]) for r in rows}


def let_go(store: Store) -> None:
    store.execute(f"DELETE FROM {TABLE}")
