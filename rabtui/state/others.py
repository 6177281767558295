"""The symlinks and special files in the catalog (`others`, schema.py): found by name as `find`
finds the files, with the backups holding each. Directories are not recorded: a directory with
entries is found by theirs.
"""

from __future__ import annotations

import stat
import threading

from rabtui.state.backup_ranges import BackupRanges
from rabtui.state.catalog import Location, Version, _below, _exactly, _in_any
from rabtui.state import others_shapes, saved_kinds, union_shapes
from rabtui.state.name_match import as_glob, matches, prefilter
from rabtui.state.schema import OTHERS_FROM
from rabtui.state.store import COMPLETE_SQL, KEPT, Store

# what find calls them, as a checkpoint's catalog marks them (checkpoint/marks.py)
KINDS = {ord("L"): "symlink", ord("D"): "special", ord("S"): "special"}
# the catalog's letter -> the st_mode tests one of the entries it stands for passes, and its name
# (rsync itemizes a FIFO and a socket alike: one gone from the medium may be either)
_MODES = {ord("L"): (stat.S_ISLNK,), ord("S"): (stat.S_ISFIFO, stat.S_ISSOCK), ord("D"): (stat.S_ISBLK, stat.S_ISCHR)}
NAMES = {ord("L"): "symlink", ord("S"): "FIFO or socket", ord("D"): "device node"}


def recorded(store: Store, backup, union: bool = False) -> bool:
    """Whether the catalog holds the symlinks and special files `backup` saved (those of a database
    made before it recorded them are not: schema.OTHERS_FROM); `union`: those of the archive
    directories' union it read too, which may hold any older backup's, of rows long gone."""
    row = store.one("SELECT value FROM meta WHERE key=?", (OTHERS_FROM,))
    return row is None or (not union and backup["id"] >= int(row["value"]))


def of_kind(kind: int, mode: int) -> bool:
    """Is an entry of `mode` (st_mode) of the kind the catalog's letter `kind` says (S: a FIFO or a
    socket, D: a block or character device)?"""
    return any(test(mode) for test in _MODES.get(kind, ()))


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
    backups = BackupRanges(store, source)
    out: dict[tuple, Version] = {}
    in_unions: list[tuple] = []     # (union_shapes.lost's, location) of those the union holds
    for r in rows:
        # by the directory holding its path, as catalog.find: /data made /data/photos, or back
        is_archive = _in_any(bytes(r["path"]), archive_dirs.get(r["source"], ()))
        names, in_union = backups.holding(r["source"], r["medium"], r["dir"], r["first_backup"], r["last_backup"],
                                          is_archive, bytes(r["path"]))
        if not names and not is_archive:
            continue
        kind = KINDS.get(r["kind"], "special")
        key = (r["source"], bytes(r["path"]), kind, r["mtime"])
        ver = out.setdefault(key, Version(r["source"], bytes(r["path"]), 0, r["mtime"], kind=kind))
        loc = Location("backup", medium=r["medium"], backups=names, archive=in_union)
        ver.locations.append(loc)
        if in_union:
            in_unions.append((r["source"], r["dir"], r["id"], bytes(r["path"]), r["medium"], r["first_backup"], loc))
    # where a newer entry or a newer shape of its place took it from the union, it is in it no more
    gone = union_shapes.lost(store, backups, [u[:-1] for u in in_unions], "others")
    for _source, _dir, row_id, _path, medium, first, loc in in_unions:
        loc.archive = (row_id, medium, first) not in gone
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
    oldest first: by kept backups and complete ones alike, that saved the directory as an archive
    one (saved_kinds; one that recorded no kinds: as the caller does, by the config now)."""
    below, below_args = _below(prefix) if paths is None else _exactly(paths)
    saved, saved_args = saved_kinds.saved_sql(store, backup, (dir_path,), (dir_path,), "p.first_backup", "p.path")
    within, within_args = saved_kinds.below_sql("p.path", (dir_path,))
    out: dict[bytes, list[tuple[int, int, int]]] = {}
    for r in store.all(
            "SELECT p.path, p.kind, p.mtime, p.first_backup FROM others p WHERE p.medium=? AND p.source=?"
            f" AND {within} AND p.first_backup<=? AND {saved}{below} ORDER BY p.first_backup",
            (backup["medium"], backup["source"], *within_args, backup["id"], *saved_args, *below_args)):
        out.setdefault(bytes(r["path"]), []).append((r["kind"], r["mtime"], r["first_backup"]))
    return out


def saved_pointing(store: Store, backup, dir_path: str, prefix: bytes = b"") -> dict[tuple[bytes, int], tuple]:
    """(path, first_backup) -> (kind, target, rdev) of the symlinks and device nodes of an archive
    directory at or below `prefix` saved on the backup's medium up to it (each backup's own, kept
    ones' too) whose target or numbers the catalog knows (media/points_to.py)."""
    below, below_args = _below(prefix)
    within, within_args = saved_kinds.below_sql("p.path", (dir_path,))
    return {(bytes(r[0]), r[1]): (r[2], None if r[3] is None else bytes(r[3]), r[4]) for r in store.tuples(
        "SELECT p.path, p.first_backup, p.kind, p.target, p.rdev FROM others p WHERE p.medium=? AND p.source=?"
        f" AND {within} AND p.first_backup<=? AND (p.target IS NOT NULL OR p.rdev IS NOT NULL){below}",
        (backup["medium"], backup["source"], *within_args, backup["id"], *below_args))}


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


