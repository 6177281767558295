"""Which version of each file a backup had (as_of): an archive directory's union tree holds the
newest file saved on the medium; the walk of it (AsOf) hands out each file as the backup had it, read
from the backup that saved it, and what the union lacks. Where the item itself is: in_backup.py."""

from __future__ import annotations

import os
import stat
from collections.abc import Callable, Iterable
from itertools import chain

from rabtui import fmt
from rabtui.checkpoint import closed_dirs, kept_entries, own_dirs
from rabtui.checkpoint.kept_entries import Saved
from rabtui.checkpoint.newest_kind import SavedKinds
from rabtui.checkpoint.own_dirs import OwnDirs, OwnTree, backup_dirs, dir_saved_after
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.config import Source
from rabtui.errors import WorkFailed
from rabtui.media import points_to
from rabtui.mtimes import seconds
from rabtui.restore.as_saved import NOT_AS_THERE, LeftOut
from rabtui.restore.copies import directory_of
from rabtui.restore.saved_others import saved_before
from rabtui.restore.where_saved import as_saved, planted_on_the_way, why_not_saved
from rabtui.restore.written import kind_of
from rabtui.state import catalog, known_paths, others as saved_entries
from rabtui.state.catalog import rel_path
from rabtui.state.others import complete_ids, recorded
from rabtui.state.store import Store


def put_there(backup) -> str:
    """Why a file of an archive directory's union at a path no backup of the source ever saved (put
    into the union since, by hand or by another program) is left out."""
    return (f"not saved by any backup: put into the archive's union on medium {backup['medium']} since,"
            " not restored as if it were")


def _other_than_a_file(path: bytes) -> bool:
    """Is there something at `path` other than a regular file?"""
    try:
        return not stat.S_ISREG(os.lstat(path).st_mode)
    except OSError:
        return False


def as_of(store: Store, source: Source, backup, rel: bytes, item: bytes, sc: Shortcuts,
          union: bytes | None = None) -> "AsOf | None":
    """The `pick` for copy_into when `item` comes from an archive directory's union tree, which
    holds the newest file saved on the medium: each file as the backup had it instead (the newest
    version saved on that medium by a backup up to it, from the catalog), read from the backup that
    saved it; a file saved after it is left out. None when `item` is not from a union tree.
    `union`: the root of that tree (roots_of), where the symlinks, special files and empty
    directories only kept data saved are not (kept_entries.py)."""
    d = directory_of(source, rel)
    # a directory of the backup itself is one the union lacks (saved_elsewhere): the others may
    # have saved files below it too
    if d.kind != "archive" or (item.startswith(os.path.join(os.fsencode(backup["path"]), b"data", b""))
                               and not os.path.isdir(sc.path(item))):
        return None
    folders = backup_dirs(store, backup)
    versions = catalog.archive_as_of(store, backup, (d.path,), rel)
    kinds = SavedKinds(store, backup, d.path, rel)
    for full in kinds.files_older(versions):
        del versions[full]      # a newer backup saved a symlink, FIFO or device there, or above it
    others: dict[bytes, Saved] = {}
    unread: list[bytes] = []
    closed: list[bytes] = []
    planted: list[str] = []
    replaced: set[bytes] = set()
    if union is not None:
        top = rel_path(d.path)
        seen = kept_entries.found(store, backup, d.path, union, rel[len(top):].lstrip(b"/"))
        unread, closed, planted = seen.unread, seen.closed, seen.planted
        for under in seen.replaced:     # the union's entry there is older than kept data's directory
            full = os.path.join(top, under) if top else under
            replaced.add(full)
            if full in versions and versions[full][2] < seen.dirs[under]:
                del versions[full]
        for under, saved in seen.taken.items():
            full = os.path.join(top, under) if top else under
            if full in versions and not kept_entries.newer_than_file(saved, versions[full][2]):
                continue
            versions.pop(full, None)
            others[full] = saved
    linked = complete_ids(store, backup)
    dirs = OwnDirs(own_dirs.covered(store, backup["source"], backup["medium"], backup["id"], d.path), rel)
    planted_at: dict[bytes, tuple[str, str]] = {}
    catalogued = saved_before(store, backup, d.path, rel, union, versions, folders, linked, set(others), dirs, sc,
                              planted_at) if union is not None else {}
    for full in (*catalogued, *planted_at):
        versions.pop(full, None)    # an older file: the entry took its place
    from_union = union is not None and (item == union or item.startswith(union + b"/"))
    pick = AsOf(versions, folders, backup, rel, sc, others, item, unread, catalogued, from_union)
    pick.planted = planted
    pick.planted_at = planted_at
    pick.linked = linked
    pick.names = {r["id"]: r["name"] for r in store.all("SELECT id, name FROM backups WHERE source=? AND medium=?",
                                                        (backup["source"], backup["medium"]))}
    pick.newer_dirs = dirs
    pick.kinds = kinds
    pick.replaced = replaced
    if from_union:
        pick.own_dirs = dirs
        if known_paths.union_settled(store, backup["source"], backup["medium"]):
            pick.known = lambda paths: known_paths.known(store, backup["source"], paths)
            pick.entries_known = recorded(store, backup, union=True)
    pick.pointing = saved_entries.saved_pointing(store, backup, d.path, rel)
    if pick.pointing and from_union:
        pick.newest = {full: first for full, (_kind, _mtime, first)
                       in saved_entries.archive_as_of(store, backup, d.path, rel).items()}
    # of the kept backups' directories closed to the user other than root, the outermost of those
    # holding what is taken from them: opened again while it is copied (opened_to_read)
    taken = [saved.path(full[len(rel_path(d.path)):].lstrip(b"/")) for full, saved in pick.others.items()]
    if closed:
        taken += [os.path.join(folders[v[2]], b"data", full) for full, v in versions.items()]
    for path in sorted(closed, key=len):
        if not any(path.startswith(c + b"/") for c in pick.closed) and any(t.startswith(path + b"/") for t in taken):
            pick.closed.append(path)
    return pick


