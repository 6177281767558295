"""Queries over the catalog: find, and what a backup holds (backup_diff.py compares two). Never a
walk of the trees.

A version (size, mtime) of a path lives, on its medium, in every complete backup of its source
whose id lies in [first_backup, last_backup]; for an archive directory, in backup first_backup and
in the medium's union tree. Checkpoint discs hold versions too (`disc_files`).
"""

from __future__ import annotations

import bisect
import os
import threading
from dataclasses import dataclass, field

from rabtui.state import saved_kinds, shapes, union_shapes, unread_paths
from rabtui.state.backup_ranges import BackupRanges
from rabtui.state.name_match import as_glob, matches, prefilter
from rabtui.state.store import COMPLETE_SQL, KEPT, Store, as_made, in_chunks, made_first


def _b(s: str | bytes) -> bytes:
    return s if isinstance(s, bytes) else os.fsencode(s)


def rel_path(path: str | bytes) -> bytes:
    """A path on the source (absolute or not) as the catalog keeps it: bytes, relative to `/`."""
    return os.path.normpath(_b(path)).lstrip(b"/") if _b(path).strip(b"/") else b""


@dataclass
class Location:
    kind: str                        # "backup" | "disc"
    medium: str | None = None
    backups: list[str] = field(default_factory=list)   # names, oldest first
    archive: bool = False            # in the medium's archive union tree too
    checkpoint: int | None = None
    disc: int | None = None
    volid: str | None = None
    disc_state: str | None = None
    disc_path: bytes | None = None
    part: int | None = None
    parts: int | None = None
    # the first backup on the medium after those that could not read the path on the source (not
    # deleted there), and how many more after it could not read it either
    unreadable: str | None = None
    unreadable_more: int = 0

    def describe(self, ids: dict[str, int] | None = None) -> str:
        """`ids`: the id to give beside each backup name in it (one two media give: named_twice)."""
        if self.kind == "disc":
            part = f" part {self.part}/{self.parts}" if self.parts and self.parts > 1 else ""
            return f"checkpoint {self.checkpoint} disc {self.disc} ({self.volid}, {self.disc_state}){part}"
        if not self.backups:
            return f"{self.medium}: archive"
        ids = ids or {}

        def named(name: str) -> str:
            return f"{name} (id {ids[name]})" if name in ids else name
        first, last = named(self.backups[0]), named(self.backups[-1])
        span = first if len(self.backups) == 1 else f"{first} .. {last} ({len(self.backups)} backups)"
        more = (f" and {self.unreadable_more} backup{'s' if self.unreadable_more > 1 else ''} after"
                if self.unreadable_more else "")
        unread = (f"; then unreadable on the source in {named(self.unreadable)}{more} (not deleted)"
                  if self.unreadable else "")
        return f"{self.medium}: {span}" + (" + archive" if self.archive else "") + unread


@dataclass
class Version:
    source: str
    path: bytes                      # relative to /
    size: int
    mtime: int
    locations: list[Location] = field(default_factory=list)
    kind: str = "file"               # "symlink" | "device" | "special" (a FIFO or socket): `others`

    def as_json(self) -> dict:
        return {
            "source": self.source, "path": "/" + os.fsdecode(self.path), "size": self.size, "mtime": self.mtime,
            **({"kind": self.kind} if self.kind != "file" else {}),
            "locations": [
                {k: (os.fsdecode(v) if isinstance(v, bytes) else v) for k, v in loc.__dict__.items()
                 if v not in (None, [], False)}
                for loc in self.locations
            ],
        }


def find(store: Store, pattern: str, source: str | None = None, archive_dirs: dict | None = None,
         limit: int | None = None, ignore_case: bool = False, cancel: threading.Event | None = None) -> list[Version]:
    """Every version of the paths matching `pattern` (`as_glob`: on the file name, or on the whole
    path when it holds a `/`), with where each lives: backups on media and checkpoint discs.
    `cancel` set meanwhile: raises Cancelled soon after."""
    pat = as_glob(pattern)
    where = "source=?" if source else "1"
    params: list = [source] if source else []
    test, test_params = prefilter(pat, ignore_case)
    with store.interruptible(cancel):
        rows = store.all(f"SELECT id, source, dir, path FROM paths WHERE {where} AND {test}", (*params, *test_params))
        # SQLite's GLOB compares the bytes as they are (names need not be UTF-8)
        paths = {r["id"]: r for r in rows if matches(bytes(r["path"]), pat, ignore_case)}
        return _versions(store, paths, source, archive_dirs or {}, limit)


