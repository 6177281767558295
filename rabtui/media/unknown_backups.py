"""Media that may hold backups the state database does not know: one at hand holding backup
directories with no row (a database that lost its -wal, or made anew before rebuild-state), and
one away that rebuild-state did not read (it was not there, or another disk was: the database it
made knows none of its backups). A restore that chooses the newest copy, and find, say so: the
newest copy may be on it, and only `rabtui rebuild-state` with it mounted records its backups."""

from __future__ import annotations

import json
import os
import threading
from contextlib import nullcontext

from rabtui import fmt
from rabtui.config import Config, Medium
from rabtui.media import medium_layout
from rabtui.errors import LockBusy, MissingTool, WorkFailed
from rabtui.events import Emit, no_emit
from rabtui.media.at_hand import label_problem, media_there, plugged_in
from rabtui.media.look_mount import looked_at
from rabtui.state import locks
from rabtui.state.store import COMPLETE_SQL, RESTORABLE_SQL, Store, as_made, made_first

UNREAD_KEY = "unread_by_rebuild:"       # meta: a configured medium the rebuild that made the database did not read
# meta: a checkpoint's directory taken from a backup on a medium the rebuild did not read (its discs'
# copy of the state names it): the restore ranks the discs' copy by that backup's start
TAKEN_KEY = "taken_unread:"
# meta: the highest backup id when rebuild-state had read the media and discs: a backup with a
# higher id was made after it, so after every backup a checkpoint was taken from
REBUILT_IDS_KEY = "ids_at_rebuild"
# seconds a look at a device medium left unmounted waits for another process mounting or unmounting
# it (a backup's mount takes a second; the restore does not need the look to go on)
LOOK_WAIT = 10


def mark_unread(store: Store, medium_id: str) -> None:
    """rebuild-state did not read this medium: the database it makes knows none of its backups."""
    store.set_meta(UNREAD_KEY + medium_id, "1")


def unread(store: Store, medium_id: str) -> bool:
    """Whether the rebuild that made the database did not read this medium (mark_unread)."""
    return store.meta(UNREAD_KEY + medium_id) is not None


def remember_taken(store: Store, number: int, source_id: str, path: str, backup: dict) -> None:
    """Checkpoint `number` took source:path from `backup` ({name, medium, started}), on a medium
    rebuild-state did not read."""
    store.set_meta(f"{TAKEN_KEY}{number}:{source_id}:{path}", json.dumps(backup))


def first_after(store: Store, known: set[tuple[str, str, str]], source_id: str) -> dict | None:
    """{name, medium, started} of the source's restorable backup that started first of those
    `known` (the (source, medium, name) of the backups a checkpoint's copy of the state knew)
    lacks, made after that checkpoint (made_after's); None when none, or `known` is empty."""
    rows = store.all(f"SELECT name, medium, started FROM backups WHERE source=? AND status IN {RESTORABLE_SQL}"
                     " AND started IS NOT NULL ORDER BY started", (source_id,))
    after = (r for r in rows if (source_id, r["medium"], r["name"]) not in known)
    first = next(after, None) if known else None
    return dict(first) if first is not None else None


def newest_known(store: Store, known: set[tuple[str, str, str]], source_id: str) -> dict | None:
    """{name, medium} of the source's complete backup of those `known` (as first_after's) that
    ranks newest as made (store.as_made), or None: it was made before the backup a checkpoint was
    taken from, whatever its date (a checkpoint takes the newest complete backup; one kept, its
    post-backup commands failed, may be made after)."""
    rows = store.all(f"{made_first()}SELECT b.name, b.medium FROM backups b WHERE b.source=?"
                     f" AND b.status IN {COMPLETE_SQL} ORDER BY {as_made()} DESC, b.id DESC", (source_id, source_id))
    return next(({"name": r["name"], "medium": r["medium"]} for r in rows
                 if (source_id, r["medium"], r["name"]) in known), None)


def made_before(store: Store, source_id: str, taken: dict) -> tuple[float, int] | None:
    """(as made, id) of the backup newest_known recorded in `taken` (taken_unread's), when it is
    still a restorable backup of the database's; None otherwise (a damaged record too)."""
    before = taken.get("before")
    if not _a_backup(before):
        return None
    row = store.one(f"{made_first()}SELECT b.id, {as_made()} AS made FROM backups b WHERE b.source=? AND b.medium=?"
                    f" AND b.name=? AND b.status IN {RESTORABLE_SQL}", (source_id, source_id, before["medium"],
                                                                        before["name"]))
    return (row["made"], row["id"]) if row else None


