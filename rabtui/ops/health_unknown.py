"""Health check of the catalog against the media (rabtui/ops/health.py): backups on a medium at
hand that the state database does not know, and media away that rebuild-state did not read. A
database that lost its -wal (deleted by hand, or an older copy put back) lacks the backups it
recorded last, and a database made anew lacks them all: find, restore, cleanup and checkpoints do
not see them, until rebuild-state records them (rabtui/media/unknown_backups.py)."""

from __future__ import annotations

from rabtui.config import Config
from rabtui.media.unknown_backups import shown, unknown_media
from rabtui.ops.problems import WARNING, Problem
from rabtui.state.store import Store


def unknown_backups(cfg: Config, store: Store) -> list[Problem]:
    """One warning per medium there that holds backup directories with no row in the database (for
    the configured sources and those the database knows there), and per medium away that the
    rebuild that made the database did not read. A medium with a `device` left unmounted is not
    mounted to be looked at (find and restores do): monitoring runs check every few minutes, and the
    disk would never rest."""
    out = []
    for m, names in unknown_media(cfg, store):
        if isinstance(names, str):
            out.append(Problem(f"unknown:{m.id}", WARNING,
                               f"medium {m.id} could not be looked at for backups the state database does"
                               f" not know: {names}"))
            continue
        if names is None:
            out.append(Problem(f"unknown:{m.id}", WARNING,
                               f"medium {m.id} was not read by rebuild-state (away, or another disk at its path then):"
                               " find, restore, cleanup and checkpoints do not see its backups; mount it and run"
                               " `rabtui rebuild-state`"))
        else:
            out.append(Problem(f"unknown:{m.id}", WARNING,
                               f"medium {m.id}: {len(names)} backup(s) the state database does not know ({shown(names)}):"
                               " find, restore, cleanup and checkpoints do not see them (its -wal lost, or an older"
                               " copy of it put back?); `rabtui rebuild-state` records them"))
    return out
