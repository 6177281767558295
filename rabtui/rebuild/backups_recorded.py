"""The backups read on a medium (scan._read_medium) recorded in the new database, source by source:
the runs killed in step 7 undone in the unions, each backup's row with its directories, the catalog
of the complete ones walked."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path
from typing import Callable, Mapping

from rabtui import fmt
from rabtui.media.at_hand import medium_problem
from rabtui.events import LOG, Emit, Event
from rabtui.backup import id_writes, killed_record, unreadable
from rabtui.rebuild import did_not_fit, gone
from rabtui.rebuild import record, unions
from rabtui.backup.catalog_walk import catalog_backups
from rabtui.rebuild.report import Report
from rabtui.state.locks import still
from rabtui.state.store import COMPLETE, KEPT, Store


Listed = list[tuple[str, Path, "record.Record"]]


def fill_medium(cfg, store, medium, found: dict[str, Listed], ids: dict, report: Report, emit: Emit,
                marks: Mapping[str, Callable[[], None]]) -> None:
    for source_id, listed in found.items():
        _source_on_medium(cfg, store, medium, source_id, listed, ids, report, emit, marks.get(source_id, still))
    if medium_problem(medium) is not None:    # unplugged while walked: its backups would read as empty
        gone.forget_medium(store, medium.id, report)


def _source_on_medium(cfg, store, medium, source_id, listed: Listed, ids: dict, report: Report, emit: Emit,
                      moved: Callable[[], None]) -> None:
    from rabtui.backup import history
    from rabtui.backup.records import remove_leftovers

    src = cfg.source(source_id)
    kinds = {d.path: d.kind for d in src.directories}
    complete_rows, kept_rows = [], []
    # a record that cannot be read may be a complete backup: no run before it is undone
    last_complete = max((i for i, (_, _, rec) in enumerate(listed)
                         if rec.status in COMPLETE or rec.unread), default=-1)
    # a cleanup killed as it undid a backup's union links: settled first, as a backup's step 3 does
    unions.settle(cfg, medium, source_id, listed, ids, report, moved)
    for index, (name, bpath, rec) in enumerate(listed):
        remove_leftovers(bpath)      # every run is over (actions/rebuild.all_locks)
        # killed in step 7, or failed there with links it could not undo, nothing after it: its
        # archive links are undone (the union lock is held: actions/rebuild.all_locks)
        undo = rec.status in ("running", "failed", "abandoned") and index > last_complete
        found_running = rec.status == "running"
        # killed in step 6 or 7: as killed_kept.py keeps it; a complete backup after it there too (its
        # links, if any, stay: that backup may show them), else the data whole goes with a cleanup
        if found_running and rec.transfer_whole:
            # the reason its run wrote there as the state database stopped it (completion._whole_left) kept
            rec.status, rec.reason = KEPT, (f"{rec.reason}; " if rec.reason else "") + (
                "interrupted after its transfer ended whole (found running by rebuild-state): the data is kept")
        elif found_running:
            rec.status, rec.reason = "abandoned", "interrupted (found running by rebuild-state)"
        undone = (history.unlink_archive(cfg, source_id, bpath, unions.as_recorded(medium, source_id, listed, ids),
                                         moved, unions.ran_as_archive(src, medium.path, bpath, rec, listed, report))
                  if undo else 0)
        if undone:
            rec.reason = f"{rec.reason or rec.status}; {undone} archive link(s) undone"
        before = next((p for _, p, r in reversed(listed[:index]) if r.status in COMPLETE), None)
        bid = _insert_backup(store, ids[(medium.id, source_id, name)], medium.id, source_id, name, bpath, rec,
                             kinds, report, before)
        if bid is None:
            continue
        if found_running:      # its record says so too (as it does when the rebuild reads it again)
            problem = killed_record.say_ended(medium.path, source_id, name, rec.status, rec.reason)
            if problem:
                report.unmatched.append(f"medium {medium.id}: {problem}")
        if rec.on_medium and bid != rec.backup_id:     # written once the new database is in place
            report.to_write.append(id_writes.Write(medium.id, bpath, rec.backup_id, bid))
        for was in {*rec.former_ids, rec.backup_id} - {None, bid}:
            report.former.setdefault((source_id, was), []).append(bid)
        report.backups += 1
        did_not_fit.note(report, source_id, rec, bpath)
        if rec.status in COMPLETE:
            complete_rows.append((bid, bpath))
        elif rec.status == KEPT:
            kept_rows.append((bid, bpath))
    complete_rows.sort()
    planted: list[str] = []
    saved = [(bid, bpath, _saved_dirs(store, bid, src)) for bid, bpath in complete_rows]
    report.versions += catalog_backups(store, source_id, medium.id, saved, planted)
    for bid, bpath in kept_rows:   # kept data: versions of its own, as a backup makes them
        report.versions += catalog_backups(store, source_id, medium.id, [(bid, bpath, _saved_dirs(store, bid, src))],
                                           planted)
    report.unmatched += [f"medium {medium.id}: {said}" for said in planted]
    report.unmatched += [f"medium {medium.id}: {said}" for bid, bpath in complete_rows for said in _trees_gone(store, bid, bpath)]
    emit(Event(LOG, f"{medium.id}/{source_id}: {fmt.count(len(complete_rows), 'complete backup')}"))


def _trees_gone(store: Store, bid: int, bpath: Path) -> list[str]:
    """The directories the complete backup's record says it saved files of that its data/ holds no
    copy of (removed by hand, lost to a damaged file system): the catalog records none of their
    files there, and a restore from that backup finds none. A symlink there is said as planted."""
    said = []
    for r in store.all("SELECT path, files FROM backup_dirs WHERE backup_id=? AND files>0 ORDER BY path", (bid,)):
        copy = bpath / "data" / r["path"].lstrip("/")
        if not os.path.lexists(copy):
            said.append(f"{fmt.name(str(bpath))}: its record says it saved {fmt.count(r['files'], 'file')} of"
                        f" {fmt.name(r['path'])}, and its data/ holds no copy of it: none of them is in the catalog"
                        " there, nor restored from that backup (the files of its other copies, on other backups,"
                        " media or discs, are)")
    return said


def _saved_dirs(store: Store, bid: int, src) -> list[tuple[str, str]]:
    """(directory, kind) the backup saved, as recorded from its backup.json (each kind recorded,
    or taken: _kind_taken): the config may name others since (/data made /data/photos), and the
    backup holds what it saved all the same. A record naming none: the config's."""
    rows = store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?", (bid,))
    return [(r["path"], r["kind"]) for r in rows] or [(d.path, d.kind) for d in src.directories]


