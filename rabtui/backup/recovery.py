"""Runs of a source that were killed (their rows still `running`, or their backup.json saying so):
recorded as their backup.json says, or undone (history.py undoes their archive links and catalog
rows) and marked abandoned."""

from __future__ import annotations

import os
import shutil
import threading
import time
from datetime import datetime
from pathlib import Path

from rabtui import proc_table
from rabtui.backup import killed_kept, killed_kinds, killed_record
from rabtui.backup.abandoned_left import say_abandoned_row
from rabtui.backup.history import forget_catalog, undo_links, union_held, unlink_archive
from rabtui.backup.records import (end_steps, find_abandoned, mark_abandoned, remove_leftovers, running_rows,
                                   transfer_whole)
from rabtui.backup.retention import medium_present
from rabtui.errors import WorkFailed
from rabtui.events import LOG, WARNING, Emit, Event
from rabtui.media import medium_layout
from rabtui.media.medium_layout import TO_DO
from rabtui.state import saved_kinds
from rabtui.state.locks import source_lock
from rabtui.state.store import KEPT, RESTORABLE, Store


def _is_backup_dir(path: Path, source_id: str) -> bool:
    return bool(medium_layout.BACKUP_NAME.match(path.name)) and path.parent.name == source_id


def recover_abandoned(store: Store, source_id: str, emit: Emit, cfg=None,
                      cancel: threading.Event | None = None, *, medium: str | None = None,
                      but: int | None = None, configured: bool = True,
                      mounted_later: str | None = None) -> list[tuple[str, str]]:
    """Backups of this source still `running` belong to a dead process (the caller holds the
    source lock); `medium`: only those on it, `but`: not the caller's own. One whose backup.json
    says complete was complete on the medium (its catalog and archive links were written before
    it): it is recorded as such. One whose backup.json says its transfer ended whole (killed in step
    6 or 7) keeps its data: recorded `kept` (killed_kept.py). One that ended before it made its
    directory is marked abandoned, nothing on its medium touched (the backup at its planned path, if
    any, is not its own). One whose medium is not there and that ended its transfer (its backup.json
    may say complete, or its data whole) is left as it is until a run (or a cleanup) finds its medium
    there. Any other
    is undone: its archive links (the union shows the older version again), its catalog rows and
    its partial directory go (not one whose record cannot be read: medium_layout.not_a_run), and it
    is marked abandoned. Each is said. Returns, (its medium, a
    sentence) each, the runs left as they are for the next run to undo (its writers could not be
    stopped, its archive links not undone), saying which and why. `cancel` ends a wait for the
    union's holder (that run is then left as it is).

    `configured` False: the source is no longer in the config (a cleanup recovers its killed runs
    all the same). Its archive directories are not known then: a run whose step 7 began, and so may
    have linked files into the source's unions, is left as it is unless its backup.json says it
    complete, said with the ways to remove it; the others are undone as above (they linked nothing).

    `mounted_later`: a medium the caller mounts later, and recovers its runs then: they are left
    as they are now, unsaid."""
    left: list[tuple[str, str]] = []
    union_cfg = cfg if configured else None     # unlink_archive does nothing without it
    for row in find_abandoned(store, source_id):
        if (medium is not None and row["medium"] != medium) or row["id"] == but or row["medium"] == mounted_later:
            continue
        made = row["dir_made"] != 0     # else its path is only planned: an older backup there is not its own
        path = Path(row["path"]) if made and row["path"] and _on_its_medium(store, cfg, row) else None
        # a symlink in its place (rabtui never makes one) is not its directory: what it points to is
        # never recorded as the run, nor undone, nor deleted
        there = path is not None and path.is_dir() and not path.is_symlink()
        info = medium_layout.read_backup_json(path) if there else None
        when = datetime.fromtimestamp(row["started"]).strftime("%Y-%m-%d %H:%M:%S")
        what = f"an interrupted backup of {source_id} ({row['name']} on medium {row['medium']}, started {when})"
        away = _out_of_config(cfg, row) or "its medium is not there"
        ended = _ended_on_medium(store, row) if path is None and made and row["path"] else None
        if ended:
            # complete on its medium, perhaps, or its data whole: marked abandoned, its catalog rows
            # forgotten, it would be undone and deleted once the medium is back, and what only it saved lost
            emit(Event(WARNING, f"found {what}: {away}, and {ended}; left as it is until a backup finds the"
                                " medium there", {"backup_id": row["id"]}))
            continue
        if not configured and step7_began(store, row) and not (info and info.get("status") in RESTORABLE):
            why = f"{source_id} is no longer in the config, and {removed_source_left(source_id, row, there)}"
            emit(Event(WARNING, f"found {what}: {why}", {"backup_id": row["id"]}))
            left.append((row["medium"], f"{what}: {why}"))
            continue
        if info and info.get("status") in RESTORABLE:
            _record_ended(store, row, info)     # killed_kept.keep's, say, killed before its row said kept
            remove_leftovers(path)
            emit(Event(WARNING, f"found {what}: its backup.json says {info['status']}; recorded as such, kept",
                       {"backup_id": row["id"]}))
            continue
        if info and info.get("status") == "failed" and _is_backup_dir(path, source_id):
            # it ended, failed, but could not record so in the database (its state directory full, say)
            problem = undo_links(union_cfg, source_id, path, emit, cancel,
                                 killed_kinds.of_run(store, union_cfg, source_id, row["id"], path, info, emit=emit),
                                 saved_kinds.looks(store, source_id, row["medium"]))
            if problem:
                emit(Event(WARNING, f"found {what}: {problem}", {"backup_id": row["id"]}))
                left.append((row["medium"], f"{what}: {problem}"))
                continue
            forget_catalog(store, row)
            _record_ended(store, row, info)
            remove_leftovers(path)
            emit(Event(WARNING, f"found {what}: its backup.json says failed ({info.get('reason')}); recorded as"
                                " such", {"backup_id": row["id"]}))
            continue
        done = ""
        if there and _is_backup_dir(path, source_id):
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
            if transfer_whole(info):     # killed in step 6 or 7: its data is whole
                problem, kept = killed_kept.keep(store, union_cfg, row, path, info, emit, cancel)
                if problem:
                    emit(Event(WARNING, f"found {what}: {problem}", {"backup_id": row["id"]}))
                    left.append((row["medium"], f"{what}: {problem}"))
                    continue
                remove_leftovers(path)
                emit(Event(WARNING, f"found {what}: {done}{kept}", {"backup_id": row["id"]}))
                continue
            try:
                with union_held(union_cfg, source_id, emit, cancel) as moved:
                    undone = unlink_archive(union_cfg, source_id, path, moved=moved, ran=killed_kinds.of_run(
                        store, union_cfg, source_id, row["id"], path, info, emit=emit),
                        looked=saved_kinds.looks(store, source_id, row["medium"]))
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
        elif not made:
            done = "it ended before it made its directory (step 3): nothing of it is on the medium"
            if row["path"] and _on_its_medium(store, cfg, row) and _empty_dir_removed(store, row):
                done = "it was killed as it made its directory (step 3): that directory, empty, was removed"
        elif path is None and _out_of_config(cfg, row):
            done = f"{away}: nothing on it was touched (back in the config, its next backup there undoes the run)"
        else:
            done = ("a symlink stands in the place of its directory (left as it is)" if path is not None
                    and path.is_symlink() else "its directory is not there (medium not mounted, or never created)")
        forget_catalog(store, row)
        mark_abandoned(store, row["id"], f"interrupted: the run ended before it finished; {done}")
        emit(Event(WARNING, f"found {what}: marked abandoned, {done}", {"backup_id": row["id"]}))
        if there and path.is_dir():      # not deleted: its record says what its row does
            say_abandoned_row(path.parent.parent, row["medium"], source_id, store.one(
                "SELECT * FROM backups WHERE id=?", (row["id"],)), emit)
    _kept_said(store, cfg, source_id, emit, medium, mounted_later)
    return left


