"""The ids rebuild-state renumbered backups to, still to be written into their backup.json.

The new database records each such write (a `meta` row per backup) in the file that takes the old
one's place, so that the write and the database that needs it become true together: the rebuild
writes them once that database is in place and removes each row once written. Killed before or
while it writes, or with a medium it could not write, the rows stay: the next backup of the source
onto that medium writes them first (under the source's lock, the medium mounted), and so does the
next rebuild-state, from the database it replaces, before it reads the media; one that cannot
read the medium keeps those rows in its own database (rebuild/scan.py). Until then `rabtui check`
warns of them (ids:MEDIUM), and each write that fails is said."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from rabtui import faults
from rabtui.state.store import Store, read_only

MAX_INT = 2 ** 63 - 1          # SQLite's largest integer

PREFIX = "id_write:"


@dataclass(frozen=True)
class Write:
    medium: str
    path: Path        # the backup's directory
    was: int | None   # the id its backup.json held
    bid: int          # the id the database records it under

    @property
    def key(self) -> str:
        return f"{PREFIX}{self.medium}:{self.path}"


def keep(store: Store, writes: list[Write]) -> None:
    """The writes recorded in the database (rebuild-state's new one, before it is put in place)."""
    with store.transaction():
        for w in writes:
            store.set_meta(w.key, json.dumps({"medium": w.medium, "path": str(w.path), "was": w.was, "id": w.bid}))


def pending(store: Store) -> list[Write]:
    return _read(store.conn)


def pending_in(db: Path) -> list[Write]:
    """Those the database file `db` holds, read-only (rebuild-state reads the one it replaces)."""
    return read_only(db, _read, [])


def _read(conn) -> list[Write]:
    from rabtui.media.medium_layout import BACKUP_NAME

    out = []
    for key, value in conn.execute("SELECT key, value FROM meta WHERE key LIKE ? ORDER BY key",
                                   (PREFIX + "%",)).fetchall():
        try:
            v = json.loads(value)
            was = v["was"] if isinstance(v["was"], int) else None
            w = Write(str(v["medium"]), Path(v["path"]), was, int(v["id"]))
        except (ValueError, KeyError, TypeError):     # no row of rabtui's: nothing to write
            continue
        if BACKUP_NAME.fullmatch(w.path.name) and w.path.parent.name not in ("", ".", ".."):
            out.append(w)     # else no backup's directory (`at` would name another place)
    # the newest first: rebuild-state gives new ids in the order the backups were made, above every
    # id found, so that a run killed between two writes leaves the records on a medium in that
    # order still (made_order.made_before, which the union's undoings go by); the oldest first left
    # an older backup's new id above a newer one's old id there
    out.sort(key=lambda w: -w.bid)
    return out


def done(store: Store, w: Write) -> None:
    with store.transaction():
        store.execute("DELETE FROM meta WHERE key=?", (w.key,))


def at(medium, w: Write) -> Path:
    """Where the backup of `w` is on `medium` now: the path recorded, on the medium's path as the
    config gives it (one mounted elsewhere since keeps its backups; the old path names none)."""
    return Path(medium.path) / w.path.parent.name / w.path.name


def write(medium, w: Write) -> tuple[bool, str]:
    """The id written into the backup's record: (whether nothing is left to do, what to say). A
    backup gone since (a cleanup deleted it) or whose record says the id already needs nothing."""
    path = at(medium, w)
    if w.was is None:
        what = f"medium {medium.id}: {path}: recorded as backup id {w.bid} (its backup.json held none of rabtui's)"
    else:
        what = f"medium {medium.id}: {path}: backup id {w.was} recorded as {w.bid} (another backup holds it, or it"\
               " came before an older backup's there)"
    try:
        if not os.path.lexists(path):
            return True, f"{what}; the backup is gone since"
        from rabtui.media.medium_layout import read_backup_json

        info = read_backup_json(path)
        if info is not None and info.get("backup_id") == w.bid:
            return True, f"{what}; its backup.json says so now"
        if info is not None and w.was is not None and info.get("backup_id") != w.was:
            return True, f"{what}; its backup.json says {json.dumps(info.get('backup_id'))[:40]} now: left as it is"
        failed = _write_id(path, w.bid, w.was)
    except OSError as exc:
        failed = exc.strerror or str(exc)
    if not failed:
        faults.point("ids.written")
    if failed:
        return False, f"{what}; its backup.json could not be changed: {failed}"
    return True, f"{what}; its backup.json says so now"


def write_in_order(medium, writes: list[Write]):
    """(write, whether nothing is left to do, what to say) for each of `writes` (pending's order, the
    newest first) on the medium: once one of a source's fails, its older ones there are left as
    they are, for after it, so that its new id never passes a newer backup's old id there."""
    stopped: set[str] = set()
    for w in writes:
        if w.path.parent.name in stopped:
            yield w, False, (f"medium {medium.id}: {at(medium, w)}: recorded as backup id {w.bid}; its backup.json is"
                             " left as it is until the id of a backup made after it there is written")
            continue
        finished, said = write(medium, w)
        if not finished:
            stopped.add(w.path.parent.name)
        yield w, finished, said


def _write_id(path: Path, bid: int, was: int | None) -> str | None:
    """The backup at `path`, whose backup.json said `was` (None: no id, or none of rabtui's), was
    recorded under the id `bid`: its backup.json says so too, so that the record and the database
    agree and a later rebuild meets no clash again, nor numbers it otherwise; the ids it had are
    kept (`former_ids`: a checkpoint disc's README names a backup by the id it had then). What
    failed, if any."""
    from rabtui.backup.records import write_json_atomic
    from rabtui.media.medium_layout import read_backup_json

    info = read_backup_json(path)
    if info is None:
        return "it cannot be read again"
    had = info.get("former_ids")
    former = {v for v in (had if isinstance(had, list) else []) if _an_int(v)} | ({was} if was is not None else set())
    write_json_atomic(path / "backup.json", {**info, "backup_id": bid, "former_ids": sorted(former)})
    return None


def _an_int(v) -> bool:
    return isinstance(v, int) and not isinstance(v, bool) and 1 <= v <= MAX_INT


def finish(store: Store, medium, source_id: str, emit) -> None:
    """The ids still to write into the records of `source_id`'s backups on the medium, written (a
    backup of that source, its lock held, the medium found there and checked)."""
    from rabtui.events import LOG, WARNING, Event

    mine = [w for w in pending(store) if w.medium == medium.id and w.path.parent.name == source_id]
    for w, finished, said in write_in_order(medium, mine):
        if finished:
            done(store, w)
        emit(Event(LOG if finished else WARNING, f"left by rebuild-state: {said}"))
