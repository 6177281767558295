"""Which shape of a path of an archive directory a restore from the medium gives, where backups
saved several there. An entry a backup saved (a regular file, which the catalog's versions record;
a symlink, a FIFO or a device node, which its `others` record) is an older shape of its path when
a newer backup, up to the one restored, holds a directory there in its own tree: each backup of an
archive directory holds every directory the source had then, and the catalog records none. The
union, and so the discs, hold that directory (the newest shape saved there wins), whatever the
source did with the path since; the restore gives it too, not the older entry."""

from __future__ import annotations

import os

from rabtui.checkpoint.own_dirs import OwnDirs


def dir_saved_after(dirs: OwnDirs, folders: dict[int, bytes], full: bytes, first: int) -> bool:
    """Does a backup newer than `first` (the one that saved the entry at `full`) hold a directory at
    `full` in its own tree? `dirs`: the own trees of the backups up to the restored one, from an item
    at or above `full` (own_dirs.covered); `folders`: id -> directory of each backup on the medium."""
    found = dirs.of(full[len(dirs.rel):].lstrip(b"/"))
    return found is not None and any(os.path.join(path, b"data") == found[0] and i > first
                                     for i, path in folders.items())
