"""Health check of the sources' layout on the media at hand (rabtui/ops/health.py): a symlink
planted in it (a source's directory, `.archive`, a union or a directory on the way to one,
`.linking`: medium_layout.symlink_in_layout), which rabtui never makes and which stops every
backup of the source onto the medium, every cleanup of its backups there and every checkpoint
reading its unions, until it is removed. And a medium at hand whose disk lacks the newest complete
backup the database records on it (retention.newest_not_there): no cleanup deletes there until
rebuild-state has read it."""

from __future__ import annotations

from rabtui.config import Config
from rabtui.media import medium_layout
from rabtui.media.at_hand import media_there
from rabtui.ops.problems import WARNING, Problem
from rabtui.state.store import COMPLETE_SQL, Store


def planted_symlinks(cfg: Config, store: Store) -> list[Problem]:
    """One warning per source and medium there whose layout holds a symlink."""
    out = []
    for m in media_there(cfg, store):
        for s in cfg.sources:
            try:
                found = medium_layout.symlink_in_layout(m.path, s.id, s.archive_paths, saved_ok=True)
            except OSError:
                continue
            if found:
                out.append(Problem(f"symlink:{s.id}:{m.id}", WARNING,
                                   f"medium {m.id}: source {s.id}'s layout: {found}; until then no backup of {s.id}"
                                   f" goes onto {m.id}, no cleanup removes its backups there and no checkpoint"
                                   " reads its unions there"))
    return out


def newest_not_on_disk(cfg: Config, store: Store) -> list[Problem]:
    """One warning per source and medium there whose disk lacks the newest complete backup the
    database records on it (a copy of the disk put back, another disk dd'd from it)."""
    from rabtui.backup.retention import newest_not_there

    out = []
    for m in media_there(cfg, store):
        for source in [r["source"] for r in store.all("SELECT DISTINCT source FROM backups WHERE medium=?"
                                                      " ORDER BY source", (m.id,))]:
            complete = store.all(f"SELECT * FROM backups WHERE source=? AND medium=? AND status IN {COMPLETE_SQL}"
                                 " ORDER BY started, id", (source, m.id))
            why = newest_not_there(complete, m)
            if why:
                out.append(Problem(f"lacking:{source}:{m.id}", WARNING, f"source {source}: {why}"))
    return out