def _versions(store: Store, paths: dict, source: str | None, archive_dirs: dict,
              limit: int | None = None) -> list[Version]:
    """The versions of `paths` (id -> row) with their locations; with `limit`, of the first
    `limit` paths (in their order) that have a location: a path no backup or disc holds (its
    versions dropped by a cleanup, or added by a backup that failed) takes no place among them."""
    if not paths:
        return []
    backups = BackupRanges(store, source)
    out: dict[tuple, Version] = {}
    ids = list(paths)
    held: set[int] = set()      # the paths with a location
    ends: dict[tuple[int, str], list[tuple[int, Location]]] = {}   # (path, medium) -> (last backup, location)
    in_unions: list[tuple] = []     # (union_shapes.lost's, location) of those the union holds
    for chunk, marks in in_chunks(ids):
        if limit is not None and len(held) >= limit:
            break
        for v in store.all(f"SELECT * FROM versions WHERE path_id IN ({marks}) ORDER BY first_backup", chunk):
            p = paths[v["path_id"]]
            key = (p["source"], bytes(p["path"]), v["size"], v["mtime"])
            ver = out.get(key)
            if ver is None:
                ver = out[key] = Version(p["source"], bytes(p["path"]), v["size"], v["mtime"])
            is_archive = _in_any(key[1], archive_dirs.get(p["source"], ()))
            # kept data never enters the medium's archive union
            names, in_union = backups.holding(p["source"], v["medium"], p["dir"], v["first_backup"],
                                              v["last_backup"], is_archive, key[1])
            if not names and not is_archive:
                continue
            loc = Location("backup", medium=v["medium"], backups=names, archive=in_union)
            ver.locations.append(loc)
            if in_union:
                in_unions.append((p["source"], p["dir"], p["id"], key[1], v["medium"], v["first_backup"], loc))
            ends.setdefault((v["path_id"], v["medium"]), []).append((v["last_backup"], loc))
            held.add(v["path_id"])
        for f in store.all(
            f"SELECT f.*, p.id AS path_id, d.volid, d.state FROM disc_files f"
            f" JOIN paths p ON p.source=f.source AND p.path=f.path"
            f" LEFT JOIN discs d ON d.number=f.number AND d.disc=f.disc"
            f" WHERE p.id IN ({marks}) ORDER BY f.number, f.disc, f.part", chunk):
            key = (f["source"], bytes(f["path"]), f["size"], f["mtime"])
            ver = out.get(key)
            if ver is None:
                ver = out[key] = Version(f["source"], bytes(f["path"]), f["size"], f["mtime"])
            ver.locations.append(Location("disc", checkpoint=f["number"], disc=f["disc"], volid=f["volid"],
                                          disc_state=f["state"], disc_path=bytes(f["disc_path"]),
                                          part=f["part"], parts=f["parts"]))
            held.add(f["path_id"])
    # where a newer shape of its place took it from the union, a version is in it no more
    gone = union_shapes.lost(store, backups, [u[:-1] for u in in_unions])
    for _source, _dir, path_id, _path, medium, first, loc in in_unions:
        loc.archive = (path_id, medium, first) not in gone
    _unread_after(store, ends)
    if limit is not None:
        kept = {(paths[i]["source"], bytes(paths[i]["path"])) for i in [i for i in ids if i in held][:limit]}
        out = {key: v for key, v in out.items() if key[:2] in kept}
    # disc files whose path never made it into `paths` (a rebuilt state with only discs) are
    # found by find_on_discs; here they join through paths.
    result = [v for v in out.values() if v.locations]
    result.sort(key=lambda v: (v.source, v.path, v.mtime, v.size))
    return result


def _unread_after(store: Store, ends: dict[tuple[int, str], list[tuple[int, Location]]]) -> None:
    """The backups that could not read a path found are said on the location of the version held
    by the backups before them on their medium (the path was not deleted there, however it reads):
    the first named, those after it counted (a file closed for a year would name 365)."""
    if not ends:
        return
    for key, unread in unread_paths.later_unread(store, list({path_id for path_id, _ in ends})).items():
        spans = sorted(ends.get(key, ()), key=lambda e: e[0])
        lasts = [last for last, _ in spans]
        for backup_id, name in unread:
            at = bisect.bisect_left(lasts, backup_id)     # the spans before it end below it
            if at == 0:
                continue
            loc = spans[at - 1][1]
            if loc.unreadable is None:
                loc.unreadable = name
            else:
                loc.unreadable_more += 1


