"""The kind each backup saved each directory as (`backup_dirs`), as the catalog's readers judge a
backup by: the config's kind may have changed since (archive, standard, archive again), and only
what a backup saved as an archive directory was linked into the medium's union.

A backup that recorded no kinds (made before they were recorded) is taken, by every reader, to
have saved a directory as an archive one where its medium holds the directory's union (the
`.archive/` tree an archive backup links its files into) lacking no file the backup holds, as
retention's guard and rebuild-state (record.kind_taken) look: the config's kind now says nothing
of it (a standard backup's directory made archive since, with no archive backup there yet, has no
union to read). That look is recorded in the database (`unrecorded_looks`, `look`) when the medium
is at hand, once per backup: every reader then agrees, the catalog's alone (find, with the medium
away) and SQL included, and an archive backup making the union later leaves that backup standard,
while one made after the look (an older version installed again) is looked at on its own. Until a
backup was looked at, the union is taken to be there where the config says archive or a later
backup on the medium recorded the directory so (`judged`: one made before says nothing of a backup
an older version installed again made after it)."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from rabtui.state import paths_below
from rabtui.state.schema import LOOK_UNSURE
from rabtui.state.store import RESTORABLE_SQL, Store

# where a path lies (paths_below.py), under the names its callers here used first
below_sql, under_sql = paths_below.below_sql, paths_below.under_sql

# the backup `b` (a table alias) recorded no kinds
_UNRECORDED = "NOT EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id={b}.id)"

# the restorable backups (id, name) of a source (?) on a medium (?) that recorded no kinds
UNRECORDED_SQL = (f"SELECT b.id, b.name FROM backups b WHERE b.source=? AND b.medium=? AND b.status IN {RESTORABLE_SQL}"
                  f" AND {_UNRECORDED.format(b='b')} ORDER BY b.id")


def look(store: Store, source: str, medium: str, dirs: Iterable[str],
         union_there: Callable[[str, Any, bool], bool | None]) -> None:
    """Record, for each backup of `source` on `medium` (at hand: the caller checked) that recorded
    no kinds and each of `dirs` (and those a backup of `source` recorded) it was not looked at for
    yet, the kind it saved it as: archive where `union_there(dir, backup, unsure)` (its row: id,
    name; `unsure`: its look was moved unsure, schema.LOOK_UNSURE)
    (union_look.unions_looked_at), nothing where it is None (no answer: a symlink or a file planted
    there, what cannot be looked at). Each backup once: the first archive backup making the union
    after a backup's look leaves it as it was. A look moved unsure (schema.LOOK_UNSURE) is taken anew."""
    backups = store.all(UNRECORDED_SQL, (source, medium))
    if not backups:
        return
    known = {(r["backup_id"], r["path"]): r["kind"] == LOOK_UNSURE for r in store.all(
        "SELECT l.backup_id, l.path, l.kind FROM unrecorded_looks l JOIN backups b ON b.id=l.backup_id"
        " WHERE b.source=? AND b.medium=?", (source, medium))}
    recorded = [r["path"] for r in store.all("SELECT DISTINCT d.path FROM backup_dirs d JOIN backups b"
                                             " ON b.id=d.backup_id WHERE b.source=?", (source,))]
    new = []
    for b in backups:
        for d in dict.fromkeys([*dirs, *recorded]):
            unsure = known.get((b["id"], d), True)
            if unsure:
                there = union_there(d, b, (b["id"], d) in known)
                if there is not None:
                    new.append((b["id"], d, "archive" if there else "standard"))
    if new:
        with store.transaction() as conn:
            conn.executemany("INSERT INTO unrecorded_looks(backup_id, path, kind) VALUES (?, ?, ?)"
                             " ON CONFLICT(backup_id, path) DO UPDATE SET kind=excluded.kind"
                             " WHERE unrecorded_looks.kind=?",
                             [(*n, LOOK_UNSURE) for n in new])


def drop_looks(conn, backup_ids: Iterable[int]) -> None:
    """The looks (`look`) taken for the backups of `backup_ids` (gone) dropped."""
    conn.executemany("DELETE FROM unrecorded_looks WHERE backup_id=?", [(int(i),) for i in backup_ids])


def judged(looked: str | None, archive_now: bool, recorded_archive: bool) -> bool:
    """Whether a backup that recorded no kinds saved a directory as an archive one: as its look
    found (`looked`: the kind, None where it was not looked at), else as the config says now
    (`archive_now`) or a backup made after it on its medium recorded it (`recorded_archive`: the
    union was there by then; one made before it says nothing of a backup an older version
    installed again made, the config maybe changed between). archive_sql is its SQL,
    BackupRanges reads it for many backups at once."""
    return looked == "archive" if looked is not None else archive_now or recorded_archive


def recorded_archive(store: Store, source: str, medium: str, after: int = 0) -> set[str]:
    """The directories a backup of `source` on `medium` made after the backup `after` (an id)
    recorded as archive ones (whatever its status: the union it linked into stays)."""
    return {r["path"] for r in store.all(
        "SELECT DISTINCT d.path FROM backup_dirs d JOIN backups b ON b.id=d.backup_id"
        " WHERE b.source=? AND b.medium=? AND b.id>? AND d.kind='archive'", (source, medium, after))}


def looks(store: Store, source: str, medium: str) -> dict[str, dict[str, str]]:
    """backup name -> directory -> the kind the look (`look`) took that backup of `source` on
    `medium` (one that recorded no kinds) to have saved it as."""
    out: dict[str, dict[str, str]] = {}
    for r in store.all("SELECT b.name, l.path, l.kind FROM unrecorded_looks l JOIN backups b ON b.id=l.backup_id"
                       " WHERE b.source=? AND b.medium=?", (source, medium)):
        out.setdefault(r["name"], {})[r["path"]] = r["kind"]
    return out


