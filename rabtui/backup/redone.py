"""Files rsync received more than once, or not at all, for what it read of them on the source did not
match the checksum the sender sent (rsync_stderr.discarded): a read error there (a bad sector, an NFS
hiccup) zero-filled part of the file, and the sender spoiled its checksum so that the receiver
would not keep it. The receiver itemizes the file all the same, discards it and asks for it again:
a second item, kept when the second read succeeds, discarded for good when it fails too.

So the stream staged such a file once per try, and one not kept at all. After the transfer, the
directory's rows and sizes are set to what the medium holds: the last item of a file it holds, none
of one it does not, which is recorded as unreadable on the source (it was not deleted there)."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rabtui.media import below
from rabtui.backup import unreadable
from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.backup.sizes import DirSizes

_STATE, _SIZE = 3, 4     # of a spool row


def settle(dest: Path, dir_path: str, spool: CatalogSpool, sizes: DirSizes, redone: set[bytes]) -> list[bytes]:
    """`redone`: the files of the directory (names below it) rsync discarded at least once. Their
    rows and sizes made what `dest` (the backup's copy of the directory) holds; those it does not
    hold returned (and named in `sizes.unreadable`)."""
    prefix = dir_prefix(dir_path)
    rels = sorted(redone)
    last = {}
    for row in spool.take_back(dir_path, [prefix + rel for rel in rels]):
        sizes.add_files(row[_STATE], -1, -row[_SIZE])
        last[bytes(row[1])] = row
    dest_b = os.fsencode(dest) + b"/"
    kept, lost = [], []
    for rel in rels:
        row = last.get(prefix + rel)
        if _held(dest_b, rel):
            if row is not None:
                kept.append(row)
                sizes.add_files(row[_STATE], 1, row[_SIZE])
        else:
            lost.append(rel)
            unreadable.add(sizes, os.fsdecode(rel))
    if kept:
        spool.add(dir_path, kept)
    return lost


def _held(dest: bytes, rel: bytes) -> bool:
    try:
        return stat.S_ISREG(below.lstat(dest, rel).st_mode)
    except OSError:
        return False
