"""What rebuild-state takes from one backup's `backup.json`, each field checked. The file lies on a
medium the operator may read and edit (a note put in `reason`, a slip in `status`): a field of the
wrong type or out of range is left out and said, and a backup whose record does not say what it is
(no backup status, not a JSON object: medium_layout.not_a_run) is recorded as failed, with the
reason: kept, never deleted nor used as a base, and named by every cleanup until the file is
corrected."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from rabtui.backup import unreadable
from rabtui.backup.records import transfer_whole
from rabtui.config.model import directory_path_problem
from rabtui.media.medium_layout import TO_DO, not_a_run, union_may_be_there
from rabtui.media.union_look import union_lacks_tree
from rabtui.state.store import ID_REACH

KINDS = ("standard", "archive")
MAX_INT = 2 ** 63 - 1          # SQLite's largest integer: ids, sizes and counts
COUNTS = ("total_bytes", "new_bytes", "files", "new_files")
DIR_COUNTS = COUNTS + ("changed_files", "source_bytes")
NAME_TIME = re.compile(r"^backup-(\d{14})")


@dataclass
class Record:
    status: str
    reason: str | None
    started: float | None          # None: the directory's time is taken
    finished: float | None
    backup_id: int | None          # None: a new id
    totals: dict[str, int | None]
    directories: list[dict]
    notes: list[str] = field(default_factory=list)   # what was left out, for the rebuild's report
    former_ids: list[int] = field(default_factory=list)   # ids an earlier rebuild-state renumbered it from
    link_dest: str | None = None   # the name of the backup it was linked from (made before it)
    on_medium: bool = True         # its backup.json holds it (which says the id it is recorded under)
    unread: str | None = None      # why its backup.json does not say what it is (not_a_run): it may be complete
    transfer_whole: bool = False   # still running, its transfer ended whole (records.transfer_whole)
    medium: str | None = None      # the medium its record says the run wrote it onto (copied.py)
    source: str | None = None      # the source its record says it is a backup of (copied.py)


def read(name: str, path: Path, info: dict | None) -> Record:
    """The record of the backup `name` at `path` from its backup.json (`info`, None when it is
    missing or no JSON object)."""
    why = not_a_run(path, info)
    # it may be complete: failed (never a base), which no cleanup deletes while its record cannot be read
    # (retention.unread_record); not abandoned, whose archive links the next backup onto its medium
    # would undo (abandoned_left.finish_abandoned), as for a run known to be killed
    if why:
        return Record("failed", f"found by rebuild-state: its directory is kept, never used as a base: its"
                                   f" backup.json: {why} {TO_DO}", _name_time(name), None, None,
                      dict.fromkeys(COUNTS), [], on_medium=False, unread=why)
    if info is None:
        return Record("abandoned", "no backup.json (found by rebuild-state)", _name_time(name), None, None,
                      dict.fromkeys(COUNTS), [], on_medium=False)
    status = info["status"]
    notes: list[str] = []
    totals = info.get("totals")
    return Record(status, _text(info.get("reason")),
                  _time(info, "started", notes) or _name_time(name), _time(info, "finished", notes),
                  _backup_id(info.get("backup_id"), notes),
                  _counts(totals if isinstance(totals, dict) else {}, COUNTS, "totals.", notes),
                  _directories(info.get("directories"), notes), notes, _former_ids(info.get("former_ids")),
                  info.get("link_dest") if isinstance(info.get("link_dest"), str) else None,
                  transfer_whole=transfer_whole(info),
                  medium=info.get("medium") if isinstance(info.get("medium"), str) else None,
                  source=info.get("source") if isinstance(info.get("source"), str) else None)


def _shown(value) -> str:
    return json.dumps(value)[:80]


def _text(value) -> str | None:
    """A reason as text: anything else the operator wrote there is kept as its JSON."""
    return value if value is None or isinstance(value, str) else json.dumps(value)


def _is_int(value, low: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= MAX_INT


def _int(value, low: int, key: str, notes: list[str]) -> int | None:
    if value is None or _is_int(value, low):
        return value
    notes.append(f"{key} {_shown(value)} is not a whole number from {low} to 2**63-1: left out")
    return None


def _former_ids(value) -> list[int]:
    return [v for v in value if _is_int(v, 1)] if isinstance(value, list) else []


def _backup_id(value, notes: list[str]) -> int | None:
    if value is None or (_is_int(value, 1) and value < ID_REACH):
        return value
    notes.append(f"backup_id {_shown(value)} is not an id (1 to 2**62-1): recorded under a new one")
    return None


def _counts(values: dict, keys: tuple[str, ...], prefix: str, notes: list[str]) -> dict[str, int | None]:
    return {k: _int(values.get(k), 0, prefix + k, notes) for k in keys}


def _time(info: dict, key: str, notes: list[str]) -> float | None:
    """A time as rabtui writes it (ISO 8601)."""
    value = info.get(key)
    if isinstance(value, str):
        try:
            return datetime.fromisoformat(value).timestamp()
        except (ValueError, OverflowError, OSError):
            pass
    if value is not None:
        notes.append(f"{key} {_shown(value)} is not a time: left out")
    return None


def _name_time(name: str) -> float | None:
    m = NAME_TIME.match(name)
    try:
        return datetime.strptime(m.group(1), "%Y%m%d%H%M%S").timestamp() if m else None
    except ValueError:          # fourteen digits that are no date
        return None


def _directories(value, notes: list[str]) -> list[dict]:
    if value is None:
        return []
    if not isinstance(value, list):
        notes.append(f"directories {_shown(value)} is not a list: left out")
        return []
    out = []
    for n, d in enumerate(value):
        key = f"directories[{n}]"
        if not isinstance(d, dict) or not isinstance(d.get("path"), str) or not d["path"]:
            notes.append(f"{key} names no path: left out")
            continue
        problem = directory_path_problem(d["path"])
        if problem:     # as the config refuses it: `..` would lead out of the backup's data/
            notes.append(f"{key}.path {_shown(d['path'])} {problem}: left out")
            continue
        kind, state = d.get("kind"), d.get("state")
        if kind is not None and kind not in KINDS:
            notes.append(f"{key}.kind {_shown(kind)} is none of {', '.join(KINDS)}: taken as if it recorded none")
        out.append({"path": d["path"], "kind": kind if kind in KINDS else None, "state": _text(state),
                    "message": _text(d.get("message")),
                    "rsync_exit": _int(d.get("rsync_exit"), -MAX_INT, f"{key}.rsync_exit", notes),
                    **_counts(d, DIR_COUNTS, f"{key}.", notes), "unreadable": unreadable.from_record(d),
                    "whole_on_retry": int(d.get("whole_on_retry") is True),
                    "excludes": _excludes(d.get("excludes"), f"{key}.excludes", notes)})
    return out


def _excludes(value, key: str, notes: list[str]) -> str | None:
    """The directory's excludes as the state database keeps them (a JSON list of patterns)."""
    if value is None:
        return None
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return json.dumps(value)
    notes.append(f"{key} {_shown(value)} is not a list of patterns: left out")
    return None


