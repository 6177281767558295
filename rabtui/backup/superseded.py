"""Failed and abandoned runs that a later complete backup supersedes: that backup, of the same
source on the same medium, holds each entry of the failed run's partial data (by path below data/,
kind, size and modification time to the second), in its own tree or in the source's `.archive/`
view. Deleting such a run's data loses no copy of a file (retention.py lets it go at once rather than
a day later: on a full medium it would keep the next night's backups from fitting)."""

from __future__ import annotations

import os
import stat

from rabtui.media import below, medium_layout
from rabtui.state.store import COMPLETE_SQL, OWN_DIR_SQL, Store


def sources_with(store: Store, before: float) -> list[str]:
    """The sources with a failed or abandoned run that made its directory and began before `before`,
    or that a complete backup made after it on its medium may supersede (their trees not looked at:
    `by` does that)."""
    return [r["source"] for r in store.all(
        f"SELECT DISTINCT f.source FROM backups f WHERE f.status IN ('failed', 'abandoned') AND f.{OWN_DIR_SQL}"
        " AND (f.started < ? OR EXISTS (SELECT 1 FROM backups c WHERE c.source=f.source AND c.medium=f.medium"
        f" AND c.id>f.id AND c.status IN {COMPLETE_SQL})) ORDER BY f.source", (before,))]


def by(r, complete: list, medium_path: str) -> str | None:
    """The name of the complete backup (of `complete`, the source's on the medium) that supersedes
    the failed or abandoned run `r`, or None: the one made last, when made after `r`."""
    later = max(complete, key=lambda c: c["id"], default=None)
    if later is None or later["id"] < r["id"] or r["dir_made"] == 0 or not r["path"] or not later["path"]:
        return None
    union = os.path.join(os.fsencode(medium_layout.source_root(medium_path, r["source"])), medium_layout.ARCHIVE.encode())
    return later["name"] if held(os.fsencode(r["path"]), os.fsencode(later["path"]), union) else None


def held(failed: bytes, later: bytes, union: bytes) -> bool:
    """Whether each entry below `failed`/data but directories is at its path below `later`/data or
    `union` (the view's paths are those below data/), of its kind, size and second; False where a
    tree cannot be read whole (past PATH_MAX, unreadable, gone). The later trees are read part by
    part: an entry on the way there that is a symlink (the source made a directory one) holds nothing
    (what it leads to is not at the path, and may be off the medium)."""
    top = os.path.join(failed, b"data")
    try:
        if not stat.S_ISDIR(os.lstat(top).st_mode):
            return False
        stack = [b""]
        while stack:
            rel = stack.pop()
            fds = [_dir(root, rel) for root in (os.path.join(later, b"data"), union)]
            try:
                with os.scandir(os.path.join(top, rel) if rel else top) as entries:
                    for entry in entries:
                        st = entry.stat(follow_symlinks=False)
                        if stat.S_ISDIR(st.st_mode):
                            stack.append(os.path.join(rel, entry.name) if rel else entry.name)
                        elif not any(_same(st, fd, entry.name) for fd in fds if fd is not None):
                            return False
            finally:
                for fd in fds:
                    if fd is not None:
                        os.close(fd)
    except OSError:
        return False
    return True


def _dir(root: bytes, rel: bytes) -> int | None:
    """A descriptor of the directory `root/rel`, reached part by part; None where a part is missing,
    a symlink or no directory."""
    try:
        return below.open_dir(root, rel)
    except OSError:
        return None


def _same(st: os.stat_result, fd: int, name: bytes) -> bool:
    try:
        other = os.stat(name, dir_fd=fd, follow_symlinks=False)
    except OSError:
        return False
    return (stat.S_IFMT(other.st_mode) == stat.S_IFMT(st.st_mode) and other.st_size == st.st_size
            and int(other.st_mtime) == int(st.st_mtime))
