"""An archive directory's entries that kept data saved, for a checkpoint.

A backup whose post-backup commands failed keeps its data (status `kept`), but its archive files are
not linked into the medium's union, which `content.scan` walks. As of the complete backup a
checkpoint reads, the archive holds every file saved on the medium up to it (catalog.archive_as_of,
as Browse and a restore show it): a file that only kept data saved (the source removed it before the
next backup), or a version of it newer than the union's, would never reach a disc. Those entries
are read from the kept backup itself, put among the scanned ones in their place; so are the symlinks,
special files and empty directories only kept data saved (kept_entries.py: the catalog records
regular files only). So are the files of complete backups the union lost with their directory
(the source made it a file or a symlink, which took its place there, then a directory again), and
those whose place it keeps as an empty directory for a backup after the one read (_emptied): read
from the backup that saved each, as a restore from the medium reads them; and so are the
symlinks, FIFOs and device nodes complete backups saved that the union lost with nothing in their
place (a hand, a copy of the medium by rsync -r: _entries_lost_from_union).
"""

from __future__ import annotations

import os
import stat

from rabtui import fmt
from rabtui.checkpoint.marks import DIR_MARK, LINK_MARK, SPECIAL_MARK
from rabtui.checkpoint.kept_entries import dir_in_union, fits_its_shape, found, newer_than_file
from rabtui.checkpoint.newest_kind import SavedKinds
from rabtui.checkpoint import not_as_saved, xattr_sum
from rabtui.checkpoint.own_dirs import dir_held_after, dir_saved_after
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.errors import WorkFailed
from rabtui.media import below, medium_layout, points_to
from rabtui.mtimes import seconds
from rabtui.state import catalog, others as saved_others, saved_kinds
from rabtui.state.others import union_entry_backups
from rabtui.state.store import COMPLETE_SQL, KEPT, Store


def _order(rel: bytes, directory: bool = False) -> list[tuple[int, bytes]]:
    """The place of an entry in scan's order: in each directory its other entries in name order,
    then its subdirectories, each whole, in name order (an empty one among them)."""
    parts = rel.split(b"/")
    return [(1, p) for p in parts] if directory else [(1, p) for p in parts[:-1]] + [(0, parts[-1])]