def _kept_said(store: Store, cfg, source_id: str, emit: Emit, medium: str | None, mounted_later: str | None) -> None:
    """Kept data whose backup.json could not say so as it was kept (its directory immutable, its
    medium full: killed_kept.keep), still saying its transfer ended whole: written now as its row
    says, on its medium when it is there."""
    for row in store.all("SELECT * FROM backups WHERE source=? AND status=? AND dir_made<>0 ORDER BY id",
                         (source_id, KEPT)):
        if (medium is not None and row["medium"] != medium) or row["medium"] == mounted_later or not row["path"]:
            continue
        path = Path(row["path"])
        if not transfer_whole(medium_layout.read_backup_json(path)) or not _on_its_medium(store, cfg, row):
            continue
        not_said = killed_record.say_ended(path.parent.parent, source_id, path.name, KEPT, row["reason"],
                                           row["finished"])
        if not_said:
            emit(Event(WARNING, f"kept data of {source_id} ({row['name']} on medium {row['medium']}): {not_said}",
                       {"backup_id": row["id"]}))
            continue
        remove_leftovers(path)
        emit(Event(LOG, f"kept data of {source_id} ({row['name']} on medium {row['medium']}): its backup.json now"
                        " says kept, as its database row does", {"backup_id": row["id"]}))