def _left_out(report: Report, medium_id: str, bpath: Path, why: str) -> None:
    report.unmatched.append(f"medium {medium_id}: {bpath / 'backup.json'}: {why}; the backup is left out:"
                            " correct the file and run `rabtui rebuild-state` again")


def _insert_backup(store: Store, wanted: int, medium_id: str, source_id: str, name: str, bpath: Path,
                   rec: record.Record, kinds: dict[str, str], report: Report, before: Path | None = None) -> int | None:
    """The backup's row under the id `wanted` and its directories' (in one transaction); the id,
    None when SQLite refused a value (said in the report). `before`: the complete backup made
    before it there (record.kind_taken)."""
    try:
        with store.transaction():
            cur = store.execute(
                "INSERT INTO backups(id, source, medium, name, path, status, started, finished, total_bytes,"
                " new_bytes, files, new_files, reason) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
                (wanted, source_id, medium_id, name, str(bpath), rec.status, rec.started or bpath.stat().st_mtime,
                 rec.finished, *(rec.totals[k] for k in record.COUNTS), rec.reason))
            for d in rec.directories:
                names, unnamed, unmade = d["unreadable"]
                kind = d["kind"] or _kind_taken(medium_id, source_id, bpath, d["path"], kinds, report, before,
                                                rec.status in COMPLETE)
                store.execute(
                    "INSERT OR REPLACE INTO backup_dirs(backup_id, path, kind, state, rsync_exit, total_bytes, new_bytes,"
                    " files, new_files, changed_files, source_bytes, unreadable, whole_on_retry, excludes)"
                    " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                    (cur.lastrowid, d["path"], kind, d["state"], d["rsync_exit"],
                     *(d[k] for k in record.DIR_COUNTS), len(names) + unnamed, d["whole_on_retry"], d["excludes"]))
                unreadable.record(store.conn, cur.lastrowid, d["path"], names, unmade)
    except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.ProgrammingError, OverflowError) as exc:
        return _left_out(report, medium_id, bpath, f"not recorded ({exc})")
    return cur.lastrowid


def _kind_taken(medium_id: str, source_id: str, bpath: Path, dir_path: str, kinds: dict[str, str],
                report: Report, before: Path | None, complete: bool) -> str:
    configured = kinds.get(dir_path)
    # kept data links nothing into a union: a union lacking its files says nothing of it (union_look)
    kind, why = record.kind_taken(bpath.parent.parent, source_id, dir_path, configured, bpath if complete else None,
                                  before)
    if not complete and kind != "archive" and configured == "archive":
        kind, why = "archive", "kept data, which links nothing into a union; the config says archive"
    report.unmatched.append(f"medium {medium_id}: {bpath / 'backup.json'}: directory {dir_path} records no kind:"
                            f" taken as {'an archive' if kind == 'archive' else 'a standard'} directory ({why})")
    return kind

