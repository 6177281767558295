"""Which versions of an archive directory's files the medium's union (its `.archive/` view) lost
to a newer shape of their place: a file or a symlink, FIFO or device node saved on the way to one
after it (a directory on its way made a file), or anything saved below it after it (the file made a
directory). The newest shape saved at each place wins there (shapes.py); `find` names the union only
for what it holds."""

from __future__ import annotations

from rabtui.state.backup_ranges import BackupRanges
from rabtui.state.shapes import on_the_way
from rabtui.state.store import Store, in_chunks

_FEW = 5000     # paths looked up by path; more: the paths saved as both read whole


def lost(store: Store, backups: BackupRanges, marked: list[tuple], table: str = "paths") -> set[tuple]:
    """Of `marked` ((source, directory, id, path, medium, first_backup) of the entries of archive
    directories linked into their union: files, `table` "paths" and id the path's; or symlinks,
    FIFOs and device nodes, "others" and id the row's), those (id, medium, first_backup) the union
    holds no more: a newer entry linked at the same path took its place (a newer version, or one
    of another kind), or a newer shape of a place on the way or below it. `marked` holds every
    entry of the kind linked at each of its paths."""
    out = set()
    newest: dict[tuple, int] = {}       # (source, medium, path) -> the newest linked there
    for source, _dir, _id, path, medium, first in marked:
        key = (source, medium, path)
        newest[key] = max(newest.get(key, -1), first)
    for source, _dir, _id, path, medium, first in marked:
        if newest[(source, medium, path)] > first:
            out.add((_id, medium, first))
    others_at: dict[tuple[str, str], dict[bytes, list[int]]] = {}
    by_place: dict[tuple[str, str, str], list[tuple]] = {}
    for source, dir_path, path_id, path, medium, first in marked:
        by_place.setdefault((source, medium, dir_path), []).append((path_id, path, path.rpartition(b"/")[0], first))
    for (source, medium, dir_path), items in by_place.items():

        def linked(first: int, path: bytes) -> bool:
            """Did backup `first` link what it saved at `path` into the union? (It saved the
            directory holding `path` as an archive one: /data, or /data/photos since, or back.)"""
            return backups.holding(source, medium, dir_path, first, first, True, path)[1]

        # the newest of the other kind linked at the same path (few paths were both)
        if (source, medium) not in others_at:
            others_at[(source, medium)] = _other_kind_at(
                store, source, medium, table, sorted({path for s, _d, _i, path, m, _f in marked
                                                      if (s, m) == (source, medium)}))
        other = others_at[(source, medium)]
        # the newest saved at a place on the way, per parent directory (most files share few)
        parents = {parent for _, _, parent, _ in items}
        # up to the top: the directory itself is a place in the union of one around it (/data/photos,
        # a symlink /data saved, then a directory again)
        ways = {up for parent in parents for up in (parent, *on_the_way(parent)) if up}
        newest_at = _newest_saved(store, source, medium, sorted(ways), linked)
        over = {parent: max((newest_at.get(up, -1) for up in (parent, *on_the_way(parent))), default=-1)
                for parent in parents} if newest_at else {}
        with_below = _with_entries_below(store, source, sorted({path_id for path_id, *_ in items}), table)
        for path_id, path, parent, first in items:
            if over.get(parent, -1) > first or any(f > first and linked(f, path) for f in other.get(path, ())) or (
                    path_id in with_below and _saved_below_after(store, source, medium, path, first, linked)):
                out.add((path_id, medium, first))
    return out


def _other_kind_at(store: Store, source: str, medium: str, table: str, paths: list[bytes]) -> dict[bytes, list[int]]:
    """path -> the backups that saved an entry of the other kind than `table`'s at `paths` (of
    `source`, on `medium`): looked up by path where they are few, else read from the others' side
    (the paths saved as both a file and a symlink, FIFO or device node), which is small."""
    both = "SELECT DISTINCT o.path FROM others o WHERE o.source=? AND EXISTS (SELECT 1 FROM paths p" \
           " WHERE p.source=o.source AND p.path=o.path)"
    q = ("SELECT o.path, o.first_backup AS f FROM others o WHERE o.source=? AND o.medium=? AND o.path IN ({})"
         if table == "paths" else
         "SELECT p.path, v.first_backup AS f FROM paths p JOIN versions v ON v.path_id=p.id"
         " WHERE p.source=? AND v.medium=? AND p.path IN ({})")
    lists = [(q.format(both), (source,))] if len(paths) > _FEW else [
        (q.format(marks), tuple(chunk)) for chunk, marks in in_chunks(paths)]
    out: dict[bytes, list[int]] = {}
    for sql, args in lists:
        for r in store.all(sql, (source, medium, *args)):
            out.setdefault(bytes(r["path"]), []).append(r["f"])
    return out


def _newest_saved(store: Store, source: str, medium: str, places: list[bytes], linked) -> dict[bytes, int]:
    """place -> the newest backup linked into the union (`linked`) that saved a file, symlink, FIFO
    or device node at it on `medium`."""
    out: dict[bytes, int] = {}
    for chunk, marks in in_chunks(places):
        for r in store.all(
                f"SELECT p.path, v.first_backup AS f FROM paths p JOIN versions v ON v.path_id=p.id"
                f" WHERE p.source=? AND v.medium=? AND p.path IN ({marks})"
                f" UNION SELECT path, first_backup FROM others WHERE source=? AND medium=? AND path IN ({marks})",
                (source, medium, *chunk, source, medium, *chunk)):
            path = bytes(r["path"])
            if r["f"] > out.get(path, -1) and linked(r["f"], path):
                out[path] = r["f"]
    return out


def _with_entries_below(store: Store, source: str, ids: list[int], table: str) -> set[int]:
    """Of the rows `ids` of `table` (paths, others), those the catalog has any path below (on any
    medium): few, each looked at again (_saved_below_after)."""
    out = set()
    below = "{t}.source=c.source AND {t}.path>=CAST(c.path || X'2F' AS BLOB) AND {t}.path<CAST(c.path || X'30' AS BLOB)"
    for chunk, marks in in_chunks(ids):
        out |= {r["id"] for r in store.all(
            f"SELECT c.id FROM {table} c WHERE c.id IN ({marks})"
            f" AND (EXISTS (SELECT 1 FROM paths q WHERE {below.format(t='q')})"
            f" OR EXISTS (SELECT 1 FROM others o WHERE {below.format(t='o')}))", chunk)}
    return out


def _saved_below_after(store: Store, source: str, medium: str, path: bytes, first: int, linked) -> bool:
    """Did a backup after `first` linked into the union (`linked`) save anything below `path` on `medium`?"""
    rng = (source, medium, path + b"/", path + b"0", first)
    # each backup once, with one of the paths it saved there (any tells which directory it saved)
    return any(linked(r["f"], bytes(r["p"])) for r in store.all(
        "SELECT f, min(p) AS p FROM (SELECT v.first_backup AS f, p.path AS p FROM paths p JOIN versions v"
        " ON v.path_id=p.id WHERE p.source=? AND v.medium=? AND p.path>=? AND p.path<? AND v.first_backup>?"
        " UNION ALL SELECT first_backup, path FROM others WHERE source=? AND medium=? AND path>=? AND path<?"
        " AND first_backup>?) GROUP BY f", (*rng, *rng)))