def _empty_dir_removed(store: Store, row) -> bool:
    """The directory a run killed in step 3 made before its row said so, removed when it is empty:
    of the names the run could give it (its planned one, then -2, -3 ...: make_backup_dir), one no
    other row holds. Another backup's directory there is never empty (its record and data/ are
    made with it), and no run of the source makes one now (the caller holds the source lock)."""
    planned = Path(row["path"])
    base = medium_layout.BACKUP_NAME.match(planned.name)
    if base is None:
        return False
    held = {r["name"] for r in store.all("SELECT name FROM backups WHERE medium=? AND source=? AND id<>?",
                                         (row["medium"], row["source"], row["id"]))}
    stem = f"backup-{base.group(1)}"
    try:
        names = [n for n in os.listdir(planned.parent) if n not in held and (n == stem or (
            n.startswith(stem + "-") and n[len(stem) + 1:].isdigit()))]
    except OSError:
        return False
    removed = False
    for name in names:
        try:
            os.rmdir(planned.parent / name)      # only an empty directory goes
            removed = True
        except OSError:
            continue
    return removed


def _on_its_medium(store: Store, cfg, row) -> bool:
    """Whether the disk at the path of the backup's medium is that medium: another server's disk
    with its id may hold a backup of the same name, which is not this one (a run of this source
    finishes it once the medium is there: finish_abandoned). A medium the config no longer lists
    is never there: nothing is deleted on it (whatever disk is at its old path now), as a cleanup
    deletes nothing there; put back in the config, its next backup finishes the run."""
    if cfg is None:
        return True
    medium = next((m for m in cfg.media if m.id == row["medium"]), None)
    return medium is not None and medium_present(store, medium)


def _out_of_config(cfg, row) -> str | None:
    """That the run's medium is not in the config (`cfg`), if so."""
    if cfg is None or any(m.id == row["medium"] for m in cfg.media):
        return None
    return f"its medium {row['medium']} is not in the config"


def step7_began(store: Store, row) -> bool:
    """Whether the run's step 7 began: it may have linked new files into the archive unions. A run
    with no steps recorded is one rebuild-state recorded (every run records its seven steps as it
    begins), which undid the links of one killed in step 7 itself (rebuild/backups_recorded.py; one
    before a complete backup on its medium was undone as that backup began): none are left to undo."""
    step = store.one("SELECT state FROM backup_steps WHERE backup_id=? AND step=7", (row["id"],))
    return step is not None and step["state"] not in ("pending", "skipped")


