"""What earlier runs left: the link-dest base, the expected size, and the undoing of a run that
goes (its archive links, its catalog rows); recovery.py finds the runs that were killed."""

from __future__ import annotations

import functools
import json
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from rabtui.state import changes
from rabtui.media import medium_layout
from rabtui.backup import union_undo
from rabtui.backup.archive import unlink_from_union
from rabtui.backup.made_order import an_id, made_before
from rabtui.config import Medium, Source
from rabtui.errors import Cancelled, LockBusy, WorkFailed
from rabtui.events import WARNING, Emit, Event, no_emit
from rabtui.state import locks, saved_kinds
from rabtui.state.store import COMPLETE, OWN_DIR_SQL, RESTORABLE, Store



def free_name(store: Store, medium: Medium, source_id: str, when: datetime) -> str:
    """The name of a new backup of the source on the medium, from its start time: one the
    database holds for none of its backups there."""
    base = medium_layout.backup_name(when)
    taken = {r["name"] for r in store.all("SELECT name FROM backups WHERE medium=? AND source=? AND name LIKE ?",
                                          (medium.id, source_id, base + "%"))}
    for n in range(1, 1000):
        name = base if n == 1 else f"{base}-{n}"
        if name not in taken:
            return name
    return f"{base}-{int(time.time())}"


def left_undone(source: Source, not_undone: list[str]) -> str | None:
    """Why a backup of `source` does not start over killed runs on its medium that could not be
    undone (`not_undone`, as recovery.recover_abandoned and finish_abandoned say them), or None. An archive
    directory is backed up against its union on that medium, which may still show the files of
    such a run: the backup would save none of them, and once that run is undone, a file the source
    has dropped meanwhile would be on the medium nowhere. (The other sources of a run go on, and so
    does a backup onto another medium, whose union that run never touched.)"""
    if not not_undone or not any(d.kind == "archive" for d in source.directories):
        return None
    return (f"{'; '.join(not_undone)}; the archive union may still show that run's files, which this backup would not"
            " save again (lost once that run is undone, if the source has dropped them): nothing backed up; back up"
            f" {source.id} again once that is over (it undoes that run first)")


def find_base(store: Store, medium: Medium, source_id: str,
              listed: list | None = None) -> tuple[int | None, Path, str] | None:
    """The newest complete backup of a source on a medium (the --link-dest base): (id, path, name).

    Complete means both: its backup.json says so (the medium is the truth) and the database does
    not know it as anything else (failed, abandoned, deleted). A backup the database does not
    know at all (before `rebuild-state`) still counts, with id None; not one whose record names
    another source (copied into this source's folder by hand: rsync would link that source's files
    of the same size and time into this one's backup).

    Newest is by name (its start time), unless the database knows a complete one made after the
    newest by name (a higher id): that one ran after a clock that was ahead had dated the other,
    and it holds the newer state. Linked from the one dated ahead, a file it lacked that came back
    unchanged would stretch the catalog's version over it.
    """
    rows = {r["name"]: r for r in store.all("SELECT id, name, status FROM backups WHERE medium=? AND source=?"
                                            f" AND {OWN_DIR_SQL}", (medium.id, source_id))}
    complete = []
    if listed is None:
        listed = medium_layout.list_backups(medium.path, source_id)
    for name, path, info in reversed(listed):
        row = rows.get(name)
        if info and info.get("status") in COMPLETE and (row is None or row["status"] in COMPLETE) \
                and info.get("source") in (None, source_id):
            complete.append((row["id"] if row else None, path, name))
    if not complete:
        return None
    known = [c for c in complete if c[0] is not None]
    return max(known, key=lambda c: c[0]) if complete[0][0] is not None else complete[0]


def highest_id(listed: list) -> int:
    """The highest id the backups `listed` (list_backups) record in their backup.json, as theirs or
    as one rebuild-state renumbered them from (former_ids); 0 when none."""
    ids = [0]
    for _name, _path, info in listed:
        if info:
            former = info.get("former_ids")
            ids += [i for i in [info.get("backup_id"), *(former if isinstance(former, list) else [])] if an_id(i)]
    return max(ids)


