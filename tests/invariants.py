"""Invariants checked against the media themselves (walked), not against the database alone:

- catalog = media: what `find` says each complete backup holds, and what the archive union trees
  show, is exactly the regular files, symlinks and special files there (kind, path, size, mtime);
- catalog = media for what a backup shows (catalog.contents, others.changes: diff, Browse): each
  directory as the backup saved it, its own tree (standard) or the union (archive);
- backup.json and the database agree about "completed", and only complete backups are bases;
- every complete backup holds the source as it was at its time (byte for byte).
"""

from __future__ import annotations

import os
import stat
from types import SimpleNamespace

from rabtui.state import catalog, others
from rabtui.media import medium_layout
from rabtui.backup.records import transfer_whole
from rabtui.restore.known_source import source_of
from rabtui.state.store import COMPLETE, OWN_DIR_SQL, RESTORABLE, RESTORABLE_SQL

UNION = ".archive"


def _kind(mode: int) -> str | None:
    """What `find` calls an entry of this mode (None: a directory, which it does not list)."""
    if stat.S_ISDIR(mode):
        return None
    return "file" if stat.S_ISREG(mode) else "symlink" if stat.S_ISLNK(mode) else "special"


def _walk(top: bytes, prefix: bytes):
    """(kind, path relative to / , size, mtime) of the regular files, symlinks and special files
    (size 0, as `find` gives theirs) below top (a dir's copy)."""
    for dirpath, dirs, names in os.walk(top):
        for name in names + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
            full = os.path.join(dirpath, name)
            st = os.lstat(full)
            kind = _kind(st.st_mode)
            if kind is not None:
                rel = os.path.relpath(full, top)
                yield (kind, (os.path.join(prefix, rel) if prefix else rel), st.st_size if kind == "file" else 0,
                       int(st.st_mtime))


def _prefix(dir_path: str) -> bytes:
    return os.fsencode(dir_path.strip("/"))


def _recorded_archive(store, source: str, medium: str, path: str, after: int = 0) -> bool:
    """A backup on the medium made after the backup `after` (an id) recorded `path` as an archive one."""
    return store.one("SELECT 1 FROM backup_dirs x JOIN backups b ON b.id=x.backup_id WHERE b.source=? AND b.medium=?"
                     " AND b.id>? AND x.path=? AND x.kind='archive'", (source, medium, after, path)) is not None


def _looked_archive(store, source: str, medium: str, path: str) -> bool:
    return store.one("SELECT 1 FROM unrecorded_looks l JOIN backups b ON b.id=l.backup_id WHERE b.source=?"
                     f" AND b.medium=? AND l.path=? AND l.kind='archive' AND b.status IN {RESTORABLE_SQL}",
                     (source, medium, path)) is not None


def on_media(cfg, store) -> set[tuple]:
    """(medium, source, backup name or .archive, kind, path, size, mtime) of every regular file,
    symlink and special file that the restorable backups (by their backup.json) and the union trees
    hold: of the directories the config names or a backup recorded (those in each other too, taken
    once); the unions of those the config says are archive ones, or a backup on the medium recorded
    as one, or its union was found there for backups that recorded no kinds (made standard since,
    the union stays while such a backup does; _ran_as's rule)."""
    out = set()
    for medium in cfg.media:
        for source in cfg.sources:
            # (and those a look at the medium's unions was taken for: named by a backup's record)
            recorded = {r["path"]: SimpleNamespace(path=r["path"], kind="standard") for r in store.all(
                "SELECT DISTINCT x.path FROM backup_dirs x JOIN backups b ON b.id=x.backup_id WHERE b.source=?"
                " AND b.medium=? UNION SELECT l.path FROM unrecorded_looks l JOIN backups b ON b.id=l.backup_id"
                f" WHERE b.source=? AND b.medium=? AND b.status IN {RESTORABLE_SQL}", (source.id, medium.id) * 2)}
            dirs = [*source.directories, *(d for p, d in recorded.items() if p not in source.archive_paths
                                           and all(p != c.path for c in source.directories))]
            kept = {r["name"] for r in store.all("SELECT name FROM backups WHERE source=? AND medium=? AND"
                                                 " status='kept'", (source.id, medium.id))}
            for name, bpath, info in medium_layout.list_backups(medium.path, source.id):
                # kept data too: `find` lists it; and kept data whose backup.json could not say so
                # (it says its transfer ended whole, which rebuild-state reads as kept)
                if not info or (info.get("status") not in RESTORABLE and not (name in kept and transfer_whole(info))):
                    continue
                # its backup.json's too (one that recorded no kinds: not in the database)
                for d in [*dirs, *(SimpleNamespace(path=x["path"]) for x in info.get("directories") or ()
                                   if isinstance(x, dict) and isinstance(x.get("path"), str))]:
                    if medium_layout.symlink_to_copy(bpath, d.path) is not None:
                        continue    # a symlink it saved (at the place of a directory configured since) holds none
                    top = os.fsencode(medium_layout.backup_data_path(bpath, d.path))
                    out |= {(medium.id, source.id, name, *f) for f in _walk(top, _prefix(d.path))}
            for d in dirs:
                if d.kind == "archive" or _recorded_archive(store, source.id, medium.id, d.path) \
                        or _looked_archive(store, source.id, medium.id, d.path):
                    if medium_layout.symlink_to_union(medium.path, source.id, d.path) is not None:
                        continue    # one a backup of a directory around it saved there: no union of it
                    top = os.fsencode(medium_layout.archive_root(medium.path, source.id, d.path))
                    out |= {(medium.id, source.id, UNION, *f) for f in _walk(top, _prefix(d.path))}
    return out


