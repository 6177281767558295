"""The look at a medium's unions for the backups of a source there that recorded no kinds (made
before kinds were recorded): whether each directory's union is there, as saved_kinds.look records
it once for each, and whether the backup saved the directory as a standard one all the same: the
union lacks a file it holds (it was made after that backup), or it holds a file linked from the
backup before it (--link-dest: a standard backup's unchanged files; an archive one's are its own,
new then)."""

from __future__ import annotations

import os
import stat

from rabtui.config.model import directory_path_problem
from rabtui.media import below
from rabtui.media.medium_layout import (ARCHIVE, UNDOING, archive_root, backup_data_path, inside_any, linking_dir,
                                        read_backup_json, source_root)
from rabtui.state import saved_kinds
from rabtui.state.store import COMPLETE_SQL


def union_lacks_tree(medium_path: str | os.PathLike, source_id: str, dir_path: str, backup_path,
                     before=None, own: bool = False) -> bool | None:
    """Whether the medium's union of `dir_path` is a directory that lacks a file the backup at
    `backup_path` holds of it (neither it nor a newer shape on the way is there): an archive backup
    links each file it saves into the union, so that backup saved the directory as a standard one,
    the union made after it. Also (the union there) where it holds a file the same as the backup
    at `before` (the complete one made before it) holds at that path: rsync linked it from there
    (--link-dest), as for a standard backup only. Also where no file the backup holds is the
    union's own at that path (linked there) and one the union holds as it does (same size and
    time) is another's, linked from another backup (more than one name): an archive backup links
    each file it saves there, and a later one saves no file the union holds so (--compare-dest),
    so the union was made after it (a medium copied without hard links tells neither: archive, the
    answer that keeps its files). `own`: also where no file the backup holds is the union's own,
    the union maybe made after it. None where what is there cannot be looked at (no answer)."""
    union = os.fsencode(archive_root(medium_path, source_id, dir_path))
    try:
        # a symlink on the way (a backup of a directory around it saved one there) is not followed:
        # what it leads to, off the medium, tells nothing of the backup
        if below.symlink_on_the_way(os.fsencode(medium_path),
                                    os.fsencode(f"{source_id}/{ARCHIVE}/{dir_path.lstrip('/')}")) is not None \
                or not stat.S_ISDIR(os.lstat(union).st_mode):
            return False
    except OSError:         # none there, or it cannot be looked at: no answer
        return False
    try:
        if not stat.S_ISDIR(os.lstat(backup_path).st_mode):
            return None
    except OSError:         # the backup's tree not at its place (set aside by a cleanup killed): no answer
        return None
    data = os.fsencode(backup_data_path(backup_path, dir_path))
    base = os.fsencode(backup_data_path(before, dir_path)) if before is not None else None
    stack, linked, anew = [b""], False, False
    while stack:
        rel = stack.pop()
        try:
            items = below.entries(data, rel)
        except FileNotFoundError:
            continue        # it saved nothing of the directory
        except OSError:     # a part of its tree that cannot be read
            return None
        for name, st in items:
            path = os.path.join(rel, name) if rel else name
            if stat.S_ISDIR(st.st_mode):
                stack.append(path)
                continue
            if base is not None and st.st_nlink > 1 and below.is_file(base, path, st):
                return True
            try:
                there = below.lstat(union, path)
            except FileNotFoundError:
                # a symlink on the way (a newer shape: the directory made a symlink since) was
                # followed to where the path is not
                if below.reach(union, path) == below.OTHER:
                    continue
                return True
            except NotADirectoryError:      # a file on the way: a newer shape
                continue
            except OSError:
                return None
            if (there.st_dev, there.st_ino) == (st.st_dev, st.st_ino):
                linked = True
            elif stat.S_ISREG(there.st_mode) and stat.S_ISREG(st.st_mode) and there.st_nlink > 1 \
                    and (there.st_size, there.st_mtime_ns) == (st.st_size, st.st_mtime_ns):
                anew = True
    return (own or anew) and not linked


