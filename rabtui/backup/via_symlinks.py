"""What rsync reached through the symlinks of a basis (the older backup, or the archive's union) that
are directories on the source now: whether such a link leads out of the basis, and the names of the
new backup rsync hard-linked to what it found there, taken out before those directories are copied
again with no basis (transfer's copy again)."""

from __future__ import annotations

import os
import stat

from rabtui import rsync
from rabtui.media import below


def points_out(basis: bytes, rel: bytes) -> bool:
    """Does the symlink `rel` of the basis lead out of it? realpath where the path can be named in
    one call; past that, the link's own target, read part by part (an absolute target, or one that
    climbs above the basis, leads out)."""
    path = os.path.join(basis, rel)
    if below.named_at_once(path):
        real_basis = os.path.realpath(basis)
        return not os.path.realpath(path).startswith(real_basis + b"/")
    parent, name = os.path.split(rel)
    try:
        fd = below.open_dir(basis, parent)
    except OSError:
        return True
    try:
        target = os.readlink(name, dir_fd=fd)
    except OSError:
        return True
    finally:
        os.close(fd)
    return target.startswith(b"/") or os.path.normpath(os.path.join(parent, target)).startswith(b"..")


def inodes_below(dest: bytes, rels: list[bytes]) -> set[tuple[int, int]]:
    """(device, inode) of everything but directories below `rels` in the backup."""
    found = set()
    for rel in rels:
        for dirpath, dirs, names in os.walk(os.path.join(dest, rel)):
            for name in names + [d for d in dirs if os.path.islink(os.path.join(dirpath, d))]:
                st = os.lstat(os.path.join(dirpath, name))
                found.add((st.st_dev, st.st_ino))
    return found


def linked_to(dest: bytes, linked: list[bytes], inodes: set[tuple[int, int]]) -> dict[bytes, int | None]:
    """Of the names rsync hard-linked (-H, as the stream names them), those that are one of
    `inodes` in the backup: path -> size of a regular file, None for anything else."""
    found = {}
    for name in linked:
        rel = rsync.unescape(name)
        try:
            st = os.lstat(os.path.join(dest, rel))
        except FileNotFoundError:
            continue
        if (st.st_dev, st.st_ino) in inodes:
            found[rel] = st.st_size if stat.S_ISREG(st.st_mode) else None
    return found
