"""A medium that goes while rebuild-state reads it (unplugged after its backups were listed):
its backups would read as holding nothing. It is found gone once walked, and what was recorded
from it goes again."""

from __future__ import annotations

from rabtui.state.store import Store


def forget_medium(store: Store, medium_id: str, report) -> None:
    """The backups and catalog recorded from a medium that went while it was read go again: what
    could not be walked is not recorded as empty. The medium stays known (never labelled afresh)."""
    with store.transaction() as conn:
        backups = conn.execute("SELECT COUNT(*) FROM backups WHERE medium=?", (medium_id,)).fetchone()[0]
        versions = conn.execute("SELECT COUNT(*) FROM versions WHERE medium=?", (medium_id,)).fetchone()[0]
        for table in ("backup_dirs", "unreadable", "unrecorded_looks"):
            conn.execute(f"DELETE FROM {table} WHERE backup_id IN (SELECT id FROM backups WHERE medium=?)",
                         (medium_id,))
        conn.execute("DELETE FROM versions WHERE medium=?", (medium_id,))
        conn.execute("DELETE FROM others WHERE medium=?", (medium_id,))
        conn.execute("DELETE FROM backups WHERE medium=?", (medium_id,))
        conn.execute("DELETE FROM paths WHERE id NOT IN (SELECT path_id FROM versions)")
    report.backups -= backups
    report.versions -= versions
    report.media.remove(medium_id)
    report.to_write = [w for w in report.to_write if w.medium != medium_id]
    report.unmatched.append(f"medium {medium_id}: gone while rebuild-state read it (unplugged?); its backups are not"
                            " recorded: put it back and run `rabtui rebuild-state` again")
