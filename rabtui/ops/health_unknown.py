"""Health check of the catalog against the media (rabtui/ops/health.py): backups on a medium at
hand that the state database does not know. A database that lost its -wal (deleted by hand, or an
older copy put back) lacks the backups it recorded last, and a database made anew lacks them all:
find, restore, cleanup and checkpoints do not see them, until rebuild-state records them."""

from __future__ import annotations

import os

from rabtui.config import Config
from rabtui.media import medium_layout
from rabtui.media.at_hand import media_there
from rabtui.ops.problems import WARNING, Problem
from rabtui.state.store import Store


def unknown_backups(cfg: Config, store: Store) -> list[Problem]:
    """One warning per medium there that holds backup directories with no row in the database: their
    names only are read (no backup.json), for the configured sources and those the database knows
    there. A running backup has its row before its directory, so it is never one of them."""
    out = []
    for m in media_there(cfg, store):
        rows = store.all("SELECT source, name FROM backups WHERE medium=?", (m.id,))
        known = {(r["source"], r["name"]) for r in rows}
        unknown = []
        for source_id in sorted({s.id for s in cfg.sources} | {r["source"] for r in rows}):
            try:
                names = os.listdir(medium_layout.source_root(m.path, source_id))
            except OSError:
                continue
            unknown += [f"{source_id}/{n}" for n in sorted(names)
                        if medium_layout.BACKUP_NAME.match(n) and (source_id, n) not in known]
        if unknown:
            shown = ", ".join(unknown[:3]) + (f" and {len(unknown) - 3} more" if len(unknown) > 3 else "")
            out.append(Problem(f"unknown:{m.id}", WARNING,
                               f"medium {m.id}: {len(unknown)} backup(s) the state database does not know ({shown}):"
                               " find, restore, cleanup and checkpoints do not see them (its -wal lost, or an older"
                               " copy of it put back?); `rabtui rebuild-state` records them"))
    return out
