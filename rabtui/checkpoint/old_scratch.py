"""What verifications of earlier versions extracted into a checkpoint's own directory of the state
directory, `checkpoints/N/verify-NN` (the disc, read-only directories and all) and
`verify-NN-xattrs` (its long xattrs): one killed there left it, and it went only with the next
verification of that same disc. Verifications extract into a private directory of their own now
(verify_scratch.scratch), so no run clears these any more: cleanup removes them, each checkpoint's while
it holds that checkpoint's lock (taken by every burn, verify or abandon of it, of any version)
and the lock of all checkpoints shared (a rebuild-state, which verifies images again, holds it
whole): never one a run works in."""

from __future__ import annotations

import os
import re

from rabtui.checkpoint import verify_scratch
from rabtui.errors import LockBusy
from rabtui.state import locks

_LEFT = re.compile(rb"verify-\d{2,}(?:-xattrs)?")


def remove(state_dir: str | os.PathLike) -> list[bytes]:
    """Remove those no run works in now; returns the paths of those gone."""
    removed: list[bytes] = []
    try:
        numbered = [e for e in os.scandir(os.fsencode(verify_scratch.scratch_place(state_dir)))
                    if e.name.isdigit() and e.is_dir(follow_symlinks=False)]
    except OSError:
        return removed
    for checkpoint in numbered:
        try:
            left = [e.path for e in os.scandir(checkpoint.path)
                    if _LEFT.fullmatch(e.name) and e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        if not left:
            continue
        try:
            with locks.checkpoints_lock(state_dir).acquire(shared=True), \
                    locks.checkpoint_lock(state_dir, int(checkpoint.name)):
                for path in left:
                    verify_scratch.remove_extracted(path)
                    if not os.path.lexists(path):
                        removed.append(path)
        except LockBusy:      # a run works on that checkpoint, or a rebuild-state runs: the next cleanup
            continue
    return removed
