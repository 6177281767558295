"""The changed-files trigger: files new or modified at the source since their directory's last
checkpoint, each counted once, however many media of the rotation its new version was written to.

Step 7 records each file version that a backup wrote as a row of `changes`, keyed by (source,
dir, path, size, mtime), in the catalog's transaction, `dir` the configured directory the backup
saved it under (not `paths.dir`, the one the path was first seen in: /data made /data/photos counts
photos' changes for /data/photos): the same version written again onto
another medium is the same row. Not a change: a version that the directory's last checkpoint
holds (a medium back from the drawer gets, as new to it, what the checkpoint already holds), nor
anything written by a backup made before that checkpoint's content (as made, whatever its date). `dir_state.changed_since_checkpoint`
is the number of distinct paths among a directory's rows, kept with them, so that status reads one
number. A run undone by recovery takes its rows back; a checkpoint drops the rows it covers.
A directory never checkpointed and with no rows yet (its first backup) needs none of these tests:
each version written there is a change of a path of its own, stored and counted as it comes.
"""

from __future__ import annotations

import math
import sqlite3
from typing import Iterable

from rabtui.state.paths_below import under_sql

# meta: how many times rows of `changes` were taken (forget, reset, rebuild). A backup's spool finds
# versions there while rsync runs; step 7 trusts what it found if this has not moved since
REMOVED = "changes_removed"

# the checkpoint `number` holds this version of the path (a file cut into parts: its parts' mtime)
_HELD = ("SELECT 1 FROM disc_files f WHERE f.number={n} AND f.source={s} AND f.path={path}"
         " AND f.mtime={mtime} AND (f.size={size} OR f.parts IS NOT NULL)")


def record(conn: sqlite3.Connection, source: str, backup_id: int, written_sql: str, params: dict,
           dirs: Iterable[str], *, dirs_exact: bool = False, files: dict[str, int] | None = None) -> None:
    """Count what backup `backup_id` wrote: `written_sql` (with `params`) selects its versions as
    (dir, path_id, path, size, mtime), `dir` the directory its item came from, of which those
    recorded already may be left out; `dirs`: the directories its items came from (those not
    fresh are counted the general way, unless `dirs_exact` says each is fresh or covered); `files`: with `dirs_exact`, how many versions `written_sql` selects in each directory,
    if known. Called inside the catalog's transaction."""
    # a backup made no later than the last checkpoint's content (as made: by id, not by the dates a
    # wrong clock gave) adds nothing to it: its directories, found once here, not once per file
    covered = {row[0] for row in conn.execute(
        "SELECT ds.path FROM dir_state ds JOIN checkpoint_dirs cd ON cd.number=ds.last_checkpoint"
        " AND cd.source=ds.source AND cd.path=ds.path AND cd.role='data'"
        " WHERE ds.source=:s AND cd.backup_id >= :b", {"s": source, "b": backup_id})}
    # a directory's first backup: its versions stored and counted as they are, with no lookups
    fresh = [d for d in dirs if d not in covered and _fresh(conn, source, d)]
    params = {**params, "s": source, "b": backup_id}
    if fresh:
        marks, named = _in_list("f", fresh)
        conn.execute(f"WITH w(dir, path_id, path, size, mtime) AS ({written_sql})"
                     " INSERT OR IGNORE INTO changes(source, dir, path_id, size, mtime, backup)"
                     f" SELECT :s, dir, path_id, size, mtime, :b FROM w WHERE w.dir IN ({marks})",
                     {**params, **named})
        added = conn.execute("SELECT changes()").fetchone()[0]    # (no rowcount for a WITH ... INSERT)
        known = [files.get(d, 0) for d in fresh] if files is not None and dirs_exact else None
        if known is not None and sum(known) == added:
            # each directory had no row before and got each of its versions (none ignored): its
            # count is its number of versions, without reading a million rows back to count them
            # (a directory with no version gets no row, as from a count of its rows)
            values = ", ".join(f"(:f{i}, :n{i})" for i, n in enumerate(known) if n)
            if values:
                _add_counts(conn, f"SELECT :s, column1, column2 FROM (VALUES {values}) WHERE true",
                            {"s": source, **named, **{f"n{i}": n for i, n in enumerate(known)}})
        else:
            _add_counts(conn, f"SELECT :s, dir, COUNT(*) FROM changes WHERE source=:s AND dir IN ({marks}) GROUP BY dir",
                        {"s": source, **named})
    if dirs_exact and covered.union(fresh).issuperset(dirs):
        return      # no version is in another directory
    conn.execute("CREATE TEMP TABLE IF NOT EXISTS backup_changes("
                 " dir TEXT NOT NULL, path_id INTEGER NOT NULL, size INTEGER NOT NULL, mtime INTEGER NOT NULL)")
    conn.execute("DELETE FROM temp.backup_changes")
    held = _HELD.format(n="ds.last_checkpoint", s=":s", path="w.path", mtime="w.mtime", size="w.size")
    marks, named = _in_list("c", [*covered, *fresh])
    conn.execute(
        f"WITH w(dir, path_id, path, size, mtime) AS ({written_sql})"
        " INSERT INTO temp.backup_changes SELECT w.dir, w.path_id, w.size, w.mtime FROM w"
        " LEFT JOIN dir_state ds ON ds.source=:s AND ds.path=w.dir"
        f" WHERE w.dir NOT IN ({marks})"
        # a version recorded already (another medium got it first) is neither counted nor added again
        " AND NOT EXISTS (SELECT 1 FROM changes c WHERE c.source=:s AND c.dir=w.dir AND c.path_id=w.path_id"
        "  AND c.size=w.size AND c.mtime=w.mtime)"
        f" AND (ds.last_checkpoint IS NULL OR NOT EXISTS ({held}))",
        {**params, **named})
    # a backup writes one version of a path, so each path is one row here: counted without a sort
    _add_counts(conn, "SELECT :s, t.dir, COUNT(*) FROM temp.backup_changes t"
                " WHERE NOT EXISTS (SELECT 1 FROM changes c WHERE c.source=:s AND c.dir=t.dir AND c.path_id=t.path_id)"
                " GROUP BY t.dir", {"s": source})
    conn.execute("INSERT OR IGNORE INTO changes(source, dir, path_id, size, mtime, backup)"
                 " SELECT :s, dir, path_id, size, mtime, :b FROM temp.backup_changes", {"s": source, "b": backup_id})
    conn.execute("DELETE FROM temp.backup_changes")