# "the source's newest complete backup" below is the one made last (the highest id), whatever its
# date: one dated ahead by a clock that was wrong would stay the newest for years (store.as_made)


def expected_bytes(store: Store, source_id: str, dirs: dict[str, list[str]], *, with_base: bool) -> int | None:
    """What a backup of the directories `dirs` (the config's now: path -> its excludes, the source's
    then its own) will probably write: the last new bytes when it has a base, else a whole copy. A
    directory the config has dropped since counts no more; one it added, or whose excludes it has
    changed since (a large one excluded after a refusal), nothing: not known yet."""
    took = _dir_bytes(store, source_id, with_base=with_base)
    other = {r["path"] for r in store.all(
        f"SELECT path, excludes FROM backup_dirs WHERE backup_id=({_NEWEST_COMPLETE} ORDER BY id DESC LIMIT 1)",
        (source_id,)) if r["excludes"] is not None and _patterns(r["excludes"]) != list(dirs.get(r["path"], ()))}
    kept = [took[path] for path in dirs if path in took and path not in other]
    if took and all(n is not None for n in kept):
        return sum(kept) if kept else None
    column = "new_bytes" if with_base else "total_bytes"
    row = store.one(
        f"SELECT {column} AS n FROM backups WHERE source=? AND status IN ('completed','warnings')"
        " ORDER BY id DESC LIMIT 1", (source_id,))
    return row["n"] if row and row["n"] is not None else None


def _patterns(recorded: str) -> list | None:
    try:
        return json.loads(recorded)
    except ValueError:
        return None


def not_fitting(store: Store, source_id: str, dir_paths: list[str], free: int, *, with_base: bool) -> list[str]:
    """The directories that cannot fit in `free` bytes, backed up in order, each taking what
    _dir_bytes says it takes; all of them when that tells none (a full medium, or no earlier backup)."""
    took = _dir_bytes(store, source_id, with_base=with_base)
    need, out = 0, []
    for path in dir_paths:
        need += took.get(path) or 0
        if need > free:
            out.append(path)
    return out or list(dir_paths)


_NEWEST_COMPLETE = "SELECT id FROM backups WHERE source=? AND status IN ('completed','warnings')"


def _dir_bytes(store: Store, source_id: str, *, with_base: bool) -> dict[str, int | None]:
    """Per directory, what it took in the source's newest complete backup: its new bytes when the
    backup to come has a base, else a whole copy. An archive directory's backup holds only what it
    added, so its whole copy is the larger of two. One is the copy the newest backup with no base on
    its medium made (the first there: the whole archive as it was then; rebuild-state records no
    base, and a backup made after a complete one of the source on its medium is never taken for it),
    but no more than rsync listed of the archive on the source in the newest backup (a new medium
    gets what the source holds now, not the logs it rotated away since). The other is that listing
    (source_bytes) less the holes of its sparse files, which a whole copy does not hold (holes.py):
    the least a complete backup with no base listed beyond what it held (a whole copy: its holes; a
    sparse file added since counts at its listed size). A database from before source_bytes was
    recorded knows the first only: the archive's growth since that copy is not counted there."""
    column = "new_bytes" if with_base else "total_bytes"
    rows = store.all(f"SELECT path, kind, {column} AS n, {_LISTED} FROM backup_dirs WHERE backup_id=("
                     f"{_NEWEST_COMPLETE} ORDER BY id DESC LIMIT 1)", (source_id,))
    took = {r["path"]: r["n"] for r in rows}
    archives = {r["path"]: r["listed"] for r in rows if r["kind"] == "archive"}
    if with_base or not archives:
        return took
    whole = {r["path"]: r["n"] for r in store.all(
        "SELECT path, total_bytes AS n FROM backup_dirs WHERE kind='archive' AND backup_id=("
        f"SELECT id FROM backups b WHERE source=? AND status IN ('completed','warnings') AND {_WHOLE}"
        " ORDER BY id DESC LIMIT 1)", (source_id,))}
    beyond = {r["path"]: r["gap"] for r in store.all(
        "SELECT d.path, MIN(d.source_bytes - d.total_bytes) AS gap FROM backups b JOIN backup_dirs d"
        f" ON d.backup_id=b.id WHERE b.source=? AND b.status IN ('completed','warnings') AND {_WHOLE}"
        " AND d.state IS NOT 'failed' AND d.source_bytes >= d.total_bytes GROUP BY d.path", (source_id,))}
    for path, listed in archives.items():
        was = whole.get(path)
        if was is not None and listed is not None:
            was = min(was, listed)      # what the source dropped since is no part of a whole copy now
        need = [n for n in (took[path], was) if n is not None]
        if listed is not None and beyond.get(path) is not None:
            need.append(listed - max(beyond[path], 0))
        if need:
            took[path] = max(need)
    return took


