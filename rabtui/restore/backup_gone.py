"""What a restore says of a path a backup's tree does not hold, where the backup's own directory is
not on its medium any more: renamed, moved or deleted by hand (the database still records it). That
is said by name, not taken for the path missing from the backup."""

from __future__ import annotations

import os

from rabtui import fmt
from rabtui.errors import WorkFailed


def not_there(shown: str, origin: str, backup_path: str, reached: bytes, source_id: str) -> WorkFailed:
    """The failure of a restore of `shown` from `origin` (a backup at `backup_path`, `reached` as the
    path that reaches it, Shortcuts') that found nothing there."""
    if os.path.isdir(reached):
        return WorkFailed(f"{shown} is not in {origin}")
    return WorkFailed(f"{shown} is not restored: the directory of {origin}, {fmt.name(backup_path)}, is not on the"
                      " medium any more (renamed, moved or deleted by hand?)",
                      hint=f"`rabtui find` lists the other copies, `rabtui restore --backup NAME {source_id} ...` takes"
                           " one of them; put the directory back under its name, or run `rabtui rebuild-state` to"
                           " record what the media hold")
