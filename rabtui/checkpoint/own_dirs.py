"""An archive directory's directories as a backup's own tree holds them. The medium's union holds
every file saved there, in directories rabtui made as it linked files into it (mode 0755, owner
root, the time of linking, no ACLs or xattrs); each backup's own tree holds every directory the
source had then, with the source's mode, owner, times, ACLs and xattrs. A restore from the medium
(restore/as_of.py) and a checkpoint (content.py, layout.py, backed_up_attrs.py) give each
directory those of the backup's own tree: the newest backup that holds it of those the restore or
the checkpoint covers. Nothing is read through a symlink on the way there, the backup's directory
and its data/ folder included (one put into a backup on the medium would hand over those of a
directory elsewhere)."""

from __future__ import annotations

import os
import stat
from typing import Iterable

from rabtui.media import below
from rabtui.state.store import RESTORABLE_SQL


class OwnTree:
    """One backup's own tree (`root`: its data/ folder), looked at from `rel` (an item below it) down."""

    def __init__(self, root: bytes, rel: bytes):
        self.root, self.rel = root, rel
        self._own: dict[bytes, os.stat_result | None] = {}   # the directories on the way, as looked at
        self._safe: bool | None = None
        self._there: bool | None = None
        self._saved: list[bytes] | None = None   # the directories its record names (saved_here)

    def there(self) -> bool:
        """Is the tree's data/ folder there (not deleted since the plan named it)? Looked at once."""
        if self._there is None:
            self._there = os.path.isdir(self.root)
        return self._there

    def shape(self, full: bytes) -> tuple[bytes, os.stat_result] | None:
        """What the tree holds at `full` (below `rel`), looked at part by part from `rel` down, never
        through a symlink: (path, lstat) of the first entry on the way there that is no directory,
        else of the directory there; None where it holds nothing."""
        path, found = self.rel, None
        parts = full[len(self.rel):].lstrip(b"/").split(b"/")
        for i, part in enumerate(parts):
            path = os.path.join(path, part) if path else part
            if path in self._own:
                found = self._own[path]
            else:
                try:
                    found = below.lstat(self.root, path)
                except OSError:
                    found = None
                if i < len(parts) - 1 or (found is not None and stat.S_ISDIR(found.st_mode)):
                    self._own[path] = found     # the way to other entries: its directories, looked at once
            if found is None:
                return None
            if not stat.S_ISDIR(found.st_mode):
                return path, found
        return path, found

    def saved_here(self, full: bytes) -> bool:
        """Does the backup's record (backup.json) name a directory at or above `full`? Those above
        the directories it saved are on the way only (a backup of /data/photos holds /data as rabtui
        made it, not the source's). A record naming none that can be read: taken to."""
        if self._saved is None:
            from rabtui.config.model import directory_path_problem
            from rabtui.media.medium_layout import read_backup_json

            named = (read_backup_json(os.fsdecode(os.path.dirname(self.root.rstrip(b"/")))) or {}).get("directories")
            self._saved = [os.fsencode(d["path"].strip("/")) for d in (named if isinstance(named, list) else ())
                           if isinstance(d, dict) and isinstance(d.get("path"), str)
                           and directory_path_problem(d["path"]) is None]
        return not self._saved or any(not s or full == s or full.startswith(s + b"/") for s in self._saved)

    def directory(self, full: bytes) -> os.stat_result | None:
        """The lstat of the tree's own directory at `full` (`rel` or below it), when every part of the
        way there, `rel`'s own included, is a directory (no symlink) and the backup saved it
        (saved_here); None otherwise."""
        if not self.saved_here(full):
            return None
        if self._safe is None:
            # from the source's directory of the medium (the layout's checks cover it and above):
            # the backup's directory and its data/ folder are on the way too
            backup, data = os.path.split(self.root.rstrip(b"/"))
            top, name = os.path.split(backup)
            self._safe = below.symlink_on_the_way(top, b"/".join((name, data, self.rel)) + b"/") is None
        if not self._safe or (full != self.rel and (self.shape(full) or (None,))[0] != full):
            return None
        try:
            mine = below.lstat(self.root, full)
        except OSError:
            return None
        return mine if stat.S_ISDIR(mine.st_mode) else None


