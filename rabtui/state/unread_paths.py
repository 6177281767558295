"""The paths a backup could not read on its source (table `unreadable`, written by
backup/unreadable.py): a path missing from that backup that one of them names, or lies below, was
not deleted on the source, and `diff` and `find` say so instead of calling it removed."""

from __future__ import annotations

from rabtui.state.store import RESTORABLE_SQL, Store, in_chunks


class Unread:
    """The paths (relative to /) one backup could not read, and how many it could not read in all
    (named or not: backup_dirs.unreadable)."""

    def __init__(self, store: Store, backup_id: int):
        rows = store.all("SELECT path, file, unmade FROM unreadable WHERE backup_id=?", (backup_id,))
        self.paths = {bytes(r["path"]) for r in rows}
        # files read on the source that rsync could not create on the medium (backup/not_created.py)
        self.unmade = {bytes(r["path"]) for r in rows if r["unmade"]}
        self.files = {bytes(r["path"]) for r in rows if r["file"] == 1}     # (themselves only)
        self.dirs = {bytes(r["path"]) for r in rows if r["file"] == 0}      # (what is below them only)
        row = store.one("SELECT SUM(unreadable) AS n FROM backup_dirs WHERE backup_id=?", (backup_id,))
        self.count = max(row["n"] or 0, len(self.paths)) if row is not None else len(self.paths)

    def covering(self, path: bytes) -> bytes | None:
        """The path named that is `path` or a directory above it (one that could not be listed; not a
        file rsync could not open: what was below that name before was deleted), or None. A
        directory rsync could not list does not name `path` itself: the file of its name was deleted."""
        if not self.paths:
            return None
        for above in _above(path):     # (b"" last: a source's directory "/" not listed)
            if above in self.paths and above not in (self.dirs if above == path else self.files):
                return above
        return None

    def listing(self, path: bytes) -> bytes | None:
        """The directory named that is `path` or above it and was not listed (what is below it not
        read: not a file rsync could not open), or None."""
        for above in _above(path):
            if above in self.paths and above not in self.files:
                return above
        return None

    @property
    def unnamed(self) -> int:
        """How many it could not read that are not named (past the bounded list)."""
        return self.count - len(self.paths)


def later_unread(store: Store, path_ids: list[int]) -> dict[tuple[int, str], list[tuple[int, str]]]:
    """(path id, medium) -> (backup id, name) of each restorable backup of the path's source on
    that medium that could not read it (its recorded path is it or above it), oldest first. Looked up by the
    path and each directory above it in the index of `unreadable` by path: the work grows with the
    paths found and the rows of `unreadable` that name them or their directories, not with all the
    rows of the source's backups."""
    out: dict[tuple[int, str], list[tuple[int, str]]] = {}
    found: dict[str, list[tuple[int, bytes]]] = {}
    for chunk, marks in in_chunks(path_ids):
        for r in store.all(f"SELECT id, source, path FROM paths WHERE id IN ({marks})", chunk):
            found.setdefault(r["source"], []).append((r["id"], bytes(r["path"])))
    for source, paths in found.items():
        if store.one("SELECT 1 FROM backups b JOIN unreadable u ON u.backup_id=b.id WHERE b.source=? LIMIT 1",
                     (source,)) is None:
            continue     # (most sources: nothing it could not read)
        named = _named(store, source, {a for _, path in paths for a in _above(path)})
        if not named:
            continue
        for path_id, path in paths:
            backups = {b[:3] for a in _above(path) for b in named.get(a, ()) if b[3] != (0 if a == path else 1)}
            for backup_id, medium, name in sorted(backups):
                out.setdefault((path_id, medium), []).append((backup_id, name))
    return out


def _above(path: bytes) -> list[bytes]:
    """The path, each directory above it, and b"" (the source's "/")."""
    out = [path]
    while (cut := path.rfind(b"/")) >= 0:
        path = path[:cut]
        out.append(path)
    if path:
        out.append(b"")
    return out


def _named(store: Store, source: str, paths: set[bytes]) -> dict[bytes, list[tuple[int, str, str, int | None]]]:
    """Of `paths`, those that backups of `source` whose data stays (complete or kept: not a failed,
    abandoned or running run's, whose directory recovery may have removed) could not read: path -> (backup id,
    medium, name, what it stands for: `unreadable.file`) of each. Each path looked up in the index of `unreadable` by path (the CROSS JOIN
    keeps SQLite from walking the source's backups instead, each probed for every path)."""
    named: dict[bytes, list[tuple[int, str, str, int | None]]] = {}
    for chunk, marks in in_chunks(list(paths)):
        for r in store.all(
                "SELECT u.path, u.file, b.id, b.medium, b.name FROM unreadable u CROSS JOIN backups b"
                f" ON b.id=u.backup_id WHERE u.path IN ({marks})"
                f" AND b.source=? AND b.status IN {RESTORABLE_SQL}", (*chunk, source)):
            named.setdefault(bytes(r["path"]), []).append((r["id"], r["medium"], r["name"], r["file"]))
    return named
