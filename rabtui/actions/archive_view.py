"""What Browse lists of an archive directory besides the regular files the catalog records: the
symlinks, special files and directories a backup holds there.

The catalog records regular files only (catalog.archive_listing lists those saved on the medium up
to a backup). The other entries are where a restore takes them from (restore.as_of): the
medium's union tree (the symlinks and special files complete backups saved), the backup's own tree
(each holds every directory of the source then, an empty one too, and what it saved itself) and
the kept backups up to it (what only kept data saved, never linked into the union:
checkpoint/kept_entries.py), and the trees of older complete backups (a symlink or special file
one saved where a backup after the one browsed put another shape in the union:
restore/saved_others.py). One directory is read in each tree, a stat for none but the entries
that are not regular files; the kept backups, few and small, below it.
"""

from __future__ import annotations

import errno
import os
import stat

from rabtui.checkpoint import kept_entries
from rabtui.checkpoint.newest_kind import SavedKinds
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.config import Config
from rabtui.errors import UsageError
from rabtui.media import below, medium_layout
from rabtui.restore.copies import directory_of
from rabtui.restore.known_source import source_of
from rabtui.restore.saved_others import saved_before_at
from rabtui.restore.where_saved import older_shapes
from rabtui.state import catalog, queries
from rabtui.state.catalog import rel_path
from rabtui.state.others import complete_ids
from rabtui.state.store import Store

_NEWEST = 1 << 62     # a backup id past every backup's: the merged view holds what all of them saved


def _others(root: bytes, rel: bytes) -> list[tuple[bytes, os.stat_result]]:
    """(name, lstat) of the entries of the directory `root/rel` that are not regular files (d_type
    tells those apart without a stat); none when it is not there, or is reached through a symlink."""
    try:
        fd = below.open_dir(root, rel)
        try:
            fd_read = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
        finally:
            os.close(fd)
    except OSError:
        return []
    out = []
    try:
        with os.scandir(fd_read) as it:
            for e in it:
                try:
                    if e.is_file(follow_symlinks=False):
                        continue
                    out.append((os.fsencode(e.name), os.stat(e.name, dir_fd=fd_read, follow_symlinks=False)))
                except OSError:     # removed meanwhile
                    continue
    except OSError:
        return []
    finally:
        os.close(fd_read)
    return out


def _entry(st: os.stat_result, state: str) -> tuple:
    """(is_dir, size, mtime, state) as catalog.archive_listing gives an entry."""
    if stat.S_ISDIR(st.st_mode):
        return True, None, None, ""
    return False, st.st_size, st.st_mtime, state


def _union(cfg: Config, source_id: str, backup, dir_path: str) -> bytes:
    """The root of the union tree of the archive directory `dir_path` on the backup's medium; where
    a backup of a directory around it saved a symlink at (or on the way to) its place
    (medium_layout.saved_symlink_to_union), the backup's own copy instead, as a restore and the
    checkpoint read it (nothing is read through that symlink)."""
    medium_path = cfg.medium(backup["medium"]).path
    if medium_layout.saved_symlink_to_union(medium_path, source_id, dir_path) is not None:
        return os.fsencode(medium_layout.backup_data_path(backup["path"], dir_path))
    return os.fsencode(medium_layout.archive_root(medium_path, source_id, dir_path))


def _under(dir_path: str, rel: bytes) -> bytes:
    """The directory `rel` (relative to /) relative to the archive directory `dir_path`."""
    return rel[len(rel_path(dir_path)):].lstrip(b"/")


def _found(cfg: Config, store: Store, source_id: str, backup, dir_path: str, rel: bytes) -> kept_entries.Found:
    """kept_entries.found at the directory `rel` (relative to /) of the archive directory `dir_path`."""
    return kept_entries.found(store, backup, dir_path, _union(cfg, source_id, backup, dir_path),
                              _under(dir_path, rel))


def _kept_only(backup, dir_path: str, rel: bytes, found: kept_entries.Found) -> dict[bytes, tuple]:
    """name -> entry of what only kept data up to `backup` saved in the directory `rel` (relative
    to /) of the archive directory `dir_path`, and the empty directories of `backup` itself
    (`found`: _found; the union lacks both): the entries there, and the directories on the way to
    those deeper down."""
    under = _under(dir_path, rel)
    out: dict[bytes, tuple] = {}
    cut = len(under) + 1 if under else 0
    for path, saved in found.taken.items():
        if path == under:
            continue
        name, deeper, _ = path[cut:].partition(b"/")
        if deeper:
            out.setdefault(name, (True, None, None, ""))
        else:
            out[name] = _entry(saved.st, "new" if saved.backup == backup["id"] else "")
    return out


