"""What the backup a checkpoint takes a directory from could not read on its source (the table
`unreadable`, backup/unreadable.py): not in that backup, so not on the discs either. The plan
names them per directory as backup.json does (`unreadable`: `NAME`, `NAME/.`, `NAME/`, "." for the
directory itself; `unreadable_unnamed`: how many more), the planning says so, and each disc's
README.txt lists them, bounded (layout.unread_lines), so that a disc says what it lacks. Those rsync
read on the source and could not create on the medium (`unreadable.unmade`: a name vfat or exFAT
refuses) are said so (`unmade`), not as unread on the source."""

from __future__ import annotations

import os

from rabtui import fmt
from rabtui.backup import unreadable
from rabtui.backup.catalog_update import dir_prefix
from rabtui.checkpoint.layout import split_unmade, unread_lines
from rabtui.state.store import Store


# why a file read on the source is not in its backup (not_created.py), as the plan and README.txt say it
UNMADE = "read on the source, refused by the medium's file system: a name vfat or exFAT cannot hold?"


def of_backup(store: Store, backup_id: int, dir_path: str) -> tuple[list[str], int, list[str]]:
    """The paths below `dir_path` that backup `backup_id` could not read, named as in backup.json
    (sorted), how many more it could not read there (unnamed), and those of the names it read on the
    source and could not create on the medium."""
    prefix = dir_prefix(dir_path)
    top = prefix.rstrip(b"/")
    rows = store.all("SELECT path, file, unmade FROM unreadable WHERE backup_id=? AND (path=? OR substr(path, 1, ?)=?)",
                     (backup_id, top, len(prefix), prefix))
    names, unmade = [], []
    for r in rows:
        path = bytes(r["path"])
        if path == top and r["file"] == 0:
            names.append(unreadable.TOP)
        elif path.startswith(prefix) and path != top:
            rel = os.fsdecode(path[len(prefix):])
            names.append(rel if r["file"] == 1 else rel + "/." if r["file"] == 0 else rel + "/")
            if r["unmade"]:
                unmade.append(names[-1])
    names.sort()
    row = store.one("SELECT unreadable FROM backup_dirs WHERE backup_id=? AND path=?", (backup_id, dir_path))
    counted = row["unreadable"] if row is not None and row["unreadable"] else 0
    return names, max(0, counted - len(names)), sorted(unmade)


def plan_fields(d) -> dict:
    """A directory's fields of the plan (and of the plan's summary) for what its backup (of a
    content.DirContent) could not read, or could not write on the medium."""
    return {"unreadable": d.unread, "unreadable_unnamed": d.unread_unnamed, "unmade": d.unmade}


def readme_bytes(d) -> int:
    """At most what layout.unread_lines writes for a directory (a content.DirContent), in bytes of
    UTF-8 as README.txt is written (for the room kept on each disc)."""
    lines = unread_lines({**plan_fields(d), "kind": "archive"})
    return len("\n".join(lines).encode()) + 1


def warning(d) -> str:
    """What the planning says of a directory (a content.DirContent) its backup could not read all of."""
    unread, unmade = split_unmade(d.unread, d.unmade)
    total = len(unread) + d.unread_unnamed
    where = "on the discs only as an earlier backup saved them" if d.kind == "archive" else "not on the discs"
    said = []
    if total:
        said.append(f"could not read {fmt.count(total, 'path')} on the source, {where},"
                    f" e.g. {fmt.name(os.fsencode(unread[0])) if unread else '(not named)'}")
    if unmade:
        said.append(f"could not write {fmt.count(len(unmade), 'file')} on the medium ({UNMADE}), {where},"
                    f" e.g. {fmt.name(os.fsencode(unmade[0]))}")
    return f"{d.key}: backup {d.backup_name} " + "; ".join(said)