# a backup `b` made with no base: rebuild-state records none for any, and one made after a complete
# backup of its source on its medium had one (an archive's then holds only what it added)
_WHOLE = ("b.link_dest IS NULL AND NOT EXISTS (SELECT 1 FROM backups e WHERE e.source=b.source"
          " AND e.medium=b.medium AND e.id<b.id AND e.status IN ('completed','warnings'))")


# what rsync listed of a directory on the source (NULL: not known, and not read from a failed directory's row,
# nor from one that says it listed less than the backup held: no listing is, a record edited on the medium)
_LISTED = "CASE WHEN state='failed' OR source_bytes < total_bytes THEN NULL ELSE source_bytes END AS listed"


def last_files(store: Store, source_id: str, dir_path: str) -> int | None:
    """How many files the directory held in its source's newest complete backup (None: never backed up)."""
    row = store.one(
        "SELECT d.files FROM backup_dirs d JOIN backups b ON b.id = d.backup_id WHERE b.source=? AND d.path=?"
        " AND b.status IN ('completed','warnings') ORDER BY b.id DESC LIMIT 1", (source_id, dir_path))
    return row["files"] if row else None


@contextmanager
def union_held(cfg, source_id: str, emit: Emit = no_emit, cancel: threading.Event | None = None,
               by: str | None = None):
    """The source's union lock, for undoing a backup's archive links (the caller holds the source
    lock, and the medium's if any: the order a backup takes them in). A backup linking its files
    or a cleanup removing a deleted backup's holds it a short while: it is waited for, at most the
    source's io_timeout (a holder hung on its medium is not waited for longer) or until `cancel`;
    then WorkFailed naming the holder, nothing undone; one that marks its progress (a cleanup
    undoing a large backup's links) is waited for while it does. `by`: what holds it, as others are
    told. Yields what marks the progress of the caller's work under it (Lock.moved)."""
    if cfg is None or not any(d.kind == "archive" for d in cfg.source(source_id).directories):
        yield locks.still      # unlink_archive does nothing then
        return
    lock = locks.union_lock(cfg.state_dir, source_id, by=by or f"the undoing of a backup of {source_id}")
    try:
        lock.acquire_within(cfg.source(source_id).io_timeout, cancel,
                            lambda text: emit(Event(WARNING, f"{source_id}: {text}")))
    except (LockBusy, Cancelled) as exc:
        raise WorkFailed(str(exc)) from None
    with lock:
        yield lock.moved


def union_settled(cfg, source_id: str, medium_path, emit: Emit = no_emit,
                  cancel: threading.Event | None = None, by: str | None = None,
                  looked: dict[str, dict[str, str]] | None = None) -> None:
    """union_undo.settle, for a run that reads the source's unions on the medium (a checkpoint, a
    backup before rsync compares with them) and holds no union lock: taken only when an undoing is
    recorded there (union_held: waited for a while, the holder said at once through `emit`, then
    WorkFailed; `cancel` ends the wait). `looked`: as union_undo.settle."""
    if not undoings(cfg, source_id, medium_path):
        return
    with union_held(cfg, source_id, emit, cancel, by) as moved:
        settle_held(cfg, source_id, medium_path, moved=moved, looked=looked)


