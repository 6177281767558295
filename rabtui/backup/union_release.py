"""The union (`<medium>/<source>/.archive/<dir>/`) of a directory that is no archive directory of
the config now (made standard, or taken out of the source), on a medium where no backup that stays
ran with it as an archive directory (each backup judged by the kinds it recorded): nothing shows
it or compares with it any more, and its links only hold the files of deleted backups, whose
space never came back. Retention plans its removal with the backups it outlives (released),
deletion removes it once they are gone (remove).

The union is never a copy the guard counts (retention_guard.py: a backup that stays, a verified
disc), so removing it takes no version's last copy. A backup that recorded no kinds (made before
they were recorded), or a run under way, keeps it; so does a union holding, or held in, that of a
directory still in use (sources may hold directories in each other)."""

from __future__ import annotations

import hashlib
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from rabtui.config import Config, Medium
from rabtui.media import below, medium_layout, opened_dirs
from rabtui.media.backup_place import disk_changed
from rabtui.state.store import RESTORABLE, Store

PREFIX = ".deleting-union-"     # a DELETING_PREFIX name: a removal killed midway is a leftover to finish


@dataclass
class UnionGoing:
    source: str
    medium: str
    dir: str
    path: str
    freed_bytes: int = 0


def _within(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


def needed_by(store: Store, source: str, medium_id: str, d: str, but: Iterable[int] = ()) -> str | None:
    """The name of a backup of the source on the medium (not deleted, none of `but`) that needs the
    union of `d`: one that ran with `d` as an archive directory, one that recorded no kinds, or a
    run under way. None when none does."""
    but = set(but)
    for r in store.all("SELECT b.id, b.name, b.status,"
                       " (SELECT bd.kind FROM backup_dirs bd WHERE bd.backup_id=b.id AND bd.path=?) AS kind,"
                       " EXISTS (SELECT 1 FROM backup_dirs bd WHERE bd.backup_id=b.id) AS recorded"
                       " FROM backups b WHERE b.source=? AND b.medium=? AND b.status<>'deleted' ORDER BY b.id",
                       (d, source, medium_id)):
        if r["id"] in but:
            continue
        if r["status"] == "running" or r["kind"] == "archive" or (r["status"] in RESTORABLE and not r["recorded"]):
            return r["name"]
    return None


def needed_around(store: Store, source: str, medium_id: str, d: str) -> str | None:
    """The name of a backup of the source on the medium that needs the union of `d` (needed_by) or
    one around it or inside it (a backup of /data made archive since the removal of /data/photos'
    was planned: that union is part of its own). None when none does."""
    needs = needed_by(store, source, medium_id, d)
    if needs:
        return needs
    for r in store.all("SELECT DISTINCT b.name, bd.path FROM backups b JOIN backup_dirs bd ON bd.backup_id=b.id"
                       " WHERE b.source=? AND b.medium=? AND b.status<>'deleted' AND bd.kind='archive'"
                       " ORDER BY b.id", (source, medium_id)):
        if _within(r["path"], d):
            return r["name"]
    return None


def released(cfg: Config, store: Store, source: str, medium: Medium, going: Iterable[int]) -> list[UnionGoing]:
    """The unions on the medium (here: the caller checked) that no backup needs once the backups
    `going` are gone, each there as a directory of its own (no symlink on the way)."""
    going = set(going)
    now = list(cfg.source(source).archive_paths)
    ever = [r["path"] for r in store.all(
        "SELECT DISTINCT bd.path FROM backup_dirs bd JOIN backups b ON b.id=bd.backup_id"
        " WHERE b.source=? AND b.medium=? AND bd.kind='archive' ORDER BY bd.path", (source, medium.id))]
    kept = now + [d for d in ever if d not in now and needed_by(store, source, medium.id, d, going)]
    free = [d for d in ever if d not in kept and not any(_within(d, k) for k in kept)]
    free = [d for d in free if not any(o != d and _within(d, o) and len(o) < len(d) for o in free)]
    return [UnionGoing(source, medium.id, d, str(medium_layout.archive_root(medium.path, source, d)))
            for d in free if _a_directory(medium, source, d)]


def _a_directory(medium: Medium, source: str, d: str) -> bool:
    try:
        fd = _parent(medium, source, d)
    except OSError:
        return False
    try:
        return stat.S_ISDIR(os.stat(_name(d), dir_fd=fd, follow_symlinks=False).st_mode)
    except OSError:
        return False
    finally:
        os.close(fd)


def _rel(d: str) -> list[bytes]:
    return [p for p in os.fsencode(d).split(b"/") if p]


def _name(d: str) -> bytes:
    return _rel(d)[-1]


def _parent(medium: Medium, source: str, d: str) -> int:
    """A descriptor of the directory holding the union of `d` (no symlink followed on the way)."""
    root = os.fsencode(medium_layout.source_root(medium.path, source))
    return below.open_dir(root, b"/".join([os.fsencode(medium_layout.ARCHIVE)] + _rel(d)[:-1]))


def target(medium: Medium, source: str, d: str) -> Path:
    """Where set_aside puts the union of `d`: a name of its own for each directory (a hash: the
    directory's path may be 4,000 bytes long)."""
    return medium_layout.source_root(medium.path, source) / (PREFIX + hashlib.sha256(os.fsencode(d)).hexdigest()[:32])


def set_aside(medium: Medium, source: str, d: str) -> Path | None:
    """The union of `d` renamed to its `target` (at once: killed after, the next cleanup finishes it
    as an interrupted deletion), the caller having removed what was left there; its parents left
    empty removed. Returns the new path, None when there is no such directory (or a symlink stands
    on the way, or in its place: nothing is moved through it)."""
    root = medium_layout.source_root(medium.path, source)
    to = target(medium, source, d)
    try:
        fd = _parent(medium, source, d)
    except OSError:
        return None
    try:
        if not stat.S_ISDIR(os.stat(_name(d), dir_fd=fd, follow_symlinks=False).st_mode):
            return None
        top = os.open(os.fsencode(root), os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
        try:
            os.rename(_name(d), to.name, src_dir_fd=fd, dst_dir_fd=top)
        finally:
            os.close(top)
    except FileNotFoundError:
        return None
    finally:
        os.close(fd)
    _remove_empty_parents(root, d)
    return to


def set_aside_unneeded(cfg: Config, store: Store, medium: Medium, found: tuple, u: UnionGoing, where: str, say,
                       kept: list, failed: list) -> Path | None:
    """The union `u` set aside (set_aside) when it is still no backup's to show, the medium still
    the disk `found` (deletion's): else None, said (into `kept`, or `failed` for a symlink planted)."""
    changed = disk_changed(medium, *found)
    if changed:
        say(f"kept {where}: the medium went away during the cleanup: {changed}", kept)
        return None
    if u.dir in cfg.source(u.source).archive_paths:
        say(f"kept {where}: it is an archive directory of the config", kept)
        return None
    needs = needed_around(store, u.source, medium.id, u.dir)
    if needs:
        say(f"kept {where}: the backup {needs} there needs it", kept)
        return None
    # a symlink a backup saved on the way (saved_in_union) leaves no union there: set_aside moves nothing through it
    planted = medium_layout.symlink_in_layout(medium.path, u.source, [u.dir], saved_ok=True)
    if planted:
        say(f"kept {where}: {planted}", failed)
        return None
    to = target(medium, u.source, u.dir)
    if os.path.lexists(to):     # what a removal killed midway left there (a symlink planted there: it only)
        if stat.S_ISDIR(os.lstat(to).st_mode):
            opened_dirs.remove_tree(to)
        else:
            os.unlink(to)
    return set_aside(medium, u.source, u.dir)


def _remove_empty_parents(root: Path, d: str) -> None:
    archive = os.fsencode(root / medium_layout.ARCHIVE)
    parts = _rel(d)
    for i in range(len(parts) - 1, 0, -1):
        try:
            fd = below.open_dir(archive, b"/".join(parts[:i - 1]))
        except OSError:
            return
        try:
            os.rmdir(parts[i - 1], dir_fd=fd)
        except OSError:
            return
        finally:
            os.close(fd)