def _fresh(conn: sqlite3.Connection, source: str, dir_path: str) -> bool:
    return conn.execute(
        "SELECT NOT EXISTS (SELECT 1 FROM changes WHERE source=:s AND dir=:d)"
        " AND NOT EXISTS (SELECT 1 FROM dir_state WHERE source=:s AND path=:d AND last_checkpoint IS NOT NULL)",
        {"s": source, "d": dir_path}).fetchone()[0] == 1


def _add_counts(conn: sqlite3.Connection, counts_sql: str, params: dict) -> None:
    """Add the new changes that `counts_sql` selects as (source, dir, count) to their directories."""
    conn.execute(f"INSERT INTO dir_state(source, path, changed_since_checkpoint) {counts_sql}"
                 " ON CONFLICT(source, path) DO UPDATE SET"
                 " changed_since_checkpoint = changed_since_checkpoint + excluded.changed_since_checkpoint", params)


def _in_list(prefix: str, values: list) -> tuple[str, dict]:
    """`:p0, :p1, ...` for `IN (...)` among named parameters, and those parameters."""
    named = {f"{prefix}{i}": v for i, v in enumerate(values)}
    return ", ".join(f":{name}" for name in named), named


def removed(conn: sqlite3.Connection) -> int:
    row = conn.execute("SELECT CAST(value AS INTEGER) FROM meta WHERE key=?", (REMOVED,)).fetchone()
    return 0 if row is None else row[0]


def _removing(conn: sqlite3.Connection) -> None:
    conn.execute("INSERT INTO meta(key, value) VALUES (?, '1')"
                 " ON CONFLICT(key) DO UPDATE SET value=CAST(value AS INTEGER) + 1", (REMOVED,))


def forget(conn: sqlite3.Connection, backup_id: int) -> None:
    """A run undone by recovery: the versions only it wrote are changes no more."""
    dirs = conn.execute("SELECT DISTINCT source, dir FROM changes WHERE backup=?", (backup_id,)).fetchall()
    if conn.execute("DELETE FROM changes WHERE backup=?", (backup_id,)).rowcount:
        _removing(conn)
    for source, dir_path in dirs:
        recount(conn, source, dir_path)