def undoings(cfg, source_id: str, medium_path) -> list[str]:
    """The backups of the source whose undoing is recorded on the medium (union_undo.pending);
    WorkFailed when a symlink is planted in the source's layout there (nothing is followed). One a
    backup saved in a union is none (medium_layout.saved_in_union): nothing is read through it,
    and the undoing writes nothing there (medium_layout.no_union_there)."""
    planted = medium_layout.symlink_in_layout(medium_path, source_id, cfg.source(source_id).archive_paths,
                                              saved_ok=True)
    if planted:
        raise WorkFailed(planted)
    return union_undo.pending(medium_path, source_id)


def settle_held(cfg, source_id: str, medium_path, listed: list | None = None,
                moved=locks.still, looked: dict[str, dict[str, str]] | None = None) -> tuple[list[str], int]:
    """union_undo.settle, for a caller that holds the source's union lock (union_held; rebuild-state
    holds it for its whole run), `moved()` marking the progress made under it: the names of the
    backups whose undoing was recorded, and how many of their files were linked back. `listed`,
    `looked`: as union_undo.settle."""
    names = undoings(cfg, source_id, medium_path)
    if not names:
        return [], 0
    return names, union_undo.settle(medium_path, source_id, list(cfg.source(source_id).archive_paths), listed,
                                    moved=moved, looked=looked)


def ran_as_archive(store: Store, backup_id: int | None) -> list[str]:
    """The directories the backup (a run to undo) recorded as archive ones: it may have linked
    files into their unions, whatever the config says of them now."""
    if backup_id is None:
        return []
    return [r["path"] for r in store.all("SELECT path FROM backup_dirs WHERE backup_id=? AND kind='archive'"
                                         " ORDER BY path", (backup_id,))]


def unlink_archive(cfg, source_id: str, path: Path, listed: list | None = None, moved=locks.still,
                   ran: list[str] = (), looked: dict[str, dict[str, str]] | None = None) -> int:
    """Undo what step 7 linked into the archive union trees for a backup that goes (deleted, or
    killed before it completed): the union shows again what the complete backups older than it
    saved on this medium (`listed`: the source's backups there, list_backups, when read already),
    but an older shape where a backup made after it has a directory. `ran`: the directories a run
    undone ran as archive ones (ran_as_archive), undone too where the config now says standard or
    has dropped them: a link left there stands for a file no backup saved, which the next backup of
    the directory made archive again leaves out. `looked`: how the state's look at the medium took
    its backups that recorded no kinds (union_undo.taken_by). The caller holds the source's
    union lock (union_held), and `moved()` marks the progress made under it."""
    if cfg is None:
        return 0
    medium_path = path.parent.parent
    # (one a backup saved there is no union to undo links in: archive.unlink_from_union, no_union_there)
    planted = medium_layout.symlink_in_layout(medium_path, source_id, [*cfg.source(source_id).archive_paths, *ran],
                                              saved_ok=True)
    if planted:
        raise WorkFailed(planted)
    listed = medium_layout.list_backups(medium_path, source_id) if listed is None else listed
    at = next((i for i, (name, _, _) in enumerate(listed) if name == path.name), len(listed))

    def newest_first(statuses: tuple[str, ...], made) -> list[tuple[Path, dict]]:
        rows = [(i, p, info) for i, (_, p, info) in enumerate(listed)
                if i != at and info and info.get("status") in statuses and made(i)]
        rows.sort(key=functools.cmp_to_key(lambda a, b: -1 if made_before(listed, b[0], a[0]) else 1))
        return [(p, info) for _, p, info in rows]

    older = newest_first(COMPLETE, lambda i: made_before(listed, i, at))
    # the restorable backups made after it that stay (one deleted in the middle of the medium's
    # history): where the newest of them holding a path has a directory, no older shape comes back
    newer = newest_first(RESTORABLE, lambda i: at < len(listed) and made_before(listed, at, i))
    archive_now = list(cfg.source(source_id).archive_paths)
    # one that recorded no kinds saved as archive ones those whose union the medium holds
    taken = union_undo.taken_by(medium_path, source_id, [*archive_now, *ran, *union_undo.named_dirs(listed)], looked)
    info = listed[at][2] if at < len(listed) else None
    if info and not union_undo.records_kinds(info):
        ran = [*ran, *(d for d in sorted(taken(path.name)) if d not in ran and d not in archive_now)]
    dirs = archive_now + [d for d in ran if d not in archive_now]
    if not dirs:
        return 0
    planted = medium_layout.symlink_in_layout(medium_path, source_id, dirs, saved_ok=True)
    if planted:
        raise WorkFailed(planted)
    union_undo.settle(medium_path, source_id, archive_now, listed, but=path.name, moved=moved, looked=looked)
    if info and info.get("status") in COMPLETE:
        # until its tree is set aside (deletion.py), a run killed midway is gone back on
        union_undo.begin(medium_path, source_id, path.name)
    undone = 0
    for d in dirs:
        # only the backups that saved `d` as an archive one linked into its union: a standard
        # one's tree holds files the union never showed (and shapes it never had)
        def into_union(rows):
            return [p for p, i in rows if union_undo.saved_as_archive(i, d, d in taken(p.name))]
        undone += unlink_from_union(medium_path, source_id, path, d, into_union(older), into_union(newer), moved)
    if not (info and info.get("status") in COMPLETE):
        union_undo.end(medium_path, source_id, path.name)
    return undone


