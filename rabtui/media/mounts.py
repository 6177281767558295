"""What the state remembers of a medium, to tell it from an empty directory at its path, and from
another disk labelled with its id.

A disk that is not mounted leaves an empty directory where it was: labelling that directory would
send the backup onto the parent file system. So a medium the state knows (a label or a backup
recorded) is never labelled again implicitly, and whether its path was a mount point when it was
last used (with its st_dev) is remembered in the `meta` table.

A label is written once per disk, with the time and a random serial (`media.label` keeps the one
the state used; labels_kept.py keeps it beside the database too, for rebuild-state): another
server's disk with the same id, or the disk a medium had before it was labelled again on a new one,
holds another labelling, and is not taken for the medium.
"""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

from rabtui.config import Medium
from rabtui.media import labels_kept
from rabtui.state.store import RESTORABLE_SQL, Store, read_only

_KEY = "medium_mount:"
_AWAY = "medium_away:"    # away while rebuild-state ran, known to the database it replaced


def known_because(store: Store, medium_id: str) -> str | None:
    """Why the state knows this medium (a backup that wrote to it, a label recorded or kept), or None.
    A backup that failed before making its directory there (the medium missing, not writable) did
    not use it."""
    row = store.one(
        f"SELECT COUNT(*) AS n FROM backups b WHERE medium=? AND (status IN {RESTORABLE_SQL} OR (status<>'running'"
        " AND EXISTS (SELECT 1 FROM backup_steps s WHERE s.backup_id=b.id AND s.step=3 AND s.state='ok')))",
        (medium_id,))
    if row["n"]:
        return f"{row['n']} backup(s) of it are recorded"
    row = store.one("SELECT label FROM media WHERE id=? AND label IS NOT NULL AND label<>'null'", (medium_id,))
    if row is not None:
        return "its label is recorded"
    if labels_kept.kept_one(store.state_dir, medium_id) is not None:
        return f"its label is kept in {labels_kept.path_of(store.state_dir, medium_id)}"
    if store.one("SELECT 1 FROM meta WHERE key=?", (_AWAY + medium_id,)):
        return "the database rebuild-state replaced knew it, and it was away during the rebuild"
    return None


def remember_away(store: Store, medium_id: str) -> None:
    """rebuild-state did not read a medium the old database knew (without a label to remember):
    its disk is away, and the empty directory there is not labelled implicitly."""
    store.execute("INSERT OR IGNORE INTO meta(key, value) VALUES (?, '1')", (_AWAY + medium_id,))


def mount_of(path: str | os.PathLike) -> dict:
    return {"mount_point": os.path.ismount(path), "dev": os.stat(path).st_dev}


def remembered_mount(store: Store, medium_id: str) -> dict | None:
    value = store.meta(_KEY + medium_id)
    try:
        return json.loads(value) if value is not None else None
    except ValueError:
        return None


def remember_mount(store: Store, medium: Medium) -> None:
    """Called when the medium is labelled or used: its path's mount point status and st_dev now."""
    store.set_meta(_KEY + medium.id, json.dumps(mount_of(medium.path)))


def mount_problem(store: Store | None, medium: Medium) -> str | None:
    """Why the medium's path is not where the medium is now (not mounted), or None."""
    path = medium.path
    if medium.device and not os.path.ismount(path):
        return f"{path} is not a mount point, but the medium has device {medium.device}: it is not mounted"
    before = remembered_mount(store, medium.id) if store is not None else None
    if before and before.get("mount_point") and not os.path.ismount(path):
        return (f"{path} was a mount point when the medium was last used (device {before.get('dev')}) and is not"
                f" one now (device {os.stat(path).st_dev}): the disk is not mounted")
    return None


def known_in(state_dir: str | os.PathLike) -> dict[str, dict | None]:
    """The media the state database in `state_dir` knows (a backup on it, or its label recorded),
    each with the label it used (None: none recorded), as far as it can be read, and those whose
    label is kept beside it (labels_kept: the database may be damaged or gone): rebuild-state,
    replacing it, neither takes one of them away now for a new medium nor another disk for one of
    them."""
    known = read_only(Path(state_dir) / "rabtui.db", _known_media, {})
    for medium_id, label in labels_kept.kept(state_dir).items():
        if known.get(medium_id) is None:
            known[medium_id] = label
    return known


def _known_media(conn: sqlite3.Connection) -> dict[str, dict | None]:
    known: dict[str, dict | None] = {r[0]: None for r in conn.execute(
        f"SELECT DISTINCT medium FROM backups WHERE status IN {RESTORABLE_SQL}")}
    for medium_id, text in conn.execute("SELECT id, label FROM media WHERE label IS NOT NULL AND label<>'null'"):
        known[medium_id] = _parsed(text)
    return known


def _parsed(text: str | None) -> dict | None:
    try:
        label = json.loads(text) if text else None
    except ValueError:
        return None
    return label if isinstance(label, dict) else None