def in_catalog(cfg, store) -> set[tuple]:
    """The same tuples as `on_media`, as `find` tells them: each backup a version's location
    names, and the union holding each version a location marks `archive` (the newest entry linked
    at its path, where no newer shape of a place on the way or below took it), no other."""
    archive = {s.id: tuple(d.path for d in s.directories if d.kind == "archive") for s in cfg.sources}
    out = set()
    for v in catalog.find(store, "*", archive_dirs=archive) + others.find(store, "*", archive_dirs=archive):
        for loc in v.locations:
            if loc.kind != "backup":
                continue
            out |= {(loc.medium, v.source, name, v.kind, v.path, v.size, v.mtime) for name in loc.backups}
            if loc.archive:
                out.add((loc.medium, v.source, UNION, v.kind, v.path, v.size, v.mtime))
    return out


def _show(rows) -> str:
    return "\n".join(f"  {m} {s} {n} {kind} /{os.fsdecode(p)!r} size={size} mtime={mt}"
                     for m, s, n, kind, p, size, mt in sorted(rows)[:20])


def check_catalog_is_media(cfg, store) -> None:
    there, said = on_media(cfg, store), in_catalog(cfg, store)
    missing, extra = there - said, said - there
    assert not missing and not extra, (
        f"catalog != media\non the media, not in the catalog:\n{_show(missing)}\n"
        f"in the catalog, not on the media:\n{_show(extra)}")


