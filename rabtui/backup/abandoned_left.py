"""Runs marked abandoned whose directory stayed on the medium (their medium away when a recovery
found them, recovery.py), and killed runs the database does not know: finished once the medium is
here (their archive links undone, their directory deleted, but for one whose transfer had ended
whole: kept for rebuild-state to record), their backup.json made to say what their row does while
they stay."""

from __future__ import annotations

import os
import shutil
import threading
from pathlib import Path

from rabtui.backup import killed_kinds, killed_record
from rabtui.backup.history import union_held, unlink_archive
from rabtui.backup.made_order import made_before
from rabtui.backup.records import transfer_whole
from rabtui.config import Medium
from rabtui.errors import WorkFailed
from rabtui.events import WARNING, Emit, Event
from rabtui.media import medium_layout
from rabtui.media.medium_layout import TO_DO
from rabtui.state import saved_kinds
from rabtui.state.store import COMPLETE, OWN_DIR_SQL, RESTORABLE, Store


def finish_abandoned(store: Store, cfg, medium: Medium, source_id: str, emit: Emit,
                     cancel: threading.Event | None = None, listed: list | None = None,
                     but: int | None = None) -> list[str]:
    """A run found interrupted while its medium was away (not mounted) was marked abandoned, but
    its directory, and maybe archive links, stayed on the medium: now that the medium is here,
    they are undone as recovery would have (only when no complete backup came after it there, and
    never one whose backup.json says it is complete: the run ended there, unseen). So
    is a run whose backup.json says `running` that the database does not know (it was lost, made
    anew, or rebuilt while the medium was away): its links in the union would stand for files the
    next backup then leaves out (one whose transfer had ended whole keeps its directory, for
    rebuild-state to record kept: killed_kept.py). `listed`: the source's backups there (list_backups), when read
    already; `but`: the caller's own run, whose name (not yet its directory's) may be that run's.
    Returns, a sentence each, those whose archive links could not be undone (as
    recover_abandoned)."""
    left = store.all(f"SELECT path FROM backups WHERE medium=? AND source=? AND status='abandoned' AND {OWN_DIR_SQL}",
                     (medium.id, source_id))
    rows = _rows_by_name(store, medium.id, source_id, but) if listed is not None else None
    if not any(r["path"] and Path(r["path"]).is_dir() for r in left) and (
            rows is None or not any(_unknown_running(rows, name, info) for name, _, info in listed)):
        return []         # the usual case: no need to read every backup.json on the medium
    not_undone: list[str] = []
    listed = medium_layout.list_backups(medium.path, source_id) if listed is None else listed
    rows = _rows_by_name(store, medium.id, source_id, but) if rows is None else rows
    for at, (name, path, info) in enumerate(listed):
        row = rows.get(name)
        unknown = _unknown_running(rows, name, info)
        if not unknown and (row is None or row["status"] != "abandoned"):
            continue
        if info and info.get("status") in RESTORABLE:
            # it ended on the medium, its files linked into the union: the run was marked abandoned
            # while its directory could not be seen (its medium away, or out of the config then)
            emit(Event(WARNING, f"the interrupted backup {name} on medium {medium.id} was marked abandoned while its"
                                f" medium was away, but its backup.json says {info['status']}: it is kept as it is,"
                                " never used as a base (`rabtui rebuild-state` records it as its backup.json says)"))
            continue
        if _complete_after(listed, rows, at):     # it stays, its links too: its record says what its row does
            say_abandoned_row(medium.path, medium.id, source_id, row, emit)
            continue
        try:
            with union_held(cfg, source_id, emit, cancel) as moved:
                undone = unlink_archive(cfg, source_id, path, moved=moved, ran=killed_kinds.of_run(
                    store, cfg, source_id, row["id"] if row else None, path, info, listed, emit),
                    looked=saved_kinds.looks(store, source_id, medium.id))
        except (WorkFailed, OSError) as exc:
            why = f"the interrupted backup {name} on medium {medium.id}: its archive links cannot be undone now: {exc}"
            emit(Event(WARNING, why))
            not_undone.append(why)
            continue
        if unknown and transfer_whole(info):    # killed in step 6 or 7: its data is whole (killed_kept.py)
            emit(Event(WARNING, f"found the interrupted backup {name} on medium {medium.id}, which the state database"
                                f" does not know: {undone} archive link(s) undone; its transfer had ended whole: its"
                                " directory is kept, never used as a base (`rabtui rebuild-state` records it kept)"))
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
            say_abandoned_row(medium.path, medium.id, source_id, row, emit)
            continue
        if row is not None:
            store.execute("UPDATE backups SET reason=? WHERE id=?",
                          (f"{row['reason'] or 'interrupted'}; its partial directory was deleted", row["id"]))
        how = ", which the state database does not know" if unknown else ", now mounted"
        emit(Event(WARNING, f"found the interrupted backup {name} on medium {medium.id}{how}: "
                            f"{undone} archive link(s) undone, its partial directory was deleted"))
    return not_undone


