"""What each symlink and device node a backup wrote points to, read on the medium right after its
transfer (media/points_to.py) and staged with its entry for the catalog's `others`: one the base
holds unchanged (rsync linked it) extends the base's entry, which says it already. A readlink or an
lstat per new symlink or device node; nothing for a tree without them."""

from __future__ import annotations

import os
from pathlib import Path

from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.media import points_to


def settle(dest: Path, dir_path: str, spool: CatalogSpool) -> None:
    """The targets and numbers of the new symlinks and device nodes of `dir_path` the spool holds,
    as `dest` (the backup's copy of the directory) holds them, staged (one not there: not known)."""
    new = spool.new_others(dir_path, points_to.KINDS)
    if not new:
        return
    cut = len(dir_prefix(dir_path))
    root = os.fsencode(dest)
    found = [(*points_to.held(root, path[cut:], kind), rowid) for rowid, path, kind in new]
    spool.held_as([f for f in found if f[:2] != (None, None)])
