"""Files rsync named as written that the medium does not hold: its receiver could not create them
there (a name vfat or exFAT cannot hold, `a:b` or one not UTF-8, EINVAL; a directory closed to it),
said in an error line and rsync's exit 23, while the sender named them as sent all the same. The
catalog recorded them as held, so a checkpoint refused the directory for a file "not on the medium
any more" at every backup (each one fails to make it again), and a restore named it as lost. They
are taken out of the backup's rows and sizes, as redone.py takes out a file read with an error,
and named as not read: not in this backup, not deleted on the source, older backups keep them."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rabtui.backup import redone
from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.backup.sizes import DirSizes
from rabtui.media import below
from rabtui.rsync import ABSENT


def settle(dest: Path, dir_path: str, spool: CatalogSpool, sizes: DirSizes) -> list[bytes]:
    """The files of the directory (names below it) this backup wrote into `dest` (its copy of the
    directory) that `dest` does not hold as a regular file, out of the rows and sizes; returned.
    An lstat per written file: looked for only after an exit 23."""
    cut = len(dir_prefix(dir_path))
    dest_b = os.fsencode(dest) + b"/"
    missing = {path[cut:] for path, state in spool.new_file_states(dir_path)
               if state != ABSENT and not _held(dest_b, path[cut:])}
    return redone.settle(dest, dir_path, spool, sizes, missing) if missing else []


def _held(dest: bytes, rel: bytes) -> bool:
    try:
        return stat.S_ISREG(below.lstat(dest, rel).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError:     # not to be looked at here: the restore that reads it says why
        return True
