"""What a backup that failed for want of room says of the partial data failed and abandoned runs
left on its medium (superseded.py and removed_runs.py say which of it a cleanup deletes)."""

from __future__ import annotations

from rabtui.backup.recovery import removed_source_left
from rabtui.backup.removed_runs import left_rows, stays
from rabtui.state.store import OWN_DIR_SQL, Store


def partial_note(cfg, store: Store, medium_id: str, but: int) -> str:
    """What a backup that failed for want of room on medium `medium_id` says of the failed and
    abandoned runs' partial data there (not the run `but`'s own) and what to do; "" when there is none.
    A cleanup deletes those of a source taken out of the config too, but one whose step 7 began
    (removed_runs.stays): that one is named apart, with the way to remove it."""
    rows = store.all(f"SELECT * FROM backups WHERE medium=? AND id<>? AND status IN ('failed', 'abandoned')"
                     f" AND {OWN_DIR_SQL} ORDER BY id", (medium_id, but))
    if not rows:
        return ""
    named = ", ".join(f"{r['source']} {r['name']}" for r in rows[:3]) + (f" and {len(rows) - 3} more" if len(rows) > 3 else "")
    what = "a failed backup's partial data on it" if len(rows) == 1 else f"{len(rows)} failed backups' partial data on it"
    left = [r for r in left_rows(cfg, store, medium_id) if r["id"] != but and stays(store, r)]
    apart = "".join(f"; {r['source']} {r['name']}: {r['source']} is no longer in the config, and"
                    f" {removed_source_left(r['source'], r, there=False)}" for r in left[:3])
    return (f"; {what} takes room ({named}): `rabtui cleanup` deletes such data once a later complete backup of"
            " its source there holds each of its files, else once it is a day old" + apart)
