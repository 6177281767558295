"""The catalog recorded again from the data trees of a source's backups on a medium: a file whose
inode is the same as in the previous backup extends that version, anything else is a new version;
in an archive directory every file in a backup is a version first saved there."""

from __future__ import annotations

import itertools
import os
import stat

from rabtui.media import fstree
from rabtui.state.store import Store


# files walked and recorded at a time: what a backup holds is gone through, not listed whole
BATCH = 1000


def _walk_files(top: bytes):
    """(path relative to top, size, mtime, inode) of the regular files below top; the inode is
    the device and the inode number in one number."""
    for e, st in fstree.scan(top):
        if stat.S_ISREG(st.st_mode):
            yield os.path.relpath(e.path, top), st.st_size, int(st.st_mtime), st.st_dev << 64 | st.st_ino


def catalog_dir(store: Store, source: str, medium: str, dir_path: str, kind: str, backups) -> int:
    prefix = dir_path.strip("/").encode("utf-8", "surrogateescape")
    prev: dict[bytes, tuple] = {}      # path -> (inode, version id)   in the previous backup
    count = 0
    conn = store.conn
    for bid, bpath in backups:
        top = os.path.join(os.fsencode(bpath), b"data", prefix)
        if not os.path.isdir(top):
            prev = {}
            continue
        cur: dict[bytes, tuple] = {}
        walked = _walk_files(top)
        with store.transaction():
            while items := [((os.path.join(prefix, rel) if prefix else rel), size, mtime, ino)
                            for rel, size, mtime, ino in itertools.islice(walked, BATCH)]:
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
        prev = cur
    return count
