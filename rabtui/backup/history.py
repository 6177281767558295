"""What earlier runs left: the link-dest base, the expected size, and runs that were killed."""

from __future__ import annotations

import shutil
from datetime import datetime
from pathlib import Path

from rabtui.backup import media
from rabtui.backup.records import find_abandoned, mark_abandoned
from rabtui.config import Medium
from rabtui.events import WARNING, Emit, Event
from rabtui.store import COMPLETE, Store


def find_base(store: Store, medium: Medium, source_id: str) -> tuple[int | None, Path, str] | None:
    """The newest complete backup of a source on a medium (the --link-dest base): (id, path, name).

    Complete means both: its backup.json says so (the medium is the truth) and the database does
    not know it as anything else (failed, abandoned, deleted). A backup the database does not
    know at all (before `rebuild-state`) still counts, with id None.
    """
    for name, path, info in reversed(media.list_backups(medium.path, source_id)):
        if not info or info.get("status") not in COMPLETE:
            continue
        row = store.one("SELECT id, status FROM backups WHERE medium=? AND source=? AND name=?",
                        (medium.id, source_id, name))
        if row is not None and row["status"] not in COMPLETE:
            continue
        return (row["id"] if row else None, path, name)
    return None


def expected_bytes(store: Store, source_id: str, *, with_base: bool) -> int | None:
    """What a backup will probably write: the last new bytes when it has a base, else a whole copy."""
    column = "new_bytes" if with_base else "total_bytes"
    row = store.one(
        f"SELECT {column} AS n FROM backups WHERE source=? AND status IN ('completed','warnings')"
        " ORDER BY started DESC, id DESC LIMIT 1", (source_id,))
    return row["n"] if row and row["n"] is not None else None


def last_files(store: Store, source_id: str, dir_path: str) -> int | None:
    """How many files the directory held in its source's newest complete backup (None: never backed up)."""
    row = store.one(
        "SELECT d.files FROM backup_dirs d JOIN backups b ON b.id = d.backup_id WHERE b.source=? AND d.path=?"
        " AND b.status IN ('completed','warnings') ORDER BY b.started DESC, b.id DESC LIMIT 1", (source_id, dir_path))
    return row["files"] if row else None


def _is_backup_dir(path: Path, source_id: str) -> bool:
    return bool(media.BACKUP_NAME.match(path.name)) and path.parent.name == source_id


def recover_abandoned(store: Store, source_id: str, emit: Emit) -> None:
    """Backups of this source still `running` belong to a dead process (the caller holds the
    source lock): mark them abandoned, delete their partial directory, and say so."""
    for row in find_abandoned(store, source_id):
        path = Path(row["path"]) if row["path"] else None
        info = media.read_backup_json(path) if path and path.is_dir() else None
        when = datetime.fromtimestamp(row["started"]).strftime("%Y-%m-%d %H:%M:%S")
        what = f"an interrupted backup of {source_id} ({row['name']} on medium {row['medium']}, started {when})"
        if info and info.get("status") in COMPLETE:
            mark_abandoned(store, row["id"], "interrupted after it was complete on the medium")
            emit(Event(WARNING, f"found {what}: its backup.json says complete; marked abandoned, kept",
                       {"backup_id": row["id"]}))
            continue
        if path is not None and path.is_dir() and _is_backup_dir(path, source_id):
            try:
                shutil.rmtree(path)
                done = "its partial directory was deleted"
            except OSError as exc:
                done = f"its partial directory could not be deleted ({exc.strerror}); it is never used as a base"
        else:
            done = "its directory is not there (medium not mounted, or never created)"
        mark_abandoned(store, row["id"], f"interrupted: the run ended before it finished; {done}")
        emit(Event(WARNING, f"found {what}: marked abandoned, {done}", {"backup_id": row["id"]}))
