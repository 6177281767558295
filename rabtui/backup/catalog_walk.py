"""The catalog recorded again from the data trees of a source's backups on a medium (rebuild-state;
the recovery of a run killed after its transfer ended whole, killed_kept.py), each backup's
directories as its record names them (not the config's: it may name others since): a file whose
inode is the same as in the previous backup extends that version, anything else is a new version;
in a directory the backup saved as an archive one every file is a version first saved there."""

from __future__ import annotations

import itertools
import os
import stat

from rabtui.media import fstree, medium_layout, points_to
from rabtui.mtimes import seconds
from rabtui.state.store import Store


# files walked and recorded at a time: what a backup holds is gone through, not listed whole
BATCH = 1000


def _kind(mode: int) -> int | None:
    """rsync's letter (its code point) for an entry other than a regular file or a directory, as
    the stream gives it to the catalog's `others`; None for those two."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    return _L if stat.S_ISLNK(mode) else _D if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else _S


_L, _D, _S = ord("L"), ord("D"), ord("S")


def _walk_files(top: bytes):
    """(path relative to top, size, mtime, inode, kind) of the regular files (kind None) and the
    symlinks and special files (kind: `_kind`) below top; the inode is the device and the inode
    number in one number."""
    for e, st in fstree.scan(top):
        kind = None if stat.S_ISREG(st.st_mode) else _kind(st.st_mode)
        if kind is not None or stat.S_ISREG(st.st_mode):
            yield os.path.relpath(e.path, top), st.st_size, seconds(st), st.st_dev << 64 | st.st_ino, kind


def _record_others(conn, source: str, medium: str, dir_path: str, dir_kind: str, bid: int, others: list,
                   prev: dict, cur: dict) -> None:
    """The symlinks and special files of a backup into `others`, as a backup records them: one that
    is the previous backup's (the same inode: --link-dest linked it) extends its entry, any other is
    new (each of an archive directory's backups holds only what it saved), with what a symlink
    points to and a device node's numbers as the medium holds them (points_to.held)."""
    for p, _size, mtime, ino, kind, (target, rdev) in others:
        old = prev.get((kind, p))
        if dir_kind != "archive" and old is not None and old[0] == ino:
            conn.execute("UPDATE others SET last_backup=? WHERE id=?", (bid, old[1]))
            cur[(kind, p)] = old
        else:
            c = conn.execute("INSERT INTO others(source, dir, path, kind, medium, mtime, first_backup, last_backup,"
                             " target, rdev) VALUES (?,?,?,?,?,?,?,?,?,?)",
                             (source, dir_path, p, kind, medium, mtime, bid, bid, target, rdev))
            cur[(kind, p)] = (ino, c.lastrowid)


def outermost(dirs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """(path, kind) of `dirs` none of which lies inside another of them (a record edited by hand
    may name both /data and /data/photos): each path of the backup is walked once, in the kind of
    the directory around it."""
    def inside(a: str, b: str) -> bool:
        return (a.rstrip("/") + "/").startswith(b.rstrip("/") + "/")

    out: list[tuple[str, str]] = []
    for path, kind in sorted(dirs, key=lambda d: len(d[0].rstrip("/"))):
        if not any(inside(path, o) for o, _ in out):
            out.append((path, kind))
    return out


def catalog_backups(store: Store, source: str, medium: str, backups, planted: list[str] | None = None) -> int:
    """The versions recorded of `backups` ((id, path, [(directory, kind)]), in the order they were
    made: each with the directories it saved, as its record names them, and the kind it saved each
    as); how many. A file is looked for in the previous backup whichever directory that one saved
    it under (the config may have named /data, then /data/photos), as a backup's step 7 extends the
    version its --link-dest base holds of the path; a path is recorded in the directory it was
    first seen in. A backup whose copy of a directory is reached through a symlink (rabtui never
    makes one on the way: one planted there leads off the medium) holds none of it: said in `planted`."""
    # path -> (inode, version id) in the previous backup; (kind, path) -> (inode, id in `others`)
    prev: dict = {}
    count = 0
    for bid, bpath, dirs in backups:
        cur: dict = {}
        for dir_path, kind in outermost(dirs):
            count += _catalog_dir(store, source, medium, bid, bpath, dir_path, kind, prev, cur, planted)
        prev = cur
    return count


def _catalog_dir(store: Store, source: str, medium: str, bid: int, bpath, dir_path: str, kind: str,
                 prev: dict, cur: dict, planted: list[str] | None) -> int:
    """The versions of the directory `dir_path` that the backup `bid` (at `bpath`) saved as `kind`;
    how many new ones. `prev`: what the previous backup held; `cur`: what this one holds, filled."""
    prefix = dir_path.strip("/").encode("utf-8", "surrogateescape")
    top = os.path.join(os.fsencode(bpath), b"data", prefix)
    link = medium_layout.symlink_to_copy(bpath, dir_path)
    if link is not None and planted is not None:
        planted.append(medium_layout.planted_symlink(link, f"nothing is recorded of {dir_path} in that backup"
                                                            " (remove it, after checking what it points to)"))
    if link is not None or not os.path.isdir(top):
        return 0
    count = 0
    conn = store.conn
    walked = _walk_files(top)
    with store.transaction():
        while batch := list(itertools.islice(walked, BATCH)):
            items = [((os.path.join(prefix, rel) if prefix else rel), size, mtime, ino)
                     for rel, size, mtime, ino, what in batch if what is None]
            others = [((os.path.join(prefix, rel) if prefix else rel), size, mtime, ino, what,
                       points_to.held(top, rel, what))
                      for rel, size, mtime, ino, what in batch if what is not None]
            _record_others(conn, source, medium, dir_path, kind, bid, others, prev, cur)
            conn.executemany("INSERT OR IGNORE INTO paths(source, dir, path) VALUES (?,?,?)",
                             [(source, dir_path, p) for p, _, _, _ in items])
            extend, new = [], []
            for p, size, mtime, ino in items:
                old = prev.get(p)
                if kind != "archive" and old is not None and old[0] == ino:
                    extend.append(old[1])
                    cur[p] = old
                else:
                    new.append((p, size, mtime, ino))
            conn.executemany("UPDATE versions SET last_backup=? WHERE id=?", [(bid, vid) for vid in extend])
            for p, size, mtime, ino in new:
                pid = conn.execute("SELECT id FROM paths WHERE source=? AND path=?", (source, p)).fetchone()[0]
                c = conn.execute("INSERT INTO versions(path_id, medium, size, mtime, first_backup, last_backup)"
                                 " VALUES (?,?,?,?,?,?)", (pid, medium, size, mtime, bid, bid))
                cur[p] = (ino, c.lastrowid)
                count += 1
    return count
