"""The symlinks and special files in the catalog (`others`, schema.py): found by name as `find`
finds the files, with the backups holding each. Directories are not recorded: a directory with
entries is found by theirs.
"""

from __future__ import annotations

import threading

from rabtui.state.catalog import Location, Version, _Backups, _below, _exactly, _matches, _prefilter, as_glob
from rabtui.state.store import Store

# what find calls them, as a checkpoint's catalog marks them (checkpoint/marks.py)
KINDS = {ord("L"): "symlink", ord("D"): "special", ord("S"): "special"}


def find(store: Store, pattern: str, source: str | None = None, archive_dirs: dict | None = None,
         ignore_case: bool = False, cancel: threading.Event | None = None) -> list[Version]:
    """As catalog.find, the symlinks and special files matching `pattern` (the catalog's `others`), each
    (kind, mtime) of a path with the backups holding it; their size is 0, as a checkpoint's catalog
    has it."""
    pat = as_glob(pattern)
    test, test_params = _prefilter(pat, ignore_case)
    where = "source=?" if source else "1"
    archive_dirs = archive_dirs or {}
    with store.interruptible(cancel):
        rows = store.all(f"SELECT * FROM others WHERE {where} AND {test} ORDER BY first_backup",
                         ((source,) if source else ()) + test_params)
    rows = [r for r in rows if _matches(bytes(r["path"]), pat, ignore_case)]
    if not rows:
        return []
    backups = _Backups(store, source)
    out: dict[tuple, Version] = {}
    for r in rows:
        is_archive = r["dir"] in archive_dirs.get(r["source"], ())
        names = backups.between(r["source"], r["medium"], r["first_backup"],
                                r["first_backup"] if is_archive else r["last_backup"])
        if not names and not is_archive:
            continue
        kind = KINDS.get(r["kind"], "special")
        key = (r["source"], bytes(r["path"]), kind, r["mtime"])
        ver = out.setdefault(key, Version(r["source"], bytes(r["path"]), 0, r["mtime"], kind=kind))
        ver.locations.append(Location("backup", medium=r["medium"], backups=names,
                                      archive=is_archive and r["first_backup"] not in backups.kept))
    return list(out.values())


def archive_as_of(store: Store, backup, dir_path: str, prefix: bytes = b"",
                  paths: tuple[bytes, ...] | None = None) -> dict[bytes, tuple[int, int, int]]:
    """path -> (kind, mtime, first_backup) of an archive directory's symlinks and special files at
    or below `prefix` (given `paths`: those alone) as they stood on the backup's medium after it,
    as catalog.archive_as_of has its files: for each path, the newest entry saved there by a
    backup up to it (an archive's entry is in the backup that saved it and in the union, its range
    that backup alone)."""
    below, below_args = _below(prefix) if paths is None else _exactly(paths)
    out = {}
    for r in store.all(
            "SELECT p.path, p.kind, p.mtime, p.first_backup FROM others p WHERE p.medium=? AND p.source=?"
            f" AND p.dir=? AND p.first_backup<=?{below} ORDER BY p.first_backup",
            (backup["medium"], backup["source"], dir_path, backup["id"], *below_args)):
        out[bytes(r["path"])] = (r["kind"], r["mtime"], r["first_backup"])
    return out
