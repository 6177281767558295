"""The entries of an archive directory other than regular files that only kept data saved, and
the empty directories of the backup itself.

A kept backup (its post-backup commands failed) is never linked into the medium's union, and the
catalog records regular files only: a symlink, a FIFO, a device node or an empty directory that
such a backup saved, the source removing it before the next complete backup, is neither in the
union nor in the catalog. It is found by walking the kept backups themselves (each holds what the
union lacked then, in the source's directories). Nor does the union hold an empty directory (only
the directories on the way to what is linked there): a complete backup holds each directory of
the source then, so its own are read as well. A checkpoint (kept_data.py) and a restore from the
medium (restore.as_of.AsOf) both take them from here, so that both give the same tree.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field

from rabtui.checkpoint.own_dirs import OwnDirs, backup_dirs, covered, dir_saved_after
from rabtui.media import below, medium_layout, opened_dirs
from rabtui.state import catalog
from rabtui.state.catalog import rel_path
from rabtui.state.others import complete_ids, union_entry_backups
from rabtui.state.store import COMPLETE_SQL, KEPT, Store


@dataclass(frozen=True)
class Saved:
    """One entry as the kept backup that saved it holds it."""

    backup: int         # that backup's id
    root: bytes         # the directory's root in it
    st: os.stat_result

    def path(self, rel: bytes) -> bytes:
        return os.path.join(self.root, rel)


@dataclass
class Found:
    taken: dict[bytes, Saved]   # path below the directory -> how it was saved
    sockets: list[bytes]        # no disc holds them
    unread: list[bytes]         # directories of the kept backups that could not be read (full paths)
    # directories of the kept backups closed to the user other than root, opened for the walk and
    # closed again (full paths): what lies in them cannot be read afterwards
    closed: list[bytes] = field(default_factory=list)
    # path below the directory -> the newest kept backup holding a directory there (empty or not):
    # a file, symlink or special file the union holds there that an older backup saved is an older shape
    dirs: dict[bytes, int] = field(default_factory=dict)
    # paths where the union's file, symlink or special file is such an older shape (union_older_than_dirs)
    replaced: set[bytes] = field(default_factory=set)
    # why a kept backup's copy of the directory was not read: a symlink on the way to it
    # (medium_layout.symlink_to_copy), which may lead anywhere on this server
    planted: list[str] = field(default_factory=list)


def found(store: Store, backup, dir_path: str, union: bytes, under: bytes = b"") -> Found:
    """Each symlink, FIFO, device node, socket and empty directory at or below `under` that a kept
    backup of `backup`'s source and medium, up to `backup`, saved where the union (its root,
    `union`) holds nothing, or a regular file, a symlink or a special file older than it
    (_newer_than_files, _newer_than_others: the newest saved there wins, whatever its kind; an
    empty directory never takes their place there), or a directory that no backup after it, up to
    `backup`, holds in its own tree (the directory an older backup saved there: _older_shapes):
    of each path the newest kept backup's. An
    entry that a newer one of them holds a directory with entries in place of (their regular files
    are in the catalog) is left out: the directory is taken (an older one's directory is an older
    shape, which a symlink or a special file takes the place of, as it does in a restore; an empty
    directory never does); so is one that does not fit
    `backup`'s own shape there (fits_its_shape), and one a newer backup saved a directory in place
    of (_older_shapes). And the empty directories `backup` itself holds there, when it
    is complete, which the union lacks too."""
    kept = [(r["id"], os.fsencode(medium_layout.backup_data_path(r["path"], dir_path)), r["path"]) for r in store.all(
        f"SELECT id, path FROM backups WHERE source=? AND medium=? AND (status=? OR (id=? AND status IN {COMPLETE_SQL}))"
        " AND id<=? ORDER BY id DESC", (backup["source"], backup["medium"], KEPT, backup["id"], backup["id"]))]
    complete = kept[0][0] if kept and kept[0][0] == backup["id"] and not _is_kept(store, backup["id"]) else None
    taken: dict[bytes, Saved] = {}
    sockets: dict[bytes, Saved] = {}
    over_files: dict[bytes, Saved] = {}     # where the union holds a regular file
    over_others: dict[bytes, Saved] = {}    # where it holds a symlink or a special file
    over_dirs: dict[bytes, Saved] = {}      # where it holds a directory
    unread: list[bytes] = []
    closed: list[bytes] = []
    # path -> the newest kept backup holding a directory with entries there (the first walked)
    filled: dict[bytes, int] = {}
    dirs: dict[bytes, int] = {}     # the same, an empty directory too
    empty_over: dict[bytes, Saved] = {}     # an empty directory where the union holds no directory
    planted: list[str] = []
    for kid, root, path in kept:
        where = medium_layout.symlink_to_copy(path, dir_path)
        if where is not None:
            planted.append(medium_layout.planted_symlink(where, "nothing of kept data is read through it"))
            continue
        # a user other than root: through the directories of theirs closed on the source
        top = os.path.join(root, under) if under else root
        with opened_dirs.searchable_on_the_way(root, under, store.state_dir), \
                opened_dirs.opened_to_read(top, store.state_dir) as was:
            closed += [os.path.join(top, d) if d else top for d in was]
            for rel, st in _walk(root, under, unread):
                if kid == complete:    # its empty directories only: the rest is in the union and the catalog
                    if st is None or not stat.S_ISDIR(st.st_mode):
                        continue
                elif st is None:
                    filled.setdefault(rel, kid)
                    dirs.setdefault(rel, kid)
                    continue
                elif stat.S_ISDIR(st.st_mode):
                    dirs.setdefault(rel, kid)
                    if _in_union(union, rel) is not None and not dir_in_union(union, rel):
                        empty_over.setdefault(rel, Saved(kid, root, st))
                if rel in taken or rel in sockets or rel in over_files or rel in over_others:
                    continue
                there = _in_union(union, rel)
                if there is None:
                    (sockets if stat.S_ISSOCK(st.st_mode) else taken)[rel] = Saved(kid, root, st)
                elif not stat.S_ISSOCK(st.st_mode) and not stat.S_ISDIR(st.st_mode):
                    if there:
                        over_files[rel] = Saved(kid, root, st)
                    elif _other_in_union(union, rel):
                        over_others[rel] = Saved(kid, root, st)
                    elif dir_in_union(union, rel):
                        over_dirs[rel] = Saved(kid, root, st)
    taken.update(_newer_than_files(store, backup, dir_path, over_files))
    taken.update(_newer_than_others(store, backup, dir_path, over_others))
    older = set(_older_shapes(store, backup, dir_path, over_dirs))
    taken.update((rel, saved) for rel, saved in over_dirs.items() if rel not in older)
    replaced = union_older_than_dirs(store, backup, dir_path, union, dirs)
    taken.update((rel, saved) for rel, saved in empty_over.items() if rel in replaced and rel not in taken)
    # None: no backup's own shape to fit (what every kept backup saved, Browse's merged view)
    own = os.fsencode(medium_layout.backup_data_path(backup["path"], dir_path)) if backup["path"] else None
    for rel in [r for r, s in taken.items() if _filled_after(filled, r, s)
                or own is not None and s.backup != backup["id"] and not fits_its_shape(own, r, stat.S_ISDIR(s.st.st_mode))]:
        del taken[rel]
    for rel in _files_they_saved(store, backup, dir_path, taken):
        del taken[rel]
    if own is not None:
        for rel in _older_shapes(store, backup, dir_path, taken):
            del taken[rel]
    return Found(taken, sorted(sockets), unread, closed, dirs, replaced, planted)


def _filled_after(filled: dict[bytes, int], rel: bytes, saved: Saved) -> bool:
    """Does a kept backup hold a directory with entries at `rel` in place of `saved`: any, for an
    empty directory (the same directory, its entries saved); a newer one, for another entry?"""
    return rel in filled if stat.S_ISDIR(saved.st.st_mode) else filled.get(rel, 0) > saved.backup


def _is_kept(store: Store, backup_id: int) -> bool:
    return store.one("SELECT status FROM backups WHERE id=?", (backup_id,))["status"] == KEPT


def _files_they_saved(store: Store, backup, dir_path: str, taken: dict[bytes, Saved]) -> list[bytes]:
    """The entries of `taken` where the catalog records a regular file saved by the kept backup
    they were found in: not what it saved (a symlink put in the file's place on the medium since,
    which would lead anywhere on this server), the file lost."""
    top = rel_path(dir_path)
    out = []
    items = list(taken.items())
    for i in range(0, len(items), 400):
        part = items[i:i + 400]
        full = {(os.path.join(top, rel) if top else rel, saved.backup): rel for rel, saved in part}
        marks = ",".join("(?,?)" for _ in part)
        for r in store.all(
                "SELECT p.path, v.first_backup FROM versions v JOIN paths p ON p.id=v.path_id"
                f" WHERE v.medium=? AND p.source=? AND (p.path, v.first_backup) IN (VALUES {marks})",
                (backup["medium"], backup["source"], *[x for key in full for x in key])):
            out.append(full[(bytes(r[0]), r[1])])
    return out


def _older_shapes(store: Store, backup, dir_path: str, taken: dict[bytes, Saved]) -> list[bytes]:
    """The entries of `taken` other than directories where a backup newer than the kept one that
    saved them, up to `backup`, holds a directory in its own tree (own_dirs.dir_saved_after)."""
    saved = [(rel, s.backup) for rel, s in taken.items() if s.backup != backup["id"] and not stat.S_ISDIR(s.st.st_mode)]
    if not saved:
        return []
    top = rel_path(dir_path)
    dirs = OwnDirs(covered(store, backup["source"], backup["medium"], backup["id"], dir_path), top)
    folders = backup_dirs(store, backup)
    return [rel for rel, first in saved if dir_saved_after(dirs, folders, os.path.join(top, rel) if top else rel, first)]


def _walk(root: bytes, under: bytes, unread: list[bytes]):
    """(path below `root`, lstat) of each entry at or below `under` that is neither a regular file
    nor a directory with entries (an empty one is), never through a symlink; (path, None) of each
    directory with entries. Into `unread`: the directories that cannot be read (closed to a user
    other than root)."""
    if below.symlink_on_the_way(root, under) is not None:
        return
    try:
        st = below.lstat(root, under) if under else os.lstat(root)
    except (FileNotFoundError, NotADirectoryError):
        return
    if not stat.S_ISDIR(st.st_mode):
        if not stat.S_ISREG(st.st_mode) and under:
            yield under, st
        return
    stack = [(under, st)]
    while stack:
        rel, dst = stack.pop()
        try:
            items = below.entries(root, rel)
        except (FileNotFoundError, NotADirectoryError):    # removed meanwhile (a cleanup)
            continue
        except PermissionError:
            unread.append(os.path.join(root, rel) if rel else root)
            continue
        if not items and rel:
            yield rel, dst
        elif items:
            yield rel, None
        for name, est in items:
            r = os.path.join(rel, name) if rel else name
            if stat.S_ISDIR(est.st_mode):
                stack.append((r, est))
            elif not stat.S_ISREG(est.st_mode):
                yield r, est


def fits_its_shape(own: bytes, rel: bytes, is_dir: bool) -> bool:
    """May an entry at `rel` (a directory or not: `is_dir`) that an older kept backup saved be part
    of a backup whose tree of the directory is at `own`? That backup holds every directory its
    source had and each entry it saved: not where it has a directory (but a directory), nor below
    an entry of its that is no directory, nor in place of one (a restore of it gives its own shape,
    restore.as_of.AsOf). Where it holds nothing, it may be."""
    ends = below.reach(own, rel)
    return ends == below.MISSING or (ends == below.DIR and is_dir)


def _in_union(union: bytes, rel: bytes) -> bool | None:
    """None where the union holds nothing at `rel`, nor a symlink or a file on the way there; True
    where it holds a regular file there (no symlink on the way); False for anything else. (Something
    found there, even through a symlink on the way, is held; most are: looked for first.)"""
    try:
        st = below.lstat(union, rel)
    except FileNotFoundError:
        return None if below.symlink_on_the_way(union, rel) is None else False
    except OSError:     # a file on the way (ENOTDIR), or not to be read: taken as held
        return False
    return stat.S_ISREG(st.st_mode) and below.symlink_on_the_way(union, rel) is None


def _newer_than_files(store: Store, backup, dir_path: str, over_files: dict[bytes, Saved]) -> dict[bytes, Saved]:
    """The entries of `over_files` (a kept backup's, where the union holds a regular file) newer
    than the newest version of that file saved on the medium up to `backup` (newer_than_file, as
    for a file kept data saved): the union holds the newest file a complete backup saved there,
    never a kept backup's entry; the catalog tells which is newer."""
    top = rel_path(dir_path)
    out = {}
    items = list(over_files.items())
    for i in range(0, len(items), 400):
        part = dict(items[i:i + 400])
        full = {os.path.join(top, rel) if top else rel: rel for rel in part}
        marks = ",".join("?" * len(full))
        newest: dict[bytes, int] = {}
        for r in store.all(
                "SELECT p.path, MAX(v.first_backup) FROM versions v JOIN paths p ON p.id=v.path_id"
                f" WHERE v.medium=? AND p.source=? AND v.first_backup<=? AND p.path IN ({marks}) GROUP BY p.path",
                (backup["medium"], backup["source"], backup["id"], *full)):
            newest[bytes(r[0])] = r[1]
        for path, rel in full.items():
            if newer_than_file(part[rel], newest.get(path)):
                out[rel] = part[rel]
    return out


def _other_in_union(union: bytes, rel: bytes) -> bool:
    """Does the union hold a symlink or a special file at `rel` (none on the way there)?"""
    try:
        st = below.lstat(union, rel)
    except OSError:
        return False
    return (not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode)
            and below.symlink_on_the_way(union, rel) is None)