def listing(cfg: Config, store: Store, source_id: str, backup, rel: bytes, warnings: list[str] | None = None):
    """OSError when a symlink is planted on the way there (_refuse_planted), else
    catalog.archive_listing with the other entries the backup holds in the directory `rel`: the
    union's symlinks and special files, the backup's own directories (an empty one too), symlinks
    and special files ("new": it saved them), and what only kept data up to it saved, but a file of
    theirs that is an older shape of its path (a newer backup saved a directory there: a restore
    leaves it out). Where the catalog's file is an older shape and the backup's own tree or the
    union holds that directory, the directory (_newer_dirs), as a restore gives it. Where backups up
    to it saved a file and a symlink or special file at one path, the newest (newest_kind.py); none
    of the union's saved after it, but the older complete backup's symlink or special file the
    restore reads in place of one (_saved_before). None when `rel` is not in an archive directory.
    What is left out because a symlink is planted on the way to it (a kept backup's copy, an older
    backup's entry) is never left out in silence: said, naming the symlink, into `warnings`."""
    # and the directories its backups saved that the config does not name (narrowed or widened since)
    source = source_of(cfg, store, source_id)
    _refuse_planted(cfg, source, backup, rel)
    backup = {"id": backup["id"], "medium": backup["medium"], "path": backup["path"], "source": source_id}
    complete = complete_ids(store, backup)
    kinds: SavedKinds | None = None
    seen: kept_entries.Found | None = None

    def older(dir_path: str, versions: dict) -> set[bytes]:
        """The files only kept data saved (never linked into the union) that are an older shape of
        their path (where_saved.older_shapes), those a newer backup saved a symlink, FIFO or
        device in place of (newest_kind.py), and the union's that kept data saved a directory in
        place of after them (kept_entries.union_older_than_dirs): a restore leaves them out."""
        nonlocal kinds, seen
        kinds = SavedKinds(store, backup, dir_path, rel)
        top = rel_path(dir_path)
        seen = _found(cfg, store, source_id, backup, dir_path, rel)
        replaced = {os.path.join(top, r) if top else r for r in seen.replaced}
        return older_shapes(store, backup, dir_path, {p: v for p, v in versions.items() if v[2] not in complete}) \
            | kinds.files_older(versions) | (replaced & set(versions))

    found = catalog.archive_listing(store, source_id, backup, source.directories, rel, older)
    if found is None:
        return None
    children = found[2]
    d = directory_of(source, rel)
    under = _under(d.path, rel)
    own = os.fsencode(medium_layout.backup_data_path(backup["path"], d.path))
    union = _union(cfg, source_id, backup, d.path)
    over_files: set[bytes] = set()   # directories there where the catalog has a file
    for name, st in _others(own, under):
        children.setdefault(name, _entry(st, "new"))
        if stat.S_ISDIR(st.st_mode) and not children[name][0]:
            over_files.add(name)
    in_union = _others(union, under)
    entries = [name for name, st in in_union if not stat.S_ISDIR(st.st_mode) and name not in children]
    versions = catalog.archive_as_of(store, backup, (d.path,), paths=tuple(_full(rel, n) for n in entries)) \
        if entries else {}
    for path in kinds.files_older(versions) if kinds is not None else ():
        del versions[path]
    for name, st in in_union:
        if seen is not None and _full(under, name) in seen.replaced:
            continue    # older than the directory kept data saved there (_kept_only gives that)
        if not stat.S_ISDIR(st.st_mode):     # a directory of the union may hold files saved after it
            if name not in children and kinds is not None \
                    and kinds.union_entry_older(_full(rel, name), versions, complete):
                continue    # saved after the backup, or a newer file took its place: a restore leaves it out
            children.setdefault(name, _entry(st, ""))
        elif not children.get(name, (True,))[0]:
            over_files.add(name)
    for name in _newer_dirs(store, backup, d.path, rel, over_files):
        children[name] = (True, None, None, "")
    for name, entry in _kept_only(backup, d.path, rel, seen).items() if seen is not None else ():
        children.setdefault(name, entry)
    planted: dict[bytes, tuple[str, str]] = {}
    for name, st in _saved_before(store, backup, d.path, rel, union, kinds, children, planted).items():
        children[name] = _entry(st, "")
    if warnings is not None:
        warnings += _unread(seen.planted if seen is not None else [], planted)
    dirs = sorted(n for n, v in children.items() if v[0])
    return dirs + sorted(n for n, v in children.items() if not v[0]), len(dirs), children


def _refuse_planted(cfg: Config, source, backup, rel: bytes) -> None:
    """OSError (as a directory that cannot be read: Browse says it) when a symlink is planted on the
    way to the backup's data/ (Browse lists any directory below it part by part, following none),
    or, for an archive directory holding `rel`, to the backup's copy of it or to its union: what it
    points to is none of the backup's (a restore refuses it too: restore.in_backup)."""
    planted = medium_layout.symlink_to_copy(backup["path"], "/")
    try:
        d = directory_of(source, rel)
    except UsageError:     # above every configured directory
        d = None
    if planted is None and d is not None and d.kind == "archive":
        medium_path = cfg.medium(backup["medium"]).path
        planted = medium_layout.symlink_to_copy(backup["path"], d.path) or (
            None if medium_layout.saved_symlink_to_union(medium_path, source.id, d.path) is not None
            else medium_layout.symlink_to_union(medium_path, source.id, d.path))
    if planted is not None:
        raise OSError(errno.ELOOP, medium_layout.planted_symlink(planted, "nothing is read through it"))


