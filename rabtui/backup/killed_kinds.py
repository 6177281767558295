"""The directories a killed run (to undo) ran as archive ones, where neither the database nor its
backup.json names their kinds (made by an older version, the database lost or rebuilt while its
medium was away, the record edited by hand): each directory of the config, or of a record of the
source on the medium, whose union holds one of the run's own files, one no complete backup there
holds. A run that saved a directory as a standard one has its unchanged files linked from its base:
no links of its own, and undone there, the older backups' files would come into the union. Those
found are written into its backup.json (killed_record.say_ran_as_archive) before they are undone:
killed midway, the next undoing would find none of those it undid (an older shape not yet put back
stays lost). rebuild-state and the recovery of a killed run both look so."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Iterable

from rabtui.backup import killed_record
from rabtui.media import below, medium_layout
from rabtui.state.store import COMPLETE

KINDS = ("archive", "standard")


def ran_as_archive(medium_path, source_id: str, bpath: Path, kinds: dict[str, str | None],
                   candidates: Iterable[str], complete: list) -> tuple[list[str], str | None]:
    """(the directories the run at `bpath` ran as archive ones, why its record could not be made to
    name those found, if so). `kinds`: path -> kind its record names (None, or any word but the
    two: looked at); naming none, each of `candidates` is looked at. `complete`: the data folders'
    parents (backup directories) of the complete backups there, newest first."""
    if kinds:
        unsure = {d for d, kind in kinds.items() if kind not in KINDS}
    else:
        unsure = set(candidates)
    found = sorted(d for d in unsure if _own_links(medium_path, source_id, bpath, d, complete))
    problem = killed_record.say_ran_as_archive(medium_path, source_id, bpath.name, found) if found else None
    return sorted([d for d, kind in kinds.items() if kind == "archive"] + found), problem


def from_record(medium_path, source_id: str, bpath: Path, info: dict | None, listed: list,
                configured: Iterable[str]) -> tuple[list[str], str | None]:
    """ran_as_archive for a run whose row names no kinds, from its backup.json (`info`) and the
    source's backups on the medium (`listed`: list_backups); `configured`: the config's directories."""
    kinds = {d["path"]: d.get("kind") for d in medium_layout.recorded_dirs(info) if isinstance(d.get("path"), str)}
    candidates = set(configured) | {d["path"] for _, _, i in listed for d in medium_layout.recorded_dirs(i)
                                    if isinstance(d.get("path"), str)}
    complete = [p for _, p, i in reversed(listed) if i and i.get("status") in COMPLETE and p != bpath]
    return ran_as_archive(medium_path, source_id, bpath, kinds, candidates, complete)


def _own_links(medium_path, source_id: str, bpath, dir_path: str, complete: list) -> bool:
    from rabtui.backup.archive import same_in_union

    if medium_layout.symlink_in_layout(medium_path, source_id, [dir_path]):
        return True     # nothing read through it: the undoing refuses it, and says so
    union = medium_layout.archive_root(medium_path, source_id, dir_path)
    data = medium_layout.backup_data_path(bpath, dir_path)
    if not union.is_dir() or not data.is_dir():
        return False
    tops = [os.fsencode(medium_layout.backup_data_path(p, dir_path)) for p in complete]
    for rel, inode in same_in_union(data, union):
        if not any(_same(top, rel, inode) for top in tops):
            return True
    return False


def _same(top: bytes, rel: bytes, inode: tuple[int, int]) -> bool:
    try:
        st = below.lstat(top, rel)
    except OSError:
        return False
    return (st.st_dev, st.st_ino) == inode


def of_run(store, cfg, source_id: str, backup_id: int | None, bpath: Path, info: dict | None,
           listed: list | None = None, emit=None) -> list[str]:
    """The directories the killed run at `bpath` (its row `backup_id`, or None: the database knows
    it not) ran as archive ones: as its row records them, or (it records no kinds) from_record's,
    the config's directories among those looked at (`cfg` None: the source is out of it, and
    nothing is undone). Why its record could not name those found goes to `emit`."""
    from rabtui.backup.history import ran_as_archive as recorded
    from rabtui.errors import ConfigError
    from rabtui.events import WARNING, Event

    if backup_id is not None and store.one("SELECT 1 FROM backup_dirs WHERE backup_id=?", (backup_id,)):
        return recorded(store, backup_id)
    if cfg is None:
        return []
    try:
        configured = [d.path for d in cfg.source(source_id).directories]
    except ConfigError:
        configured = []
    medium_path = bpath.parent.parent
    listed = medium_layout.list_backups(medium_path, source_id) if listed is None else listed
    ran, problem = from_record(medium_path, source_id, bpath, info, listed, configured)
    if problem and emit is not None:
        emit(Event(WARNING, f"{problem}: should this run be stopped before it has undone the killed one, the next"
                            " may not find all of its links"))
    return ran
