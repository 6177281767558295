"""Which entry at a path of an archive directory a restore as of a backup gives where backups saved
entries of different kinds there: a regular file (the catalog's `versions`) and a symlink, a FIFO
or a device node (its `others`). The newest saved up to that backup wins, whatever its kind: they
are ordered by the backup that saved each (one backup saves one entry at a path), and an entry that
is no directory takes the place of all an older backup saved below it. The medium's union holds
the newest shape a complete backup saved (whatever came after the backup restored too), the discs
what a restore from the medium gives. A directory a newer backup saved is the backups' own trees'
to tell (checkpoint/own_dirs.py, dir_saved_after); a kept backup's entry where the union holds
another, kept_entries.py's."""

from __future__ import annotations

from bisect import bisect_left

from rabtui.checkpoint import own_dirs
from rabtui.checkpoint.own_dirs import OwnDirs, backup_dirs, dir_saved_after
from rabtui.state import catalog, others
from rabtui.state.catalog import rel_path
from rabtui.state.store import Store


class SavedKinds:
    """The symlinks, FIFOs and device nodes saved at or below `rel` of the archive directory
    `dir_path`, and on the way to it, by the backups up to `backup` on its medium."""

    def __init__(self, store: Store, backup, dir_path: str, rel: bytes):
        self.store, self.backup, self.dir_path = store, backup, dir_path
        self.top = rel_path(dir_path)
        self._dirs: tuple[OwnDirs, dict[int, bytes]] | None = None
        self._over: dict[bytes, int] = {}     # directory -> _above's answer
        self.saved = others.archive_saved(store, backup, dir_path, rel)
        above = []
        up = rel
        while len(up) > len(self.top) and b"/" in up:
            up = up.rpartition(b"/")[0]
            if len(up) > len(self.top):
                above.append(up)
        if above:
            self.saved.update(others.archive_saved(store, backup, dir_path, paths=tuple(above)))
        self._above_paths = tuple(above)
        self._newest = {path: saved[-1][2] for path, saved in self.saved.items()}

    def files_older(self, versions: dict[bytes, tuple]) -> set[bytes]:
        """The paths of `versions` (path -> (size, mtime, first_backup): catalog.archive_as_of's, as
        of the backup) where, or above which, a backup after the one that saved the file saved an
        entry (a file too, above it: _below_newer_files): the file is an older shape of its path. Not below an entry a newer backup saved a
        directory in place of again (dir_saved_after): what an older directory held there comes
        back with the directory (the union, the discs)."""
        older = self._below_newer_files(versions)
        if not self._newest:
            return older
        latest = max(self._newest.values())
        return older | {full for full, v in versions.items()
                        if v[2] < latest and (self._newest.get(full, 0) > v[2] or self._above(full.rpartition(b"/")[0]) > v[2])}

    def _below_newer_files(self, versions: dict[bytes, tuple]) -> set[bytes]:
        """The paths of `versions` below a file a newer backup saved (of `versions`, or on the way
        to the item), that no backup after it saved a directory in place of again: the source
        replaced their directory by that file, which takes the place of all below it."""
        files = {full: v[2] for full, v in versions.items()}
        if self._above_paths:
            files.update((full, v[2]) for full, v in catalog.archive_as_of(
                self.store, self.backup, (self.dir_path,), paths=self._above_paths).items())
        keys = sorted(files)
        out: set[bytes] = set()
        for head, first in files.items():
            i = bisect_left(keys, head + b"/")
            if i == len(keys) or not keys[i].startswith(head + b"/"):
                continue    # most: nothing below it
            below = []
            while i < len(keys) and keys[i].startswith(head + b"/"):
                if keys[i] in versions and versions[keys[i]][2] < first:
                    below.append(keys[i])
                i += 1
            if below and not self._dir_after(head, first):
                out.update(below)
        return out

    def _above(self, path: bytes) -> int:
        """The newest backup that saved an entry at the directory `path` or above it, of those no
        newer backup saved a directory in place of again (0: none); once for each directory."""
        chain = []
        while len(path) > len(self.top) and path not in self._over:
            chain.append(path)
            path = path.rpartition(b"/")[0]
        newest = self._over.get(path, 0)
        for up in reversed(chain):
            first = self._newest.get(up, 0)
            if first > newest and not self._dir_after(up, first):
                newest = first
            self._over[up] = newest
        return newest

    def _dir_after(self, path: bytes, first: int) -> bool:
        """Does a backup after `first`, up to the backup, hold a directory at `path` in its own tree?"""
        if self._dirs is None:
            covered = own_dirs.covered(self.store, self.backup["source"], self.backup["medium"], self.backup["id"],
                                       self.dir_path)
            self._dirs = OwnDirs(covered, self.top), backup_dirs(self.store, self.backup)
        return dir_saved_after(self._dirs[0], self._dirs[1], path, first)

    def union_entry_older(self, full: bytes, versions: dict[bytes, tuple], complete: set[int]) -> bool:
        """Is the union's symlink, FIFO or device node at `full` (a complete backup's) not the newest
        entry saved there as of the backup (others.union_entry_older; `versions` as files_older left them)?"""
        version = versions.get(full)
        return others.union_entry_older(self.saved.get(full, []), version and version[2], complete)
