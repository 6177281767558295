"""The symlinks, FIFOs and device nodes an archive directory held as of a backup that neither that
backup's own tree nor the medium's union gives: saved by an older complete backup (the catalog's
`others`), not saved again since (an archive's backup saves only what is new or changed), and a
newer backup's shape (a file, a directory) took their place in the union. Each is read from the
tree of the backup that saved it (restore.as_of.AsOf takes it as it takes kept data's). Not one
where a newer backup saved a directory (checkpoint/own_dirs.py, dir_saved_after): the union's
directory is the newer shape."""

from __future__ import annotations

import os
import stat

from rabtui.checkpoint import own_dirs
from rabtui.checkpoint.kept_entries import Saved, fits_its_shape
from rabtui.checkpoint.own_dirs import OwnDirs, backup_dirs, dir_saved_after
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.media import medium_layout
from rabtui.restore.where_saved import planted_on_the_way
from rabtui.state import catalog, others
from rabtui.state.others import complete_ids
from rabtui.state.catalog import rel_path
from rabtui.state.store import Store

# what a restore names an entry it did not read by (the catalog's letter: S is both)
_NAMED = {ord("L"): "symlink", ord("S"): "fifo or socket", ord("D"): "device"}


def saved_before(store: Store, backup, dir_path: str, rel: bytes, union: bytes, versions: dict,
                 folders: dict[int, bytes], linked: set[int], taken: set[bytes], dirs: OwnDirs,
                 sc: Shortcuts, planted: dict[bytes, tuple[str, str]] | None = None) -> dict[bytes, Saved]:
    """full path -> how an older complete backup saved each entry the catalog has at or below `rel`
    as of `backup` where the union (its root `union`) holds another entry or none, and nothing
    newer took its place as of `backup`: no newer version of a file at, above or below it
    (`versions`, as_of's), no newer entry of the catalog above or below it, no newer backup's
    directory at it (dir_saved_after; `dirs`: the own trees up to `backup`, from `rel` or above),
    and `backup`'s own shape there allows it (fits_its_shape). Not those `taken` already (kept data's), nor what
    `backup` saved itself (its own tree gives those), nor sockets (no restore gives them). Each not
    read because a symlink is planted on the way to it: full path -> (its kind, why), into `planted`;
    so is each that neither the union nor the backup that saved it (`backup` too) holds as that kind
    of entry any more (a hand, rsync -r or a copy of the medium left it out): named, never passed over."""
    return _taken(backup, dir_path, rel, union, versions, folders, linked, taken, dirs, sc,
                  others.archive_as_of(store, backup, dir_path, rel), rel, planted=planted, gone=True)


def saved_before_at(store: Store, backup, dir_path: str, rel: bytes, union: bytes, sc: Shortcuts,
                    planted: dict[bytes, tuple[str, str]] | None = None) -> Saved | None:
    """saved_before of `rel` itself (a restore of it alone), looked up by its path and those of the
    directories on the way there; `planted` as saved_before's."""
    top = rel_path(dir_path)
    if not others.archive_as_of(store, backup, dir_path, paths=(rel,)):
        return None     # most: no look at what lies on the way
    above: list[bytes] = []
    up = os.path.dirname(rel)
    while len(up) > len(top):
        above.append(up)
        up = os.path.dirname(up)
    versions = catalog.archive_as_of(store, backup, (dir_path,), rel)
    versions.update(catalog.archive_as_of(store, backup, (dir_path,), paths=tuple(above)))
    entries = others.archive_as_of(store, backup, dir_path, rel)
    entries.update(others.archive_as_of(store, backup, dir_path, paths=tuple(above)))
    dirs = OwnDirs(own_dirs.covered(store, backup["source"], backup["medium"], backup["id"], dir_path), top)
    return _taken(backup, dir_path, top, union, versions, backup_dirs(store, backup), complete_ids(store, backup),
                  set(), dirs, sc, {rel: entries[rel]}, None, entries, planted).get(rel)