def find_on_discs(store: Store, pattern: str, source: str | None = None, ignore_case: bool = False,
                  kinds: dict[str, str] | None = None) -> list[Version]:
    """Disc files matching `pattern` whose path is not in `paths` (only known from a checkpoint);
    `kinds`: the Version.kind of the entries a disc's catalog marks as no regular file, by mark."""
    pat = as_glob(pattern)
    where = "f.source=?" if source else "1"
    rows = store.all(
        f"SELECT f.*, d.volid, d.state FROM disc_files f LEFT JOIN discs d ON d.number=f.number AND d.disc=f.disc"
        f" WHERE {where} AND NOT EXISTS (SELECT 1 FROM paths p WHERE p.source=f.source AND p.path=f.path)"
        f" ORDER BY f.source, f.path, f.number, f.disc, f.part", (source,) if source else ())
    out: dict[tuple, Version] = {}
    for f in rows:
        if not matches(bytes(f["path"]), pat, ignore_case):
            continue
        kind = (kinds or {}).get(f["sha256"], "file")
        key = (f["source"], bytes(f["path"]), kind, f["size"], f["mtime"])
        ver = out.setdefault(key, Version(f["source"], bytes(f["path"]), f["size"], f["mtime"], kind=kind))
        ver.locations.append(Location("disc", checkpoint=f["number"], disc=f["disc"], volid=f["volid"],
                                      disc_state=f["state"], disc_path=bytes(f["disc_path"]),
                                      part=f["part"], parts=f["parts"]))
    return list(out.values())


# --- what a backup holds ------------------------------------------------------------------------------


def backup_row(store: Store, source: str, name_or_id: str | int | None):
    if name_or_id is None:
        return None
    if isinstance(name_or_id, int) or str(name_or_id).isdigit():
        row = store.one("SELECT * FROM backups WHERE source=? AND id=? AND status<>'deleted'", (source, int(name_or_id)))
        if row is not None:
            return row
    return store.one("SELECT * FROM backups WHERE source=? AND name=? AND status<>'deleted'"
                     " ORDER BY id DESC LIMIT 1", (source, str(name_or_id)))


def named_twice(store: Store, source: str, ref: str) -> str | None:
    """Why `ref`, a backup's name, names no one backup of the source: each medium names its backups
    by their start time, and a clock set back gives two media one name. None: it names at most one."""
    rows = store.all("SELECT id, medium FROM backups WHERE source=? AND name=? AND status<>'deleted' ORDER BY id",
                     (source, str(ref)))
    if len(rows) < 2:
        return None
    return f"{ref} names {len(rows)} backups of {source}: " + ", ".join(f"id {r['id']} on medium {r['medium']}"
                                                                       for r in rows)


def complete_backups(store: Store, source: str, medium: str | None = None) -> list:
    """The source's complete backups, oldest first as made (store.as_made: one dated ahead by a wrong
    clock comes before those made after it)."""
    q = f"{made_first()}SELECT b.* FROM backups b WHERE b.source=? AND b.status IN {COMPLETE_SQL}"
    params: list = [source, source]
    if medium:
        q += " AND b.medium=?"
        params.append(medium)
    return store.all(q + f" ORDER BY {as_made()}, b.id", params)


def _below(prefix: bytes) -> tuple[str, tuple]:
    """SQL filter (on `p.path`) for the paths at or below `prefix` (relative to /; b"": all)."""
    prefix = rel_path(prefix)
    if not prefix:
        return "", ()
    # the paths below "a/b" sort between "a/b/" and "a/b0" ("0" follows "/"), as bytes
    p = "CAST(p.path AS BLOB)"
    return f" AND ({p}=? OR ({p}>=? AND {p}<?))", (prefix, prefix + b"/", prefix + b"0")


def _exactly(paths: tuple[bytes, ...]) -> tuple[str, tuple]:
    """SQL filter (on `p.path`) for `paths` themselves (relative to /), none below them."""
    return f" AND CAST(p.path AS BLOB) IN ({','.join('?' * len(paths)) or 'NULL'})", tuple(paths)


