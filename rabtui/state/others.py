"""The symlinks and special files in the catalog (`others`, schema.py): found by name as `find`
finds the files, with the backups holding each. Directories are not recorded: a directory with
entries is found by theirs.
"""

from __future__ import annotations

import threading

from rabtui.state.catalog import Location, Version, _Backups, _below, _exactly
from rabtui.state.name_match import as_glob, matches, prefilter
from rabtui.state.store import COMPLETE_SQL, KEPT, Store

# what find calls them, as a checkpoint's catalog marks them (checkpoint/marks.py)
KINDS = {ord("L"): "symlink", ord("D"): "special", ord("S"): "special"}


def find(store: Store, pattern: str, source: str | None = None, archive_dirs: dict | None = None,
         ignore_case: bool = False, cancel: threading.Event | None = None) -> list[Version]:
    """As catalog.find, the symlinks and special files matching `pattern` (the catalog's `others`), each
    (kind, mtime) of a path with the backups holding it; their size is 0, as a checkpoint's catalog
    has it."""
    pat = as_glob(pattern)
    test, test_params = prefilter(pat, ignore_case)
    where = "source=?" if source else "1"
    archive_dirs = archive_dirs or {}
    with store.interruptible(cancel):
        rows = store.all(f"SELECT * FROM others WHERE {where} AND {test} ORDER BY first_backup",
                         ((source,) if source else ()) + test_params)
    rows = [r for r in rows if matches(bytes(r["path"]), pat, ignore_case)]
    if not rows:
        return []
    backups = _Backups(store, source)
    out: dict[tuple, Version] = {}
    for r in rows:
        is_archive = r["dir"] in archive_dirs.get(r["source"], ())
        names, in_union = backups.holding(r["source"], r["medium"], r["dir"], r["first_backup"], r["last_backup"],
                                          is_archive)
        if not names and not is_archive:
            continue
        kind = KINDS.get(r["kind"], "special")
        key = (r["source"], bytes(r["path"]), kind, r["mtime"])
        ver = out.setdefault(key, Version(r["source"], bytes(r["path"]), 0, r["mtime"], kind=kind))
        ver.locations.append(Location("backup", medium=r["medium"], backups=names,
                                      archive=in_union))
    return list(out.values())


def archive_as_of(store: Store, backup, dir_path: str, prefix: bytes = b"",
                  paths: tuple[bytes, ...] | None = None) -> dict[bytes, tuple[int, int, int]]:
    """path -> (kind, mtime, first_backup) of an archive directory's symlinks and special files at
    or below `prefix` (given `paths`: those alone) as they stood on the backup's medium after it,
    as catalog.archive_as_of has its files: for each path, the newest entry saved there by a
    backup up to it (an archive's entry is in the backup that saved it and in the union, its range
    that backup alone)."""
    return {path: saved[-1] for path, saved in archive_saved(store, backup, dir_path, prefix, paths).items()}


def archive_saved(store: Store, backup, dir_path: str, prefix: bytes = b"",
                  paths: tuple[bytes, ...] | None = None) -> dict[bytes, list[tuple[int, int, int]]]:
    """path -> [(kind, mtime, first_backup)] of every entry saved at each path (archive_as_of's),
    oldest first: by kept backups and complete ones alike."""
    below, below_args = _below(prefix) if paths is None else _exactly(paths)
    out: dict[bytes, list[tuple[int, int, int]]] = {}
    for r in store.all(
            "SELECT p.path, p.kind, p.mtime, p.first_backup FROM others p WHERE p.medium=? AND p.source=?"
            f" AND p.dir=? AND p.first_backup<=?{below} ORDER BY p.first_backup",
            (backup["medium"], backup["source"], dir_path, backup["id"], *below_args)):
        out.setdefault(bytes(r["path"]), []).append((r["kind"], r["mtime"], r["first_backup"]))
    return out


def complete_ids(store: Store, backup) -> set[int]:
    """The complete backups of the backup's source on its medium (linked into the union)."""
    return {r["id"] for r in store.all(f"SELECT id FROM backups WHERE source=? AND medium=? AND status IN {COMPLETE_SQL}",
                                       (backup["source"], backup["medium"]))}


def union_entry_backups(store: Store, backup, dir_path: str, paths: tuple[bytes, ...], complete: set[int]
                        ) -> dict[bytes, int]:
    """path -> the newest of the complete backups (`complete`) up to `backup` that saved a symlink or
    a special file at each of `paths` (none where none did): the union's there, if it holds one. A
    kept backup's file or entry saved after it there is the newer (union_entry_older)."""
    out = {}
    for path, saved in archive_saved(store, backup, dir_path, paths=paths).items():
        if linked := _linked(saved, complete):
            out[path] = linked
    return out


