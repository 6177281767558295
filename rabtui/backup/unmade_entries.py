"""Symlinks, FIFOs, sockets and device nodes of the source that rsync could not make on the medium
(rsync_stderr.unmade_entry: exFAT holds none of them). rsync itemizes none of them, so the catalog
does not hold them; but exfat-fuse's mknod leaves an empty regular file in a FIFO's place before it
fails, which a checkpoint would have put on its discs and a restore given back as the FIFO saved.
That file is removed from the backup's copy (it is this backup's own, never a link into another),
and each entry is named as one the medium could not hold (`unmade`, as not_created.py names a file
it could not create), so the plan, `diff` and `find` say so."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from rabtui.backup import unreadable
from rabtui.backup.sizes import DirSizes
from rabtui.media import below


def settle(dest: Path, paths: list[bytes], sizes: DirSizes) -> list[bytes]:
    """`paths`: the entries (full paths) rsync's error lines said it could not make, those of the
    backup's copy of the directory `dest` named in `sizes.unreadable` and `sizes.unmade`, what
    rsync's failed make left in the place of each (an empty file of one link) removed; returned, as
    names below the directory. Something else there (made meanwhile, of another kind) is left,
    not named."""
    top = os.fsencode(dest).rstrip(b"/") + b"/"
    out = []
    for path in sorted(set(map(os.path.normpath, paths))):
        if not path.startswith(top):
            continue
        rel = path[len(top):]
        try:
            st = below.lstat(top, rel)
        except (FileNotFoundError, NotADirectoryError):
            st = None
        except OSError:
            continue
        if st is not None:
            if not (stat.S_ISREG(st.st_mode) and st.st_size == 0 and st.st_nlink == 1):
                continue
            below.unlink(top, rel)
        name = os.fsdecode(rel)
        unreadable.add(sizes, name)
        if name in sizes.unreadable and name not in sizes.unmade:
            sizes.unmade.append(name)
        out.append(rel)
    return out
