"""The label of each medium's disk as the state recorded it, kept beside the database as well:
`<state_dir>/media/<medium id>.label` (JSON, 0600).

The database is the record everything reads; but when it is damaged or lost, the only record of
which disk is which medium would go with it, and rebuild-state would take whatever disk is at a
medium's path for it: another server's disk with the same medium id (its backups recorded as this
server's, backups written onto it afterwards, the medium's own disk then refused as another). So
the label is written here too whenever the database records another one; rebuild-state reads
these files where the database it replaces cannot tell, and so does every check of a medium where
the database holds no label (one made anew after the one that did was lost, before rebuild-state
ran: a backup from cron)."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

from rabtui import file_replace, privacy
from rabtui.config import ID_RE

DIR = "media"
SUFFIX = ".label"
LARGEST = 1 << 16       # a label is a few hundred bytes: a larger file is none of rabtui's


def keep(state_dir: str | os.PathLike, medium_id: str, label: dict | None) -> str | None:
    """`label` kept as the one of medium `medium_id` (nothing when it is kept already, or is none).
    A file that cannot be written does not stop the caller (the database holds the label all the
    same): the reason is returned, for the caller to say, and `check` names the label not kept."""
    if not isinstance(label, dict) or not ID_RE.fullmatch(medium_id):
        return None
    path = path_of(state_dir, medium_id)
    if _read(path) == label:
        return None
    try:
        privacy.private_dir(path.parent)
        file_replace.replace_file(path, (json.dumps(label) + "\n").encode())
    except OSError as exc:
        return (f"medium {medium_id}: could not keep its label in {path} ({exc.strerror or exc}):"
                " rebuild-state needs it there when the database is lost")
    return None


def disagreement(state_dir: str | os.PathLike, medium_id: str, recorded: dict | None) -> str | None:
    """Why the label kept of medium `medium_id` is not `recorded`, the one the database records
    (None: they agree, or the database records none), with what to do."""
    if not isinstance(recorded, dict):
        return None
    path = path_of(state_dir, medium_id)
    kept_label = kept_one(state_dir, medium_id)
    if kept_label == recorded:
        return None
    fix = (f"fix: see that rabtui can write {path}, then run `rabtui media label {medium_id}` with the"
           " medium's disk at its path (a backup onto it keeps the label too)")
    if kept_label is None:
        found = "holds no label rabtui can read" if os.path.lexists(path) else "is missing"
        return (f"medium {medium_id}: its label is recorded in the database, but {path} {found}; rebuild-state"
                f" reads it there when the database is lost; {fix}")
    return (f"medium {medium_id}: the label kept in {path} ({_described(kept_label)}) is not the one the database"
            f" records ({_described(recorded)}): rebuild-state would go by the kept one and refuse the medium's"
            f" disk; {fix}")


def _described(label: dict) -> str:
    return ", ".join(f"{k} {label[k]}" for k in ("created", "serial") if label.get(k)) or "no time or serial"


def path_of(state_dir: str | os.PathLike, medium_id: str) -> Path:
    return Path(state_dir) / DIR / f"{medium_id}{SUFFIX}"


def kept_one(state_dir: str | os.PathLike, medium_id: str) -> dict | None:
    """The label kept of medium `medium_id` (None: none)."""
    return _read(path_of(state_dir, medium_id)) if ID_RE.fullmatch(medium_id) else None


def kept(state_dir: str | os.PathLike) -> dict[str, dict]:
    """The labels kept, by medium id."""
    try:
        names = os.listdir(Path(state_dir) / DIR)
    except OSError:
        return {}
    out = {}
    for name in names:
        medium_id = name[:-len(SUFFIX)]
        if name.endswith(SUFFIX) and ID_RE.fullmatch(medium_id):
            label = _read(Path(state_dir) / DIR / name)
            if label is not None:
                out[medium_id] = label
    return out


def _read(path: Path) -> dict | None:
    """The label in the file `path`: a regular file of a label's size, not through a symlink."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        data = json.loads(os.read(fd, LARGEST + 1)[:LARGEST])
    except (OSError, ValueError, RecursionError):     # nested deeper than the JSON reader goes
        return None
    finally:
        os.close(fd)
    return data if isinstance(data, dict) and data.get("id") == path.name[:-len(SUFFIX)] else None