def left_abandoned(store: Store) -> list:
    """The rows of runs marked abandoned whose directory was left at its place (their medium away
    then, say), which may still say `running` in their record: say_left_abandoned's."""
    return [r for r in store.all(f"SELECT * FROM backups WHERE status='abandoned' AND {OWN_DIR_SQL}"
                                 " ORDER BY source, medium, id") if r["path"] and os.path.isdir(r["path"])]


def linked_left(store: Store, medium: Medium, source_id: str) -> list[str]:
    """The names of the source's runs on the medium marked abandoned whose directory stayed there
    and whose archive links are still in its unions (no backup onto it has finished them since, no
    complete backup came after them): files no complete backup holds, until finish_abandoned (a
    cleanup killed as it deleted one leaves the rest of its links: its undoing is not gone back on)."""
    return [r["name"] for r in left_abandoned(store) if r["medium"] == medium.id and r["source"] == source_id
            and undone_with_it(store, medium, source_id, r["name"])]


def say_left_abandoned(store: Store, medium: Medium, source_id: str, emit: Emit) -> None:
    """The records of the source's runs marked abandoned whose directory stays on the medium (here,
    the caller holds the source lock) made to say what their rows do (killed_record.py); the next
    backup onto the medium deletes them (finish_abandoned)."""
    for row in left_abandoned(store):
        if row["medium"] == medium.id and row["source"] == source_id:
            say_abandoned_row(medium.path, medium.id, source_id, row, emit)


def _unknown_running(rows: dict, name: str, info: dict | None) -> bool:
    """A killed run the database does not know: its record says running, or abandoned (written so
    by a recovery or rebuild-state: killed_record.py)."""
    return name not in rows and bool(info) and info.get("status") in ("running", killed_record.ABANDONED)


def say_abandoned_row(medium_path, medium_id: str, source_id: str, row, emit: Emit) -> None:
    """The backup.json of the abandoned run of `row` (None: one the database does not know), whose
    directory stays on the medium, made to say what its row does (killed_record.py); what stopped
    that, said."""
    if row is None or row["status"] != "abandoned":
        return
    problem = killed_record.say_abandoned(medium_path, source_id, row["name"], row["reason"], row["finished"])
    if problem:
        emit(Event(WARNING, f"the interrupted backup {row['name']} on medium {medium_id}: {problem}",
                   {"backup_id": row["id"]}))


def _rows_by_name(store: Store, medium_id: str, source_id: str, but: int | None = None) -> dict:
    """The database's backups of the source on the medium by the name of their directory (not a run's
    that never made its own: an older backup there may bear the name it planned)."""
    return {r["name"]: r for r in store.all(f"SELECT * FROM backups WHERE medium=? AND source=? AND id IS NOT ?"
                                            f" AND {OWN_DIR_SQL}", (medium_id, source_id, but))}


def _complete_after(listed: list, rows: dict, at: int) -> bool:
    """Whether a complete backup came after the one listed[at] (list_backups; `rows`: the database's
    by name): made after it (a higher id), or, unknown to the database, named after it. One known
    that is named after it only was dated by a clock that was ahead. That backup may show files of
    the one before through the archive union, saved nowhere else: its links there stay."""
    row = rows.get(listed[at][0])
    if row is None:      # unknown to the database too: by the ids their backup.json files record, else names
        return any(made_before(listed, at, i) for i, (_, _, info) in enumerate(listed)
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

