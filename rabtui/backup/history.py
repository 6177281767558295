"""What earlier runs left: the link-dest base, the expected size, and runs that were killed."""

from __future__ import annotations

import functools
import shutil
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from rabtui import proc_table
from rabtui.state import changes
from rabtui.media import medium_layout
from rabtui.media.medium_layout import TO_DO
from rabtui.backup.archive import unlink_from_union
from rabtui.backup.records import end_steps, find_abandoned, mark_abandoned, remove_leftovers
from rabtui.config import Medium, Source
from rabtui.errors import Cancelled, LockBusy, WorkFailed
from rabtui.events import WARNING, Emit, Event, no_emit
from rabtui.state import locks
from rabtui.state.store import COMPLETE, ID_REACH, RESTORABLE, Store



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
    undone (`not_undone`, as recover_abandoned and finish_abandoned say them), or None. An archive
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
    know at all (before `rebuild-state`) still counts, with id None.

    Newest is by name (its start time), unless the database knows a complete one made after the
    newest by name (a higher id): that one ran after a clock that was ahead had dated the other,
    and it holds the newer state. Linked from the one dated ahead, a file it lacked that came back
    unchanged would stretch the catalog's version over it.
    """
    rows = {r["name"]: r for r in store.all("SELECT id, name, status FROM backups WHERE medium=? AND source=?",
                                            (medium.id, source_id))}
    complete = []
    if listed is None:
        listed = medium_layout.list_backups(medium.path, source_id)
    for name, path, info in reversed(listed):
        row = rows.get(name)
        if info and info.get("status") in COMPLETE and (row is None or row["status"] in COMPLETE):
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


def an_id(value) -> bool:
    """Whether a backup.json's id is one the backups' order goes by: one given by hand from ID_REACH
    up is none (the ids after it would pass SQLite's largest), nor is a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < ID_REACH


# "the source's newest complete backup" below is the one made last (the highest id), whatever its
# date: one dated ahead by a clock that was wrong would stay the newest for years (store.as_made)


def expected_bytes(store: Store, source_id: str, *, with_base: bool) -> int | None:
    """What a backup will probably write: the last new bytes when it has a base, else a whole copy."""
    column = "new_bytes" if with_base else "total_bytes"
    row = store.one(
        f"SELECT {column} AS n FROM backups WHERE source=? AND status IN ('completed','warnings')"
        " ORDER BY id DESC LIMIT 1", (source_id,))
    return row["n"] if row and row["n"] is not None else None


def not_fitting(store: Store, source_id: str, dir_paths: list[str], free: int, *, with_base: bool) -> list[str]:
    """The directories that cannot fit in `free` bytes, backed up in order, each taking what it
    took in the source's newest complete backup (its new bytes when it has a base, else a whole
    copy); all of them when that tells none (a full medium, or no earlier backup)."""
    column = "new_bytes" if with_base else "total_bytes"
    took = {r["path"]: r["n"] for r in store.all(
        f"SELECT d.path, d.{column} AS n FROM backup_dirs d WHERE d.backup_id=(SELECT id FROM backups"
        "  WHERE source=? AND status IN ('completed','warnings') ORDER BY id DESC LIMIT 1)",
        (source_id,))}
    need, out = 0, []
    for path in dir_paths:
        need += took.get(path) or 0
        if need > free:
            out.append(path)
    return out or list(dir_paths)


def last_files(store: Store, source_id: str, dir_path: str) -> int | None:
    """How many files the directory held in its source's newest complete backup (None: never backed up)."""
    row = store.one(
        "SELECT d.files FROM backup_dirs d JOIN backups b ON b.id = d.backup_id WHERE b.source=? AND d.path=?"
        " AND b.status IN ('completed','warnings') ORDER BY b.id DESC LIMIT 1", (source_id, dir_path))
    return row["files"] if row else None


def _is_backup_dir(path: Path, source_id: str) -> bool:
    return bool(medium_layout.BACKUP_NAME.match(path.name)) and path.parent.name == source_id


def recover_abandoned(store: Store, source_id: str, emit: Emit, cfg=None,
                      cancel: threading.Event | None = None, *, medium: str | None = None,
                      but: int | None = None) -> list[tuple[str, str]]:
    """Backups of this source still `running` belong to a dead process (the caller holds the
    source lock); `medium`: only those on it, `but`: not the caller's own. One whose backup.json
    says complete was complete on the medium (its catalog and archive links were written before
    it): it is recorded as such. One whose medium is not there and that ended its step 7 (its
    backup.json may say complete) is left as it is until a run finds its medium there. Any other
    is undone: its archive links (the union shows the older version again), its catalog rows and
    its partial directory go (not one whose record cannot be read: medium_layout.not_a_run), and it
    is marked abandoned. Each is said. Returns, (its medium, a sentence) each, the runs left as they
    are for the next run to undo (its writers could not be stopped, its archive links not undone),
    saying which and why. `cancel` ends a wait for the union's holder (that run is then left as it
    is)."""
    left: list[tuple[str, str]] = []
    for row in find_abandoned(store, source_id):
        if (medium is not None and row["medium"] != medium) or row["id"] == but:
            continue
        path = Path(row["path"]) if row["path"] and _on_its_medium(store, cfg, row) else None
        info = medium_layout.read_backup_json(path) if path and path.is_dir() else None
        when = datetime.fromtimestamp(row["started"]).strftime("%Y-%m-%d %H:%M:%S")
        what = f"an interrupted backup of {source_id} ({row['name']} on medium {row['medium']}, started {when})"
        if path is None and row["path"] and _step7_ended(store, row):
            # complete on its medium, perhaps: marked abandoned, its catalog rows forgotten, it would
            # be undone and deleted once the medium is back, and what only it saved lost
            emit(Event(WARNING, f"found {what}: its medium is not there, and the backup may be complete on it"
                                " (its step 7 ended); left as it is until a backup finds the medium there",
                       {"backup_id": row["id"]}))
            continue
        if info and info.get("status") in RESTORABLE:
            _record_as_said(store, row, info)
            remove_leftovers(path)
            emit(Event(WARNING, f"found {what}: its backup.json says {info['status']}; recorded as such, kept",
                       {"backup_id": row["id"]}))
            continue
        if info and info.get("status") == "failed" and _is_backup_dir(path, source_id):
            # it ended, failed, but could not record so in the database (its state directory full, say)
            problem = undo_links(cfg, source_id, path, emit, cancel)
            if problem:
                emit(Event(WARNING, f"found {what}: {problem}", {"backup_id": row["id"]}))
                left.append((row["medium"], f"{what}: {problem}"))
                continue
            _forget_catalog(store, row)
            _record_ended(store, row, info)
            remove_leftovers(path)
            emit(Event(WARNING, f"found {what}: its backup.json says failed ({info.get('reason')}); recorded as"
                                " such", {"backup_id": row["id"]}))
            continue
        done = ""
        if path is not None and path.is_dir() and _is_backup_dir(path, source_id):
            stopped, writing = proc_table.kill_writers(path)
            if writing:     # left as it is: the next run tries again
                why = (f"{len(writing)} rsync process(es) still write into it and could not be stopped:"
                       f" {proc_table.named(writing)}")
                emit(Event(WARNING, f"found {what}: {why}; its partial directory stays for now",
                           {"backup_id": row["id"]}))
                left.append((row["medium"], f"{what}: {why}"))
                continue
            if stopped:
                done = f"{stopped} of its rsync processes still writing into it stopped, "
            try:
                with union_held(cfg, source_id, emit, cancel):
                    undone = unlink_archive(cfg, source_id, path)
            except (WorkFailed, OSError) as exc:     # left as it is, its catalog rows too: the next run tries again
                emit(Event(WARNING, f"found {what}: its archive links cannot be undone now: {exc}",
                           {"backup_id": row["id"]}))
                left.append((row["medium"], f"{what}: its archive links cannot be undone now: {exc}"))
                continue
            if undone:
                done += f"{undone} archive link(s) undone, "
            kept = medium_layout.not_a_run(path, info)
            if kept:
                done += f"its directory is kept, never used as a base: its backup.json: {kept} {TO_DO}"
            else:
                try:
                    shutil.rmtree(path)
                    done += "its partial directory was deleted"
                except OSError as exc:
                    done += f"its partial directory could not be deleted ({exc.strerror}); it is never used as a base"
        else:
            done = "its directory is not there (medium not mounted, or never created)"
        _forget_catalog(store, row)
        mark_abandoned(store, row["id"], f"interrupted: the run ended before it finished; {done}")
        emit(Event(WARNING, f"found {what}: marked abandoned, {done}", {"backup_id": row["id"]}))
    return left


def finish_abandoned(store: Store, cfg, medium: Medium, source_id: str, emit: Emit,
                     cancel: threading.Event | None = None, listed: list | None = None) -> list[str]:
    """A run found interrupted while its medium was away (not mounted) was marked abandoned, but
    its directory, and maybe archive links, stayed on the medium: now that the medium is here,
    they are undone as recovery would have (only when no complete backup came after it there). So
    is a run whose backup.json says `running` that the database does not know (it was lost, made
    anew, or rebuilt while the medium was away): its links in the union would stand for files the
    next backup then leaves out. `listed`: the source's backups there (list_backups), when read
    already. Returns, a sentence each, those whose archive links could not be undone (as
    recover_abandoned)."""
    left = store.all("SELECT path FROM backups WHERE medium=? AND source=? AND status='abandoned'",
                     (medium.id, source_id))
    rows = _rows_by_name(store, medium.id, source_id) if listed is not None else None
    if not any(r["path"] and Path(r["path"]).is_dir() for r in left) and (
            rows is None or not any(_unknown_running(rows, name, info) for name, _, info in listed)):
        return []         # the usual case: no need to read every backup.json on the medium
    not_undone: list[str] = []
    listed = medium_layout.list_backups(medium.path, source_id) if listed is None else listed
    rows = _rows_by_name(store, medium.id, source_id)
    for at, (name, path, info) in enumerate(listed):
        row = rows.get(name)
        unknown = _unknown_running(rows, name, info)
        if not unknown and (row is None or row["status"] != "abandoned") or _complete_after(listed, rows, at):
            continue
        try:
            with union_held(cfg, source_id, emit, cancel):
                undone = unlink_archive(cfg, source_id, path)
        except (WorkFailed, OSError) as exc:
            why = f"the interrupted backup {name} on medium {medium.id}: its archive links cannot be undone now: {exc}"
            emit(Event(WARNING, why))
            not_undone.append(why)
            continue
        kept = medium_layout.not_a_run(path, info)
        if kept:
            emit(Event(WARNING, f"the interrupted backup {name} on medium {medium.id}, now mounted: {undone} archive"
                                f" link(s) undone, its directory is kept, never used as a base: its backup.json:"
                                f" {kept} {TO_DO}"))
            continue
        try:
            shutil.rmtree(path)
        except OSError as exc:
            emit(Event(WARNING, f"the interrupted backup {name} on medium {medium.id} cannot be removed: {exc}"))
            continue
        how = ", which the state database does not know" if unknown else ", now mounted"
        emit(Event(WARNING, f"found the interrupted backup {name} on medium {medium.id}{how}: "
                            f"{undone} archive link(s) undone, its partial directory was deleted"))
    return not_undone


def _unknown_running(rows: dict, name: str, info: dict | None) -> bool:
    return name not in rows and bool(info) and info.get("status") == "running"


def _rows_by_name(store: Store, medium_id: str, source_id: str) -> dict:
    return {r["name"]: r for r in store.all("SELECT * FROM backups WHERE medium=? AND source=?",
                                            (medium_id, source_id))}


def _complete_after(listed: list, rows: dict, at: int) -> bool:
    """Whether a complete backup came after the one listed[at] (list_backups; `rows`: the database's
    by name): made after it (a higher id), or, unknown to the database, named after it. One known
    that is named after it only was dated by a clock that was ahead. That backup may show files of
    the one before through the archive union, saved nowhere else: its links there stay."""
    row = rows.get(listed[at][0])
    if row is None:      # unknown to the database too: by the ids their backup.json files record, else names
        return any(_made_before(listed, at, i) for i, (_, _, info) in enumerate(listed)
                   if i != at and info and info.get("status") in COMPLETE)
    return any((rows[name]["id"] > row["id"]) if name in rows else i > at
               for i, (name, _, info) in enumerate(listed) if info and info.get("status") in COMPLETE)


def undone_with_it(store: Store, medium: Medium, source_id: str, name: str) -> bool:
    """Whether the archive links of the abandoned run `name` on the medium are undone as it is
    deleted: recovery marked it abandoned while its medium was away, and no backup onto it has
    finished it since (finish_abandoned), unless a complete backup came after it there."""
    listed = medium_layout.list_backups(medium.path, source_id)
    at = next((i for i, (n, _, _) in enumerate(listed) if n == name), None)
    rows = _rows_by_name(store, medium.id, source_id)
    return at is not None and name in rows and not _complete_after(listed, rows, at)


def _on_its_medium(store: Store, cfg, row) -> bool:
    """Whether the disk at the path of the backup's medium is that medium: another server's disk
    with its id may hold a backup of the same name, which is not this one (a run of this source
    finishes it once the medium is there: finish_abandoned)."""
    from rabtui.backup.retention import medium_present

    medium = next((m for m in cfg.media if m.id == row["medium"]), None) if cfg is not None else None
    return medium is None or medium_present(store, medium)


def _step7_ended(store: Store, row) -> bool:
    """Whether the run's step 7 ended: its final backup.json was written next (complete), perhaps."""
    step = store.one("SELECT state FROM backup_steps WHERE backup_id=? AND step=7", (row["id"],))
    return step is not None and step["state"] == "ok"


def _record_as_said(db, row, info: dict) -> None:
    """The row of a run says how it ended as its backup.json does (`db`: the store, or a
    transaction's connection)."""
    db.execute("UPDATE backups SET status=?, reason=?, finished=? WHERE id=?",
               (info["status"], _reason(info), _finished(info), row["id"]))


def _record_ended(store: Store, row, info: dict) -> None:
    """A run that ended as its backup.json says (failed) without its row saying so: recorded so, the
    steps that had not ended failed or skipped, as the run would have."""
    with store.transaction() as conn:
        _record_as_said(conn, row, info)
        end_steps(conn, row["id"])


def _finished(info: dict) -> float:
    try:
        return datetime.fromisoformat(info["finished"]).timestamp()
    except (KeyError, TypeError, ValueError):
        return time.time()


def _reason(info: dict) -> str | None:
    reason = info.get("reason")
    if reason is not None and not isinstance(reason, str):   # a hand-edited backup.json
        reason = str(reason)
    return reason


@contextmanager
def union_held(cfg, source_id: str, emit: Emit = no_emit, cancel: threading.Event | None = None):
    """The source's union lock, for undoing a backup's archive links (the caller holds the source
    lock, and the medium's if any: the order a backup takes them in). A backup linking its files
    or a cleanup removing a deleted backup's holds it a short while: it is waited for, at most the
    source's io_timeout (a holder hung on its medium is not waited for longer) or until `cancel`;
    then WorkFailed naming the holder, nothing undone."""
    if cfg is None or not any(d.kind == "archive" for d in cfg.source(source_id).directories):
        yield             # unlink_archive does nothing then
        return
    lock = locks.union_lock(cfg.state_dir, source_id, by=f"the undoing of a backup of {source_id}")
    try:
        lock.acquire_within(cfg.source(source_id).io_timeout, cancel,
                            lambda text: emit(Event(WARNING, f"{source_id}: {text}")))
    except (LockBusy, Cancelled) as exc:
        raise WorkFailed(str(exc)) from None
    with lock:
        yield


def unlink_archive(cfg, source_id: str, path: Path) -> int:
    """Undo what step 7 linked into the archive union trees for a backup that goes (deleted, or
    killed before it completed): the union shows again what the complete backups older than it
    saved on this medium. The caller holds the source's union lock (union_held)."""
    if cfg is None:
        return 0
    medium_path = path.parent.parent
    listed = medium_layout.list_backups(medium_path, source_id)
    at = next((i for i, (name, _, _) in enumerate(listed) if name == path.name), len(listed))
    older = [(i, p, info) for i, (_, p, info) in enumerate(listed)
             if i != at and info and info.get("status") in COMPLETE and _made_before(listed, i, at)]
    older.sort(key=functools.cmp_to_key(lambda a, b: -1 if _made_before(listed, b[0], a[0]) else 1))
    older = [p for _, p, _ in older]     # newest first
    undone = 0
    for d in cfg.source(source_id).directories:
        if d.kind == "archive":
            undone += unlink_from_union(medium_path, source_id, path, d.path, older)
    return undone


def _made_before(listed: list, a: int, b: int) -> bool:
    """Whether backup listed[a] (list_backups) was made before listed[b]: by the ids their backup.json
    record, else by their names. A backup dated ahead by a clock that was wrong is named after
    those made after it."""
    if b >= len(listed):      # not listed (no longer a backup's name): every backup there came before it
        return True
    ids = [listed[i][2].get("backup_id") if listed[i][2] else None for i in (a, b)]
    if all(an_id(i) for i in ids):
        return ids[0] < ids[1]
    return a < b


def undo_written(store: Store, cfg, backup_id: int, emit: Emit = no_emit,
                 cancel: threading.Event | None = None) -> str | None:
    """What step 7 wrote for a backup that then failed (its final backup.json could not be written
    on a medium filled meanwhile, say), undone as for a killed run: its links in the archive
    unions and its catalog rows. Returns why the links could not all be undone, if so: then its
    catalog rows stay too (they name what its links still show), and the caller leaves its row
    `running`, for the next run's recovery to undo both."""
    row = store.one("SELECT * FROM backups WHERE id=?", (backup_id,))
    problem = undo_links(cfg, row["source"], Path(row["path"]), emit, cancel)
    if problem is None:
        _forget_catalog(store, row)
    return problem


def undo_links(cfg, source_id: str, path: Path, emit: Emit = no_emit,
               cancel: threading.Event | None = None) -> str | None:
    """The links a failed backup at `path` made in the archive unions, undone (the medium only);
    why they could not be, if so."""
    try:
        with union_held(cfg, source_id, emit, cancel):
            unlink_archive(cfg, source_id, path)
    except (WorkFailed, OSError) as exc:
        return (f"its links in the archive union cannot be undone now: {exc}; they and its catalog rows are"
                f" left for the next backup of {source_id} to undo")
    return None


def _forget_catalog(store: Store, row) -> None:
    """Catalog rows that a run killed after step 7 wrote: its new versions go (and so do the
    changes they were for the checkpoint trigger), and the versions it extended end at its base again."""
    with store.transaction() as conn:
        conn.execute("DELETE FROM versions WHERE medium=? AND first_backup=?", (row["medium"], row["id"]))
        changes.forget(conn, row["id"])
        if row["link_dest"] is not None:
            conn.execute("UPDATE versions SET last_backup=? WHERE medium=? AND last_backup=?",
                         (row["link_dest"], row["medium"], row["id"]))