def union_entry_older(saved: list[tuple[int, int, int]], file_first: int | None, complete: set[int]) -> bool:
    """Is the union's symlink, FIFO or device node at a path, whose entries saved up to a backup are
    `saved` (archive_saved's), not the newest entry saved there as of that backup: no complete
    backup (`complete`) up to it saved one there (a newer one did), or a backup after that one saved
    a file there (`file_first`: the backup that saved the newest, None: none) or another entry (a
    kept backup's, never linked into the union)? The newest saved there wins, whatever its kind."""
    linked = _linked(saved, complete)
    if not linked:
        return True
    return saved[-1][2] > linked or (file_first is not None and file_first > linked)


def _linked(saved: list[tuple[int, int, int]], complete: set[int]) -> int:
    """The newest of the complete backups that saved the entries `saved` (0: none)."""
    return max((first for _kind, _mtime, first in saved if first in complete), default=0)


def _holds(backup) -> tuple[str, tuple]:
    """SQL (on `p`) true for the entry of a standard directory a backup holds: the one whose range
    holds it (kept data: its own, as catalog.contents)."""
    first = "=" if backup["status"] == KEPT else "<="
    return (f"p.medium=? AND p.first_backup{first}? AND p.last_backup>=?", (backup["medium"], backup["id"], backup["id"]))


def changes(store: Store, a, b, archive_dirs: tuple[str, ...] = (), prefix: bytes = b"") -> list[tuple]:
    """The symlinks and special files (at or below `prefix`) that differ from backup `a` to backup
    `b`, compared in SQL: (path, kind in a, kind in b), a kind None where that backup holds none.
    Changed: another kind or mtime; on one medium, another entry too (rsync made it anew rather
    than link the one before: a symlink's target or a device's numbers changed, which `others`
    does not hold). Kept data has entries of its own whatever changed, so beside it only the first
    test tells. An archive directory's entries are those of its union (archive_as_of)."""
    below, below_args = _below(prefix)
    same = a["medium"] == b["medium"] and KEPT not in (a["status"], b["status"])
    in_a, a_args = _holds(a)
    in_b, b_args = _holds(b)
    # One pass over the table gathers each path's entries in a and in b: of a standard directory
    # the entry itself (ia, ka, ta), of an archive directory the newest saved up to the backup
    # (fa: when), read again by others_path for the paths that may differ. Not through others_path
    # in the pass: no index holds the backup range, and a look-up in the table for each of the
    # source's entries (in the index's order) took 3-4x as long as the table read in its order.
    grouped = (
        f"SELECT p.path, max(p.in_arc) AS arc, {_side('a')}, {_side('b')} FROM ("
        f"SELECT p.*, NOT p.in_arc AND {in_a} AS in_a, NOT p.in_arc AND {in_b} AS in_b,"
        " p.in_arc AND p.medium=? AND p.first_backup<=? AS up_a, p.in_arc AND p.medium=? AND p.first_backup<=? AS up_b"
        f" FROM (SELECT p.*, p.dir IN ({','.join('?' * len(archive_dirs))}) AS in_arc FROM others p NOT INDEXED"
        f" WHERE p.source=?{below}) p) p WHERE in_a OR in_b OR up_a OR up_b GROUP BY p.path"
        " HAVING arc AND (fa IS NOT fb OR NOT ?)"
        " OR NOT arc AND (ia IS NULL OR ib IS NULL OR ka<>kb OR ta<>tb OR (? AND ia<>ib))")
    params = (*a_args, *b_args, a["medium"], a["id"], b["medium"], b["id"], *archive_dirs, a["source"],
              *below_args, same, same)
    rows = store.all(
        f"SELECT g.path, coalesce(g.ka, oa.kind), coalesce(g.kb, ob.kind) FROM ({grouped}) g"
        " LEFT JOIN others oa ON g.arc AND oa.source=? AND oa.path=g.path AND oa.medium=? AND oa.first_backup=g.fa"
        " LEFT JOIN others ob ON g.arc AND ob.source=? AND ob.path=g.path AND ob.medium=? AND ob.first_backup=g.fb"
        " WHERE NOT g.arc OR g.fa IS NULL OR g.fb IS NULL OR oa.kind<>ob.kind OR oa.mtime<>ob.mtime OR ?",
        (*params, a["source"], a["medium"], b["source"], b["medium"], same))
    return [(bytes(r[0]), _shown(r[1]), _shown(r[2])) for r in rows]


def _side(x: str) -> str:
    """The aggregates of one side (a or b) of changes()'s pass: the standard directory's entry
    the backup holds (its id, kind, mtime), an archive directory's newest up to the backup."""
    return (f"max(CASE WHEN in_{x} THEN p.id END) AS i{x}, max(CASE WHEN in_{x} THEN p.kind END) AS k{x},"
            f" max(CASE WHEN in_{x} THEN p.mtime END) AS t{x}, max(CASE WHEN up_{x} THEN p.first_backup END) AS f{x}")


def _shown(kind: int | None) -> str | None:
    return None if kind is None else KINDS.get(kind, "special")