def remember_ids(store: Store) -> None:
    """The ids rebuild-state gave end here (REBUILT_IDS_KEY)."""
    store.set_meta(REBUILT_IDS_KEY, str(store.one("SELECT COALESCE(MAX(id), 0) AS n FROM backups")["n"]))


def taken_unread(store: Store, number: int, source_id: str, path: str) -> dict | None:
    """The backup remember_taken recorded ({name, medium, started, and `after`: {name, medium,
    started} of the backup made after it that started first, when rebuild-state found one}), or
    None."""
    try:
        found = json.loads(store.meta(f"{TAKEN_KEY}{number}:{source_id}:{path}") or "null")
    except ValueError:
        return None
    ok = isinstance(found, dict) and _time(found.get("started"))
    return found if ok else None


def _time(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _a_backup(value) -> bool:
    """Whether `value`, read from a record rebuild-state wrote, names a backup ({name, medium, ...})."""
    return isinstance(value, dict) and all(isinstance(value.get(k), str) for k in ("name", "medium"))


def made_after(store: Store, source_id: str, taken: dict) -> dict | None:
    """Of the restorable backups made after `taken` (taken_unread's: one the database does not
    know; a failed one dated behind would rank the discs below older backups, tied with it), the one
    that started first ({name, medium, started}), when it started before `taken`: `taken` was dated
    ahead by a clock that was wrong then. Those rebuild-state found (the copy of the state on the
    discs taken from it did not know them), and those made since (store.as_made ranks a backup the
    database knows so)."""
    after = taken.get("after")
    found = [after] if _a_backup(after) and _time(after.get("started")) else []     # else a damaged record
    ids = store.meta(REBUILT_IDS_KEY)
    if ids is not None and ids.isdigit():
        row = store.one(f"SELECT name, medium, started FROM backups WHERE source=? AND id>? AND status IN {RESTORABLE_SQL}"
                        " AND started IS NOT NULL ORDER BY started LIMIT 1", (source_id, int(ids)))
        found += [dict(row)] if row else []
    first = min(found, key=lambda b: b["started"], default=None)
    return first if first is not None and first["started"] < taken["started"] else None


def unknown_names(medium: Medium, store: Store, source_ids: set[str], configured: set[str] = frozenset()) -> list[str]:
    """The backup directories of `source_ids` (and of the sources the database knows there) on the
    medium, which is there, that have no row in the database ("source/name"): their names are read,
    and the records of those with no row. A running backup has its row before its directory, so it
    is never one of them; nor is a copy of a backup the database knows elsewhere, whose record names
    that place, nor one whose record names another source of the config (`configured`): rebuild-state
    does not take them (rebuild/copied.py)."""
    rows = store.all("SELECT medium, source, name, status FROM backups")
    everywhere = {(r["medium"], r["source"], r["name"]) for r in rows}
    held = {(r["medium"], r["source"], r["name"]) for r in rows if r["status"] != "deleted"}
    here = {source for m, source, _ in everywhere if m == medium.id}
    out = []
    for source_id in sorted(source_ids | here):
        root = medium_layout.source_root(medium.path, source_id)
        try:
            names = os.listdir(root)
        except OSError:
            continue
        out += [f"{source_id}/{n}" for n in sorted(names)
                if medium_layout.BACKUP_NAME.match(n) and (medium.id, source_id, n) not in everywhere
                and not _copy_of_known(medium, root / n, source_id, held, configured)]
    return out


def _copy_of_known(medium: Medium, path, source_id: str, held: set[tuple[str, str, str]], configured: set[str]) -> bool:
    """Whether the record at `path`, a backup's directory of `source_id` on `medium`, names another
    place as its own, where the database knows a backup of its name not deleted (`held`: (medium,
    source, name)), or another source of `configured`. A place on this medium that does not hold
    that backup any more is none (a source renamed, its folder renamed by hand: rebuild-state reads it
    as this source's)."""
    info = medium_layout.read_backup_json(path)
    if not isinstance(info, dict):
        return False
    place = (medium.id, source_id)
    named = tuple(v if isinstance(v, str) else p for v, p in zip((info.get("medium"), info.get("source")), place))
    if named == place:
        return False
    if named[1] != source_id and named[1] in configured:
        return True
    return (*named, path.name) in held and (named[0] != medium.id
                                           or (medium_layout.source_root(medium.path, named[1]) / path.name).is_dir())


def shown(names: list[str]) -> str:
    return ", ".join(names[:3]) + (f" and {len(names) - 3} more" if len(names) > 3 else "")


def unknown_media(cfg: Config, store: Store, source_ids: set[str] | None = None, emit: Emit | None = None,
                  cancel: threading.Event | None = None) -> list[tuple[Medium, list[str] | str | None]]:
    """Each configured medium that may hold backups the database does not know: with their names
    ("source/name") when it is there, None when it is away and rebuild-state did not read it, why
    when it could not be mounted to be looked at. With `emit`, a medium with a `device` that is
    plugged in but not mounted (as rabtui leaves it between runs) is looked at too, read-only
    (look_mount.py; its warnings to `emit`). Any medium with a `device` is read under its mount lock
    (a user of it ending meanwhile unmounts it after). `source_ids`: the sources asked about; None:
    the configured ones and those the database knows on the medium. `cancel` stops a look's mount
    that hangs, and its wait for the medium's mount lock (Cancelled)."""
    out: list[tuple[Medium, list[str] | str | None]] = []
    there = {m.id for m in media_there(cfg, store)}
    for m in cfg.media:
        if m.id not in there and unread(store, m.id):
            out.append((m, None))
            continue
        # with `emit`, a device medium plugged in is read under look_mount's lock, mounted or not: the
        # mount seen may be another look's, unmounted by it while it is read
        look = emit is not None and plugged_in(m)
        if m.id not in there and not look:
            continue
        try:
            if look:
                names = _looked_at(cfg, store, m, source_ids, True, emit, cancel)
            else:
                with _not_unmounted(cfg, m):
                    there_yet = label_problem(m, store) is None
                    names = _looked_at(cfg, store, m, source_ids, False, emit) if there_yet else []
        except LockBusy as exc:     # check: passed over while another process mounts or unmounts it, as when unmounted
            if emit is not None:
                out.append((m, str(exc)))
            continue
        except (WorkFailed, MissingTool) as exc:
            out.append((m, str(exc)))
            continue
        except OSError as exc:     # its mount point not made
            where = f" ({fmt.name(os.fsencode(exc.filename))})" if exc.filename else ""
            out.append((m, f"{(exc.strerror or str(exc)).lower()}{where}"))
            continue
        if names:
            out.append((m, names))
    return out


def not_known(cfg: Config, store: Store, source_ids: set[str], emit: Emit | None = None,
              cancel: threading.Event | None = None) -> list[str]:
    """One line per configured medium that may hold backups of `source_ids` the database does not
    know, saying why (empty: the database knows every backup that can be known now); `emit` as
    unknown_media's."""
    out = []
    for m, found in unknown_media(cfg, store, source_ids, emit, cancel):
        if found is None:
            out.append(f"medium {m.id} was not read by rebuild-state (away, or another disk at its path then): the state"
                       " database knows none of its backups")
        elif isinstance(found, str):
            out.append(f"medium {m.id} could not be mounted to look for backups the state database does not know: {found}")
        else:
            sources = sorted({n.split("/", 1)[0] for n in found})
            out.append(f"medium {m.id} holds {fmt.count(len(found), 'backup')} of {', '.join(sources)} the state"
                       f" database does not know ({shown(found)})")
    return out


def _not_unmounted(cfg: Config, m: Medium):
    """The mount lock of a medium with a `device`, held while it is read where it is mounted: the
    last of rabtui's users of it ending meanwhile waits to unmount it (mounting.py)."""
    if not m.device:
        return nullcontext()
    return locks.mounting_lock(cfg.state_dir, m.id).acquire_within(LOOK_WAIT)


def _looked_at(cfg: Config, store: Store, m: Medium, source_ids: set[str] | None, mount: bool, emit: Emit | None,
               cancel: threading.Event | None = None) -> list[str]:
    """unknown_names of `source_ids` on `m` (None: of every source, as unknown_media's), looked at
    through look_mount when `mount`; none when another disk is on its device, or one with no label (WorkFailed
    when its label cannot be read: it may be the medium)."""
    if not mount:
        configured = {s.id for s in cfg.sources}
        if source_ids is None:
            return unknown_names(m, store, configured, configured)
        return [n for n in unknown_names(m, store, set(source_ids), configured) if n.split("/", 1)[0] in source_ids]
    with looked_at(m, emit or no_emit, cfg.state_dir, LOOK_WAIT, cancel) as seen:
        why = label_problem(seen, store)
        if why is not None and label_problem(seen, store, unread=False) is None:
            raise WorkFailed(why)
        if why is not None:
            return []
        return _looked_at(cfg, store, seen, source_ids, False, emit)
