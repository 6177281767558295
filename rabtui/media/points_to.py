"""What a symlink points to and a device node's numbers, as the catalog's `others` records them
(target, rdev: as the medium held them right after the backup's transfer) and a checkpoint's plan
or a restore compares them with what the medium holds now: one retargeted there since (by hand, by
root, by another server writing into the medium) would otherwise go onto the discs, verify against
the medium and come back from a restore as the one saved. NULL in the catalog: not known (older
rows), nothing compared."""

from __future__ import annotations

import os
import stat

from rabtui import fmt
from rabtui.media import below

SYMLINK, DEVICE = ord("L"), ord("D")     # the catalog's letters of the two
KINDS = (SYMLINK, DEVICE)


def held(root: bytes, rel: bytes, kind: int) -> tuple[bytes | None, int | None]:
    """(target, rdev) of the entry at `root/rel` as the medium holds it: a symlink's target, a
    device node's st_rdev; (None, None) where it is not of the catalog's kind `kind` or cannot be
    read (said apart: gone, another kind of entry)."""
    try:
        if kind == SYMLINK:
            return below.readlink(root, rel), None      # EINVAL: no symlink
        st = below.lstat(root, rel)
        if kind == DEVICE and (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)):
            return None, st.st_rdev
    except OSError:
        pass
    return None, None


def elsewhere(root: bytes, rel: bytes, kind: int, target: bytes | None, rdev: int | None) -> str | None:
    """Why the symlink or device node at `root/rel` is not the one saved pointing to `target` (a
    device: of numbers `rdev`): "points elsewhere than the backup saved"; None where it is, where
    nothing is known of it (both None), or where it is not there as that kind (said apart)."""
    if target is None and rdev is None:
        return None
    return differs(held(root, rel, kind), (target, rdev))


def differs(now: tuple, saved: tuple) -> str | None:
    """elsewhere's, of the (target, rdev) read (`now`) and recorded (`saved`)."""
    if now == (None, None) or saved == (None, None) or now == saved:
        return None
    return f"points elsewhere than the backup saved: -> {_shown(*now)}, saved -> {_shown(*saved)}"


def _shown(target: bytes | None, rdev: int | None) -> str:
    if target is not None:
        return fmt.name(target)
    return f"device {os.major(rdev)},{os.minor(rdev)}"
