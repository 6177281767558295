"""Files of one directory of the source whose names differ only in case (`Case`, `case`), backed up
onto a medium whose file system takes one for the other (exFAT, vfat: medium_fs.folds_case). rsync
writes both, each itemized as new, each renamed over the other in turn: the medium holds one file,
under the name and with the content of the last one written, and rsync says nothing. The catalog
held both, so every checkpoint plan refused the directory for the other "not on the medium any
more" and a restore named it as lost. The names the medium does not list as they are are taken
out of the backup's rows and sizes and named as not written on the medium (`unmade`, as
not_created.py names a file it could not create); the one it lists stays, as written.

Directories alike but for case (`Dir`, `dir`) are one on the medium, under the name made first: the
files below the others are there under a path the catalog does not hold (the plan refused them as
put there since), one alike in both written over the other whichever it is named. Those are
removed from the backup's copy (this backup's own names; older backups keep theirs) and named as not
written, with any file of the kept directory the same file on the medium.

Only on such a medium, the names compared per directory of the backup: a hash per file while
looking, the names of those alike only. A lookup there finds any of them, so what the medium holds
is told by listing the directories (those holding names alike). Names alike are told by
str.casefold, wider than exFAT's upcase table (ß, ligatures, the Kelvin sign): of a set it joins, those
the medium lists as they are stay (`ß`, `ss`), the others are taken out (`SS`, written over `ss`)."""

from __future__ import annotations

import itertools
import os
from collections import defaultdict
from pathlib import Path

from rabtui.backup import unreadable
from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.backup.sizes import DirSizes
from rabtui.media import below
from rabtui.rsync import SAME

_STATE, _SIZE = 3, 4     # of a spool row


def settle(dest: Path, dir_path: str, spool: CatalogSpool, sizes: DirSizes, base: Path | None = None,
           copied: list[bytes] = ()) -> tuple[list[bytes], list[bytes]]:
    """The regular files of the directory (names below it) this backup holds that `dest` (its copy
    of the directory) does not hold under their own path (above), out of the rows and sizes, named
    in `sizes.unreadable` and `sizes.unmade`; returned, with those of them taken from the base
    (below). Where none of a set alike is listed as it is
    (a directory not listed), they are left as they are. `base`: the copy of the directory rsync
    took unchanged files from; one of a set alike it took from there under another's name (rsync's
    lookup there finds any of them: the other's content, of the same size and time) is removed:
    of those linked from there (unchanged) and `copied` (names below the directory rsync copied from
    there, the medium holding no hard links)."""
    prefix = dir_prefix(dir_path)
    cut = len(prefix)
    seen, twice, dirs = set(), set(), set()
    for path in spool.file_paths(dir_path):
        rel = path[cut:]
        key = hash(_folded(rel))
        (twice if key in seen else seen).add(key)
        parent = os.path.dirname(rel)
        while parent and parent not in dirs:
            dirs.add(parent)
            parent = os.path.dirname(parent)
    del seen
    top = os.fsencode(dest).rstrip(b"/") + b"/"
    taken = (_taken_from_another(top, os.fsencode(base).rstrip(b"/") + b"/", prefix, dir_path, spool, copied)
             if base else [])
    listed: dict[bytes, set[bytes] | None] = {}
    apart = _dirs_not_kept(top, dirs, listed)
    if not twice and not apart and not taken:
        return [], []
    alike: dict[str, list[bytes]] = defaultdict(list)
    removed = set()
    for path in spool.file_paths(dir_path):
        rel = path[cut:]
        folded = _folded(rel)
        if apart and _below(rel, apart):
            removed.add(folded)
        elif hash(folded) in twice:
            alike[folded].append(rel)
    lost = list(taken)
    if removed:
        for path in spool.file_paths(dir_path):
            rel = path[cut:]
            if _folded(rel) in removed:
                lost.append(rel)
                alike.pop(_folded(rel), None)
        for rel in lost:
            if _below(rel, apart):
                try:
                    below.unlink(top, rel)
                except OSError:
                    pass        # the same file as one removed before; else the plan names it
        # a file of the kept directory alike to one removed under str.casefold alone (`ß`, `ss`) is
        # a file of its own on the medium: it is still listed once those are gone
        after: dict[bytes, set[bytes] | None] = {}
        lost = [rel for rel in lost if rel in taken or _below(rel, apart) or not _listed_as_it_is(top, rel, after)]
    for rels in alike.values():
        if len({os.path.dirname(rel) for rel in rels}) > 1:
            continue
        held = [rel for rel in rels if _listed_as_it_is(top, rel, listed)]
        if held:
            lost += [rel for rel in rels if rel not in held]
    if not lost:
        return [], []
    lost = sorted(set(lost))
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
    return lost, sorted(taken)


