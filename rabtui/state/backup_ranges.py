"""The restorable backups of each source on each medium, in id order, as the catalog's readers
(find, others) look up which backups hold a version saved by one backup and extended up to another,
judging each by the kind it saved the directory as (saved_kinds.judged for those that recorded none)."""

from __future__ import annotations

import bisect
import os

from rabtui.state import saved_kinds
from rabtui.state.store import KEPT, RESTORABLE_SQL, Store


class BackupRanges:
    """Restorable backups per (source, medium), ids sorted, for range lookups.

    A version's range runs over complete backups; kept data (status `kept`) has versions of its
    own (first = last = its id), so a kept backup belongs to a range only as its first backup.
    """

    def __init__(self, store: Store, source: str | None):
        q = f"SELECT id, source, medium, name, status FROM backups WHERE status IN {RESTORABLE_SQL}"
        rows = store.all(q + (" AND source=?" if source else "") + " ORDER BY id", (source,) if source else ())
        self.ids: dict[tuple[str, str], list[int]] = {}
        self.names: dict[int, str] = {}
        self.kept: set[int] = set()
        for r in rows:
            self.ids.setdefault((r["source"], r["medium"]), []).append(r["id"])
            self.names[r["id"]] = r["name"]
            if r["status"] == KEPT:
                self.kept.add(r["id"])
        # the kind each backup saved each directory as (backup_dirs): the config's may have changed
        # since, and a backup that saved it as an archive one holds only the files new then
        self.ran: dict[tuple[int, str], str] = {
            (r["backup_id"], r["path"]): r["kind"] for r in store.all(
                "SELECT d.backup_id, d.path, d.kind FROM backup_dirs d JOIN backups b ON b.id=d.backup_id"
                f" WHERE b.status IN {RESTORABLE_SQL}" + (" AND b.source=?" if source else ""),
                (source,) if source else ())}
        # each backup's directories, to find the one holding a path whichever directory the catalog
        # first knew the path in (`paths.dir`: /data, since made /data/photos, or the reverse)
        self.dirs: dict[int, list[tuple[bytes, str]]] = {}
        for (backup_id, path), kind in self.ran.items():
            self.dirs.setdefault(backup_id, []).append((os.fsencode(path.strip("/")), path))
        # a backup that recorded no kinds: saved_kinds.judged's rule (the newest backup recording
        # each directory as an archive one: one made after it did)
        self.archived: dict[tuple[str, str], dict[str, int]] = {}
        for r in store.all("SELECT b.source, b.medium, d.path, MAX(b.id) AS newest FROM backup_dirs d JOIN backups b"
                           " ON b.id=d.backup_id WHERE d.kind='archive'" + (" AND b.source=?" if source else "")
                           + " GROUP BY b.source, b.medium, d.path", (source,) if source else ()):
            self.archived.setdefault((r["source"], r["medium"]), {})[r["path"]] = r["newest"]
        self.looked: dict[tuple[int, str], str] = {
            (r["backup_id"], r["path"]): r["kind"] for r in store.all(
                "SELECT l.backup_id, l.path, l.kind FROM unrecorded_looks l JOIN backups b ON b.id=l.backup_id"
                f" WHERE b.status IN {RESTORABLE_SQL}" + (" AND b.source=?" if source else ""),
                (source,) if source else ())}

    def holding(self, source: str, medium: str, dir_path: str, first: int, last: int,
                archive_now: bool, path: bytes | None = None) -> tuple[list[str], bool]:
        """The backups holding a version saved by `first` and extended up to `last` (the backups
        after `first` that saved the directory as a standard one: one that saved it as an archive
        one holds no unchanged file), and whether the union holds it: `first` saved the directory
        as an archive one (linked it there; the config may say standard since, the union stays
        while such a backup does) and is complete. A backup whose kind of the directory is not
        recorded is taken as saved_kinds.judged takes it (`archive_now`: the config says archive)."""
        def ran_archive(backup_id: int) -> bool:
            kind = self.ran.get((backup_id, (path is not None and self._holding_dir(backup_id, path)) or dir_path))
            if kind is None:
                return saved_kinds.judged(self.looked.get((backup_id, dir_path)), archive_now,
                                          self.archived.get((source, medium), {}).get(dir_path, 0) > backup_id)
            return kind == "archive"
        names = [n for i, n in zip(*self.between(source, medium, first, last))
                 if i == first or not ran_archive(i)]
        return names, ran_archive(first) and first not in self.kept

    def _holding_dir(self, backup_id: int, path: bytes) -> str | None:
        """The directory backup `backup_id` recorded that holds `path` (relative to /), if any."""
        return next((d for top, d in self.dirs.get(backup_id, ())
                     if not top or path == top or path.startswith(top + b"/")), None)

    def between(self, source: str, medium: str, first: int, last: int) -> tuple[list[int], list[str]]:
        ids = self.ids.get((source, medium), [])
        lo = bisect.bisect_left(ids, first)
        hi = bisect.bisect_right(ids, last)
        ids = [i for i in ids[lo:hi] if i == first or i not in self.kept]
        return ids, [self.names[i] for i in ids]