def add(store: Store, scanned, backup, dir_path: str, union: bytes, take_attrs, own_dirs=None) -> list[bytes]:
    """Put into `scanned` (content.Scanned of the union of `dir_path`, at `union`, as of `backup`)
    the entries that kept data saved and the union does not show in that version, each read from
    the kept backup: `scanned.disks` says where; and the files of complete backups it lost with their
    directory (_lost_from_union), from the backup that saved each. `take_attrs(scanned, path, rel,
    directory)` counts their xattrs; `own_dirs` (own_dirs.OwnDirs): where the directories the union lacks
    are read (_dirs_beside), and which files a newer backup saved a directory in place of (an older
    shape: own_dirs.dir_saved_after). Returns the names (below the directory) of the files the backup
    that saved them no longer holds as recorded; into `scanned.kept_shadowed` those of kept data
    below a symlink or a file the union holds in place of a directory on their way."""
    # only the backups that saved the directory as an archive one (saved_kinds): a standard
    # backup's tree, made before the directory changed kind, is none of what the union shows
    savers = saved_kinds.savers_within(store, backup, dir_path)
    kept = {r["id"]: r["path"] for r in store.all(
        f"SELECT id, path FROM backups WHERE source=? AND medium=? AND status=? AND id<? AND id IN ({savers})",
        (backup["source"], backup["medium"], KEPT, backup["id"]))}
    linked = {r["id"]: r["path"] for r in store.all(
        f"SELECT id, path FROM backups WHERE source=? AND medium=? AND status IN {COMPLETE_SQL} AND id<?"
        f" AND id IN ({savers})", (backup["source"], backup["medium"], backup["id"]))}
    seen = found(store, backup, dir_path, union)     # the backup's own empty directories too
    if seen.unread:
        raise _closed(backup, dir_path, seen.unread[0])
    if seen.planted:
        raise WorkFailed(f"{backup['source']}:{dir_path}: kept data on medium {backup['medium']}: {seen.planted[0]}")
    others = seen.taken
    # the burn, xorriso and the verification read what the plan takes where it is: nothing in a
    # directory closed to the user rabtui runs as (opened for the walk only)
    closed = sorted(seen.closed, key=len)
    for saved_rel, saved in others.items():
        path = saved.path(saved_rel)
        if shut := next((c for c in closed if path.startswith(c + b"/")), None):
            raise _closed(backup, dir_path, shut)
    scanned.skipped += seen.sockets
    top = catalog.rel_path(dir_path)
    shown = dict(zip(scanned.paths, range(len(scanned.paths))))
    for rel in seen.replaced:   # the union's there is older than kept data's directory: an older shape
        shown.pop(rel, None)
    extra: dict[bytes, tuple[bytes, os.stat_result]] = {}
    saved_by: dict[bytes, int] = {}     # rel -> the backup that saved extra's entry
    lost = []
    own = os.fsencode(medium_layout.backup_data_path(backup["path"], dir_path))
    folders = {i: os.fsencode(path) for i, path in (*kept.items(), *linked.items(), (backup["id"], backup["path"]))}
    emptied = _emptied(store, backup, dir_path, top, scanned, list(linked), own_dirs, folders) \
        if own_dirs is not None and linked else {}
    for rel in emptied:     # the union's empty directories there go: the file takes their place
        for d in [d for d in scanned.dir_attrs if d == rel or d.startswith(rel + b"/")]:
            del scanned.dir_attrs[d]
    with Shortcuts() as short:
        for full, size, mtime, first in sorted([*_newest_saved(store, backup, dir_path, top, list(kept), list(linked),
                                                               shown), *emptied.values()]):
            rel = full[len(top):].lstrip(b"/") if top else full
            if first in linked and rel not in emptied and not _lost_from_union(scanned, shown, union, rel):
                continue    # a newer shape took its place there
            if _in_place_of_a_directory(scanned, shown, rel):
                if not SavedKinds(store, backup, dir_path, full).files_older({full: (size, mtime, first)}):
                    scanned.kept_shadowed.append(rel)   # else an older shape (the union's is newer), in silence
                continue
            if not fits_its_shape(own, rel, False):
                continue    # a directory in the backup read (or below its entry), as a restore has it
            i = shown.get(rel)
            if own_dirs is not None and dir_saved_after(own_dirs, folders, full, first) \
                    and (i is None or scanned.marks[i] is not None):
                # an older shape: a newer backup saved a directory there, as a restore has it; but
                # where the union holds an older file, kept data's directory is left out below it
                # (kept_shadowed) and the newest file wins, as a restore from the medium gives it
                continue
            if rel in others and newer_than_file(others[rel], first):
                continue
            others.pop(rel, None)
            if rel == b"" or (i is not None and scanned.marks[i] is None
                              and (scanned.sizes[i], scanned.mtimes[i]) == (size, mtime)):
                continue
            root = os.fsencode(medium_layout.backup_data_path(kept.get(first) or linked[first], dir_path))
            path = os.path.join(root, rel)
            try:
                if medium_layout.symlink_to_entry(kept.get(first) or linked[first], full) is not None:
                    raise FileNotFoundError(rel)
                st = os.lstat(short.path(path))
            except PermissionError:
                raise _closed(backup, dir_path, os.path.dirname(path)) from None
            except OSError:
                lost.append(rel)
                continue
            if not stat.S_ISREG(st.st_mode) or (st.st_size, seconds(st)) != (size, mtime):
                lost.append(rel)
                continue
            extra[rel] = (path, st)
            saved_by[rel] = first
        for rel, saved in others.items():
            extra[rel] = (saved.path(rel), saved.st)
            saved_by[rel] = saved.backup
        found_again, lost_too = _entries_lost_from_union(store, backup, dir_path, top, scanned, shown, union, folders,
                                                         {*linked, backup["id"]}, own, own_dirs, short)
        lost += lost_too
        for rel, (path, st, first) in found_again.items():
            if rel not in extra:
                extra[rel], saved_by[rel] = (path, st), first
        _refuse_pointing_elsewhere(store, backup, dir_path, top, extra, saved_by)
        newer = _newer_than_union_entries(store, backup, dir_path, top, scanned, shown, saved_by, linked)
        # found took these after the union's directory there, and kept data's files saved after it
        # (no newer backup holds that directory: dir_saved_after): all it holds below them goes
        newer |= {rel for rel, saved in others.items() if not stat.S_ISDIR(saved.st.st_mode)
                  and dir_in_union(union, rel)}
        newer |= set(emptied)
        if own_dirs is not None:
            newer |= {rel for rel, (_path, st) in extra.items() if rel not in others and stat.S_ISREG(st.st_mode)
                      and saved_by[rel] in kept and dir_in_union(union, rel)}
        clashing = _clashing(scanned, shown, union, extra, newer)
        older = _older_files(store, backup, dir_path, top, extra, saved_by, clashing)
        for rel in clashing:
            del extra[rel]
            if rel not in older:
                scanned.kept_clashing.append(rel)
        if extra or seen.replaced:
            _merge(scanned, extra, take_attrs, short, union, own_dirs, seen.replaced)
    return lost