def _taken(backup, dir_path: str, rel: bytes, union: bytes, versions: dict, folders: dict[int, bytes],
           linked: set[int], taken: set[bytes], dirs: OwnDirs, sc: Shortcuts, candidates: dict,
           skip: bytes | None, entries: dict | None = None,
           planted: dict[bytes, tuple[str, str]] | None = None, gone: bool = False) -> dict[bytes, Saved]:
    """saved_before's look at each of `candidates` (of `entries`: all the catalog has around them),
    but `skip`, up to `rel`; those a planted symlink is on the way to go into `planted` (kind, why),
    and, `gone`, those no longer on the medium as saved (_gone)."""
    top = rel_path(dir_path)
    own = os.fsencode(medium_layout.backup_data_path(backup["path"], dir_path))
    around = _Around(rel, candidates if entries is None else entries, versions)
    out: dict[bytes, Saved] = {}
    for full, (kind, _mtime, first) in candidates.items():
        if full == skip or full in taken or first not in linked or first not in folders \
                or versions.get(full, (0, 0, 0))[2] >= first:
            continue
        under = full[len(top):].lstrip(b"/")
        root = os.path.join(folders[first], b"data", top) if top else os.path.join(folders[first], b"data")
        saved, in_union = sc.path(os.path.join(root, under)), sc.path(os.path.join(union, under))
        lost = gone and planted is not None and _gone(kind, saved, in_union)
        if first == backup["id"]:   # its own tree gives it, or the union's walk: named where neither holds it
            if lost and not around.newer(full, first) and planted_on_the_way(folders[first], full) is None:
                planted[full] = (_NAMED.get(kind, "special file"), _not_there(backup, folders[first]))
            continue
        try:
            st = os.lstat(saved)
        except OSError:
            st = None
        try:
            there = os.lstat(in_union)
            if st is not None and (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino):
                continue    # the union's: the walk gives it
        except OSError:
            pass
        if not fits_its_shape(own, under, False) or around.newer(full, first) \
                or dir_saved_after(dirs, folders, full, first):
            continue
        why = planted_on_the_way(folders[first], full)
        if why is not None:     # not read through it, and never dropped in silence: the caller names it
            if planted is not None:
                planted[full] = (_NAMED.get(kind, "special file"), why)
            continue
        if st is None or stat.S_ISSOCK(st.st_mode) or not others.of_kind(kind, st.st_mode):
            if lost:
                planted[full] = (_NAMED.get(kind, "special file"), _not_there(backup, folders[first]))
            continue
        out[full] = Saved(first, root, st)
    return out


def _not_there(backup, folder: bytes) -> str:
    """Why an entry the backup saved in `folder` is named: the medium no longer holds it."""
    return (f"not on medium {backup['medium']} any more, though backup"
            f" {os.fsdecode(os.path.basename(folder))} saved it")


def _gone(kind: int, saved: bytes, union: bytes) -> bool:
    """Does neither the backup's tree (at `saved`) nor the union (at `union`) hold an entry of the
    catalog's kind `kind` there (nor a socket, which no restore gives)?"""
    for path in (saved, union):
        try:
            mode = os.lstat(path).st_mode
        except OSError:
            continue
        if stat.S_ISSOCK(mode) or others.of_kind(kind, mode):
            return False
    return True


class _Around:
    """What was saved above and below each path of the catalog, up to `rel` (`entries`, the
    catalog's others, and `versions`, its files, as of the backup: path -> (..., first_backup))."""

    def __init__(self, rel: bytes, entries: dict, versions: dict):
        self.rel, self.entries, self.versions = rel, entries, versions
        self._inside: dict[bytes, int] | None = None    # directory -> the newest backup that saved below it

    def newer(self, full: bytes, first: int) -> bool:
        """Did a backup after `first` save a file or an entry above `full` (up to `rel`) or below it?"""
        up = os.path.dirname(full)
        while len(up) > len(self.rel):
            if max(self.entries.get(up, (0, 0, 0))[2], self.versions.get(up, (0, 0, 0))[2]) > first:
                return True
            up = os.path.dirname(up)
        if self._inside is None:    # once, and only when some entry gets this far
            self._inside = {}
            for table in (self.entries, self.versions):
                for path, v in table.items():
                    up = os.path.dirname(path)
                    while len(up) > len(self.rel) and self._inside.get(up, 0) < v[2]:
                        self._inside[up] = v[2]
                        up = os.path.dirname(up)
        return self._inside.get(full, 0) > first
