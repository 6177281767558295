"""The owners a disc holds, given to what came off it, as root. xorriso makes each symlink as the
extracting user, and leaves any other entry so without a word where the file system refuses
root's chown (vfat, an NFS export that squashes root, a process without CAP_CHOWN): each entry
the extraction listed (its symlinks, and the others without an ACL: restore/disc_extract.py) is given
the owner the disc holds; one refused is named, and a file left with root's owner loses its
setuid and setgid bits. Directories are compared with the disc on their own (disc_dirs.py)."""

from __future__ import annotations

import contextlib
import os
import stat

from rabtui.checkpoint import shortpath
from rabtui.restore.written import bits_left_off, os_reason

CAPABILITY = "security.capability"


Listed = tuple[int, tuple[int, int]]     # (st_mode, (uid, gid)) as the disc lists an entry


def give(start: bytes, target: bytes, held: dict[bytes, Listed], rel: bytes, volid: str,
         unheld: dict[bytes, Listed]) -> list[tuple[str, bytes, str]]:
    """`held`: image path -> Listed; those at or below the image path `start`, extracted at
    `target` (`rel`: the restored item's name), get that owner. Returns [(kind, name, why)] of
    those that could not; into `unheld`: their path there -> Listed (see as_listed)."""
    if os.geteuid() != 0:
        return []
    out: list[tuple[str, bytes, str]] = []
    seen: set[tuple[int, int]] = set()      # a file's other names (hard links): named once
    with shortpath.Shortcuts() as short:
        for disc_path, (mode, owner) in sorted(held.items()):
            if stat.S_ISDIR(mode) or disc_path != start and not disc_path.startswith(start.rstrip(b"/") + b"/"):
                continue
            path = target + disc_path[len(start):]
            staged = short.path(path)
            try:
                st = os.lstat(staged)
            except OSError:
                continue
            if (st.st_uid, st.st_gid) == tuple(owner) or (st.st_dev, st.st_ino) in seen:
                continue
            seen.add((st.st_dev, st.st_ino))
            under = disc_path[len(start):].lstrip(b"/")
            why = _owned(staged, st, mode, owner, volid)
            if why:
                out.append(("owner", os.path.join(rel, under) if under else rel, why))
                unheld[path] = (mode, owner)
    return out


def as_listed(st: os.stat_result, listed: Listed | None) -> os.stat_result:
    """`st` of an entry that came off a disc, with the mode and owner the disc lists where the file
    system refused them (`listed`, from give's `unheld`; None: as it is): what the disc holds is
    what the checks against the catalog compare."""
    if listed is None:
        return st
    mode, (uid, gid) = listed
    # the fields past the ten of the tuple (the times in ns among them) are passed by name
    rest = {k: getattr(st, k) for k in dir(st) if k.startswith("st_") and k not in _IN_TUPLE}
    return os.stat_result((mode, st.st_ino, st.st_dev, st.st_nlink, uid, gid, *st[6:]), rest)


_IN_TUPLE = ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size")


def _owned(staged: bytes, st: os.stat_result, mode: int, owner: tuple[int, int], volid: str) -> str | None:
    """Give `staged` its owner; None, else why not (its setuid and setgid bits then taken off)."""
    link = stat.S_ISLNK(st.st_mode)
    capability = None
    if not link:     # a chown clears a file's capability and its setuid and setgid bits
        with contextlib.suppress(OSError):
            capability = os.getxattr(staged, CAPABILITY, follow_symlinks=False)
    try:
        os.lchown(staged, *owner)
    except OSError as exc:
        left = "" if link else bits_left_off(mode)
        if left:
            os.chmod(staged, stat.S_IMODE(st.st_mode) & ~(stat.S_ISUID | stat.S_ISGID))   # no symlink: lstat said
        return f"owner {owner[0]}:{owner[1]} (as on {volid}) not set: {os_reason(exc)}{left}"
    if not link:
        os.chmod(staged, stat.S_IMODE(st.st_mode))
        if capability is not None:
            os.setxattr(staged, CAPABILITY, capability, follow_symlinks=False)
    return None