def _entries_lost_from_union(store: Store, backup, dir_path: str, top: bytes, scanned, shown: dict[bytes, int],
                             union: bytes, folders: dict[int, bytes], linked: set[int], own: bytes, own_dirs,
                             short: Shortcuts) -> tuple[dict[bytes, tuple[bytes, os.stat_result, int]], list[bytes]]:
    """rel -> (path, lstat, backup) of each symlink, FIFO or device node the newest saved at its
    path up to `backup` by a complete one (`linked`), which the union lacks with nothing in its place
    or on the way there (rsync -r or a hand left it out), read from the tree of the backup that saved
    it where it holds it still as that kind of entry (as a restore from the medium reads it:
    restore/saved_others.py). Not one a newer shape hides (a file at, above or below it; a newer
    backup's directory there: dir_saved_after), nor where `backup`'s own tree holds another shape.
    And the names of those that backup no longer holds as that kind of entry either (off the discs,
    said, as such a file is)."""
    out, lost = {}, []
    for full, (kind, _mtime, first) in saved_others.archive_as_of(store, backup, dir_path, top).items():
        rel = full[len(top):].lstrip(b"/") if top else full
        if first not in linked or not rel or rel in shown or not _lost_from_union(scanned, shown, union, rel) \
                or (first != backup["id"] and not fits_its_shape(own, rel, False)) \
                or (own_dirs is not None and dir_saved_after(own_dirs, folders, full, first)) \
                or catalog.archive_as_of(store, backup, (dir_path,), full, others_too=True).get(full) \
                != (None, None, first):
            continue
        path = os.path.join(os.fsencode(medium_layout.backup_data_path(os.fsdecode(folders[first]), dir_path)), rel)
        try:
            if medium_layout.symlink_to_entry(folders[first], full) is not None:
                raise FileNotFoundError(rel)
            st = os.lstat(short.path(path))
        except OSError:
            lost.append(rel)
            continue
        if not saved_others.of_kind(kind, st.st_mode):
            lost.append(rel)
        elif not stat.S_ISSOCK(st.st_mode):
            out[rel] = (path, st, first)
    return out, lost


def _refuse_pointing_elsewhere(store: Store, backup, dir_path: str, top: bytes, extra: dict, saved_by: dict) -> None:
    """Refuse the directory when a symlink or device node read from the backup that saved it
    (`extra`: rel -> (path, lstat), `saved_by`: rel -> that backup) points elsewhere than it
    recorded (points_to), as the union's are refused (union_as_saved)."""
    read = [(rel, path, st) for rel, (path, st) in extra.items()
            if stat.S_ISLNK(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)]
    pointing = saved_others.saved_pointing(store, backup, dir_path, top) if read else {}
    bad = []
    for rel, path, st in read:
        full = os.path.join(top, rel) if top else rel
        saved = pointing.get((full, saved_by[rel]))
        if saved is not None and (why := points_to.elsewhere(*os.path.split(path), *saved)):
            name = store.one("SELECT name FROM backups WHERE id=?", (saved_by[rel],))["name"]
            bad.append((full, why.replace("the backup", f"backup {name}", 1)))
    if bad:
        raise WorkFailed(not_as_saved.said(f"{backup['source']}:{dir_path}", backup, sorted(bad)),
                         hint="the next backup of the source copies it anew if the source still has it")


def _closed(backup, dir_path: str, path: bytes) -> WorkFailed:
    return WorkFailed(f"{backup['source']}:{dir_path}: cannot read {fmt.name(path)}, a directory of kept data on"
                      f" medium {backup['medium']}: permission denied",
                      hint="a directory closed to the user rabtui runs as goes onto discs when root writes the"
                           " checkpoint")