def kind_taken(medium_path: Path, source_id: str, dir_path: str, configured: str | None,
               backup_path: Path | None = None, before: Path | None = None) -> tuple[str, str]:
    """The kind of a directory its backup's record names none of, and why, by the rule every reader
    judges a backup that recorded no kinds by (saved_kinds): archive where the medium holds an
    archive union of the directory (it was an archive one there, maybe in this backup: retention
    keeps the versions it saved while they have no other copy, whatever the config says now);
    standard where it holds none (an archive directory's backup links each file it saves into that
    union: none did there, and a restore of the directory reads the backup's own tree, not a union
    that is not there). A union lacking a file the backup at `backup_path` holds of the directory
    was made after it, and one holding a file linked from the complete backup made before it
    (`before`: --link-dest) is a standard one all the same (union_lacks_tree): standard."""
    if backup_path is not None and union_lacks_tree(medium_path, source_id, dir_path, backup_path, before):
        return "standard", (f"the medium's archive union of it lacks files this backup holds, or it holds files"
                            f" linked from the backup before it (an archive backup made the union since), the"
                            f" config says {configured or 'nothing of it'}")
    if union_may_be_there(medium_path, source_id, dir_path):
        return "archive", (f"the medium holds an archive union of it, the config says {configured or 'nothing of it'}:"
                           " retention keeps the versions it saved while they have no other copy")
    return "standard", f"no archive union of it on the medium, the config says {configured or 'nothing of it'}"