def _ran_as(store, row, d) -> str | None:
    """The kind backup `row` saved directory `d` as: recorded, or (none recorded) archive where its
    medium held the directory's union, lacking none of its files, when looked at (unrecorded_looks),
    else (not looked at)
    where the config says so or a backup made after it on its medium recorded it so."""
    kinds = {r["path"]: r["kind"] for r in store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?", (row["id"],))}
    if kinds:
        return kinds.get(d.path)
    looked = store.one("SELECT kind FROM unrecorded_looks WHERE backup_id=? AND path=?", (row["id"], d.path))
    if looked is not None:
        return looked["kind"]
    return "archive" if d.kind == "archive" or _recorded_archive(store, row["source"], row["medium"], d.path,
                                                                 row["id"]) else "standard"


def _tree(row, d) -> dict[bytes, tuple]:
    top = os.fsencode(medium_layout.backup_data_path(row["path"], d.path))
    return {path: (kind, size, mtime) for kind, path, size, mtime in _walk(top, _prefix(d.path))}


def _view(cfg, store, row, d) -> dict[bytes, tuple] | None:
    """path -> (kind, size, mtime) of what backup `row` shows of directory `d`, read on its medium:
    its own tree (saved as a standard one), or (saved as an archive one) for each path the newest
    entry the backups up to it that saved `d` so hold in their own trees (kept data's too, which a
    restore gives: never linked into the union) where the newest shape of its place lets it show
    (_newest_shape_wins); the union holds those of the complete ones, as the last of them there
    left it (checked). None where the backup did not save `d`."""
    kind = _ran_as(store, row, d)
    if kind == "standard":
        return _tree(row, d)
    if kind != "archive":
        return None
    savers = [(r, tree) for r in store.all(f"SELECT * FROM backups WHERE source=? AND medium=? AND status IN"
                                           f" {(*COMPLETE, 'kept')!r} ORDER BY id", (row["source"], row["medium"]))
              if (tree := _saved_into(cfg, store, r, d)) is not None]
    saved: dict[bytes, tuple[int, tuple]] = {}
    linked: dict[bytes, tuple] = {}
    for r, tree in savers:
        if r["id"] <= row["id"]:
            saved.update((path, (r["id"], entry)) for path, entry in tree.items())
        if r["status"] in COMPLETE:
            _overlaid(linked, tree)
    if [r["id"] for r, _ in savers if r["status"] in COMPLETE][-1:] == [row["id"]]:
        top = os.fsencode(medium_layout.archive_root(cfg.medium(row["medium"]).path, row["source"], d.path))
        union = {path: (kind, size, mtime) for kind, path, size, mtime in _walk(top, _prefix(d.path))}
        assert union == linked, (f"{row['name']} {d.path}: the union holds\n  {sorted(union.items())[:10]}\n"
                                 f"its complete archive backups saved\n  {sorted(linked.items())[:10]}")
    return _newest_shape_wins(saved)


def _directories(cfg, store, row) -> list:
    """The directories backup `row` is viewed in: the config's, and (it recorded no kinds) those its
    backup.json names that the config does not (an archive directory narrowed or widened since):
    their files are the backup's, whatever the config names now; one of the config's inside one it
    saved as an archive one is viewed as that one (the same union)."""
    dirs = list(cfg.source(row["source"]).directories)
    if store.one("SELECT 1 FROM backup_dirs WHERE backup_id=?", (row["id"],)) is None:
        named = [x["path"] for x in medium_layout.recorded_dirs(medium_layout.read_backup_json(row["path"]))
                 if isinstance(x.get("path"), str)]
        # one inside a directory it saved as an archive one (its look says so) is viewed as that one
        arc = [p for p in named if _ran_as(store, row, SimpleNamespace(path=p, kind="standard")) == "archive"]
        dirs = [d for d in dirs if not any(p != d.path and (d.path.rstrip("/") + "/").startswith(p.rstrip("/") + "/")
                                           for p in arc)]
        dirs += [SimpleNamespace(path=p, kind="standard") for p in named if all(d.path != p for d in dirs)]
    return dirs


def _saved_into(cfg, store, r, d) -> dict[bytes, tuple] | None:
    """What backup `r` linked into the union of directory `d`: its own tree of each directory it
    saved as an archive one that is `d` or lies in or around it (their unions are the same folder),
    below both; None where it saved none such."""
    def within(a: str, b: str) -> bool:
        return (a.rstrip("/") + "/").startswith(b.rstrip("/") + "/")

    known = {x.path: x for x in _directories(cfg, store, r)}
    for p in store.all("SELECT path FROM backup_dirs WHERE backup_id=?", (r["id"],)):
        known.setdefault(p["path"], SimpleNamespace(path=p["path"], kind="standard"))
    out = None
    for o in known.values():
        if (within(o.path, d.path) or within(d.path, o.path)) and _ran_as(store, r, o) == "archive":
            top = _prefix(max(o.path, d.path, key=len))
            out = (out or {}) | {p: v for p, v in _tree(r, o).items() if not top or p == top or p.startswith(top + b"/")}
    return out


def _newest_shape_wins(saved: dict[bytes, tuple[int, tuple]]) -> dict[bytes, tuple]:
    """path -> entry of `saved` (path -> (the backup that saved the newest entry there, entry)) at
    the places whose newest shape is no directory, under places whose newest shape is one: a place
    is a directory as of a backup where a backup up to it saved something below it after the last
    entry saved at the place itself. What an older directory held comes back with the directory."""
    def newest_below(place: bytes) -> int:
        return max((i for p, (i, _) in saved.items() if p.startswith(place + b"/")), default=-1)

    def a_directory(place: bytes) -> bool:
        return place not in saved or newest_below(place) > saved[place][0]

    out = {}
    for path, (_i, entry) in saved.items():
        parts = path.split(b"/")
        if not a_directory(path) and all(a_directory(b"/".join(parts[:k])) for k in range(1, len(parts))):
            out[path] = entry
    return out


def _overlaid(shown: dict[bytes, tuple], tree: dict[bytes, tuple]) -> None:
    """`shown` (path -> entry) with a newer backup's `tree` over it, as the union takes it: an
    entry where the newer has one below it (a file made a directory), or below one of the newer's
    (a directory made a file), gives its place."""
    for path in tree:
        parts = path.split(b"/")
        for i in range(1, len(parts)):
            shown.pop(b"/".join(parts[:i]), None)
        for below in [p for p in shown if p.startswith(path + b"/")]:
            del shown[below]
    shown.update(tree)


def check_views_are_media(cfg, store, all_pairs: bool = False) -> None:
    """What catalog.contents says each complete backup holds (and Browse: catalog.archive_listing,
    the files at the top of a directory), and what others.changes says changed
    from one backup to the next (`all_pairs`: from each to each later one), is what the medium
    shows, each directory judged by the kind the backup saved it as (_view), whatever the config
    says of it now."""
    archive = {s.id: s.archive_paths for s in cfg.sources}
    rows = store.all(f"SELECT * FROM backups WHERE status IN {tuple(COMPLETE)!r} ORDER BY source, id")
    for i, b in enumerate(rows):
        known = source_of(cfg, store, b["source"])     # as Browse knows them
        said = catalog.contents(store, b, archive[b["source"]])
        for d in _directories(cfg, store, b):
            view = _view(cfg, store, b, d)
            if view is None:
                continue
            top = _prefix(d.path)
            mine = {p: v[1:] for p, v in view.items() if v[0] == "file"}
            theirs = {p: v for p, v in said.items() if not top or p == top or p.startswith(top + b"/")}
            assert mine == theirs, (f"{b['name']} {d.path}: contents() says\n  {sorted(theirs.items())[:10]}\n"
                                    f"the medium holds\n  {sorted(mine.items())[:10]}")
            listed = catalog.archive_listing(store, b["source"], b, known.directories, top)
            if _ran_as(store, b, d) == "standard":
                assert listed is None, f"{b['name']} {d.path}: Browse lists a union the backup did not save into"
            else:
                files = {p[len(top) + 1:] for p in mine if b"/" not in p[len(top) + 1:]}
                assert listed is not None and {n for n, v in listed[2].items() if not v[0]} == files, (
                    f"{b['name']} {d.path}: Browse lists {listed and sorted(listed[2])}, the union holds {sorted(files)}")
            for a in (rows[:i] if all_pairs else [rows[i - 1]] if i else []):
                before = _view(cfg, store, a, d) if a["source"] == b["source"] else None
                if before is not None:
                    _entries_changed(store, a, b, before, view, archive[b["source"]], top)
                    if all_pairs:
                        _entries_changed(store, b, a, view, before, archive[b["source"]], top)


def _entries_changed(store, a, b, before: dict, view: dict, archive: tuple[str, ...], top: bytes) -> None:
    """others.changes from `a` to `b` (below `top`) names the symlinks, FIFOs and device nodes
    whose kind or time differs from `before` (what `a` shows) to `view` (what `b` shows), no more."""
    changed = {p: (was, now) for p, was, now in others.changes(store, a, b, archive, top)}
    entries = {p for p, v in (*before.items(), *view.items()) if v[0] != "file"}
    for p in entries:
        was, now = before.get(p), view.get(p)
        was, now = (None if e is None or e[0] == "file" else e for e in (was, now))
        if was is None or now is None or was[0] != now[0] or was[2] != now[2]:
            assert changed.get(p) == (was and was[0], now and now[0]), (
                f"{a['name']} -> {b['name']}: {p!r} changed on the medium ({was} -> {now}),"
                f" others.changes says {changed.get(p)}")
    stray = {p for p in changed if p not in entries}
    assert not stray, f"{a['name']} -> {b['name']}: others.changes names {stray}, on neither side"


def check_json_agrees(cfg, store) -> None:
    """backup.json and the database agree about complete, both ways; only restorable backups are in
    the catalog; a base was complete (it may
    have been deleted by retention since)."""
    seen = set()
    for medium in cfg.media:
        for source in cfg.sources:
            for name, bpath, info in medium_layout.list_backups(medium.path, source.id):
                row = store.one(f"SELECT * FROM backups WHERE medium=? AND source=? AND name=? AND {OWN_DIR_SQL}",
                                (medium.id, source.id, name))
                json_done = bool(info) and info.get("status") in COMPLETE
                db_done = row is not None and row["status"] in COMPLETE
                assert json_done == db_done, (f"{bpath}: backup.json says {info and info.get('status')},"
                                              f" the database {row and row['status']}")
                if row is not None:
                    seen.add(row["id"])
    for row in store.all(f"SELECT * FROM backups WHERE status IN {tuple(COMPLETE)!r}"):
        assert row["id"] in seen, f"backup {row['name']} is complete in the database but not on its medium"
    for table in ("versions", "others"):
        stray = store.all(
            f"SELECT v.id, b.name, b.status FROM {table} v JOIN backups b ON b.id IN (v.first_backup, v.last_backup)"
            f" WHERE b.status NOT IN {RESTORABLE_SQL}")     # kept data has versions of its own
        assert not stray, f"catalog {table} in backups not restorable: {[(r['name'], r['status']) for r in stray]}"
    for row in store.all("SELECT id, name, link_dest FROM backups WHERE link_dest IS NOT NULL"):
        base = store.one("SELECT status, name FROM backups WHERE id=?", (row["link_dest"],))
        assert base is not None and base["status"] in (*COMPLETE, "deleted"), (
            f"{row['name']} used {base and base['name']} ({base and base['status']}) as its link-dest base")


def check_change_counters(store) -> None:
    """With no checkpoint yet, each directory's count of new or modified files is the number of
    distinct files the catalog holds a version of: each counted once, whatever media it was saved
    on and however often it changed (a killed run neither adds nor loses its count), in the
    directory the backup that saved the version saved it under (the path's first where that backup
    recorded none)."""
    from rabtui.state.paths_below import under_sql

    saved_under = (f"COALESCE((SELECT r.path FROM backup_dirs r WHERE r.backup_id=v.first_backup"
                   f" AND {under_sql('p.path', 'r.path')} ORDER BY length(r.path) DESC LIMIT 1), p.dir)")
    want = {(r["source"], r["dir"]): r["n"] for r in store.all(
        f"SELECT source, dir, COUNT(DISTINCT id) AS n FROM (SELECT p.source, p.id, {saved_under} AS dir"
        " FROM paths p JOIN versions v ON v.path_id=p.id) GROUP BY source, dir")}
    have = {(r["source"], r["path"]): r["changed_since_checkpoint"]
            for r in store.all("SELECT * FROM dir_state WHERE changed_since_checkpoint > 0")}
    assert have == want, f"trigger counters {have}, the catalog's files {want}"


def check_backups_hold(cfg, store, copies: dict[int, dict[str, dict[bytes, bytes]]]) -> None:
    """Each complete backup still holds what its source held at its time: `copies` maps backup
    id -> directory path -> {relative path: content}. Standard directories: the whole tree;
    archive directories: each file it saved is that content."""
    for bid, dirs in copies.items():
        row = store.one("SELECT * FROM backups WHERE id=?", (bid,))
        assert row is not None and row["status"] in COMPLETE, \
            f"backup {bid} was complete and is now {row and row['status']}"
        source = cfg.source(row["source"])
        for d in source.directories:
            held = _contents(medium_layout.backup_data_path(row["path"], d.path))
            want = dirs[d.path]
            if d.kind == "standard":
                assert held == want, f"{row['name']} {d.path}: differs from the source at its time"
            else:
                assert all(want.get(p) == c for p, c in held.items()), f"{row['name']} {d.path}: a file differs"


def _contents(top) -> dict[bytes, bytes]:
    top = os.fsencode(top)
    out = {}
    for dirpath, _dirs, names in os.walk(top):
        for n in names:
            p = os.path.join(dirpath, n)
            if os.path.isfile(p) and not os.path.islink(p):
                with open(p, "rb") as f:
                    out[os.path.relpath(p, top)] = f.read()
    return out


def _saved_bytes(cfg, store, row, d, path: bytes) -> bytes:
    """The content of the file `path` (relative to /) as backup `row` shows it: its own tree's
    (saved as a standard one), or that of the newest backup up to it that saved `d` as an archive
    one and holds it in its own tree."""
    rows = [row] if _ran_as(store, row, d) == "standard" else [
        r for r in store.all(f"SELECT * FROM backups WHERE source=? AND medium=? AND id<=? AND status IN"
                             f" {(*COMPLETE, 'kept')!r} ORDER BY id DESC", (row["source"], row["medium"], row["id"]))
        if _saved_into(cfg, store, r, d) is not None]
    top = _prefix(d.path)
    for r in rows:
        saved = os.path.join(os.fsencode(r["path"]), b"data", path)
        if os.path.isfile(saved) and not os.path.islink(saved):
            with open(saved, "rb") as f:
                return f.read()
    raise AssertionError(f"{row['name']}: no backup holds {path!r} below {top!r}")


def check_restores_are_views(cfg, store, to) -> None:
    """A restore of each directory from each complete backup (`--backup`) gives what the backup
    shows (_view: by the kind it saved the directory as, whatever the config says now), each file
    byte for byte as the backup that saved it holds it. `to`: an empty directory to restore into."""
    from rabtui.restore import run as restore_run

    rows = store.all(f"SELECT * FROM backups WHERE status IN {tuple(COMPLETE)!r} ORDER BY source, id")
    for row in rows:
        for d in _directories(cfg, store, row):
            view = _view(cfg, store, row, d)
            if view is None:
                continue
            into = os.path.join(os.fsencode(to), str(row["id"]).encode())
            dest = os.path.join(into, _prefix(d.path))
            restore_run.restore(cfg, store, row["source"], d.path, backup=row["name"], to=into)
            _restored_is_view(cfg, store, row, d, view, dest, f"restore of {d.path} from {row['name']}", row["name"])


def _restored_is_view(cfg, store, row, d, view, dest, what: str, whose: str) -> None:
    """The tree restored at `dest` is `view` (what `row` shows of `d`), each file byte for byte."""
    got = {path: (kind, size, mtime) for kind, path, size, mtime in _walk(dest, _prefix(d.path))}
    assert got == view, f"{what}: gave\n  {sorted(got.items())[:10]}\nit shows\n  {sorted(view.items())[:10]}"
    for path, (kind, _size, _mtime) in view.items():
        if kind == "file":
            with open(os.path.join(dest, path[len(_prefix(d.path)):].lstrip(b"/")), "rb") as f:
                assert f.read() == _saved_bytes(cfg, store, row, d, path), f"{whose}: {path!r} differs"


def check_checkpoint_is_view(cfg, store, number: int, to) -> None:
    """A restore from checkpoint `number`'s discs of each directory it took gives what the backup
    it was taken from shows (_view, by the kind that backup saved it as), each file byte for byte."""
    from rabtui.restore import run as restore_run

    for c in store.all("SELECT * FROM checkpoint_dirs WHERE number=? AND role='data'", (number,)):
        row = store.one("SELECT * FROM backups WHERE id=?", (c["backup_id"],))
        d = next(d for d in cfg.source(c["source"]).directories if d.path == c["path"])
        view = _view(cfg, store, row, d)
        if view is None:    # taken from a backup of an archive directory around it: what that one shows below it
            view = _below(d, _view(cfg, store, row, _around(store, row, d)))
        into = os.path.join(os.fsencode(to), f"{number}-{row['id']}".encode())
        dest = os.path.join(into, _prefix(d.path))
        restore_run.restore(cfg, store, c["source"], d.path, checkpoint=number, to=into)
        _restored_is_view(cfg, store, row, d, view, dest, f"checkpoint {number} of {d.path} ({row['name']})",
                          f"checkpoint {number}")


def _around(store, row, d):
    """The archive directory around `d` backup `row` recorded."""
    [p] = [r["path"] for r in store.all("SELECT path FROM backup_dirs WHERE backup_id=? AND kind='archive'", (row["id"],))
           if r["path"] != d.path and (d.path.rstrip("/") + "/").startswith(r["path"].rstrip("/") + "/")]
    return SimpleNamespace(path=p, kind="archive")


def _below(d, view: dict[bytes, tuple]) -> dict[bytes, tuple]:
    """The entries of `view` below directory `d` (its own entry too)."""
    top = _prefix(d.path)
    return {p: v for p, v in view.items() if p == top or p.startswith(top + b"/")}


def check_found_restores(cfg, store, to) -> None:
    """Every version of a file `find` lists in a backup restores from that backup (`--backup`) at
    its size and mtime."""
    from rabtui.actions.find import find
    from rabtui.restore import run as restore_run

    restored = 0
    for n, v in enumerate(v for v in find(cfg, store, "*").versions if v.kind == "file"):
        for loc in v.locations:
            for name in loc.backups if loc.kind == "backup" else ():
                restored += 1
                into = os.path.join(os.fsencode(to), f"{n}-{name}".encode())
                restore_run.restore(cfg, store, v.source, b"/" + v.path, backup=name, to=into)
                st = os.lstat(os.path.join(into, v.path))
                assert (st.st_size, int(st.st_mtime)) == (v.size, v.mtime), \
                    f"/{v.path!r} from {name}: {st.st_size} bytes, mtime {int(st.st_mtime)}; find lists {v.size}, {v.mtime}"
    assert restored, "find lists no version in a backup"
