"""Which media are at hand: mounted now at their path, with their own label (given the state, the
label of the disk it used as that medium, not another disk's with the same id). Media rotate, so
on any day most of them are away; readers (restore, checkpoints) take what is at hand, and ask for
the rest in turn."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Sequence, TypeVar

from rabtui.config import Config, Medium
from rabtui.errors import WorkFailed
from rabtui.events import READY, SKIP, Question
from rabtui.media.medium_layout import OFF_PATH_SQL, recorded_path, stale_path
from rabtui.media.mounts import other_labelling
from rabtui.state.store import OWN_DIR_SQL, Store

T = TypeVar("T")


def medium_problem(medium: Medium, store: Store | None = None) -> str | None:
    """Why the backups of `medium` cannot be read now (None: it is there, with its own label; with
    the state's `store`, the label of the disk the state used as that medium, and the catalog
    records its backups at its path)."""
    return moved_away(medium, store) or label_problem(medium, store)


def label_problem(medium: Medium, store: Store | None = None, unread: bool = True) -> str | None:
    """Why `medium` is not at its path now (None: it is there, with its own label; with the state's
    `store`, the label of the disk the state used as that medium). `unread` False: a label that
    cannot be read is no problem found (what is read there then fails by itself, saying why)."""
    from rabtui.media.medium import read_label, said_id

    try:
        label = read_label(medium.path) if Path(medium.path).is_dir() else None
    except WorkFailed as exc:
        return str(exc) if unread else None
    if label and label.get("id") == medium.id:
        other = other_labelling(store, medium, label)
        return f"medium {medium.id}: {other}" if other else None
    found = f"labelled {said_id(label)}" if label else "not there (not mounted?)"
    return f"medium {medium.id} is {found} at {medium.path}"


def moved_away(medium: Medium, store: Store | None) -> str | None:
    """Why the catalog's paths of the medium's backups are not read: some are off its path (it
    changed in the config, the disk copied onto a larger one or mounted elsewhere). Its label is
    checked at its path, while what is at the old path may be nothing, or another disk. None when
    all are at its path (or no `store`)."""
    if store is None:
        return None
    rows = store.all(f"SELECT source, name, path FROM backups WHERE medium=? AND status<>'deleted' AND {OWN_DIR_SQL}"
                     f" AND {OFF_PATH_SQL} ORDER BY id", (medium.id, str(Path(medium.path))))
    if not rows:
        return None
    more = f" (and {len(rows) - 1} more)" if len(rows) > 1 else ""
    return (f"medium {medium.id}: backup {rows[0]['source']}/{rows[0]['name']}{more}: "
            + stale_path(rows[0]["path"], medium.id, medium.path, "read"))


def another_there(medium: Medium, store: Store | None = None, unread: bool = True) -> str | None:
    """Why the disk at `medium`'s path is not that medium, when a labelled one is there (another
    medium's label, another disk of its id, a label that cannot be read unless `unread` is False),
    or why the catalog's paths of its backups are not read (moved_away); None when it is the
    medium, and when nothing labelled is there (what is read there then fails by itself)."""
    from rabtui.media.medium import LABEL

    moved = moved_away(medium, store)
    if moved:
        return moved
    problem = label_problem(medium, store, unread)
    return problem if problem is not None and os.path.lexists(Path(medium.path) / LABEL) else None


def unconfigured_problem(medium_id: str, source: str, name: str, path: str, store: Store | None = None) -> str | None:
    """Why the backup `source`/`name` of a medium no longer in the config is not read where the
    catalog records it (`path`): no disk is there, or the disk at the medium root that path names
    is not that medium (another medium's label, another disk of its id: medium_problem). None: it
    is that medium, and the backup is read there."""
    gone = f"medium {medium_id} is no longer in the config"
    root = Path(path).parent.parent
    if str(Path(path)) != recorded_path(root, source, name):
        return f"{gone}, and the catalog has backup {source}/{name} at {path}, off a medium's layout"
    problem = medium_problem(Medium(id=medium_id, path=root), store)
    return None if problem is None else f"{gone}; where the catalog has backup {source}/{name}: {problem}"


def plugged_in(medium: Medium) -> bool:
    """Whether `medium` has a `device` that is plugged in (there), mounted or not."""
    return bool(medium.device) and os.path.exists(medium.device)


def left_unmounted(medium: Medium) -> bool:
    """Whether `medium` has a `device` that is plugged in (there) and nothing mounted at its path,
    as rabtui leaves it between runs: a restore mounts it to read it."""
    return plugged_in(medium) and not os.path.ismount(medium.path)


def media_there(cfg: Config, store: Store | None = None) -> list[Medium]:
    """The configured media that are there now (their label at their path says so)."""
    return [m for m in cfg.media if label_problem(m, store) is None]


def paths_there(cfg: Config, store: Store) -> list[Path]:
    """The paths of the configured media that are there now (their label says so, and it is the
    label of the disk the state used as that medium: not another server's); none is mounted."""
    return [Path(m.path) for m in media_there(cfg, store)]


def media_at_hand(cfg: Config, store: Store | None = None) -> set[str]:
    return {m.id for m in media_there(cfg, store)}


def ask_in_turn(candidates: Sequence[T], problem: Callable[[T], str | None],
                question: Callable[[T, int, int, str, T | None], Question], prompter, cancel, what: str) -> T:
    """The first candidate (newest first) that is at hand, asking for each in turn: ready once it
    is there (asked again while it is not), skip to go on to the next, abort to stop."""
    n = len(candidates)
    for k, c in enumerate(candidates, 1):
        why = problem(c)
        while why is not None:
            answer = prompter.ask(question(c, k, n, why, candidates[k] if k < n else None), cancel)
            if answer == SKIP:
                break
            if answer != READY:
                raise WorkFailed(f"aborted: no copy of {what} was at hand")
            why = problem(c)
        if why is None:
            return c
    raise WorkFailed(f"stopped: each of the {n} copies of {what} was skipped")
