"""The kind each backup saved each directory as (`backup_dirs`), as the catalog's readers judge a
backup by: the config's kind may have changed since (archive, standard, archive again), and only
what a backup saved as an archive directory was linked into the medium's union. A backup that
recorded no kinds (made before they were recorded) is taken to have saved each directory as the
config says now, as `find` takes it (catalog._Backups.holding)."""

from __future__ import annotations

from typing import Iterable

from rabtui.state.store import Store


def archive_in(store: Store, backup, archive_now: Iterable[str]) -> tuple[str, ...]:
    """The directories `backup` saved as archive ones: those it recorded so, or (it recorded no
    kinds) `archive_now`, the config's archive directories."""
    rows = store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?", (backup["id"],))
    if not rows:
        return tuple(archive_now)
    return tuple(r["path"] for r in rows if r["kind"] == "archive")


def savers(store: Store, backup, dir_path: str, archive_now: bool) -> str:
    """SQL list (ints only, for `IN (...)`) of the backups of `backup`'s source on its medium that
    saved `dir_path` as an archive one, linking their files into its union: those that recorded it
    so, and with `archive_now` (the config says archive) those that recorded no kinds."""
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
