"""The paths a backup could not read on its source (table `unreadable`, written by
backup/unreadable.py): a path missing from that backup that one of them names, or lies below, was
not deleted on the source, and `diff` and `find` say so instead of calling it removed."""

from __future__ import annotations

from rabtui.state.store import Store


class Unread:
    """The paths (relative to /) one backup could not read, and how many it could not read in all
    (named or not: backup_dirs.unreadable)."""

    def __init__(self, store: Store, backup_id: int):
        self.paths = {bytes(r["path"]) for r in store.all("SELECT path FROM unreadable WHERE backup_id=?",
                                                        (backup_id,))}
        row = store.one("SELECT SUM(unreadable) AS n FROM backup_dirs WHERE backup_id=?", (backup_id,))
        self.count = max(row["n"] or 0, len(self.paths)) if row is not None else len(self.paths)

    def covering(self, path: bytes) -> bytes | None:
        """The path named that is `path` or a directory above it (one that could not be listed), or None."""
        if not self.paths:
            return None
        while True:
            if path in self.paths:
                return path
            cut = path.rfind(b"/")
            if cut < 0:
                return b"" if b"" in self.paths else None    # a source's directory "/" not listed
            path = path[:cut]

    @property
    def unnamed(self) -> int:
        """How many it could not read that are not named (past the bounded list)."""
        return self.count - len(self.paths)


def later_unread(store: Store, path_ids: list[int]) -> dict[tuple[int, str], list[tuple[int, str]]]:
    """(path id, medium) -> (backup id, name) of each backup of the path's source on that medium
    that could not read it (its recorded path is it or above it), oldest first."""
    out: dict[tuple[int, str], list[tuple[int, str]]] = {}
    for i in range(0, len(path_ids), 500):
        chunk = path_ids[i:i + 500]
        marks = ",".join("?" * len(chunk))
        for r in store.all(
            "SELECT p.id AS path_id, b.medium, b.id, b.name FROM paths p JOIN backups b ON b.source=p.source"
            " AND b.status<>'deleted' JOIN unreadable u ON u.backup_id=b.id"
            " AND (u.path=X'' OR substr(CAST(p.path AS BLOB), 1, length(u.path))=CAST(u.path AS BLOB)"
            "      AND substr(CAST(p.path AS BLOB), length(u.path) + 1, 1) IN (X'', X'2F'))"
            f" WHERE p.id IN ({marks}) ORDER BY b.id", chunk):
            out.setdefault((r["path_id"], r["medium"]), []).append((r["id"], r["name"]))
    return out