def reset(conn: sqlite3.Connection, source: str, dir_path: str, number: int, *, kind: str | None = None,
          taken: float | None = None) -> None:
    """Checkpoint `number` holds `dir_path` as its content backup had it (`taken`: when that
    backup started, if the checkpoint does not name it): the changes it covers go. Those are the
    versions it holds, and what backups that started no later than that one wrote: a standard
    directory's later state replaces them; an archive directory keeps every file, so there only the
    paths the checkpoint holds are covered (a file saved only on a medium other than the one the
    content came from is still a change)."""
    if kind is None:
        row = conn.execute("SELECT d.kind FROM backup_dirs d JOIN backups b ON b.id=d.backup_id WHERE b.source=?"
                           " AND d.path=? ORDER BY b.started DESC LIMIT 1", (source, dir_path)).fetchone()
        kind = row[0] if row else "standard"
    held = _HELD.format(n=":n", s=":s", path="p.path", mtime="changes.mtime", size="changes.size")
    held_path = "SELECT 1 FROM disc_files f WHERE f.number=:n AND f.source=:s AND f.path=p.path"
    # the backups made no later than the content backup (as made: by id, whatever their dates, as
    # a clock that was wrong gave them), else those that started no later than `taken`
    content = conn.execute("SELECT c.id FROM checkpoint_dirs cd JOIN backups c ON c.id=cd.backup_id"
                           " WHERE cd.number=? AND cd.source=? AND cd.path=?", (number, source, dir_path)).fetchone()
    before = "id <= :content" if content is not None else "started <= :taken"
    taken_rows = conn.execute(
        "DELETE FROM changes WHERE source=:s AND dir=:d AND EXISTS (SELECT 1 FROM paths p WHERE p.id=changes.path_id"
        f" AND (EXISTS ({held}) OR (changes.backup IN (SELECT id FROM backups WHERE source=:s AND {before})"
        f"   AND (:standard OR EXISTS ({held_path})))))",
        {"s": source, "d": dir_path, "n": number, "taken": taken, "standard": kind == "standard",
         "content": content[0] if content is not None else None}).rowcount
    if taken_rows:
        _removing(conn)
    recount(conn, source, dir_path)


def rebuild(conn: sqlite3.Connection) -> None:
    """The changes from the catalog (after rebuild-state, or in a database made before them): each
    version a complete backup (or kept data) wrote, less what each directory's last checkpoint covers
    (taken no later than the checkpoint was made, when it does not name its content backup)."""
    _removing(conn)
    conn.execute("DELETE FROM changes")
    # each version's row names the first backup that wrote it since its directory's last checkpoint
    # (those the checkpoint covers, as reset below takes them, sort last): a version the checkpoint
    # covers that was written again after it (the file changed, then back as it was) stays a change
    # in the directory the backup saved it under (record's), else (none recorded) the path's first
    saved_under = (f"COALESCE((SELECT r.path FROM backup_dirs r WHERE r.backup_id=v.first_backup"
                   f" AND {under_sql('q.path', 'r.path')} ORDER BY length(r.path) DESC LIMIT 1), q.dir)")
    conn.execute(
        "INSERT OR IGNORE INTO changes(source, dir, path_id, size, mtime, backup)"
        " SELECT p.source, p.dir, v.path_id, v.size, v.mtime, v.first_backup FROM versions v"
        f" JOIN (SELECT v.id, q.source, {saved_under} AS dir FROM versions v JOIN paths q ON q.id=v.path_id) p"
        " ON p.id=v.id JOIN backups b ON b.id=v.first_backup"
        " LEFT JOIN dir_state d ON d.source=p.source AND d.path=p.dir"
        " LEFT JOIN checkpoint_dirs cd ON cd.number=d.last_checkpoint AND cd.source=p.source AND cd.path=p.dir"
        " LEFT JOIN backups c ON c.id=cd.backup_id"
        " WHERE b.status IN ('completed', 'warnings', 'kept')"
        " ORDER BY CASE WHEN d.last_checkpoint IS NULL THEN 0 WHEN c.id IS NOT NULL THEN b.id <= c.id"
        "   ELSE b.started <= CAST(d.last_checkpoint_time AS INTEGER) - 0.5 END, b.started, b.id")
    dirs = {(r[0], r[1]): r for r in conn.execute(
        "SELECT source, path, last_checkpoint, last_checkpoint_time FROM dir_state").fetchall()}
    dirs.update({key: None for key in conn.execute("SELECT DISTINCT source, dir FROM changes").fetchall()
                 if key not in dirs})
    for (source, dir_path), row in dirs.items():
        if row is not None and row[2] is not None:
            # a rebuilt backup's start is its name's whole second: one that started in the same
            # second as the checkpoint was made may have come after it, and stays counted
            reset(conn, source, dir_path, row[2], taken=math.floor(row[3]) - 0.5 if row[3] is not None else None)
        else:
            recount(conn, source, dir_path)


def recount(conn: sqlite3.Connection, source: str, dir_path: str) -> None:
    conn.execute(
        "INSERT INTO dir_state(source, path, changed_since_checkpoint)"
        " SELECT :s, :d, COUNT(DISTINCT path_id) FROM changes WHERE source=:s AND dir=:d"
        " ON CONFLICT(source, path) DO UPDATE SET changed_since_checkpoint=excluded.changed_since_checkpoint",
        {"s": source, "d": dir_path})