def contents(store: Store, backup, archive_dirs: tuple[str, ...] = (), prefix: bytes = b"", *,
             own: bool = False) -> dict[bytes, tuple[int, int]]:
    """path -> (size, mtime) of the files of a complete backup (the directories it saved as archive
    ones: the union as it stood after this backup; `archive_dirs`, the config's archive directories,
    stand for the kinds of a backup that recorded none: saved_kinds); with `prefix`, only the paths
    at or below it. `own`: the files its own tree holds, none of a union's."""
    out: dict[bytes, tuple[int, int]] = {}
    below, below_args = _below(prefix)
    arc = set() if own else set(saved_kinds.archive_in(store, backup, archive_dirs))
    # versions first (CROSS JOIN keeps that order): one pass over the table and a look-up by
    # primary key per row is 3x faster than going through the source's paths, as no index holds
    # the backup range (schema.py)
    # kept data holds only its own versions (a complete range around it says nothing of it)
    first = "=" if backup["status"] == KEPT else "<="
    for r in store.all(
        "SELECT p.path, p.dir, v.size, v.mtime, v.first_backup FROM versions v CROSS JOIN paths p ON p.id=v.path_id"
        f" WHERE v.medium=? AND p.source=? AND v.first_backup{first}? AND v.last_backup>=?" + below,
        (backup["medium"], backup["source"], backup["id"], backup["id"], *below_args),
    ):
        if r["dir"] not in arc and not _in_any(bytes(r["path"]), arc):
            out[bytes(r["path"])] = (r["size"], r["mtime"])
    if arc:
        union = archive_as_of(store, backup, tuple(sorted(arc)), prefix, archive_now=archive_dirs)
        out.update({path: v[:2] for path, v in union.items()})
    return out


def _in_any(path: bytes, dirs) -> bool:
    """Whether `path` (relative to /) lies at or below one of `dirs` (paths on the source)."""
    return any(not top or path == top or path.startswith(top + b"/") for top in map(rel_path, dirs))


def archive_as_of(store: Store, backup, archive_dirs: tuple[str, ...], prefix: bytes = b"",
                  paths: tuple[bytes, ...] | None = None, archive_now: tuple[str, ...] | None = None,
                  others_too: bool = False) -> dict[bytes, tuple]:
    """path -> (size, mtime, first_backup) of the archive directories' files as they stood on the
    backup's medium after it: for each path, the newest version saved there by a backup up to it
    that saved the directory as an archive one (linked it into the union: saved_kinds; a backup
    that recorded no kinds did where `archive_now` says, by default `archive_dirs`), where the
    newest shape of its place and of those on the way to it (a symlink, FIFO or device node saved
    there too: _with_entries) lets it show (shapes.py). Those at or below `prefix`; given `paths`,
    those paths alone (a directory saved in place of one of them since is the backups' own trees'
    to tell: where_saved.older_shapes). `others_too`: the symlinks, FIFOs and device nodes that show
    too, each (None, None, first_backup)."""
    now = archive_dirs if archive_now is None else archive_now
    saved = saved_kinds.saved_sql(store, backup, archive_dirs, now, "v.first_backup", "p.path")
    entries = saved_kinds.saved_sql(store, backup, archive_dirs, now, "p.first_backup", "p.path")
    asked = _below(prefix) if paths is None else _exactly(paths)
    # the places on the way to them, outside what was asked, read in the same pass: files there take theirs
    above = {up for up in (shapes.on_the_way(rel_path(prefix)) if paths is None
                           else {u for p in paths for u in shapes.on_the_way(p)}) if paths is None or up not in paths}
    where = _either(asked, _exactly(tuple(sorted(above)))) if above else asked
    out = _with_entries(_saved_at(store, backup, archive_dirs, saved, where),
                        _entries_at(store, backup, archive_dirs, entries, where))
    files = {up: out.pop(up) for up in above if up in out}
    below = shapes.newest_below(out)
    shown = shapes.shown(out, frozenset(
        up for up, v in files.items() if below.get(up, -1) < v[2]
        and not _saved_at(store, backup, archive_dirs, saved, _after(up, v[2]), " LIMIT 1")
        and not _entries_at(store, backup, archive_dirs, entries, _after(up, v[2], "p.first_backup"), " LIMIT 1")),
        below)
    return shown if others_too else {path: v for path, v in shown.items() if v[0] is not None}


def _with_entries(files: dict[bytes, tuple], entries: dict[bytes, int]) -> dict[bytes, tuple]:
    """`files` (_saved_at's) with (None, None, first_backup) where the newest saved at a path is a
    symlink, FIFO or device node (`entries`: path -> the backup that saved the newest there): a
    place no directory, whose files below it and its own older file that shape takes the place of."""
    for path, first in entries.items():
        if files.get(path, (0, 0, -1))[2] < first:
            files[path] = (None, None, first)
    return files