def _taken_from_another(top: bytes, base: bytes, prefix: bytes, dir_path: str, spool: CatalogSpool,
                        copied: list[bytes]) -> list[bytes]:
    """The files of `dir_path` this backup holds as unchanged since the base or `copied` from it (`base`:
    its copy of the directory, rsync's basis) that the base does not list as they are: rsync's lookup
    there found another file alike but for case, of the same size and time, and took its content.
    Those `top` lists as they are are removed from it (one it does not is there under another's name)."""
    cut, out = len(prefix), []
    in_base: dict[bytes, set[bytes] | None] = {}
    for rel in itertools.chain((path[cut:] for path in spool.same_files(dir_path, 0)), copied):
        if len(in_base) > 256:
            in_base.clear()
        if _unlisted(base, rel, in_base):
            out.append(rel)
    listed: dict[bytes, set[bytes] | None] = {}
    held = [rel for rel in out if _listed_as_it_is(top, rel, listed)]
    for rel in held:
        try:
            below.unlink(top, rel)
        except OSError:
            pass        # else the plan names it
    return out


def _folded(rel: bytes) -> str:
    return os.fsdecode(rel).casefold()


def _below(rel: bytes, dirs: set[bytes]) -> bool:
    parent = os.path.dirname(rel)
    while parent:
        if parent in dirs:
            return True
        parent = os.path.dirname(parent)
    return False


def _dirs_not_kept(top: bytes, dirs: set[bytes], listed: dict[bytes, set[bytes] | None]) -> set[bytes]:
    """Of `dirs` (below `top`), those alike but for case to another the medium lists as it is."""
    alike: dict[str, list[bytes]] = defaultdict(list)
    for rel in dirs:
        alike[_folded(rel)].append(rel)
    out = set()
    for rels in alike.values():
        if len(rels) > 1:
            held = [rel for rel in rels if _listed_as_it_is(top, rel, listed)]
            if held:
                out.update(rel for rel in rels if rel not in held)
    return out


def _listed_as_it_is(top: bytes, rel: bytes, listed: dict[bytes, set[bytes] | None]) -> bool:
    """Whether each part of `rel` is listed as it is spelled in the directory above it (`listed`:
    the listings read so far, None for one that could not be read)."""
    parent = b""
    for part in rel.split(b"/"):
        if parent not in listed:
            listed[parent] = _listing(top, parent)
        names = listed[parent]
        if names is None or part not in names:
            return False
        parent = os.path.join(parent, part)
    return True


def _unlisted(top: bytes, rel: bytes, listed: dict[bytes, set[bytes] | None]) -> bool:
    """Whether a part of `rel` is missing from the listing of the directory above it, read (one that
    could not be read tells nothing)."""
    parent = b""
    for part in rel.split(b"/"):
        if parent not in listed:
            listed[parent] = _listing(top, parent)
        names = listed[parent]
        if names is None:
            return False
        if part not in names:
            return True
        parent = os.path.join(parent, part)
    return False


def _listing(top: bytes, parent: bytes) -> set[bytes] | None:
    try:
        return set(below.names(top, parent))
    except OSError:
        return None
