"""The catalog after backups are gone (a cleanup deleted them): the ranges of the versions, and of
the symlinks and special files, that start or end at one of them moved to the live backups that
hold them, each backup judged by the kind it saved the directory as (backup_dirs): one that saved
it as an archive one holds only the versions it saved itself (never extends a range), so a
version's range starts and ends at the first and last live backups that saved the directory as a
standard one, or at the archive backup that saved it, else the version is in no backup and goes.
A backup that recorded no kinds is judged by saved_kinds.judged's rule (its medium's union),
as every reader judges it."""

from __future__ import annotations

import time

from rabtui.config import Config
from rabtui.state import paths_below, saved_kinds
from rabtui.state.store import COMPLETE_SQL, Store


def forget_backups(store: Store, backup_ids: list[int], cfg: Config | None = None) -> None:
    """The catalog after these backups are gone, in one transaction: mark them deleted, move each
    version range that starts or ends at one of them to the live backups next to it that hold it,
    drop versions left in no backup (an archive backup's own, where no standard backup after it
    extended them), and the paths they could not read on the source (what a backup lacked goes
    with it, as what it held does; its row and its directories' rows, their counts of unreadable
    paths, stay: the record of the run). It reads `versions` a fixed number of times whatever the
    number of backups (one backup at a time read it four times each: a month's cleanup of a
    million-file source took minutes)."""
    if not backup_ids:
        return
    marks = ",".join("?" * len(backup_ids))
    rows = store.all(f"SELECT id, source, medium FROM backups WHERE id IN ({marks})", tuple(backup_ids))
    if not rows:
        return
    ids = [r["id"] for r in rows]
    with store.transaction() as conn:
        conn.execute(f"UPDATE backups SET status='deleted', finished=COALESCE(finished, ?) WHERE id IN ({marks})",
                     (time.time(), *ids))
        # each gone backup with the live backups next to it (on its medium, of its source): of any
        # kind, and for each directory those that saved it as a standard one
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS gone_backups(id INTEGER PRIMARY KEY, nxt INTEGER, prv INTEGER)")
        conn.execute("CREATE TEMP TABLE IF NOT EXISTS gone_dirs(id INTEGER, dir TEXT, nxt INTEGER, prv INTEGER,"
                     " PRIMARY KEY(id, dir))")
        for table in ("gone_backups", "gone_dirs"):
            conn.execute(f"DELETE FROM temp.{table}")
        live = f"SELECT {{fn}}(b.id) FROM backups b WHERE b.source=? AND b.medium=? AND b.status IN {COMPLETE_SQL}" \
               " AND b.id {op} ?"
        # one that recorded no kinds: as saved_kinds.judged takes it
        standard = (" AND (EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id AND d.path=? AND d.kind<>'archive')"
                    f" OR NOT {saved_kinds.archive_sql('b', '?', '?')}"
                    " AND NOT EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id))")
        for r in rows:
            key = (r["source"], r["medium"], r["id"])
            conn.execute("INSERT INTO temp.gone_backups VALUES (?, (" + live.format(fn="MIN", op=">") + "), ("
                         + live.format(fn="MAX", op="<") + "))", (r["id"], *key, *key))
            for d, archive_now in _dirs(conn, cfg, r["source"]).items():
                kind = (d, d, d, archive_now, d)
                conn.execute("INSERT INTO temp.gone_dirs VALUES (?, ?, (" + live.format(fn="MIN", op=">") + standard
                             + "), (" + live.format(fn="MAX", op="<") + standard + "))",
                             (r["id"], d, *key, *kind, *key, *kind))
        gone = "SELECT id FROM temp.gone_backups"
        conn.execute(f"DELETE FROM unreadable WHERE backup_id IN ({gone})")
        for table, path_of in (("versions", "(SELECT p.path FROM paths p WHERE p.id=versions.path_id)"),
                               ("others", "others.path")):     # the symlinks and special files as the files
            def moved(end: str, new: str) -> str:
                """The new `end` (first or last) of a range at a gone backup: by the standard
                backups next to it of the directories holding the path (gone_dirs: /data and
                /data/photos, where the config changed from the one to the other), else (a directory
                neither the config nor a backup names) by the backups next to it."""
                return (f"COALESCE((SELECT CASE WHEN COUNT(*) THEN {new.format(nxt='MIN(g.nxt)', prv='MAX(g.prv)')} END"
                        f" FROM temp.gone_dirs g WHERE g.id={table}.{end} AND {paths_below.under_sql(path_of, 'g.dir')}),"
                        f" (SELECT {new.format(nxt='h.nxt', prv='h.prv')} FROM temp.gone_backups h WHERE h.id={table}.{end}))")
            conn.execute(f"UPDATE {table} SET first_backup="
                         + moved("first_backup", f"CASE WHEN {table}.last_backup >= {{nxt}} THEN {{nxt}} ELSE -1 END")
                         + f" WHERE first_backup IN ({gone})")
            # the first backup, live, holds it whatever the kind it saved the directory as
            conn.execute(f"UPDATE {table} SET last_backup="
                         + moved("last_backup", f"CASE WHEN {{prv}} >= {table}.first_backup THEN {{prv}}"
                                                f" ELSE {table}.first_backup END")
                         + f" WHERE last_backup IN ({gone}) AND first_backup<>-1")
            conn.execute(f"DELETE FROM {table} WHERE first_backup=-1 OR last_backup=-1")
        saved_kinds.drop_looks(conn, ids)


def _dirs(conn, cfg: Config | None, source: str) -> dict[str, bool]:
    """The source's directories, of the config and of its backups' records: dir -> archive in the
    config now."""
    try:
        configured = {d.path: d.kind == "archive" for d in cfg.source(source).directories} if cfg else {}
    except Exception:       # a source no longer in the config
        configured = {}
    recorded = [r[0] for r in conn.execute("SELECT DISTINCT d.path FROM backup_dirs d JOIN backups b ON b.id=d.backup_id"
                                           " WHERE b.source=?", (source,))]
    return {**{d: False for d in recorded}, **configured}