def removed_source_left(source_id: str, row, there: bool = True) -> str:
    """Why an interrupted run of a source no longer in the config stays, and how it goes."""
    where = f" ({row['path']})" if there and row["path"] else ""
    return (f"it had begun its step 7 and may have linked files into {source_id}'s archive unions, which only the"
            f" source's directories tell how to undo: it stays as it is{where}; put {source_id} back in the config"
            f" for a `rabtui cleanup` to undo it, then take it out again")


# what becomes of a run whose rows say its transfer ended whole, its medium away
UNTIL_READ = ("once the medium is there, its data is kept if its backup.json says so too; else, killed before"
              " that was written, the run is undone and its directory deleted")


def _ended_on_medium(store: Store, row) -> str | None:
    """What the run may have left whole on its medium, as its rows say: its step 7 ended (its final
    backup.json was written next, complete, perhaps), or its transfer (its data is kept once its
    backup.json is read, if that says so too: killed_kept.py; killed before it did, or where it could
    not be written, the run is undone as any other)."""
    states = {r["step"]: r["state"] for r in store.all(
        "SELECT step, state FROM backup_steps WHERE backup_id=? AND step IN (5, 7)", (row["id"],))}
    if states.get(7) == "ok":
        return "the backup may be complete on it (its step 7 ended)"
    if states.get(5) in ("ok", "warning"):
        return (f"its transfer had ended whole, as its rows say ({UNTIL_READ})")
    return None


def _record_as_said(db, row, info: dict) -> None:
    """The row of a run says how it ended as its backup.json does (`db`: the store, or a
    transaction's connection)."""
    db.execute("UPDATE backups SET status=?, reason=?, finished=? WHERE id=?",
               (info["status"], _reason(info), _finished(info), row["id"]))


def _record_ended(store: Store, row, info: dict) -> None:
    """A run that ended as its backup.json says without its row saying so: recorded so, the steps
    that had not ended failed or skipped, as the run would have (a complete run's all ended)."""
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


def would_recover(cfg, store: Store) -> list[str]:
    """The killed runs on the media that are here that a cleanup recovers before it plans
    (actions/cleanup.recover; a source whose backup runs now left out), a sentence each with what
    its backup.json says: what a dry run, which recovers none, says of them."""
    media = {m.id: m for m in cfg.media}
    sources = {s.id for s in cfg.sources}
    out = []
    for r in running_rows(store):
        medium = media.get(r["medium"])
        if (medium is None or source_lock(cfg.state_dir, r["source"]).is_held()
                or not medium_present(store, medium)):
            continue
        path = Path(r["path"]) if r["dir_made"] != 0 and r["path"] else None
        info = (medium_layout.read_backup_json(path) if path is not None and path.is_dir() and not path.is_symlink()
                else None)
        if r["source"] not in sources and step7_began(store, r) and not (info and info.get("status") in RESTORABLE):
            continue     # left as it is (recover_abandoned, `configured`)
        said = ("its backup.json says its transfer ended whole: its data would be kept" if transfer_whole(info)
                else ("its backup.json says running, not that its transfer ended whole: it would be undone and its"
                      " directory deleted") if info and info.get("status") == "running"
                else f"its backup.json says {info.get('status')}" if info else "it has no backup.json that can be read"
                if path is not None else "it ended before it made its directory")
        as_next = (f"as the next backup of {r['source']} would" if r["source"] in sources
                   else f"though {r['source']} is no longer in the config")
        out.append(f"the cleanup would first recover the interrupted backup {r['source']} {r['name']} on {r['medium']}"
                   f" ({said}), {as_next}: this dry run does not, and the cleanup may delete more or less than it says")
    return out