def undo_written(store: Store, cfg, backup_id: int, emit: Emit = no_emit,
                 cancel: threading.Event | None = None) -> str | None:
    """What step 7 wrote for a backup that then failed (its final backup.json could not be written
    on a medium filled meanwhile, say), undone as for a killed run: its links in the archive
    unions and its catalog rows. Returns why the links could not all be undone, if so: then its
    catalog rows stay too (they name what its links still show), and the caller leaves its row
    `running`, for the next run's recovery to undo both."""
    row = store.one("SELECT * FROM backups WHERE id=?", (backup_id,))
    problem = undo_links(cfg, row["source"], Path(row["path"]), emit, cancel, ran_as_archive(store, backup_id),
                         saved_kinds.looks(store, row["source"], row["medium"]))
    if problem is None:
        forget_catalog(store, row)
    return problem


def undo_links(cfg, source_id: str, path: Path, emit: Emit = no_emit,
               cancel: threading.Event | None = None, ran: list[str] = (),
               looked: dict[str, dict[str, str]] | None = None) -> str | None:
    """The links a failed backup at `path` made in the archive unions (`ran`: as unlink_archive),
    undone (the medium only); why they could not be, if so. `looked`: as unlink_archive."""
    try:
        with union_held(cfg, source_id, emit, cancel) as moved:
            unlink_archive(cfg, source_id, path, moved=moved, ran=ran, looked=looked)
    except (WorkFailed, OSError) as exc:
        return (f"its links in the archive union cannot be undone now: {exc}; they and its catalog rows are"
                f" left for the next backup of {source_id} to undo")
    return None


def forget_catalog(store: Store, row) -> None:
    """Catalog rows that a run killed after step 7 wrote: its new versions go (and so do the
    changes they were for the checkpoint trigger), and the versions it extended end at its base again."""
    with store.transaction() as conn:
        for table in ("versions", "others"):
            conn.execute(f"DELETE FROM {table} WHERE medium=? AND first_backup=?", (row["medium"], row["id"]))
        changes.forget(conn, row["id"])
        if row["link_dest"] is not None:
            for table in ("versions", "others"):
                conn.execute(f"UPDATE {table} SET last_backup=? WHERE medium=? AND last_backup=?",
                             (row["link_dest"], row["medium"], row["id"]))