def held(store: Store, backup, prefix: bytes) -> dict[bytes, int]:
    """path -> kind (the catalog's letter) of the symlinks and special files at or below `prefix`
    that a backup's own tree holds (a standard directory's), as catalog.contents(own=True) has its
    files."""
    below, below_args = _below(prefix)
    holds, holds_args = _holds(backup)
    return {bytes(path): kind for path, kind in store.tuples(
        f"SELECT p.path, p.kind FROM others p WHERE p.source=? AND {holds}{below}",
        (backup["source"], *holds_args, *below_args))}


def pointing(store: Store, backup, prefix: bytes) -> dict[bytes, tuple[int, bytes | None, int | None]]:
    """path -> (kind, target, rdev) of the symlinks and device nodes at or below `prefix` that a
    backup's own tree holds (held's) and whose target or numbers the catalog knows (media/points_to.py)."""
    below, below_args = _below(prefix)
    holds, holds_args = _holds(backup)
    return {bytes(r[0]): (r[1], None if r[2] is None else bytes(r[2]), r[3]) for r in store.tuples(
        f"SELECT p.path, p.kind, p.target, p.rdev FROM others p WHERE p.source=? AND {holds}{below}"
        " AND (p.target IS NOT NULL OR p.rdev IS NOT NULL)",
        (backup["source"], *holds_args, *below_args))}


def _holds(backup) -> tuple[str, tuple]:
    """SQL (on `p`) true for the entry of a standard directory a backup holds: the one whose range
    holds it (kept data: its own, as catalog.contents)."""
    first = "=" if backup["status"] == KEPT else "<="
    return (f"p.medium=? AND p.first_backup{first}? AND p.last_backup>=?", (backup["medium"], backup["id"], backup["id"]))