def tells_apart(label: dict | None) -> bool:
    """Whether a label tells its labelling of a disk from any other: by its serial, or (labels
    written before serials) its time; not a label written by hand with just the id."""
    return isinstance(label, dict) and bool(label.get("serial") or label.get("created"))


def other_labelling(store: Store | None, medium: Medium, label: dict | None) -> str | None:
    """Why `label`, found at the medium's path with the medium's id, is not the label of the disk
    the state used as this medium (another disk labelled with the same id), or None when it is, or
    when the state remembers no label to tell (a new medium, a label written by hand)."""
    return None if store is None else labelled_otherwise(medium, label, remembered_label(store, medium.id))


def remembered_label(store: Store, medium_id: str) -> dict | None:
    """The label of the disk the state used as this medium, as it recorded it (None: none); where
    the database holds none (made anew after the one that did was lost), the one kept beside it."""
    label = recorded_label(store, medium_id)
    return label if label is not None else labels_kept.kept_one(store.state_dir, medium_id)


def recorded_label(store: Store, medium_id: str) -> dict | None:
    """The label the database records for this medium (None: none)."""
    row = store.one("SELECT label FROM media WHERE id=?", (medium_id,))
    return _parsed(row["label"]) if row else None


def keep_recorded_label(store: Store, medium_id: str) -> str | None:
    """The label the database records for this medium kept beside it again; returns why it could
    not be (None: kept, or none recorded)."""
    return labels_kept.keep(store.state_dir, medium_id, recorded_label(store, medium_id))


def kept_label_problem(store: Store, medium_id: str) -> str | None:
    """Why the label kept beside the database is not the one it records for this medium, or None."""
    return labels_kept.disagreement(store.state_dir, medium_id, recorded_label(store, medium_id))


def labellings(label: dict) -> list[dict]:
    """The labellings `label` stands for (its own and those it follows, newest first), each as
    {"serial", "created"}: a disk labelled anew stays the medium the earlier ones named."""
    earlier = label.get("follows")
    each = [_labelling(e) for e in [label, *(earlier if isinstance(earlier, list) else [])] if isinstance(e, dict)]
    # only these two of each: anything more a label copied from another disk carried would grow with
    # each labelling, past what a label may hold
    return [each[0]] + [e for e in each[1:] if tells_apart(e)][:100]


def following(label: dict, earlier: dict | None) -> dict:
    """`label` (another disk's, taken over as the medium) following also the labellings of
    `earlier`, the label this server used as the medium before: the discs it made then name those,
    and stay its own to rebuild-state. This server's come first, then the disk's own earlier ones."""
    if not tells_apart(earlier):
        return label
    own = labellings(label)
    ours = [e for e in labellings(earlier) if not any(same_labelling(e, o) for o in own)]
    return {**label, "follows": (ours + own[1:])[:100]} if ours else label


def _labelling(label: dict) -> dict:
    return {k: label[k] for k in ("serial", "created") if isinstance(label.get(k), str)}


def same_labelling(a: dict | None, b: dict | None) -> bool:
    """Whether the labels `a` and `b` are one labelling of a disk: by serial where both have one, else by time."""
    if not tells_apart(a) or not tells_apart(b):
        return False
    if a.get("serial") and b.get("serial"):
        return a["serial"] == b["serial"]
    return bool(a.get("created")) and a.get("created") == b.get("created")


def labelled_otherwise(medium: Medium, label: dict | None, used: dict | None) -> str | None:
    """Why `label` (found at the medium's path) is another labelling than `used`, the one the state
    used as this medium; None when it is the same, when it is not labelled with this medium's id at
    all, or when `used` cannot tell. Serials are compared where both have one, else the times; a
    label that holds neither (just the id, written by hand) is another disk's: taken for the
    medium, it would be recorded in place of the medium's own."""
    if not isinstance(label, dict) or label.get("id") != medium.id or not tells_apart(used):
        return None
    if same_labelling(label, used):
        return None
    return (f"{medium.path} holds a disk labelled {medium.id!r} on {label.get('created') or 'an unknown date'},"
            f" not the one rabtui used as medium {medium.id} (labelled on {used.get('created') or 'an unknown date'}):"
            " another server's disk, or one that medium had before it was labelled again")


def remember_label(store: Store, medium: Medium, label: dict) -> str | None:
    """The label of the disk that is medium `medium` from now on (labelled, or taken over); returns
    why it could not be kept beside the database too (None: kept)."""
    store.execute("INSERT INTO media(id, label) VALUES (?,?) ON CONFLICT(id) DO UPDATE SET label=excluded.label",
                  (medium.id, json.dumps(label)))
    return labels_kept.keep(store.state_dir, medium.id, label)


def made_by(media: list[Medium], store: Store) -> dict[str, dict]:
    """The labelling of the disk used as each of `media` (those that tell it apart): a checkpoint's
    discs name them, which tells this server's discs from another's (checkpoint.layout.MADE_BY)."""
    out = {}
    for medium in media:
        label = recorded_label(store, medium.id)
        if tells_apart(label):
            out[medium.id] = {"id": medium.id, **labellings(label)[0]}
    return out