def unrecorded(store: Store, backup_id: int, archive_now: Iterable[str]) -> tuple[str, ...]:
    """The directories the backup `backup_id`, which recorded no kinds, saved as archive ones
    (`judged`; `archive_now`: the config's archive directories), of those the config, a backup of
    its source or its look names."""
    row = store.one("SELECT source, medium FROM backups WHERE id=?", (backup_id,))
    if row is None:
        return tuple(archive_now)
    looked = {r["path"]: r["kind"] for r in store.all("SELECT path, kind FROM unrecorded_looks WHERE backup_id=?",
                                                      (backup_id,))}
    archive_now, recorded = set(archive_now), recorded_archive(store, row["source"], row["medium"], backup_id)
    return tuple(sorted(d for d in archive_now | recorded | set(looked)
                        if judged(looked.get(d), d in archive_now, d in recorded)))


def archive_sql(b: str, dir_sql: str, archive_now: str) -> str:
    """SQL true where the backup `b` (a table alias), which recorded no kinds, saved the directory
    `dir_sql` as an archive one, by `judged`'s rule; `archive_now`: SQL true where the config
    says the directory is one."""
    row = f"FROM unrecorded_looks u WHERE u.backup_id={b}.id AND u.path={dir_sql}"
    return (f"(EXISTS (SELECT 1 {row} AND u.kind='archive') OR NOT EXISTS (SELECT 1 {row})"
            f" AND ({archive_now} OR EXISTS (SELECT 1 FROM backup_dirs e JOIN backups o ON o.id=e.backup_id"
            f" WHERE o.source={b}.source AND o.medium={b}.medium AND o.id>{b}.id AND e.path={dir_sql}"
            " AND e.kind='archive')))")


def archive_in(store: Store, backup, archive_now: Iterable[str]) -> tuple[str, ...]:
    """The directories `backup` saved as archive ones: those it recorded so, or (it recorded no
    kinds) `unrecorded`'s."""
    rows = store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?", (backup["id"],))
    if not rows:
        return unrecorded(store, backup["id"], archive_now)
    return tuple(r["path"] for r in rows if r["kind"] == "archive")


def savers(store: Store, backup, dir_path: str, archive_now: bool) -> str:
    """SQL list (ints only, for `IN (...)`) of the backups of `backup`'s source on its medium that
    saved `dir_path` as an archive one, linking their files into its union: those that recorded it
    so, and those that recorded no kinds where `judged` takes them so (`archive_now`: the config
    says archive)."""
    rows = store.all(
        "SELECT b.id FROM backups b WHERE b.source=? AND b.medium=? AND"
        " (EXISTS (SELECT 1 FROM backup_dirs d WHERE d.backup_id=b.id AND d.path=? AND d.kind='archive')"
        f" OR {_UNRECORDED.format(b='b')} AND {archive_sql('b', '?', '?')})",
        (backup["source"], backup["medium"], dir_path, dir_path, dir_path, int(archive_now), dir_path))
    return ",".join(str(int(r["id"])) for r in rows)


def _within(a: str, b: str) -> bool:
    a, b = a.rstrip("/") + "/", b.rstrip("/") + "/"
    return a.startswith(b) or b.startswith(a)


def _known(store: Store, backup, dirs: set[str]) -> set[str]:
    """`dirs` and the directories backups of `backup`'s source saved on its medium as archive ones."""
    return dirs | recorded_archive(store, backup["source"], backup["medium"]) | {
        r["path"] for r in store.all("SELECT DISTINCT l.path FROM unrecorded_looks l JOIN backups b"
                                     " ON b.id=l.backup_id WHERE b.source=? AND b.medium=? AND l.kind='archive'",
                                     (backup["source"], backup["medium"]))}


def savers_within(store: Store, backup, dir_path: str) -> str:
    """savers' list for the archive directory `dir_path` (so in the config) and every directory in
    it or around it that backups saved as an archive one: their unions are one folder on the medium
    (saved_sql), a backup of /data saved there what the union of /data/photos shows. Of a directory
    around it such a backup saved more: a caller reads its entries below `dir_path` only."""
    ids = {int(i) for o in _known(store, backup, {dir_path}) if _within(o, dir_path)
           for i in savers(store, backup, o, o == dir_path).split(",") if i}
    return ",".join(map(str, sorted(ids)))


def saved_sql(store: Store, backup, dirs: Iterable[str], archive_now: Iterable[str], first: str,
              path_col: str) -> tuple[str, tuple]:
    """SQL (and its parameters) true where the backup `first` (a column) saved the path `path_col`
    as part of an archive directory on `backup`'s medium, one of `dirs` or a directory in or around
    one of them (savers): the unions of directories in each other are the same folder on the
    medium, so a file the one saved is in the other's union too (a source's directories changed
    from /data to /data/photos, or back)."""
    archive_now, dirs = set(archive_now), tuple(dirs)
    if not dirs:
        return "0", ()
    known = _known(store, backup, set(dirs) | archive_now)
    terms, args = [], []
    for d in dirs:
        for o in sorted(o for o in known if _within(o, d)):
            within, within_args = below_sql(path_col, [max(d, o, key=len)])
            terms.append(f"({within} AND {first} IN ({savers(store, backup, o, o in archive_now)}))")
            args += within_args
    return f"({' OR '.join(terms)})", tuple(args)