def _newest_saved(store: Store, backup, dir_path: str, top: bytes, kept: list[int], linked: list[int],
                  shown: dict[bytes, int]):
    """(path, size, mtime, backup) of each file of the directory whose newest version saved on the
    medium up to `backup` (catalog.archive_as_of) a kept backup saved, or a complete one (`linked`)
    where the union does not show it (`shown`), in the order of their paths. Only those rows are
    read: the union shows almost every file, and the newest versions of all took the plan seconds."""
    rows = list(_newest_of(store, backup, dir_path, kept)) if kept else []
    if linked:
        cut = len(top) + 1 if top else 0     # the directory's paths are `top` and those below `top/`
        within, args = saved_kinds.below_sql("path", (dir_path,))
        unseen = [full for (full,) in store.tuples(f"SELECT path FROM paths WHERE source=? AND {within}",
                                                   (backup["source"], *args)) if full[cut:] not in shown]
        for i in range(0, len(unseen), 400):
            rows += _newest_of(store, backup, dir_path, linked, unseen[i:i + 400])
    return sorted(rows)


def _newest_of(store: Store, backup, dir_path: str, saved_by: list[int], paths: list[bytes] | None = None):
    """(path, size, mtime, backup) of each file of the directory (of `paths` only, if given) whose
    newest version saved on the medium up to `backup` one of `saved_by` saved."""
    marks = ",".join("?" * len(saved_by))
    only = f" AND p.path IN ({','.join('?' * len(paths))})" if paths is not None else ""
    # below the directory, whichever one the catalog first knew the path in (/data made /data/photos)
    within, args = saved_kinds.below_sql("p.path", (dir_path,))
    for r in store.execute(
            "SELECT p.path, v.size, v.mtime, v.first_backup FROM versions v JOIN paths p ON p.id=v.path_id"
            f" WHERE v.medium=? AND p.source=? AND {within} AND v.first_backup IN ({marks}){only}"
            " AND NOT EXISTS (SELECT 1 FROM versions w WHERE w.path_id=v.path_id AND w.medium=v.medium"
            "  AND w.first_backup>v.first_backup AND w.first_backup<=?)",
            (backup["medium"], backup["source"], *args, *saved_by, *(paths or ()), backup["id"])):
        yield bytes(r[0]), r[1], r[2], r[3]


def _merge(scanned, extra: dict[bytes, tuple[bytes, os.stat_result]], take_attrs, short: Shortcuts,
           union: bytes, own=None, replaced: set[bytes] = frozenset()) -> None:
    """`scanned` with the entries of `extra` (rel -> (path, lstat)) in scan's order, each in the
    place of the union's entry of that name (an older version) if any, and without the union's
    entries at `replaced` (older than kept data's directory there); the directories on their way
    that the union lacks with their xattrs and ACLs (_dirs_beside)."""
    old = scanned.__class__(**{k: v for k, v in vars(scanned).items()
                               if k not in ("paths", "sizes", "mtimes", "marks", "modes", "owners", "links",
                                            "rdevs", "xattr_sums", "trusted_sums", "inodes", "disks")})
    # an empty directory of the union that kept data saved entries in is empty no more
    filled = {p.rpartition(b"/")[0] for rel in extra for p in _above(rel)}
    # what the union holds below an entry that took the place of its directory is an older shape
    over = {rel for rel, (_path, st) in extra.items() if not stat.S_ISDIR(st.st_mode)}
    entries = []
    for i, rel in enumerate(scanned.paths):
        if rel not in extra and rel not in replaced and not (scanned.marks[i] == DIR_MARK and rel in filled) \
                and not (over and any(d in over for d in _above(rel.rpartition(b"/")[0]))):
            entries.append((rel, i, None))
    entries += [(rel, None, extra[rel]) for rel in extra]
    entries.sort(key=lambda e: _order(e[0], _is_empty_dir(scanned, e)))
    for rel, i, taken in entries:
        n = len(old.paths)
        if taken is None:
            old.paths.append(rel)
            old.sizes.append(scanned.sizes[i])
            old.mtimes.append(scanned.mtimes[i])
            old.marks.append(scanned.marks[i])
            old.modes.append(scanned.modes[i])
            old.owners.append(scanned.owners[i])
            if i in scanned.links:
                old.links[n] = scanned.links[i]
            if i in scanned.rdevs:
                old.rdevs[n] = scanned.rdevs[i]
            if i in scanned.xattr_sums:
                old.xattr_sums[n] = scanned.xattr_sums[i]
            if i in scanned.trusted_sums:
                old.trusted_sums[n] = scanned.trusted_sums[i]
            if i in scanned.inodes:
                old.inodes[n] = scanned.inodes[i]
            if i in scanned.disks:
                old.disks[n] = scanned.disks[i]
        else:
            path, st = taken
            if stat.S_ISREG(st.st_mode):
                old.add(rel, st, None, st.st_size)
            elif stat.S_ISLNK(st.st_mode):
                try:
                    old.links[n] = os.readlink(short.path(path))
                except OSError:     # gone meanwhile: the burn says so by name
                    pass
                old.add(rel, st, LINK_MARK)
            else:
                old.add(rel, st, DIR_MARK if stat.S_ISDIR(st.st_mode) else SPECIAL_MARK)
            old.disks[n] = path
            attrs = take_attrs(old, short.path(path), rel, stat.S_ISDIR(st.st_mode))
            if attrs is not None and not stat.S_ISDIR(st.st_mode):
                old.xattr_sums[n] = xattr_sum.of(attrs)
                if xattr_sum.as_root():
                    old.trusted_sums[n] = xattr_sum.trusted_of(attrs)
    for rel, path in _dirs_beside(extra, union, own, replaced).items():
        take_attrs(old, short.path(path), rel, True)
    vars(scanned).update(vars(old))