def changes(store: Store, a, b, archive_dirs: tuple[str, ...] = (), prefix: bytes = b"") -> list[tuple]:
    """The symlinks and special files (at or below `prefix`) that differ from backup `a` to backup
    `b`, compared in SQL: (path, kind in a, kind in b), a kind None where that backup holds none.
    Changed: another kind or mtime; on one medium, another entry too (rsync made it anew rather
    than link the one before: a symlink's target or a device's numbers changed, which rows
    recorded before `target` and `rdev` were kept do not hold). Kept data has entries of its own
    whatever changed, so beside it only the first test tells. A directory a backup saved as an archive one (saved_kinds: `archive_dirs`, the
    config's, for a backup that recorded no kinds) shows the entries of its union (archive_as_of),
    each where the newest shape of its place and of those on the way lets it show (others_shapes:
    the few whose place was another shape too, compared apart)."""
    below, below_args = _below(prefix)
    same = a["medium"] == b["medium"] and KEPT not in (a["status"], b["status"])
    in_a, a_args = _holds(a)
    in_b, b_args = _holds(b)
    arc_a, arc_b = (saved_kinds.archive_in(store, x, archive_dirs) for x in (a, b))
    saved_a, sa_args = saved_kinds.saved_sql(store, a, arc_a, archive_dirs, "p.first_backup", "p.path")
    saved_b, sb_args = saved_kinds.saved_sql(store, b, arc_b, archive_dirs, "p.first_backup", "p.path")
    (xa, xa_args), (xb, xb_args) = (saved_kinds.below_sql("p.path", arc) for arc in (arc_a, arc_b))
    # One pass over the table gathers each path's entries in a and in b: of a directory saved as a
    # standard one the entry itself (ia, ka, ta), of one saved as an archive one the newest its
    # union had as of the backup (fa: when), read again by others_path for the paths that may
    # differ. Not through others_path in the pass: no index holds the backup range, and a look-up
    # in the table for each of the source's entries (in the index's order) took 3-4x as long as
    # the table read in its order.
    grouped = (
        f"SELECT p.path, max(p.xa) AS xa, max(p.xb) AS xb, {_side('a')}, {_side('b')} FROM ("
        f"SELECT p.*, NOT p.xa AND {in_a} AS in_a, NOT p.xb AND {in_b} AS in_b,"
        f" p.xa AND p.medium=? AND p.first_backup<=? AND {saved_a} AS up_a,"
        f" p.xb AND p.medium=? AND p.first_backup<=? AND {saved_b} AS up_b"
        f" FROM (SELECT p.*, {xa} AS xa,"
        f" {xb} AS xb FROM others p NOT INDEXED"
        f" WHERE p.source=?{below}) p) p WHERE in_a OR in_b OR up_a OR up_b GROUP BY p.path"
        # the paths known unchanged without the union's entries read again
        " HAVING NOT (xa AND xb AND fa IS fb AND ?)"
        " AND NOT (NOT xa AND NOT xb AND ia IS NOT NULL AND ib IS NOT NULL AND ka=kb AND ta=tb AND NOT (? AND ia<>ib))")
    params = (*a_args, *b_args, a["medium"], a["id"], *sa_args, b["medium"], b["id"], *sb_args, *xa_args, *xb_args,
              a["source"], *below_args, same, same)
    sides = (
        "SELECT g.path, CASE WHEN g.xa THEN oa.id ELSE g.ia END AS ia, CASE WHEN g.xa THEN oa.kind ELSE g.ka END AS ka,"
        " CASE WHEN g.xa THEN oa.mtime ELSE g.ta END AS ta, CASE WHEN g.xb THEN ob.id ELSE g.ib END AS ib,"
        " CASE WHEN g.xb THEN ob.kind ELSE g.kb END AS kb, CASE WHEN g.xb THEN ob.mtime ELSE g.tb END AS tb"
        f" FROM ({grouped}) g"
        " LEFT JOIN others oa ON g.xa AND oa.source=? AND oa.path=g.path AND oa.medium=? AND oa.first_backup=g.fa"
        " LEFT JOIN others ob ON g.xb AND ob.source=? AND ob.path=g.path AND ob.medium=? AND ob.first_backup=g.fb")
    rows = store.all(
        f"SELECT s.path, s.ka, s.kb FROM ({sides}) s"
        " WHERE s.ia IS NULL OR s.ib IS NULL OR s.ka<>s.kb OR s.ta<>s.tb OR (? AND s.ia<>s.ib)",
        (*params, a["source"], a["medium"], b["source"], b["medium"], same))
    out = [(bytes(r[0]), r[1], r[2]) for r in rows]
    # where a place was another shape too, its entry's own range does not tell whether it shows
    crossed = others_shapes.crossed(store, a["source"], tuple(sorted({*arc_a, *arc_b})), prefix)
    if crossed and same:
        # of a directory both saved as an archive one, where nothing was saved around the path in
        # between, both show the same: the pass above left it out already
        both, (lo, hi) = {*arc_a} & {*arc_b}, sorted((a["id"], b["id"]))
        steady = [p for p, dirs in crossed.items() if {*dirs} <= both]
        still = set(steady) - others_shapes.touched(store, a["source"], a["medium"], lo, hi, steady)
        crossed = {p: dirs for p, dirs in crossed.items() if p not in still}
    if crossed:
        out = [r for r in out if r[0] not in crossed]
        shown_a, shown_b = (others_shapes.shown(store, x, crossed, arc, holds, archive_dirs)
                            for x, arc, holds in ((a, arc_a, (in_a, a_args)), (b, arc_b, (in_b, b_args))))
        for path in sorted(crossed):
            ea, eb = shown_a.get(path), shown_b.get(path)
            if (ea is None) != (eb is None) or ea and eb and (ea[1:] != eb[1:] or (same and ea[0] != eb[0])):
                out.append((path, ea and ea[1], eb and eb[1]))
    return [(path, _shown(ka), _shown(kb)) for path, ka, kb in out]


def _side(x: str) -> str:
    """The aggregates of one side (a or b) of changes()'s pass: the standard directory's entry
    the backup holds (its id, kind, mtime), an archive directory's newest up to the backup."""
    return (f"max(CASE WHEN in_{x} THEN p.id END) AS i{x}, max(CASE WHEN in_{x} THEN p.kind END) AS k{x},"
            f" max(CASE WHEN in_{x} THEN p.mtime END) AS t{x}, max(CASE WHEN up_{x} THEN p.first_backup END) AS f{x}")


def _shown(kind: int | None) -> str | None:
    return None if kind is None else KINDS.get(kind, "special")