def dir_in_union(union: bytes, rel: bytes) -> bool:
    """Does the union hold a directory at `rel` (no symlink on the way there)?"""
    try:
        return stat.S_ISDIR(below.lstat(union, rel).st_mode) and below.symlink_on_the_way(union, rel) is None
    except OSError:
        return False


def _newer_than_others(store: Store, backup, dir_path: str, over_others: dict[bytes, Saved]) -> dict[bytes, Saved]:
    """The entries of `over_others` (a kept backup's, where the union holds a symlink or a special
    file) that the backup that saved them saved after the union's (others.union_entry_backups):
    the newest entry saved at a path up to `backup` wins, whatever its kind."""
    if not over_others:
        return {}
    top = rel_path(dir_path)
    full = {os.path.join(top, rel) if top else rel: rel for rel in over_others}
    union_entries = union_entry_backups(store, backup, dir_path, tuple(full), complete_ids(store, backup))
    return {rel: over_others[rel] for path, rel in full.items() if over_others[rel].backup > union_entries.get(path, 0)}


def union_older_than_dirs(store: Store, backup, dir_path: str, union: bytes, dirs: dict[bytes, int]) -> set[bytes]:
    """The paths (below the directory) where the union holds a file, a symlink or a special file
    that a backup older than the newest kept one holding a directory there (`dirs`, up to
    `backup`) saved: an older shape of its path, which that directory takes the place of (the
    newest saved there wins, whatever its kind). The catalog tells which backup saved the union's."""
    held: dict[bytes, bool] = {}    # path -> is the union's a regular file
    for rel in dirs:
        try:
            st = below.lstat(union, rel)
        except OSError:
            continue
        if not stat.S_ISDIR(st.st_mode) and below.symlink_on_the_way(union, rel) is None:
            held[rel] = stat.S_ISREG(st.st_mode)
    if not held:
        return set()
    top = rel_path(dir_path)
    full = {os.path.join(top, rel) if top else rel: rel for rel in held}
    files, entries = {}, {}
    every = list(full.items())
    for i in range(0, len(every), 400):
        part = every[i:i + 400]
        if regular := tuple(p for p, r in part if held[r]):
            files.update(catalog.archive_as_of(store, backup, (dir_path,), paths=regular))
        if others := tuple(p for p, r in part if not held[r]):
            entries.update(union_entry_backups(store, backup, dir_path, others, complete_ids(store, backup)))
    return {rel for path, rel in full.items()
            if (files[path][2] if held[rel] and path in files else entries.get(path, 0)) < dirs[rel]}


def newer_than_file(saved: Saved, first_backup: int | None) -> bool:
    """Is the entry `saved` the newer of it and a regular file the catalog has at the same path,
    whose version `first_backup` saved (None: none)?"""
    return first_backup is None or saved.backup > first_backup