def _dirs_beside(extra: dict[bytes, tuple[bytes, os.stat_result]], union: bytes, own=None,
                 replaced: set[bytes] = frozenset()) -> dict[bytes, bytes]:
    """Each directory on the way to an entry of `extra` that the union lacks (or holds an older
    file, symlink or special file in place of: `replaced`) -> where every disc
    takes it (layout.disc_entries): in the newest backup's own tree that holds it (`own`), else
    beside the first entry below it, in the backup that saved that. Its xattrs and ACLs are recorded
    as the others' (dir_attrs.py): a disc holding some unrecorded failed its verification, every time
    it was written; so did the second disc of entries below it that other backups saved, which took
    the directory beside its own first entry."""
    out: dict[bytes, bytes] = {}
    for rel in sorted(extra):
        d, path = rel.rpartition(b"/")[0], extra[rel][0].rpartition(b"/")[0]
        while d and d not in out and (d in replaced or below.missing(union, d)):
            found = own.of(d) if own is not None else None
            out[d] = os.path.join(found[0], found[1]) if found else path
            d, path = d.rpartition(b"/")[0], path.rpartition(b"/")[0]
    return out


def _newer_than_union_entries(store: Store, backup, dir_path: str, top: bytes, scanned, shown: dict[bytes, int],
                              saved_by: dict[bytes, int], linked) -> set[bytes]:
    """The entries of `saved_by` (rel -> the backup that saved it) where the union holds a symlink
    or a special file that an older backup saved: the newest saved there up to `backup` wins,
    whatever its kind, as a restore from the medium gives it (union_entry_backups)."""
    over = {os.path.join(top, rel) if top else rel: rel for rel in saved_by
            if (i := shown.get(rel)) is not None and scanned.marks[i] in (LINK_MARK, SPECIAL_MARK)}
    if not over:
        return set()
    union_entries = union_entry_backups(store, backup, dir_path, tuple(over), {*linked, backup["id"]})
    return {rel for full, rel in over.items() if saved_by[rel] > union_entries.get(full, 0)}


def _older_files(store: Store, backup, dir_path: str, top: bytes, extra: dict[bytes, tuple[bytes, os.stat_result]],
                 saved_by: dict[bytes, int], rels: list[bytes]) -> set[bytes]:
    """Those of `rels` (entries of `extra`) that are files a newer backup, up to `backup`, saved a
    symlink, FIFO, device or file at or above (SavedKinds.files_older): older shapes, which a
    restore from the medium leaves out in silence, not clashes left out."""
    if not any(stat.S_ISREG(extra[rel][1].st_mode) for rel in rels):
        return set()
    # all of them: one below a newer file of `extra` is an older shape too
    files = {os.path.join(top, rel) if top else rel: rel for rel in extra if stat.S_ISREG(extra[rel][1].st_mode)}
    older = SavedKinds(store, backup, dir_path, top).files_older(
        {full: (None, None, saved_by[rel]) for full, rel in files.items()})
    return {files[full] for full in older} & set(rels)


