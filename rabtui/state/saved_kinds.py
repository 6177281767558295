"""The kind each backup saved each directory as (`backup_dirs`), as the catalog's readers judge a
backup by: the config's kind may have changed since (archive, standard, archive again), and only
what a backup saved as an archive directory was linked into the medium's union.

A backup that recorded no kinds (made before they were recorded) is taken, by every reader, to
have saved a directory as an archive one where its medium holds the directory's union (the
`.archive/` tree an archive backup links its files into), as retention's guard and rebuild-state
(record.kind_taken) look: the config's kind now says nothing of it (a standard backup's directory
made archive since, with no archive backup there yet, has no union to read). That look is
recorded in the database (`unrecorded_kinds`, `look`) when the medium is at hand, once: every
reader then agrees, the catalog's alone (find, with the medium away) and SQL included, and an
archive backup making the union later leaves those backups standard. Until the medium was looked
at, the union is taken to be there where the config says archive or a backup on the medium
recorded the directory so (`unrecorded`)."""

from __future__ import annotations

from typing import Callable, Iterable

from rabtui.state.store import RESTORABLE_SQL, Store

# the backup `b` (a table alias) recorded no kinds
_UNRECORDED = "NOT EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id={b}.id)"

# the names of the restorable backups of a source (?) on a medium (?) that recorded no kinds
UNRECORDED_NAMES_SQL = (f"SELECT b.name FROM backups b WHERE b.source=? AND b.medium=? AND b.status IN {RESTORABLE_SQL}"
                        f" AND {_UNRECORDED.format(b='b')}")


def look(store: Store, source: str, medium: str, dirs: Iterable[str],
         union_there: Callable[[str], bool | None]) -> None:
    """Record, for each of `dirs` (and those a backup of `source` recorded) not looked at yet on
    `medium` (at hand: the caller checked), the kind its backups that recorded no kinds saved it
    as: archive where `union_there(dir)` (union_look.unions_looked_at), nothing where it is
    None (no answer: a symlink or a file planted there, what cannot be looked at). Only while such a
    backup is there (the looks dropped once none is: drop_looks): a backup made since records its
    kinds, and the first archive one makes the union after the look."""
    if store.one(UNRECORDED_NAMES_SQL, (source, medium)) is None:
        if store.one("SELECT 1 FROM unrecorded_kinds WHERE source=? AND medium=?", (source, medium)):
            with store.transaction() as conn:
                drop_looks(conn, {(source, medium)})
        return
    known = {r["path"] for r in store.all("SELECT path FROM unrecorded_kinds WHERE source=? AND medium=?",
                                          (source, medium))}
    recorded = [r["path"] for r in store.all("SELECT DISTINCT d.path FROM backup_dirs d JOIN backups b"
                                             " ON b.id=d.backup_id WHERE b.source=?", (source,))]
    found = {d: union_there(d) for d in dict.fromkeys([*dirs, *recorded]) if d not in known}
    new = [(source, medium, d, "archive" if there else "standard") for d, there in found.items() if there is not None]
    if new:
        with store.transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO unrecorded_kinds(source, medium, path, kind) VALUES (?, ?, ?, ?)",
                             new)


def drop_looks(conn, pairs) -> None:
    """The looks (`look`) for each (source, medium) of `pairs` dropped where no backup they were
    taken for is left there: a backup that records no kinds there later (an older version installed
    again) is looked at anew, its union maybe made since."""
    for source, medium in pairs:
        if conn.execute(UNRECORDED_NAMES_SQL, (source, medium)).fetchone() is None:
            conn.execute("DELETE FROM unrecorded_kinds WHERE source=? AND medium=?", (source, medium))


def recorded_archive(store: Store, source: str, medium: str) -> set[str]:
    """The directories a backup of `source` on `medium` recorded as archive ones (whatever its
    status: the union it linked into stays)."""
    return {r["path"] for r in store.all(
        "SELECT DISTINCT d.path FROM backup_dirs d JOIN backups b ON b.id=d.backup_id"
        " WHERE b.source=? AND b.medium=? AND d.kind='archive'", (source, medium))}


def looks(store: Store, source: str, medium: str) -> dict[str, str]:
    """directory -> the kind the look (`look`) at `medium` took `source`'s backups there that
    recorded no kinds to have saved it as."""
    return {r["path"]: r["kind"] for r in store.all(
        "SELECT path, kind FROM unrecorded_kinds WHERE source=? AND medium=?", (source, medium))}


def unrecorded(store: Store, source: str, medium: str, archive_now: Iterable[str]) -> tuple[str, ...]:
    """The directories a backup of `source` on `medium` that recorded no kinds saved as archive
    ones: those whose union the medium held when looked at (`look`), and of those not looked at,
    `archive_now` (the config's archive directories) and those recorded_archive names."""
    looked = looks(store, source, medium)
    guessed = (set(archive_now) | recorded_archive(store, source, medium)) - set(looked)
    return tuple(sorted({d for d, kind in looked.items() if kind == "archive"} | guessed))


def archive_sql(b: str, dir_sql: str, archive_now: str) -> str:
    """SQL true where the backup `b` (a table alias), which recorded no kinds, saved the directory
    `dir_sql` as an archive one, by `unrecorded`'s rule; `archive_now`: SQL true where the config
    says the directory is one."""
    row = f"FROM unrecorded_kinds u WHERE u.source={b}.source AND u.medium={b}.medium AND u.path={dir_sql}"
    return (f"(EXISTS (SELECT 1 {row} AND u.kind='archive') OR NOT EXISTS (SELECT 1 {row})"
            f" AND ({archive_now} OR EXISTS (SELECT 1 FROM backup_dirs e JOIN backups o ON o.id=e.backup_id"
            f" WHERE o.source={b}.source AND o.medium={b}.medium AND e.path={dir_sql} AND e.kind='archive')))")


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
    so, and those that recorded no kinds where `unrecorded` takes them so (`archive_now`: the
    config says archive)."""
    taken = dir_path in unrecorded(store, backup["source"], backup["medium"], (dir_path,) if archive_now else ())
    rows = store.all(
        "SELECT b.id FROM backups b WHERE b.source=? AND b.medium=? AND"
        " (EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id AND d.path=? AND d.kind='archive')"
        f" OR ? AND {_UNRECORDED.format(b='b')})",
        (backup["source"], backup["medium"], dir_path, taken))
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
