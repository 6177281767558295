"""The source a restore, a diff or a find reads: the configuration's, or, for a source no longer in
it (removed, or renamed in the source form), one made from what its backups hold. Its backups stay
on the media and in the catalog, and so stay restorable to a directory: the media are the truth."""

from __future__ import annotations

import dataclasses

from rabtui.config import ID_RE, Config, Directory, Source
from rabtui.errors import ConfigError, UsageError
from rabtui.state import saved_kinds
from rabtui.state.store import Store


def source_of(cfg: Config, store: Store, source_id: str) -> Source:
    """The source `source_id`; ConfigError when neither the configuration nor any backup knows it.
    A configured one with the directories its backups saved that no configured one holds (taken out
    of the source, or made one inside it: /data made /data/photos leaves /data/top to /data)."""
    if not ID_RE.fullmatch(source_id):     # no backup has it (bytes not UTF-8 could not be asked for)
        return cfg.source(source_id)
    # and the directories the look at a medium found named by the records of backups that recorded no kinds
    rows = store.all("SELECT l.path, l.kind FROM unrecorded_looks l JOIN backups b ON b.id=l.backup_id"
                     " WHERE b.source=? AND b.status<>'deleted' AND l.kind IN ('archive', 'standard')"
                     " ORDER BY b.started, b.id", (source_id,))
    rows += store.all("SELECT d.path, d.kind FROM backup_dirs d JOIN backups b ON b.id = d.backup_id"
                      " WHERE b.source=? ORDER BY b.started, b.id", (source_id,))
    kinds = {r["path"]: r["kind"] for r in rows}     # each directory as its newest backup had it
    try:
        source = cfg.source(source_id)
    except ConfigError:
        if not rows:
            raise
        return Source(id=source_id, directories=tuple(Directory(path=p, kind=k) for p, k in kinds.items()))
    held = [p for p in kinds if not any(_holds(d.path, p) for d in source.directories)]
    return dataclasses.replace(source, directories=(*source.directories, *(Directory(path=p, kind=kinds[p]) for p in held)))


def _holds(a: str, b: str) -> bool:
    """Whether directory `a` is `b` or holds it."""
    return (b.rstrip("/") + "/").startswith(a.rstrip("/") + "/")


def as_saved_by(store: Store, source: Source, backup) -> Source:
    """`source` with each directory of the kind `backup` saved it as (the config's kind may have
    changed since: archive, standard, archive again), where the restore reads it: the union as that
    backup left it, or its own tree. A backup that recorded no kinds is taken as every reader takes
    it (saved_kinds.archive_in)."""
    kinds = {r["path"]: r["kind"] for r in store.all("SELECT path, kind FROM backup_dirs WHERE backup_id=?",
                                                     (backup["id"],))}
    inside: set[str] = set()
    if not kinds:
        arc = set(saved_kinds.archive_in(store, backup, source.archive_paths))
        kinds = {d.path: "archive" if d.path in arc else "standard" for d in source.directories}
    else:   # one it did not save, inside one it saved, is none of the backup's: what is there is the outer one's
        inside = {d.path for d in source.directories if d.path not in kinds
                  and any(p != d.path and _holds(p, d.path) for p in kinds)}
    return dataclasses.replace(source, directories=tuple(
        dataclasses.replace(d, kind=kinds[d.path]) if kinds.get(d.path) in ("archive", "standard") else d
        for d in source.directories if d.path not in inside))


def check_restorable_onto(cfg: Config, source_id: str) -> None:
    """A source no longer in the configuration names no machine to restore onto."""
    if all(s.id != source_id for s in cfg.sources):
        raise UsageError(f"source {source_id} is no longer in {cfg.path}: its backups are restored to a"
                         " directory", hint="give --to DIR instead of --to-source")