class OwnDirs:
    """Where each directory of an archive directory (`rel`, its path without the leading slash) is
    read for its attributes: in the first of the backups' own trees (`roots`, their data/ folders,
    newest first) that holds it."""

    def __init__(self, roots: Iterable[bytes], rel: bytes):
        self.rel = rel
        self.trees = [OwnTree(root, rel) for root in roots]
        self._used: set[bytes] = set()

    def used(self) -> list[bytes]:
        """The data/ folders a directory was found in so far, newest first: what a plan records
        (each directory is found in the same one among them) and retention keeps until the
        checkpoint is done (retention_guard.read_by_checkpoints)."""
        return [t.root for t in self.trees if t.root in self._used]

    def of(self, under: bytes, *, sure: bool = False) -> tuple[bytes, bytes, os.stat_result] | None:
        """(data/ folder, path below it, lstat) of the directory `under` the archive directory in the
        newest backup holding it; None when none does (the union's is all there is). `sure`: None
        too when a newer backup's tree is gone (deleted since the plan: gone_before)."""
        found, gone = self._lookup(under)
        return None if sure and gone is not None else found

    def gone_before(self, under: bytes) -> bytes | None:
        """The data/ folder of a backup gone since the plan named it (a cleanup deleted it) that is
        newer than the one holding the directory `under` (or than all, none holding it): the plan
        read the directory's attributes there, perhaps; None when none is."""
        return self._lookup(under)[1]

    def held_in(self, under: bytes, roots: set[bytes]) -> bool:
        """Does one of the trees at `roots` (data/ folders) hold the directory `under`? Nothing is
        recorded as used (no attribute is read there)."""
        full = os.path.join(self.rel, under) if under else self.rel
        return any(tree.root in roots and tree.directory(full) is not None for tree in self.trees)

    def _lookup(self, under: bytes) -> tuple[tuple[bytes, bytes, os.stat_result] | None, bytes | None]:
        full = os.path.join(self.rel, under) if under else self.rel
        gone = None
        for tree in self.trees:
            st = tree.directory(full)
            if st is not None:
                self._used.add(tree.root)
                return (tree.root, full, st), gone
            if gone is None and not tree.there():
                gone = tree.root
        return None, gone


def dir_saved_after(dirs: OwnDirs, folders: dict[int, bytes], full: bytes, first: int) -> bool:
    """Is the entry backup `first` saved at `full` (a regular file, which the catalog's versions
    record; a symlink, a FIFO or a device node, which its `others` record or a kept backup holds)
    an older shape of its path: does a backup newer than `first`, up to the one restored or read by
    the checkpoint, hold a directory at `full` in its own tree? Each backup of an archive directory
    holds every directory the source had then, and the catalog records none. Where the union holds
    that directory (the newest shape saved there wins), whatever the source did with the path
    since, a restore from the medium gives it, not the older entry, and so do the discs; where it
    holds nothing there (a kept backup's entry: kept data is never linked into it) neither gives
    the older entry. `dirs`: the own trees of the backups up to that one, from an item
    at or above `full` (covered); `folders`: id -> directory of each backup on the medium."""
    newer = {os.path.join(path, b"data") for i, path in folders.items() if i > first}
    return bool(newer) and dirs.held_in(full[len(dirs.rel):].lstrip(b"/"), newer)


def dir_held_after(store, backup, dirs: OwnDirs, full: bytes) -> bool:
    """Does a restorable backup after `backup` (of its source, on its medium; a kept one, say) hold
    a directory at `full` in its own tree? The undoing of a deleted backup's links leaves the union's
    directory there, empty, for it (archive.unlink_from_union), where a restore of `backup` gives
    the older file. `dirs`: those of the archive directory (its `rel`)."""
    return any(OwnTree(os.path.join(os.fsencode(r["path"]), b"data"), dirs.rel).directory(full) is not None
               for r in store.all(f"SELECT path FROM backups WHERE source=? AND medium=? AND id>?"
                                  f" AND status IN {RESTORABLE_SQL} ORDER BY id DESC",
                                  (backup["source"], backup["medium"], backup["id"])))


def backup_dirs(store, backup) -> dict[int, bytes]:
    """id -> directory of each backup of the backup's source on its medium: dir_saved_after's `folders`."""
    return {r["id"]: os.fsencode(r["path"]) for r in store.all(
        "SELECT id, path FROM backups WHERE source=? AND medium=?", (backup["source"], backup["medium"]))}


def from_plan(d: dict) -> OwnDirs | None:
    """The OwnDirs of an archive directory of a plan (`own`: the backups' data/ folders it covers,
    newest first); None for another directory, or one planned before they were recorded."""
    if d.get("kind") != "archive" or d.get("own") is None:
        return None
    return OwnDirs([os.fsencode(p) for p in d["own"]], os.fsencode(d["path"].strip("/")))


def covered(store, source: str, medium: str, backup_id: int, dir_path: str) -> list[bytes]:
    """The data/ folders of the restorable backups of `source` on `medium` up to `backup_id` that
    hold directory `dir_path`, newest first: where OwnDirs looks. Those that saved it, a directory
    around it (/data, the config naming /data/photos since: its own tree holds every directory of
    photos the source had then) or one inside it (whose tree holds its own directories from there
    down only: OwnTree.saved_here)."""
    from rabtui.state.paths_below import under_sql
    from rabtui.state.store import RESTORABLE_SQL

    # a backup that recorded no kinds may hold it (its data/ folder tells: OwnTree.there)
    return [os.path.join(os.fsencode(r["path"]), b"data") for r in store.all(
        "SELECT b.path FROM backups b WHERE b.source=? AND b.medium=?"
        f" AND b.id<=? AND b.status IN {RESTORABLE_SQL} AND (EXISTS (SELECT 1 FROM backup_dirs d, (SELECT ? AS rel, ? AS inside) x"
        f" WHERE d.backup_id=b.id AND ({under_sql('x.rel', 'd.path')} OR substr(d.path, 1, length(x.inside))=x.inside))"
        " OR NOT EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id))"
        " ORDER BY b.id DESC", (source, medium, backup_id, os.fsencode(dir_path.strip("/")), dir_path.rstrip("/") + "/"))]
