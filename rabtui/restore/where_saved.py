"""Where an archive directory's file is read when the medium's union does not give it as a backup
had it: in the backup that saved it (the catalog says which), each checked against what the catalog
records of it (a symlink put in its place on the medium since would lead anywhere on this
server)."""

from __future__ import annotations

import os
import stat

from rabtui import fmt
from rabtui.checkpoint import kept_entries, own_dirs
from rabtui.checkpoint.newest_kind import SavedKinds
from rabtui.checkpoint.own_dirs import OwnDirs, backup_dirs, dir_saved_after
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.errors import WorkFailed
from rabtui.media import points_to
from rabtui.mtimes import seconds
from rabtui.restore.as_saved import NOT_AS_THERE, gone, other_kind, other_size
from rabtui.state import catalog
from rabtui.state.catalog import rel_path
from rabtui.state.others import archive_as_of as entries_as_of, archive_saved, complete_ids, of_kind, saved_pointing
from rabtui.state.store import Store


def saved_elsewhere(store: Store, backup, dir_path: str, rel: bytes, sc: Shortcuts,
                    union: bytes | None = None, over: os.stat_result | None = None) -> bytes | None:
    """`rel` of an archive directory as of `backup` where its union (at `union`) lacks it (kept
    data's): the file in the backup that saved that version; a directory in the backup that saved
    the newest of the files below it that holds it (as_of takes each of them from where it was
    saved); a symlink, a special file or an empty directory in the kept backup that saved it
    (kept_entries.py). None: none. Never a file that is an older shape of its path (older_shapes,
    or a newer backup saved a symlink, FIFO or device there or above it: newest_kind.py). `over`:
    the lstat of the union's entry at `rel`, no directory, where it holds one: None too when that
    is the newest entry saved there as of `backup` (a file of the union: the catalog's version of
    it comes from as_of's rules), else where the newer one is (kept data's directory saved after
    it, say: kept_entries.union_older_than_dirs)."""
    from rabtui.media import medium_layout

    versions = catalog.archive_as_of(store, backup, (dir_path,), rel)
    kinds = SavedKinds(store, backup, dir_path, rel)
    for full in older_shapes(store, backup, dir_path, versions) | kinds.files_older(versions):
        del versions[full]
    under = rel[len(rel_path(dir_path)):].lstrip(b"/")
    seen = kept_entries.found(store, backup, dir_path, union, under) if union is not None else None
    others = seen.taken if seen is not None else {}
    mine = others.get(under)
    if mine is not None and kept_entries.newer_than_file(mine, versions[rel][2] if rel in versions else None):
        return mine.path(under)
    if over is not None and (seen is None or under not in seen.replaced) and (
            stat.S_ISREG(over.st_mode) or not kinds.union_entry_older(rel, versions, complete_ids(store, backup))):
        return None
    folders = backup_dirs(store, backup)
    for first in sorted({v[2] for v in versions.values()}, reverse=True):
        if first not in folders:
            continue
        root = os.fsencode(medium_layout.backup_data_path(os.fsdecode(folders[first]), dir_path))
        path = os.path.join(root, under)
        if planted_on_the_way(folders[first], rel) is None and os.path.lexists(sc.path(path)):
            if rel in versions and as_saved(sc.path(path), versions[rel]) is None:
                continue    # not the file that backup saved (a symlink put in its place on the medium)
            return path
    if others:      # a directory of none but them: in the backup that saved the newest
        return max(others.values(), key=lambda saved: saved.backup).path(under)
    return None


def saved_in_place_of_a_dir(store: Store, backup, dir_path: str, rel: bytes, union: bytes, under: bytes,
                            sc: Shortcuts) -> bytes | None:
    """Where the backup that saved it holds the file, symlink, FIFO or device node at `rel` that
    takes the place of the union's directory there as of `backup`: a kept backup's saved after it,
    or a file an older backup saved that a newer one than `backup` made a directory (no backup up
    to `backup` holds that directory: older_shapes; kept_entries.found), and no newer entry saved
    there since (newest_kind.py). None where none does (most: no file, nor any entry but files,
    that the catalog has at `rel`, looked up first)."""
    version = catalog.archive_as_of(store, backup, (dir_path,), paths=(rel,)).get(rel)
    if version is not None \
            and not older_shapes(store, backup, dir_path, {rel: version}) \
            and not SavedKinds(store, backup, dir_path, rel).files_older({rel: version}):
        folder = backup_dirs(store, backup).get(version[2])
        if folder is None:
            return None
        path = os.path.join(folder, b"data", rel)
        planted = planted_on_the_way(folder, rel)
        if planted is None and as_saved(sc.path(path), version) is not None:
            return path
        # never the union's directory in place of the file the backup had
        raise WorkFailed(f"/{fmt.name(rel)}: {planted or why_not_saved(backup, sc.path(path), version)}")
    if not archive_saved(store, backup, dir_path, paths=(rel,)):
        return None
    mine = kept_entries.found(store, backup, dir_path, union, under).taken.get(under)
    return mine.path(under) if mine is not None and not stat.S_ISDIR(mine.st.st_mode) else None


