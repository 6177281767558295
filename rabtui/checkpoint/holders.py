"""The backups a checkpoint may take a directory from, and the kind each saved it as: those that
recorded the directory (`backup_dirs`, not failed there), and those that recorded no kinds (made
before kinds were recorded) where the catalog holds something of the directory saved on their
medium by them or a backup before them. Such a backup is judged archive or standard as every reader
judges it (saved_kinds.archive_in); left out, the data only it holds went onto no disc."""

from __future__ import annotations

from typing import Iterable

from rabtui.state import saved_kinds
from rabtui.state.store import COMPLETE_SQL, Store, as_made, made_first


def backups_holding(store: Store, source: str, path: str, limit: int = -1) -> list:
    """The complete backups of `source` that hold directory `path`, newest first (as made: one dated
    ahead by a wrong clock comes after those made after it)."""
    out = []
    cur = store.execute(
        f"{made_first()}SELECT b.*, d.path IS NULL AS unrecorded FROM backups b"
        " LEFT JOIN backup_dirs d ON d.backup_id=b.id AND d.path=?"
        f" WHERE b.source=? AND b.status IN {COMPLETE_SQL}"
        " AND (d.path IS NOT NULL AND (d.state IS NULL OR d.state != 'failed')"
        "      OR d.path IS NULL AND NOT EXISTS (SELECT 1 FROM backup_dirs x WHERE x.backup_id=b.id))"
        f" ORDER BY {as_made()} DESC, b.id DESC", (source, path, source))
    for r in cur:
        if r["unrecorded"] and not _saved_there(store, r, path):
            continue
        out.append(r)
        if len(out) == limit:
            break
    cur.close()
    return out


def _saved_there(store: Store, backup, path: str) -> bool:
    """Does the catalog hold a file, symlink or special file of directory `path` saved on the
    medium of `backup` (one that recorded no kinds) by it or a backup before it? None where the
    directory was configured after it (it never saved it)."""
    args = (backup["source"], path, backup["medium"], backup["id"])
    return store.one("SELECT 1 FROM paths p JOIN versions v ON v.path_id=p.id WHERE p.source=? AND p.dir=?"
                     " AND v.medium=? AND v.first_backup<=? LIMIT 1", args) is not None or store.one(
        "SELECT 1 FROM others WHERE source=? AND dir=? AND medium=? AND first_backup<=? LIMIT 1", args) is not None


def kind_saved(store: Store, backup_id: int, path: str, archive_now: Iterable[str]) -> str | None:
    """The kind backup `backup_id` saved directory `path` as: recorded, or (it recorded no kinds)
    saved_kinds'; None where it recorded other directories only."""
    rows = {r["path"]: r["kind"] for r in store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?", (backup_id,))}
    if rows:
        return rows.get(path)
    return "archive" if path in saved_kinds.archive_in(store, {"id": backup_id}, archive_now) else "standard"
