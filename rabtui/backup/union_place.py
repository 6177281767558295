"""An archive directory's union is a place in the union of a directory around it (/data/photos in
/data's: one folder on the medium). Where a backup of the outer one saved the inner one's place, or
a place on the way to it, as a file, a symlink or a special file (the source had one there then),
the inner one's backups need a directory there, as the source has it now: that entry, the union's
only until something is saved below it (the newest shape wins: union_shapes), goes from the union
before the backup, and the backup that saved it holds it still. An entry there that no restorable
backup on the medium holds (the same inode at the same place) is none the union took in: planted,
it is left for the refusal of a symlink on the way (medium_layout.symlink_in_layout) to name."""

from __future__ import annotations

import os
import stat

from rabtui import fmt
from rabtui.media import below, medium_layout
from rabtui.state.store import RESTORABLE_SQL, Store


def make_way(store: Store, medium_path: str, medium_id: str, source_id: str, archive_paths) -> list[str]:
    """Take out of the union the entries of a directory around one of `archive_paths` that stand in
    its way (the module's doc); what is said of each."""
    medium = os.fsencode(medium_path)
    if below.symlink_on_the_way(medium, os.fsencode(f"{source_id}/{medium_layout.ARCHIVE}/")) is not None:
        return []       # the refusal names it
    root = os.path.join(medium, os.fsencode(source_id), os.fsencode(medium_layout.ARCHIVE))
    said = []
    for d in archive_paths:
        parts = os.fsencode(d.strip("/")).split(b"/")
        for i in range(1, len(parts) + 1 if parts != [b""] else 1):
            place = b"/".join(parts[:i])
            try:
                st = below.lstat(root, place)     # each part before it a directory: none on the way followed
            except FileNotFoundError:
                break
            if stat.S_ISDIR(st.st_mode):
                continue
            name = _held_by(store, medium_id, source_id, place, st)
            if name is not None:
                below.unlink(root, place)
                # the place a directory at once: a look at the union (rebuild-state's too) for an
                # older backup that recorded no kinds finds no file of its missing there
                os.close(below.open_dir(root, place, make=True))
                said.append(f"medium {medium_id}: the archive held {fmt.name(b'/' + place)} (not a directory) where"
                            f" {fmt.name(d)} is now: it goes from the .archive/ view for the directory the source has there;"
                            f" {name} holds it still (restore --backup {name} gives it)")
            break
    return said


def _held_by(store: Store, medium_id: str, source_id: str, place: bytes, st: os.stat_result) -> str | None:
    """The name of a restorable backup on the medium that saved an entry at `place` and holds the
    union's entry `st` there (its inode), if any."""
    rows = store.all(
        "SELECT DISTINCT b.name, b.path FROM backups b WHERE b.source=? AND b.medium=?"
        f" AND b.status IN {RESTORABLE_SQL} AND (b.id IN (SELECT v.first_backup FROM paths p JOIN versions v"
        " ON v.path_id=p.id WHERE p.source=? AND p.path=? AND v.medium=?)"
        " OR b.id IN (SELECT first_backup FROM others WHERE source=? AND path=? AND medium=?)) ORDER BY b.id DESC",
        (source_id, medium_id, source_id, place, medium_id, source_id, place, medium_id))
    for r in rows:
        if medium_layout.symlink_to_entry(r["path"], place) is None \
                and below.is_file(os.path.join(os.fsencode(r["path"]), b"data"), place, st):
            return r["name"]
    return None