class AsOf(LeftOut):
    """See as_of. Called for each file of the union below the restored item, then `unseen()` gives
    the files the backup had that the union does not show there: kept data's (a backup whose
    post-backup commands failed is not linked into the union), or one lost from it; and those the
    walk found that the medium no longer holds as the backup saved them, left out (LeftOut)."""

    def __init__(self, versions: dict, folders: dict, backup, rel: bytes, sc: Shortcuts,
                 others: dict[bytes, Saved] | None = None, item: bytes | None = None, unread: list[bytes] = (),
                 catalogued: dict[bytes, Saved] | None = None, from_union: bool = False):
        super().__init__()
        self.versions, self.folders, self.backup, self.rel, self.sc = versions, folders, backup, rel, sc
        self.item = item
        # path -> the symlink, special file or empty directory only kept data saved, but those the
        # walk of `item` shows (a directory of a kept backup, saved_elsewhere); in place of a file
        # of the union (kept_entries.found), which is left out then (no version of it as of the backup),
        # or of an older symlink or special file of the union (below_a_file leaves that out)
        self.others = {full: saved for full, saved in (others or {}).items()
                       if item is None or from_union
                       or not _other_than_a_file(sc.path(os.path.join(item, full[len(rel):].lstrip(b"/"))))}
        # path -> an older complete backup's entry the union shows another shape in place of, or
        # none (saved_before): the union's there, and all below it, are not this backup's
        self.catalogued = catalogued or {}
        self.others.update(self.catalogued)
        # where an entry of `others` that is no directory takes the place of what the union holds
        self.in_place = {full for full, saved in self.others.items() if not stat.S_ISDIR(saved.st.st_mode)}
        self.unread = list(unread)   # directories of kept backups that could not be read
        self.closed: list[bytes] = []   # directories of kept backups closed to us that hold some of `others`
        self.planted: list[str] = []    # why kept backups' copies were not read (a symlink on the way)
        # path -> (its kind, why) of an older backup's entry not read (saved_before)
        self.planted_at: dict[bytes, tuple[str, str]] = {}
        self.seen: set[bytes] = set()
        self.linked: set[int] = set()   # the complete backups (linked into the union)
        self.names: dict[int, str] = {}  # id -> name of the backups on the medium (which saved a file, said)
        self.from_union = from_union    # the walked item is in the union (own_dir)
        self._tree: OwnTree | None = None    # the backup's own tree (own_shape)
        self.own_dirs: OwnDirs | None = None  # its own and older backups' trees (own_dir)
        self.newer_dirs: OwnDirs | None = None  # the same, where an older shape is told (_dir_saved_after)
        self.kinds: SavedKinds | None = None    # the entries saved around the item, where the union's is told
        # the union's symlinks and special files older than kept data's directory at their path
        self.replaced: set[bytes] = set()
        # path -> the backup's own entry where the union holds another (own_shape), in its place
        self.own_taken: dict[bytes, os.stat_result] = {}
        # path -> the mode of a backup's directory closed to the user other than root, opened to be
        # read for the restore (`closed`): the mode own_dir gives
        self.opened: dict[bytes, int] = {}
        # which of some paths (relative to /) any backup of the source saved (known_paths.known);
        # None where a run may have linked files into the union it has not recorded yet
        self.known: Callable[[list[bytes]], set[bytes]] | None = None
        # path -> mode of the union's entries (no directories) the walk found none of as of the backup
        self.unknown: dict[bytes, int] = {}
        self.entries_known = True   # the catalog holds the union's symlinks and special files (others.recorded)
        # (path, backup) -> (kind, target, rdev) of the symlinks and device nodes saved up to the
        # backup whose target or numbers the catalog knows, and path -> the backup that saved the
        # newest there (the union's, where the walk shows it): each must point there (_elsewhere)
        self.pointing: dict[tuple[bytes, int], tuple] = {}
        self.newest: dict[bytes, int] = {}

    def not_saved(self, under: bytes, _path: bytes) -> bool:
        """Is the entry `under` the walked item (no regular file, no directory) in the backup that
        the catalog says saved a regular file there? It is not what that backup saved (a symlink
        put in its place on the medium since); the file is named as lost by unseen()."""
        full = self._full(under)
        if full in self.newest and (elsewhere := self._elsewhere(full, self.newest[full], _path)):
            if not under:
                raise WorkFailed(f"/{fmt.name(full)}: {elsewhere[1]}")     # the entry alone
            self.leave_out(under, elsewhere[1], elsewhere[0])
            return True
        version = self.versions.get(full)
        return (version is not None and self.item is not None
                and self.item.startswith(os.path.join(self.folders[version[2]], b"data", b"")))

    def _elsewhere(self, full: bytes, first: int, path: bytes) -> tuple[str, str] | None:
        """(its kind, why) where the symlink or device node at `path`, read for the one backup
        `first` saved at `full`, points elsewhere than that backup recorded (retargeted on the
        medium since: points_to); None where it does not, or nothing is known."""
        saved = self.pointing.get((full, first))
        if saved is None:
            return None
        why = points_to.elsewhere(*os.path.split(path), *saved)
        if why is None:
            return None
        saver = self.names.get(first) or self.backup["name"]
        return (saved_entries.NAMES.get(saved[0], "special file"),
                f"{why.replace('the backup', f'backup {saver}', 1)}: {NOT_AS_THERE}")

    def own_shape(self, full: bytes) -> tuple[bytes, os.stat_result] | None:
        """What the backup's own tree holds at `full` (below the restored item), looked at part by
        part from the item down, never through a symlink (OwnTree.shape). An archive's backup holds
        every directory the source had and each entry it saved: that is its shape there, whatever
        shape an older or newer backup gave the union since."""
        return self._own_tree().shape(full)

    def _own_tree(self) -> OwnTree:
        if self._tree is None:
            self._tree = OwnTree(os.path.join(self.folders[self.backup["id"]], b"data"), self.rel)
        return self._tree

    def own_dir(self, under: bytes, path: bytes, st: os.stat_result) -> tuple[bytes, os.stat_result]:
        """The union's directory `under` the item (at `path`, its lstat `st`) as the backup's own tree
        has it, whose mode, owner, times, ACLs and xattrs are the source's (the union's are rabtui's,
        made as files were linked into it); where it holds none (removed by then), as the newest
        older backup that does has it (own_dirs.covered); as it is where none does, or only
        through a symlink (OwnTree.directory)."""
        found = self.own_dirs.of(under) if self.from_union and self.own_dirs is not None else None
        if found is None:
            return path, st
        own = os.path.join(found[0], found[1])
        return self.sc.path(own), closed_dirs.as_extracted(found[2], self.opened.get(os.path.normpath(own)))

    def _not_own(self, full: bytes, st: os.stat_result) -> bool:
        """Is the union's entry at `full` (its lstat `st`) not the backup's own shape there? Below
        an entry of the backup that is no directory, or where it holds another entry (another
        inode: one of an older or newer backup), or no directory where it holds one. The backup's
        own entry there goes into `own_taken`, but a regular file it saved (the catalog's rules:
        the union's file of its size and mtime, else its own, else named lost)."""
        own = self.own_shape(full) if full != self.rel else None
        if own is None:
            return False
        at, mine = own
        if at != full:
            return True
        version = self.versions.get(full)
        if version is not None and version[2] == self.backup["id"]:
            return not stat.S_ISREG(st.st_mode)     # the file it saved comes from the catalog's rules
        if stat.S_ISDIR(mine.st_mode) == stat.S_ISDIR(st.st_mode) and (
                stat.S_ISDIR(st.st_mode) or (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino)):
            return False
        self.own_taken[full] = mine
        return True

    def _own_entries(self):
        """(path, lstat) of each symlink, FIFO, ... the backup's own tree holds below the item that
        the walk did not show as it is (another entry in the union, or none: a newer backup's shape
        took its place there and left it out); not one where the catalog says it saved a file."""
        from rabtui.media import below

        root = os.path.join(self.folders[self.backup["id"]], b"data")
        for rel, items in below.walk(root, self.rel):
            for name, st in items:
                full = os.path.join(rel, name) if rel else name
                if (stat.S_ISDIR(st.st_mode) or stat.S_ISREG(st.st_mode)
                        or self.versions.get(full, (0, 0, None))[2] == self.backup["id"]):
                    continue
                if self.item is not None:
                    try:
                        there = os.lstat(self.sc.path(os.path.join(self.item, full[len(self.rel):].lstrip(b"/"))))
                        if (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino):
                            continue
                    except OSError:
                        pass
                yield full, st

    def below_a_file(self, under: bytes, st: os.stat_result) -> bool:
        """Is the walked entry `under` of the union (a directory itself, or in one) not this
        backup's (_not_own), or a directory where the backup had a regular file (the catalog says),
        or below it? A newer backup's directory took the file's place in the union since: none of
        it is this backup's (unseen() gives the file). Or a symlink, FIFO or device node that is not
        the newest entry saved there as of the backup (SavedKinds.union_entry_older)."""
        is_dir = stat.S_ISDIR(st.st_mode)
        if self._not_own(self._full(under), st) or self._in_place_of_others(self._full(under)):
            return True
        if not is_dir and self.from_union and self._full(under) in self.replaced:
            return True     # older than the directory kept data saved there (unseen() gives that)
        if not is_dir and self.from_union and self.kinds is not None \
                and (self.entries_known or self.kinds.saved.get(self._full(under))) \
                and self.kinds.union_entry_older(self._full(under), self.versions, self.linked):
            if self.known is not None and self.entries_known and self._full(under) not in self.versions:
                self.unknown[self._full(under)] = st.st_mode    # or none saved it (unseen() asks)
            return True     # saved after the backup, or a newer backup's file took its place (unseen() gives it)
        full = self._full(under) if is_dir else os.path.dirname(self._full(under))
        while full and full != self.rel:
            if full in self.versions:     # kept data's too, saved after the union's directory
                first = self.versions[full][2]
                return not (self._a_directory_then(full) or self._dir_saved_after(full, first))
            full = os.path.dirname(full)
        return False

    def _in_place_of_others(self, full: bytes) -> bool:
        """Is `full` at or below an entry of `others` that is no directory: one of `catalogued` (the
        union's there is a newer shape), or kept data's saved after the union's (kept_entries.found:
        a directory of the union too, which all below it goes with)?"""
        while self.in_place and len(full) > len(self.rel):
            if full in self.in_place:
                return True
            full = os.path.dirname(full)
        return False

    def _a_directory_then(self, full: bytes) -> bool:
        """Does the backup's own tree hold a directory at `full` (the source's shape then: each
        backup holds every directory of an archive directory)?"""
        try:
            return stat.S_ISDIR(os.lstat(self.sc.path(self._saved_by(self.backup["id"], full))).st_mode)
        except (OSError, KeyError):
            return False

    def _full(self, under: bytes) -> bytes:
        return os.path.join(self.rel, under) if under else self.rel

    def _saved(self, full: bytes, version) -> bytes:
        return self._saved_by(version[2], full)

    def _saved_by(self, backup_id: int, full: bytes) -> bytes:
        return os.path.join(self.folders[backup_id], b"data", full)

    def __call__(self, under: bytes, path: bytes, st):
        full = self._full(under)
        version = self.versions.get(full)
        if version is None and self.from_union and self.known is not None:
            self.unknown[full] = st.st_mode     # no backup up to this one saved it: unseen() asks whether any did
        if self._not_own(full, st) or version is None:
            return None
        if not self.from_union and self._dir_saved_after(full, version[2]):
            return None     # read from the backup that saved it (a kept one's tree): an older shape
        self.seen.add(full)
        older = self.sc.path(self._saved(full, version))
        if (st.st_size, seconds(st)) == version[:2]:
            return self._own_copy(full, version, st, older) or (path, st)
        planted = planted_on_the_way(self.folders[version[2]], full)
        st = as_saved(older, version) if planted is None else None
        if st is not None:
            return older, st
        # neither the union nor the backup that saved it holds the file it saved (emptied by a
        # crash, written into in place, gone; or reached only through a planted symlink): named
        # and left out, never handed back as it is now
        why = planted or why_not_saved(self.backup, older, version, self.names.get(version[2]))
        if not under:
            raise WorkFailed(f"/{fmt.name(full)}: {why}")     # the file alone
        return self.leave_out(under, why)

    def _own_copy(self, full: bytes, version, st: os.stat_result, older: bytes) -> tuple[bytes, os.stat_result] | None:
        """The file the backup that saved `full` holds, where it is another inode than the union's
        (`st`) of the same size and time: a newer backup saved the same content with another mode,
        owner, ACL or xattrs, which the union holds now. None where the union's is that file."""
        try:
            mine = os.lstat(older)
        except OSError:
            return None
        if (mine.st_dev, mine.st_ino) == (st.st_dev, st.st_ino) or planted_on_the_way(self.folders[version[2]], full):
            return None
        mine = as_saved(older, version)
        return (older, mine) if mine is not None else None

    def _dir_saved_after(self, full: bytes, first: int) -> bool:
        """Is the file `first` saved at `full` an older shape of the path (dir_saved_after)? Whether
        the walked item is the union's or a kept backup's (saved_elsewhere): a file read from the
        backup that saved it is left out then, as the discs leave it out."""
        return self.newer_dirs is not None and dir_saved_after(self.newer_dirs, self.folders, full, first)

    def unseen(self) -> tuple[list[tuple[bytes, bytes, os.stat_result]], Iterable[tuple[str, bytes, str]]]:
        """([(path, name below the item, lstat)] of the files the walk did not show, and of the
        symlinks, special files and empty directories only kept data saved, read from the backup
        that saved each, each after the directories on its way there as that backup has them (the
        union may lack them too: copy_into makes those)], (kind, name below the item, why) of the files
        that backup lacks too, then of those the walks leave out, read after them)."""
        found: list[tuple[bytes, bytes, os.stat_result]] = []
        if self.unknown:    # put into the union since: left out, named (one a newer backup saved, in silence)
            saved = self.known(sorted(self.unknown))
            for full in sorted(set(self.unknown) - saved):
                self.leave_out(full[len(self.rel):].lstrip(b"/"), put_there(self.backup), kind_of(self.unknown[full]))
        lost = [("directory", b"", f"{fmt.name(path)}, a directory of kept data, could not be read: permission denied")
                for path in self.unread] + [("kept data", b"", why) for why in self.planted] \
            + [(kind, full[len(self.rel):].lstrip(b"/"), why) for full, (kind, why) in sorted(self.planted_at.items())]
        dirs: set[bytes] = set()
        for full, st in self._own_entries():
            self.own_taken.setdefault(full, st)
        for full in sorted((set(self.versions) - self.seen) | set(self.others) | set(self.own_taken)):
            under = full[len(self.rel):].lstrip(b"/")
            if not under or full in self.planted_at:
                continue    # (named: not read, or not on the medium as saved any more)
            mine = self.own_taken.get(full)
            other = self.others.get(full)
            own = self.own_shape(full) if mine is None else None
            if own is not None:
                at, found_st = own
                if at != full:
                    continue      # below an entry of this backup's that is no directory
                if stat.S_ISDIR(found_st.st_mode):
                    if other is None or not stat.S_ISDIR(other.st.st_mode):
                        continue      # an older backup's file, kept data's entry: a directory in this one
                elif full not in self.versions or self.versions[full][2] != self.backup["id"]:
                    mine = found_st   # this backup's own entry, the union's of another (or none)
            elif mine is None and other is None and self._dir_saved_after(full, self.versions[full][2]):
                continue          # gone from this backup: a newer one saved a directory there after the file
            first = self.backup["id"] if mine is not None else other.backup if other is not None \
                else self.versions[full][2]
            saved = self.sc.path(self._saved_by(first, full))
            if mine is not None:
                st = mine
            elif other is not None:
                st = other.st
            else:
                planted = planted_on_the_way(self.folders[first], full)
                st = as_saved(saved, self.versions[full]) if planted is None else None
                if st is None:    # gone, or something else in its place (a symlink to any file, or on the way)
                    lost.append(("file", under, planted or why_not_saved(self.backup, saved, self.versions[full],
                                                                 self.names.get(self.versions[full][2]))))
                    continue
            if (stat.S_ISLNK(st.st_mode) or stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) \
                    and (elsewhere := self._elsewhere(full, first, saved)):
                lost.append((elsewhere[0], under, elsewhere[1]))
                continue
            parts = under.split(b"/")[:-1]
            for i in range(1, len(parts) + 1):
                d = b"/".join(parts[:i])
                if d in dirs:
                    continue
                path = self.sc.path(self._saved_by(first, os.path.join(self.rel, d)))
                try:
                    dst = os.lstat(path)
                except OSError:
                    break
                if not stat.S_ISDIR(dst.st_mode):
                    break
                dirs.add(d)
                # as the newest backup holding it has it, as a checkpoint's discs do, whichever
                # backup saved the first entry below it (kept_data._dirs_beside)
                path, dst = self.own_dir(d, path, dst)
                found.append((path, d, dst))
            found.append((saved, under, st))
            if stat.S_ISDIR(st.st_mode):
                dirs.add(under)     # made once, before what the backup holds below it
        return found, chain(lost, self.left_out())