def merged_root(medium_path, source_id: str) -> str | None:
    """The source's `.archive` on the medium, which Browse lists as the merged view of its archive
    directories; None when there is none, or it is reached through a symlink (planted: it may
    lead anywhere on this server)."""
    union = medium_layout.source_root(medium_path, source_id) / medium_layout.ARCHIVE
    if not union.is_dir() or below.symlink_on_the_way(os.fsencode(medium_path),
                                                      os.fsencode(f"{source_id}/{medium_layout.ARCHIVE}/")):
        return None
    return str(union)


def _saved_before(store: Store, backup, dir_path: str, rel: bytes, union: bytes, kinds: SavedKinds | None,
                  children: dict, planted: dict[bytes, tuple[str, str]]) -> dict[bytes, os.stat_result]:
    """name -> lstat of each symlink, FIFO or device node in the directory `rel` that an older
    complete backup saved and a restore of `backup` reads from that backup's tree
    (saved_others.saved_before_at): not saved again since, and a newer backup than `backup` put
    another shape in its place in the union. Only the names nothing else gave (`children`) that
    the catalog has such an entry at up to `backup` (`kinds`, read for the listing already). Those
    not read because a symlink is planted on the way: full path -> (kind, why), into `planted`."""
    cut = len(rel) + 1 if rel else 0
    names = [path[cut:] for path in (kinds.saved if kinds is not None else ())
             if (not rel or path.startswith(rel + b"/")) and b"/" not in path[cut:] and path[cut:] not in children]
    out = {}
    if names:
        with Shortcuts() as sc:
            for name in names:
                saved = saved_before_at(store, backup, dir_path, _full(rel, name), union, sc, planted)
                if saved is not None:
                    out[name] = saved.st
    return out


def _unread(kept: list[str], entries: dict[bytes, tuple[str, str]]) -> list[str]:
    """What a listing says it left out, once each: the kept backups' copies not read (`kept`,
    kept_entries.Found.planted) and the older backups' entries (`entries`: path -> (kind, why))."""
    said = [f"entries of kept data left out: {why}" for why in kept]
    said += [f"/{os.fsdecode(path)} left out: {why}" for path, (_kind, why) in sorted(entries.items())]
    return list(dict.fromkeys(said))


def _full(rel: bytes, name: bytes) -> bytes:
    return os.path.join(rel, name) if rel else name


def _newer_dirs(store: Store, backup, dir_path: str, rel: bytes, names: set[bytes]) -> list[bytes]:
    """Those of `names` (in the directory `rel`) where the catalog's file is an older shape of its
    path (where_saved.older_shapes): the backup's own tree, or the union, holds the directory a
    newer backup up to it saved there, which a restore gives."""
    if not names:
        return []
    full = {os.path.join(rel, n) if rel else n: n for n in names}
    versions = catalog.archive_as_of(store, backup, (dir_path,), paths=tuple(full))
    return [full[path] for path in older_shapes(store, backup, dir_path, versions)]


def merged_extra(cfg: Config, store: Store, source_id: str, medium_id: str, rel: bytes,
                 warnings: list[str] | None = None) -> dict[bytes, tuple]:
    """name -> (is_dir, size, mtime, state) of the entries in the directory `rel` (relative to /)
    of the merged view of the archive directories on a medium (its union tree) that the union
    lacks: what only kept data saved, and the empty directories of the newest complete backup there
    (which a restore from the merged view reads). Empty when `rel` is not in an archive directory.
    A kept backup's copy not read (a symlink planted on the way) is said, naming it, into `warnings`."""
    source = cfg.source(source_id)
    try:
        d = directory_of(source, rel)
    except UsageError:     # above every configured directory
        return {}
    if d.kind != "archive" or medium_layout.saved_symlink_to_union(cfg.medium(medium_id).path, source_id,
                                                                   d.path) is not None:
        return {}     # (the merged view shows the symlink saved there, never what it leads to)
    out: dict[bytes, tuple] = {}
    planted: list[str] = []
    complete = queries.last_backup(store, source_id, complete=True, medium=medium_id)
    # what every kept backup saved (no backup's own shape to fit), then the newest complete one's
    for backup in ({"source": source_id, "medium": medium_id, "id": _NEWEST, "path": None}, complete):
        if backup is not None:
            seen = _found(cfg, store, source_id, backup, d.path, rel)
            planted += seen.planted
            for name, entry in _kept_only(backup, d.path, rel, seen).items():
                out.setdefault(name, entry[:3] + ("",))
    if warnings is not None:
        warnings += _unread(planted, {})
    return out
