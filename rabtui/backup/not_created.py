"""Files rsync named as written that the medium does not hold: its receiver could not create them
there (a name vfat or exFAT cannot hold, `a:b` or one not UTF-8, EINVAL; a directory closed to it),
said in an error line and rsync's exit 23, while the sender named them as sent all the same. The
catalog recorded them as held, so a checkpoint refused the directory for a file "not on the medium
any more" at every backup (each one fails to make it again), and a restore named it as lost. They
are taken out of the backup's rows and sizes, as redone.py takes out a file read with an error,
and named as not read: not in this backup, not deleted on the source, older backups keep them;
named in `DirSizes.unmade` too, so that what is said of them is that the medium could not hold them,
not that the source could not be read (`unreadable.unmade` in the database).
One it holds at another time (its receiver could not set the source's) is recorded at that time."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rabtui.backup import redone
from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.backup.sizes import DirSizes
from rabtui.media import below
from rabtui.mtimes import as_recorded, seconds
from rabtui.rsync import ABSENT


def settle(dest: Path, dir_path: str, spool: CatalogSpool, sizes: DirSizes) -> list[bytes]:
    """The files of the directory (names below it) this backup wrote into `dest` (its copy of the
    directory) that `dest` does not hold as a regular file, out of the rows and sizes; returned.
    Those it holds at another time than rsync gave them (its receiver could not set it: "failed to
    set times") are staged at the medium's, as times_held.py stages one its file system cannot hold:
    the catalog said the source's, so every checkpoint of the directory was refused for a file
    "written into" and a restore left it out (each backup fails to set it again).
    An lstat per written file: looked for only after an exit 23."""
    cut = len(dir_prefix(dir_path))
    dest_b = os.fsencode(dest) + b"/"
    missing, held_at = set(), {}
    for path, state, mtime in spool.new_file_times(dir_path):
        if state == ABSENT:
            continue
        held = _held(dest_b, path[cut:])
        if held is None:
            missing.add(path[cut:])
        elif held is not True and not as_recorded(seconds(held), mtime):
            held_at[path] = seconds(held)
    if held_at:
        spool.held_times(dir_path, held_at)
    lost = redone.settle(dest, dir_path, spool, sizes, missing) if missing else []
    sizes.unmade += [name for name in map(os.fsdecode, lost) if name in sizes.unreadable and name not in sizes.unmade]
    return lost


def _held(dest: bytes, rel: bytes) -> os.stat_result | bool | None:
    """The file's lstat; None where it is not there as a regular file; True where it cannot be
    looked at (the restore that reads it says why)."""
    try:
        st = below.lstat(dest, rel)
    except (FileNotFoundError, NotADirectoryError):
        return None
    except OSError:
        return True
    return st if stat.S_ISREG(st.st_mode) else None
