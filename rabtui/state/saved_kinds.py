"""The kind each backup saved each directory as (`backup_dirs`), as the catalog's readers judge a
backup by: the config's kind may have changed since (archive, standard, archive again), and only
what a backup saved as an archive directory was linked into the medium's union. A backup that
recorded no kinds (made before they were recorded) is taken, by every reader, to have saved as an
archive one each directory the config says is one now or any backup on its medium recorded so
(`unrecorded`): the medium may hold its union then, and taken so none of the files it linked there
is left out of what the backups after it show (rebuild-state's record.kind_taken takes it so where
the medium holds a union of the directory)."""

from __future__ import annotations

from typing import Iterable

from rabtui.state.store import Store


def recorded_archive(store: Store, source: str, medium: str) -> set[str]:
    """The directories a backup of `source` on `medium` recorded as archive ones (whatever its
    status: the union it linked into stays)."""
    return {r["path"] for r in store.all(
        "SELECT DISTINCT d.path FROM backup_dirs d JOIN backups b ON b.id=d.backup_id"
        " WHERE b.source=? AND b.medium=? AND d.kind='archive'", (source, medium))}


def unrecorded(store: Store, source: str, medium: str, archive_now: Iterable[str]) -> tuple[str, ...]:
    """The directories a backup of `source` on `medium` that recorded no kinds saved as archive
    ones: `archive_now` (the config's archive directories) and those recorded_archive names."""
    return tuple(sorted(set(archive_now) | recorded_archive(store, source, medium)))


def archive_in(store: Store, backup, archive_now: Iterable[str]) -> tuple[str, ...]:
    """The directories `backup` saved as archive ones: those it recorded so, or (it recorded no
    kinds) `unrecorded`'s."""
    rows = store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?", (backup["id"],))
    if not rows:
        row = store.one("SELECT source, medium FROM backups WHERE id=?", (backup["id"],))
        return unrecorded(store, row["source"], row["medium"], archive_now) if row else tuple(archive_now)
    return tuple(r["path"] for r in rows if r["kind"] == "archive")


def savers(store: Store, backup, dir_path: str, archive_now: bool) -> str:
    """SQL list (ints only, for `IN (...)`) of the backups of `backup`'s source on its medium that
    saved `dir_path` as an archive one, linking their files into its union: those that recorded it
    so, and those that recorded no kinds where `archive_now` (the config says archive) or another
    backup there recorded it so (`unrecorded`)."""
    archive_now = archive_now or dir_path in recorded_archive(store, backup["source"], backup["medium"])
    rows = store.all(
        "SELECT b.id FROM backups b WHERE b.source=? AND b.medium=? AND"
        " (EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id AND d.path=? AND d.kind='archive')"
        " OR ? AND NOT EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id))",
        (backup["source"], backup["medium"], dir_path, bool(archive_now)))
    return ",".join(str(int(r["id"])) for r in rows)


def saved_sql(store: Store, backup, dirs: Iterable[str], archive_now: Iterable[str], first: str,
              dir_col: str) -> tuple[str, tuple]:
    """SQL (and its parameters) true where the backup `first` (a column) saved the directory
    `dir_col` (one of `dirs`) as an archive one on `backup`'s medium (savers)."""
    archive_now, dirs = set(archive_now), tuple(dirs)
    if not dirs:
        return "0", ()
    cases = " ".join(f"WHEN ? THEN {first} IN ({savers(store, backup, d, d in archive_now)})" for d in dirs)
    return f"(CASE {dir_col} {cases} ELSE 0 END)", dirs
