"""The backups a checkpoint may take a directory from, and the kind each saved it as: those that
recorded the directory (`backup_dirs`, not failed there), and those that recorded no kinds (made
before kinds were recorded) where the catalog holds something of the directory saved on their
medium by them or a backup before them, and no file or FIFO saved at its place since (one of the
directory around it saved there: they hold no such directory). Such a backup is judged archive or standard as every reader
judges it (saved_kinds.archive_in); left out, the data only it holds went onto no disc."""

from __future__ import annotations

from bisect import bisect_right
from pathlib import PurePosixPath
from typing import Iterable

from rabtui.state import catalog, saved_kinds
from rabtui.state.paths_below import below_sql, under_sql
from rabtui.state.store import COMPLETE_SQL, Store, as_made, made_first


def backups_holding(store: Store, source: str, path: str, limit: int = -1) -> list:
    """The complete backups of `source` that hold directory `path`, newest first (as made: one dated
    ahead by a wrong clock comes after those made after it): those that recorded it, those that
    recorded an archive directory around it (/data, the config naming /data/photos since or again:
    its union is theirs too) and those that recorded no kinds, the two last where it was a
    directory as of them."""
    out = []
    first_saved: dict[str, int | None] = {}     # medium -> _first_saved's, asked once
    shapes: dict = {}       # medium (or medium and a place on the way there) -> _saved_at_and_below's, asked once
    # one that saved an archive directory around it linked what it saved there into the same union
    # (under_sql names its path twice)
    around = (f"(SELECT a.path FROM backup_dirs a WHERE a.backup_id=b.id AND a.kind='archive' AND a.path!=?"
              f" AND (a.state IS NULL OR a.state != 'failed') AND {under_sql('?', 'a.path')} LIMIT 1)")
    rel = catalog.rel_path(path)
    cur = store.execute(
        f"{made_first()}SELECT * FROM (SELECT b.*, d.path IS NULL AS unrecorded,"
        f" CASE WHEN d.path IS NULL THEN {around} END AS around FROM backups b"
        " LEFT JOIN backup_dirs d ON d.backup_id=b.id AND d.path=?"
        f" WHERE b.source=? AND b.status IN {COMPLETE_SQL}"
        " AND (d.path IS NOT NULL AND (d.state IS NULL OR d.state != 'failed')"
        "      OR d.path IS NULL AND NOT EXISTS (SELECT 1 FROM backup_dirs x WHERE x.backup_id=b.id)"
        f"     OR d.path IS NULL AND {around} IS NOT NULL)) b"
        f" ORDER BY {as_made()} DESC, b.id DESC", (source, path, rel, rel, path, source, path, rel, rel))
    try:
        for r in cur:
            if r["around"] is not None and any(
                    _no_directory_as_of(shapes.setdefault((r["medium"], place), _saved_at_and_below(
                        store, source, place, r["medium"])), r["id"]) for place in _on_the_way(r["around"], path)):
                continue    # it saved a file, FIFO or symlink on the way there: it holds no such directory
            if r["unrecorded"]:
                if r["medium"] not in first_saved:
                    first_saved[r["medium"]] = _first_saved(store, source, path, r["medium"])
                if first_saved[r["medium"]] is None or first_saved[r["medium"]] > r["id"]:
                    continue    # nothing of it saved there up to it: configured after it
                if r["medium"] not in shapes:
                    shapes[r["medium"]] = _saved_at_and_below(store, source, path, r["medium"])
                if _no_directory_as_of(shapes[r["medium"]], r["id"]):
                    continue    # it saved a file or a FIFO there: the newest shape up to it
            out.append(r)
            if len(out) == limit:
                break
    finally:
        cur.close()
    return out


def _first_saved(store: Store, source: str, path: str, medium: str) -> int | None:
    """The first backup that saved a file, symlink or special file of directory `path` on `medium`
    the catalog holds (None: none), saving `path` or a directory around it (/data, the config naming
    /data/photos since: its backups hold photos); not one inside it only (it holds none of the rest)."""
    around = [path, *(str(p) for p in PurePosixPath(path).parents)]
    below, below_args = below_sql("p.path", [path])
    marks = ",".join("?" * len(around))
    firsts = [store.one("SELECT MIN(v.first_backup) FROM paths p JOIN versions v ON v.path_id=p.id"
                        f" WHERE p.source=? AND p.dir IN ({marks}) AND {below} AND v.medium=?",
                        (source, *around, *below_args, medium))[0],
              store.one(f"SELECT MIN(first_backup) FROM others p WHERE source=? AND dir IN ({marks}) AND {below}"
                        " AND medium=?", (source, *around, *below_args, medium))[0]]
    return min((f for f in firsts if f is not None), default=None)


def kind_saved(store: Store, backup_id: int, path: str, archive_now: Iterable[str]) -> str | None:
    """The kind backup `backup_id` saved directory `path` as: recorded, or (it recorded no kinds)
    saved_kinds'; None where it recorded other directories only."""
    rows = {r["path"]: r["kind"] for r in store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?", (backup_id,))}
    if rows:
        return rows.get(path) or ("archive" if any(k == "archive" and _around(p, path) for p, k in rows.items())
                                  else None)
    return "archive" if path in saved_kinds.archive_in(store, {"id": backup_id}, archive_now) else "standard"



def _on_the_way(outer: str, path: str) -> list[str]:
    """The directories from the one inside `outer` on the way to `path` down to `path` itself."""
    return [str(p) for p in (PurePosixPath(path), *PurePosixPath(path).parents) if _around(outer, str(p))]


def _around(outer: str, path: str) -> bool:
    """Is directory `outer` one around directory `path` (holding it, not it)?"""
    return outer != path and (path.rstrip("/") + "/").startswith(outer.rstrip("/") + "/")


def _saved_at_and_below(store: Store, source: str, path: str, medium: str) -> tuple[list[int], list[int]]:
    """The backups that first saved a file, symlink or special file at `path` on `medium`, and
    those that first saved one below it, each sorted (read once a medium: the files below are many)."""
    at = catalog.rel_path(path)
    below, below_args = below_sql("p.path", [path])
    out = []
    for test, args in (("CAST(p.path AS BLOB)=?", (at,)), (f"{below} AND CAST(p.path AS BLOB)!=?", (*below_args, at))):
        firsts = {f for (f,) in store.execute(
            f"SELECT DISTINCT v.first_backup FROM paths p JOIN versions v ON v.path_id=p.id WHERE p.source=?"
            f" AND {test} AND v.medium=?", (source, *args, medium))}
        firsts |= {f for (f,) in store.execute(f"SELECT DISTINCT p.first_backup FROM others p WHERE p.source=?"
                                               f" AND {test} AND p.medium=?", (source, *args, medium))}
        out.append(sorted(firsts))
    return out[0], out[1]


def _no_directory_as_of(saved: tuple[list[int], list[int]], upto: int) -> bool:
    """Is the place no directory as of backup `upto` (the newest shape wins: state/shapes.py), a
    file, symlink or special file saved at it (`saved`: _saved_at_and_below's) after everything
    saved below it? A backup of the directory around it that saved a FIFO there holds no directory."""
    at, below = (firsts[:bisect_right(firsts, upto)] for firsts in saved)
    return bool(at) and at[-1] > (below[-1] if below else -1)