def union_entry_not_then(store: Store, backup, dir_path: str, full: bytes) -> bool:
    """Is the union's symlink, FIFO or device node at `full` not the newest entry saved there as of
    `backup`: saved after it (a newer backup made that place a symlink), or none the catalog has?"""
    versions = catalog.archive_as_of(store, backup, (dir_path,), paths=(full,))
    return SavedKinds(store, backup, dir_path, full).union_entry_older(full, versions, complete_ids(store, backup))


def older_shapes(store: Store, backup, dir_path: str, versions: dict[bytes, tuple]) -> set[bytes]:
    """The paths of `versions` (path -> (size, mtime, first_backup): catalog.archive_as_of's, as of
    `backup`) whose file is an older shape of its path: a backup after the one that saved it, up to
    `backup`, holds a directory there in its own tree (dir_saved_after). For files read from the
    backup that saved them (kept data's, never linked into the union, or one the union lost), not
    the union's (which holds the newest shape saved there): a restore from the medium leaves such a
    file out, alone as with its directory, Browse does not list it, and the discs never hold it
    (checkpoint.kept_data)."""
    if not versions:
        return set()
    dirs = OwnDirs(own_dirs.covered(store, backup["source"], backup["medium"], backup["id"], dir_path),
                   rel_path(dir_path))
    folders = backup_dirs(store, backup)
    return {full for full, v in versions.items() if dir_saved_after(dirs, folders, full, v[2])}


def saved_as_recorded(store: Store, backup, dir_path: str, rel: bytes, path: bytes) -> None:
    """Raises WorkFailed when the backup saved a file at `rel` (the catalog says) and `path`, where
    it holds it, is something else now (a symlink to a file of this server put there, say); or it
    saved a symlink, FIFO or device node there and `path` is another kind of entry now, or one
    pointing elsewhere (points_to)."""
    try:
        st = os.lstat(path)
    except OSError:
        return
    if stat.S_ISDIR(st.st_mode):
        return
    version = catalog.archive_as_of(store, backup, (dir_path,), rel).get(rel)
    if version is not None and version[2] == backup["id"] and as_saved(path, version) is None:
        raise WorkFailed(f"/{fmt.name(rel)}: {why_not_saved(backup, path, version)}")
    entry = entries_as_of(store, backup, dir_path, paths=(rel,)).get(rel)
    if entry is None or entry[2] != backup["id"] or (version is not None and version[2] >= entry[2]):
        return      # the backup saved no symlink, FIFO or device node there
    if not of_kind(entry[0], st.st_mode):
        raise WorkFailed(f"/{fmt.name(rel)}: {other_kind(backup, entry[0])}")
    saved = saved_pointing(store, backup, dir_path, rel).get((rel, entry[2]))
    if saved and (why := points_to.elsewhere(*os.path.split(path), *saved)):
        raise WorkFailed(f"/{fmt.name(rel)}: {why}: {NOT_AS_THERE}")


def as_saved(path: bytes, version) -> os.stat_result | None:
    """The lstat of `path` when it is the file the catalog records as `version` (size, mtime, ...):
    a regular file of that size and mtime; None when it is not (anything put in its place on the
    medium since, a symlink to a file of this server's included) or cannot be looked at."""
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return st if stat.S_ISREG(st.st_mode) and (st.st_size, seconds(st)) == tuple(version[:2]) else None


def planted_on_the_way(folder: bytes, full: bytes) -> str | None:
    """Why nothing the backup at `folder` holds at `full` (an archive directory's entry, its path
    without the leading slash) is read there: a symlink on the way from the medium to its directory
    (medium_layout.symlink_to_entry). None when there is none."""
    from rabtui.media import medium_layout

    where = medium_layout.symlink_to_entry(folder, full)
    return None if where is None else medium_layout.planted_symlink(where, "nothing is read through it")


def why_not_saved(backup, path: bytes, version, saved_by: str | None = None) -> str:
    """Why `path`, where as_saved found no file as the catalog records `version`, is left out of a
    restore of `backup` (as a standard directory's file is, as_saved.py): gone or no file there
    now, another size (emptied by a crash, written into in place), or another time. `saved_by`:
    the name of the backup that saved it, when another than `backup`."""
    try:
        st = os.lstat(path)
    except OSError:
        return gone(backup)
    if not stat.S_ISREG(st.st_mode):
        return gone(backup)
    if st.st_size != version[0]:
        return other_size(backup, st.st_size, version[0], saved_by)
    return (f"on medium {backup['medium']} with another modification time than backup"
            f" {saved_by or backup['name']} saved: not restored as it is there now")
