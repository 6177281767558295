"""Which paths of a source the catalog knows at all: one where a backup, on any medium, saved a
file (`paths`) or a symlink, FIFO or device node (`others`). An entry of an archive's union at a
path it does not know is one no backup saved (checkpoint/union_as_saved.py); one it knows may be a
newer backup's, completed while a checkpoint's plan waited for it, or a running one's not recorded yet
(union_settled)."""

from __future__ import annotations

from rabtui.state.store import Store, in_chunks


def known(store: Store, source: str, paths: list[bytes]) -> set[bytes]:
    """Those of `paths` (relative to /) the catalog knows of `source`."""
    out: set[bytes] = set()
    for chunk, marks in in_chunks(paths):
        for table in ("paths", "others"):
            out.update(bytes(p) for p, in store.tuples(
                f"SELECT path FROM {table} WHERE source=? AND path IN ({marks})", (source, *chunk)))
    return out


def union_settled(store: Store, source: str, medium: str) -> bool:
    """Whether no run of `source` on `medium` is `running` (or killed, not recovered yet) once its
    step 7 began: such a one may have linked files into the unions that the catalog does not know yet."""
    return store.one("SELECT count(*) AS n FROM backups b JOIN backup_steps s ON s.backup_id=b.id AND s.step=7"
                     " WHERE b.source=? AND b.medium=? AND b.status='running'"
                     " AND s.state NOT IN ('pending', 'skipped')", (source, medium))["n"] == 0