def _entries_at(store: Store, backup, archive_dirs: tuple[str, ...], saved: tuple[str, tuple],
                where: tuple[str, tuple], limit: str = "") -> dict[bytes, int]:
    """path -> the newest backup up to `backup` that saved a symlink, FIFO or device node there, of
    the archive directories (`saved`: saved_kinds.saved_sql's on `p.first_backup`; `where`: a filter
    on `p.path` and `p.first_backup`)."""
    within = saved_kinds.below_sql("p.path", archive_dirs)
    return {bytes(r["path"]): r["f"] for r in store.all(
        f"SELECT p.path, max(p.first_backup) AS f FROM others p WHERE p.medium=? AND p.source=?"
        f" AND {within[0]} AND p.first_backup<=? AND {saved[0]}{where[0]}"
        f" GROUP BY p.path{limit}",
        (backup["medium"], backup["source"], *within[1], backup["id"], *saved[1], *where[1]))}


def _either(a: tuple[str, tuple], b: tuple[str, tuple]) -> tuple[str, tuple]:
    """SQL filter true where filter `a` or filter `b` is (each " AND ...", as _below's and _exactly's)."""
    return f" AND (({a[0].removeprefix(' AND ')}) OR ({b[0].removeprefix(' AND ')}))", (*a[1], *b[1])


def _after(directory: bytes, first: int, column: str = "v.first_backup") -> tuple[str, tuple]:
    """SQL filter (on `p.path`, `column`) for the versions below `directory` saved after `first`."""
    return f"{_below(directory)[0]} AND CAST(p.path AS BLOB)<>? AND {column}>?", (*_below(directory)[1], directory, first)


def _saved_at(store: Store, backup, archive_dirs: tuple[str, ...], saved: tuple[str, tuple],
              where: tuple[str, tuple], limit: str = "") -> dict[bytes, tuple]:
    """archive_as_of's rows (`saved`: saved_kinds.saved_sql's; `where`: a filter on `p.path` such as
    _below's or _exactly's): the newest version at each path, whatever shape came after it."""
    within = saved_kinds.below_sql("p.path", archive_dirs)
    return {bytes(path): (size, mtime, first) for path, size, mtime, first in store.tuples(
        f"SELECT p.path, v.size, v.mtime, v.first_backup FROM versions v JOIN paths p ON p.id=v.path_id"
        f" WHERE v.medium=? AND p.source=? AND {within[0]}"
        f" AND v.first_backup<=? AND {saved[0]}{where[0]} ORDER BY v.first_backup{limit}",
        (backup["medium"], backup["source"], *within[1], backup["id"], *saved[1], *where[1]))}


def archive_listing(store: Store, source: str, backup, directories, rel: bytes, leave_out=None):
    """One directory `rel` (relative to /) of an archive directory as of `backup`, as Browse lists
    it: every file saved on the backup's medium up to it (archive_as_of). `directories`: the
    source's configured ones (path, kind). Returns the names (directories first, each part sorted),
    how many are directories, and name -> (is_dir, size, mtime, "new" when this backup saved it);
    None when `rel` is not in a directory the backup saved as an archive one (saved_kinds). `leave_out(dir_path, versions)`: the paths of
    those files (archive_as_of's) a restore does not give, left out (none the directories on the
    way to them only)."""
    archive_now = tuple(d.path for d in directories if d.kind == "archive")
    arc = saved_kinds.archive_in(store, {"id": backup["id"]}, archive_now)
    d = next((d for d in directories if d.path in arc
              and (rel == rel_path(d.path) or rel.startswith(rel_path(d.path) + b"/") or not rel_path(d.path))), None)
    if d is None:
        return None
    row = {"id": backup["id"], "medium": backup["medium"], "source": source}
    cut = len(rel) + 1 if rel else 0
    children: dict[bytes, tuple] = {}
    versions = archive_as_of(store, row, (d.path,), rel, archive_now=archive_now)
    for path in leave_out(d.path, versions) if leave_out is not None else ():
        del versions[path]
    for path, (size, mtime, first) in versions.items():
        name, below, _ = path[cut:].partition(b"/")
        if path != rel:
            children[name] = (True, None, None, "") if below else \
                (False, size, mtime, "new" if first == backup["id"] else "")
    dirs = sorted(n for n, v in children.items() if v[0])
    files = sorted(n for n, v in children.items() if not v[0])
    return dirs + files, len(dirs), children
