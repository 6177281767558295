"""The symlinks, FIFOs and device nodes of archive directories whose place was another shape too
(shapes.py): a directory, as something was saved below it, or below a place on the way saved as a
file or as such an entry. Whether one of those shows as of a backup is not its own newest entry's to
tell but the newest shape of each place's (catalog.archive_as_of); others.changes compares them
apart, the few there are, read again as of each backup."""

from __future__ import annotations

import os

from rabtui.state import catalog, paths_below, shapes
from rabtui.state.catalog import _below, archive_as_of
from rabtui.state.store import Store, in_chunks


def crossed(store: Store, source: str, dirs: tuple[str, ...], prefix: bytes = b"") -> dict[bytes, tuple[str, ...]]:
    """path -> directories (of `dirs`: those holding it, more than one where the config's
    directories changed from one to another inside it) of the entries (`others`) below the archive
    directories `dirs` (whichever directory the catalog first knew them in: /data made /data/photos)
    at or below `prefix` whose place held a file (a symlink made a file, or the reverse) or an entry
    below it, or that lie below a place a file or an entry was saved at, on any medium at any time."""
    if not dirs:
        return {}
    below, below_args = _below(prefix)
    within, within_args = paths_below.below_sql("p.path", dirs)
    under = "{t}.source=p.source AND {t}.path>=CAST(p.path || X'2F' AS BLOB) AND {t}.path<CAST(p.path || X'30' AS BLOB)"
    tops = [(d, catalog.rel_path(d)) for d in dirs]
    entries: dict[bytes, tuple[tuple[str, ...], bool]] = {}
    # below the directories, whichever one the catalog first knew each in (/data made /data/photos)
    for r in store.all(
        f"SELECT DISTINCT p.path, EXISTS (SELECT 1 FROM paths q WHERE {under.format(t='q')})"
        f" OR EXISTS (SELECT 1 FROM others q WHERE {under.format(t='q')})"
        " OR EXISTS (SELECT 1 FROM paths q WHERE q.source=p.source AND q.path=p.path) FROM others p"
        f" WHERE p.source=? AND {within}{below}", (source, *within_args, *below_args)):
        path = bytes(r[0])
        was = entries.get(path, ((), False))
        entries[path] = (tuple(d for d, top in tops if not top or path == top or path.startswith(top + b"/")),
                         was[1] or bool(r[1]))
    if not entries:
        return {}
    ups = {up for path in entries for up in shapes.on_the_way(path)}
    taken = ups & set(entries)    # places an entry was saved at
    listed = sorted(ups - taken)
    for chunk, marks in in_chunks(listed):
        taken.update(bytes(r[0]) for r in store.all(
            f"SELECT path FROM paths WHERE source=? AND path IN ({marks})", (source, *chunk)))
    return {path: d for path, (d, over) in entries.items()
            if over or any(up in taken for up in shapes.on_the_way(path))}


def shown(store: Store, backup, crossed: dict[bytes, tuple[str, ...]], archive: tuple[str, ...],
          holds: tuple[str, tuple], archive_now: tuple[str, ...]) -> dict[bytes, tuple]:
    """path -> (id, kind, mtime) of the entries of `crossed` (crossed's) that `backup` shows: in a
    directory it saved as an archive one (`archive`), the newest saved at the path up to it where
    the newest shape of its place and of those on the way lets it show, all of a directory read in
    one pass below the paths' common parent; elsewhere (a standard one, under whichever directory
    the config named then), the one it holds (`holds`: SQL on `p`, others._holds'). A path saved
    under two directories (the config's changed: it lists no directory inside another) shows as
    the one the backup saved. None shown: not there."""
    by_dir: dict[str, list[bytes]] = {}
    for path, dirs in crossed.items():
        for d in dirs:
            if d in archive:
                by_dir.setdefault(d, []).append(path)
    wheres: dict[bytes, tuple] = {}
    for d, paths in by_dir.items():
        union = archive_as_of(store, backup, (d,), os.path.commonpath(paths), archive_now=archive_now,
                              others_too=True)
        wheres.update({p: ("p.medium=? AND p.first_backup=?", (backup["medium"], union[p][2]))
                       for p in paths if p in union and union[p][0] is None})
    in_archive, in_archive_args = paths_below.below_sql("p.path", archive)
    outside = f"NOT {in_archive} AND {holds[0]}", (*in_archive_args, *holds[1])
    wheres.update((p, outside) for p, dirs in crossed.items() if not {*dirs} & {*archive})
    out = {}
    for path, (where, args) in wheres.items():
        r = store.one(f"SELECT p.id, p.kind, p.mtime FROM others p WHERE p.source=? AND p.path=?"
                      f" AND {where} ORDER BY p.id DESC LIMIT 1", (backup["source"], path, *args))
        if r is not None:
            out[path] = (r[0], r[1], r[2])
    return out


def touched(store: Store, source: str, medium: str, lo: int, hi: int, paths: list[bytes]) -> set[bytes]:
    """Of `paths`, those whose shape or that of a place on the way may differ as of backup `lo` and
    as of `hi` on `medium`: a backup after `lo` up to `hi` saved a file, symlink, FIFO or device
    node at the path, on the way to it, below it, or below a place on the way that was ever saved
    as one (the newest saved at a place or below it tells its shape). Of a directory both saved as
    an archive one, the others show the same thing as of each elsewhere: the backups up to the
    older saved all that is there."""
    ups = {p: shapes.on_the_way(p) for p in paths}
    places = sorted({*paths, *(up for way in ups.values() for up in way)})
    window = (medium, lo, hi)
    hit, taken = set(), set()
    for chunk, marks in in_chunks(places):
        for r in store.all(
                f"SELECT p.path, max(v.medium=? AND v.first_backup>? AND v.first_backup<=?) FROM paths p"
                f" JOIN versions v ON v.path_id=p.id WHERE p.source=? AND p.path IN ({marks}) GROUP BY p.path"
                f" UNION ALL SELECT path, max(medium=? AND first_backup>? AND first_backup<=?) FROM others"
                f" WHERE source=? AND path IN ({marks}) GROUP BY path",
                (*window, source, *chunk, *window, source, *chunk)):
            taken.add(bytes(r[0]))
            if r[1]:
                hit.add(bytes(r[0]))
    out = {p for p in paths if p in hit or any(up in hit for up in ups[p])}
    below_hit: dict[bytes, bool] = {}

    def saved_below(place: bytes) -> bool:
        if place not in below_hit:
            rng = (source, place + b"/", place + b"0", *window)
            below_hit[place] = store.one(
                "SELECT 1 FROM paths p JOIN versions v ON v.path_id=p.id WHERE p.source=? AND p.path>=?"
                " AND p.path<? AND v.medium=? AND v.first_backup>? AND v.first_backup<=?"
                " UNION ALL SELECT 1 FROM others WHERE source=? AND path>=? AND path<?"
                " AND medium=? AND first_backup>? AND first_backup<=? LIMIT 1", (*rng, *rng)) is not None
        return below_hit[place]

    return out | {p for p in paths if p not in out
                  and (saved_below(p) or any(up in taken and saved_below(up) for up in ups[p]))}
