"""The order a source's backups on a medium were made in, as their backup.json files tell it."""

from __future__ import annotations

from rabtui.state.store import ID_REACH


def an_id(value) -> bool:
    """Whether a backup.json's id is one the backups' order goes by: one given by hand from ID_REACH
    up is none (the ids after it would pass SQLite's largest), nor is a bool."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 < value < ID_REACH


def made_before(listed: list, a: int, b: int) -> bool:
    """Whether backup listed[a] (list_backups) was made before listed[b]: by the ids their backup.json
    record, else by their names. A backup dated ahead by a clock that was wrong is named after
    those made after it."""
    if b >= len(listed):      # not listed (no longer a backup's name): every backup there came before it
        return True
    ids = [listed[i][2].get("backup_id") if listed[i][2] else None for i in (a, b)]
    if all(an_id(i) for i in ids):
        return ids[0] < ids[1]
    return a < b