def _clashing(scanned, shown: dict[bytes, int], union: bytes, extra: dict[bytes, tuple[bytes, os.stat_result]],
              newer: set[bytes] = frozenset()) -> list[bytes]:
    """The entries of `extra` that no disc holds beside the others, as a restore from the medium
    does not: one where the union holds a directory with entries, or a symlink or a special file
    newer than it (not in `newer`: the restore keeps the union's; one in `newer` takes the place of
    the union's directory too), and one below another entry of `extra` that is no directory (the source replaced a
    directory by a file, or a file by a directory, between kept backups: the restore writes them by
    name, the file first, and refuses what lies below it)."""
    out = []
    for rel, (_path, st) in sorted(extra.items()):
        i = shown.get(rel)
        if i is not None and scanned.marks[i] in (LINK_MARK, SPECIAL_MARK) and rel not in newer:
            out.append(rel)
            continue
        if not stat.S_ISDIR(st.st_mode) and (i is None or scanned.marks[i] != DIR_MARK) and rel not in newer:
            try:
                if stat.S_ISDIR(below.lstat(union, rel).st_mode):
                    out.append(rel)
                    continue
            except OSError:
                pass
        if any(d in extra and d not in out and not stat.S_ISDIR(extra[d][1].st_mode)
               for d in _above(rel.rpartition(b"/")[0])):
            out.append(rel)
    return out


def _lost_from_union(scanned, shown: dict[bytes, int], union: bytes, rel: bytes) -> bool:
    """Is the file `rel`, whose newest version a complete backup saved, one the union no longer
    holds though nothing took its place there: the source made its directory a file or a symlink
    (the union gave that the place, and the file left it with its directory), then a directory
    again? A restore from the medium gives it (read from the backup that saved it), and so must
    the discs. Not where the union holds anything at `rel`, nor a file, symlink or special file on
    the way (a newer shape's there: neither gives it then)."""
    # missing: its directory too, maybe (made on the discs as that backup has it)
    return not _in_place_of_a_directory(scanned, shown, rel) and below.missing(union, rel)


def _emptied(store: Store, backup, dir_path: str, top: bytes, scanned, linked: list[int], own_dirs,
             folders: dict[int, bytes]) -> dict[bytes, tuple[bytes, int, int, int]]:
    """rel -> (path, size, mtime, backup) of each file whose newest version up to `backup` a complete
    backup before it saved, where the union holds empty directories only, which no backup up to
    `backup` holds in its own tree (dir_saved_after) but a restorable one after it does
    (own_dirs.dir_held_after): a deleted backup made the file a directory there, and the undoing
    of its links kept that directory, empty, for the later one (archive.unlink_from_union). A
    restore of `backup` gives the file, read from the backup that saved it, and so must the discs.
    A directory there that no later backup holds (put there by hand) is named (union_as_saved)."""
    empty = [rel for rel, mark in zip(scanned.paths, scanned.marks) if mark == DIR_MARK]
    if not empty:
        return {}
    at = top + b"/" if top else b""
    places = sorted({at + d for rel in empty for d in _above(rel)})
    rows = []
    for i in range(0, len(places), 400):
        rows += _newest_of(store, backup, dir_path, linked, places[i:i + 400])
    out = {}
    for row in rows:
        full, first = row[0], row[3]
        rel = full[len(at):]
        if all(mark == DIR_MARK for p, mark in zip(scanned.paths, scanned.marks) if p.startswith(rel + b"/")) \
                and not dir_saved_after(own_dirs, folders, full, first) \
                and dir_held_after(store, backup, own_dirs, full):
            out[rel] = row
    return out


def _in_place_of_a_directory(scanned, shown: dict[bytes, int], rel: bytes) -> bool:
    """Does the union hold a symlink, a special file or a file where `rel` has a directory on its
    way? (A restore from the medium refuses what lies below it; a disc cannot hold both.)"""
    return any((i := shown.get(d)) is not None and scanned.marks[i] != DIR_MARK
               for d in _above(rel.rpartition(b"/")[0]))


def _above(rel: bytes):
    """`rel` and each directory above it but the root, deepest first."""
    while rel:
        yield rel
        rel = rel.rpartition(b"/")[0]


def _is_empty_dir(scanned, entry) -> bool:
    rel, i, taken = entry
    return stat.S_ISDIR(taken[1].st_mode) if taken is not None else scanned.marks[i] == DIR_MARK
