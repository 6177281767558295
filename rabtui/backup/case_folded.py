"""Files of one directory of the source whose names differ only in case (`Case`, `case`), backed up
onto a medium whose file system takes one for the other (exFAT, vfat: medium_fs.folds_case). rsync
writes both, each itemized as new, each renamed over the other in turn: the medium holds one file,
under the name and with the content of the last one written, and rsync says nothing. The catalog
held both, so every checkpoint plan refused the directory for the other "not on the medium any
more" and a restore named it as lost. The names the medium does not list as they are are taken
out of the backup's rows and sizes and named as not written on the medium (`unmade`, as
not_created.py names a file it could not create); the one it lists stays, as written.

Only on such a medium, the names compared per directory of the backup; a lookup there finds any
of them, so what the medium holds is told by listing the directory (once per directory that holds
names alike). Names alike are told by str.casefold, wider than exFAT's upcase table (ß, ligatures):
a group it joins that the medium keeps apart is listed whole, nothing taken out."""

from __future__ import annotations

import os
from collections import defaultdict
from pathlib import Path

from rabtui.backup import unreadable
from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.backup.sizes import DirSizes
from rabtui.media import below
from rabtui.rsync import SAME

_STATE, _SIZE = 3, 4     # of a spool row


def settle(dest: Path, dir_path: str, spool: CatalogSpool, sizes: DirSizes) -> list[bytes]:
    """The regular files of the directory (names below it) this backup holds that `dest` (its copy
    of the directory) does not list under their own name, another of their directory alike in case
    in their place: out of the rows and sizes, named in `sizes.unreadable` and `sizes.unmade`;
    returned. A directory not listed is left as it is."""
    prefix = dir_prefix(dir_path)
    cut = len(prefix)
    alike: dict[tuple[bytes, str], list[bytes]] = defaultdict(list)
    for path in spool.file_paths(dir_path):
        parent, name = os.path.split(path[cut:])
        alike[parent, os.fsdecode(name).casefold()].append(name)
    top = os.fsencode(dest).rstrip(b"/") + b"/"
    listed: dict[bytes, set[bytes] | None] = {}
    lost = []
    for (parent, _), names in alike.items():
        if len(names) < 2:
            continue
        if parent not in listed:
            listed[parent] = _listing(top, parent)
        held = listed[parent]
        if held is None:
            continue
        lost += [os.path.join(parent, n) for n in names if n not in held]
    if not lost:
        return []
    lost.sort()
    paths = [prefix + rel for rel in lost]
    for row in spool.take_back(dir_path, paths):
        sizes.add_files(row[_STATE], -1, -row[_SIZE])
    for size in spool.take_back_same(dir_path, paths):
        sizes.add_files(SAME, -1, -size)
    for rel in lost:
        name = os.fsdecode(rel)
        unreadable.add(sizes, name)
        if name in sizes.unreadable and name not in sizes.unmade:
            sizes.unmade.append(name)
    return lost


def _listing(top: bytes, parent: bytes) -> set[bytes] | None:
    try:
        return set(below.names(top, parent))
    except OSError:
        return None