def unions_looked_at(store, medium_id: str, medium_path: str | os.PathLike, source) -> None:
    """saved_kinds.look for the source (config.Source) on the medium (at hand: the caller checked
    it is the one): whether it holds the union of each of its directories, and of each directory
    such a backup's record names (the config may name another since: /data made /data/photos), for
    each backup there that recorded no kinds. A union lacking a file the backup holds was made after it (an older
    database kept no looks): standard. Not while a killed cleanup's undoing of a backup's union
    links is recorded (union_undo.py): the union lacks some files for that while only."""
    try:
        if any(n.startswith(UNDOING) for n in os.listdir(linking_dir(medium_path, source.id))):
            return
    except FileNotFoundError:
        pass
    except OSError:             # what cannot be read is no answer
        return
    found: dict[str, bool | None] = {}
    root = source_root(medium_path, source.id)
    # an answer holds where the medium stayed while it was looked at: unplugged meanwhile (an empty
    # directory where it was mounted), its unions and trees lacked everything
    pinned = _identity(root)
    if pinned is None:
        return
    complete = store.all(f"SELECT id, name FROM backups WHERE source=? AND medium=? AND status IN {COMPLETE_SQL}"
                         " ORDER BY id", (source.id, medium_id))
    done = {r["id"] for r in complete}
    archive_now = [d.path for d in source.directories if d.kind == "archive"]

    def union_there(d: str, backup, unsure: bool) -> bool | None:
        if d not in found:
            found[d] = _union_found(medium_path, source.id, d)
        if backup["id"] not in done:
            # kept data links nothing into a union: one there says nothing of it, nor does one the
            # config says archive lack; with none there of a directory the config says standard,
            # it is a standard one, as rebuild-state takes it (else it was kept for ever)
            if found[d] is not False or d in archive_now or inside_any(d, archive_now):
                return None
        if not found[d]:
            return found[d] if _identity(root) == pinned else None
        before = [r["name"] for r in complete if r["id"] < backup["id"]]
        lacks = union_lacks_tree(medium_path, source.id, d, root / backup["name"],
                                 root / before[-1] if before else None, own=unsure)
        return None if lacks is None or _identity(root) != pinned else not lacks
    saved_kinds.look(store, source.id, medium_id, [*(d.path for d in source.directories),
                                                   *_named(store, source.id, medium_id, root)], union_there)


def _named(store, source_id: str, medium_id: str, root) -> list[str]:
    """The directories the records (backup.json) of the backups of the source on the medium (its
    directory `root`) that recorded no kinds name, those a config would take."""
    out: dict[str, None] = {}
    for b in store.all(saved_kinds.UNRECORDED_SQL, (source_id, medium_id)):
        info = read_backup_json(root / b["name"]) or {}
        named = info.get("directories")
        for d in named if isinstance(named, list) else ():
            path = d.get("path") if isinstance(d, dict) else None
            if isinstance(path, str) and path and directory_path_problem(path) is None:
                out[path] = None
    return list(out)


def _identity(path) -> tuple[int, int] | None:
    try:
        st = os.lstat(path)
    except OSError:
        return None
    return (st.st_dev, st.st_ino)


def _union_found(medium_path, source_id: str, dir_path: str) -> bool | None:
    """Whether the medium holds a union of `dir_path` (a directory), looked at part by part below
    the medium (however long its path); None where that is no answer: a symlink on the way or in
    its place, a file in its place or on the way, what cannot be looked at."""
    rel = os.fsencode(f"{source_id}/{ARCHIVE}/{dir_path.lstrip('/')}")
    medium_b = os.fsencode(medium_path)
    try:
        if below.symlink_on_the_way(medium_b, rel + b"/") is not None:
            return None
        st = below.lstat(medium_b, rel)
    except FileNotFoundError:
        return False
    except OSError:
        return None
    return True if stat.S_ISDIR(st.st_mode) else None
