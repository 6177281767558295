"""Where a restore must never write, as the configuration names those places: each medium, the
state directory, and an `images:` drive's directory (config.safety.restore_target_problem). One
check for `rabtui restore --to` and for the UI's restore dialog, which refuses such a target before
a job is started: both take the target as the restore writes into it (target_of)."""

from __future__ import annotations

import os

from rabtui import fmt
from rabtui.checkpoint.xorriso import images_dir, is_image_drive
from rabtui.config import Config
from rabtui.config.safety import restore_target_problem
from rabtui.errors import UsageError, WorkFailed
from rabtui.restore.target_dirs import Refused, resolve_target


# a restore onto a source refused so (target_problem): what the operator can do instead
ONTO_KEPT_HINT = "restore what lies beside it one by one, or with --to DIR"


def target_problem(cfg: Config, path: str | bytes) -> str | None:
    """Why a restore must not write `path` (the target with the restored path below it), or None."""
    drive = cfg.checkpoint.drive
    return restore_target_problem(cfg.media, cfg.state_dir, path, images_dir(drive) if is_image_drive(drive) else None)


def target_of(cfg: Config, to, rel: bytes) -> tuple[bytes, str | None]:
    """(`to` resolved, as the restore writes into it, why `rel` must not be restored below it there
    (target_problem) or None). A `..` after a symlink is the parent of where it leads, as the kernel
    takes it, not the name before it cancelled: judged as typed, the target passed the dialog, and
    the restore refused it only once started. UsageError or WorkFailed: `to` names no directory
    that can be reached (resolved)."""
    to = resolved(to)
    return to, target_problem(cfg, os.path.join(to, rel))


def resolved(to) -> bytes:
    """`--to` as the path to the directory it names with no symlink on the way (resolve_target), once
    it names a directory or a place where one can be made; else why not, before anything is read."""
    shown = fmt.name(os.fsencode(to))
    if not shown:
        raise UsageError("give the directory to restore into after --to")
    if os.path.lexists(to) and not os.path.isdir(to):
        what = "a symlink to nothing" if os.path.islink(to) and not os.path.exists(to) else "not a directory"
        raise UsageError(f"--to {shown} is {what}", hint="give a directory (one that is missing is made)")
    there = os.path.dirname(os.fsencode(to))
    while there and not os.path.lexists(there):
        there = os.path.dirname(there)
    if there and not os.path.isdir(there):     # a path mistyped, as one naming a file
        raise UsageError(f"--to {shown} cannot be made: {fmt.name(there)} is not a directory",
                         hint="give a directory (one that is missing is made)")
    try:
        return resolve_target(to)
    except Refused as exc:
        raise WorkFailed(f"refusing to restore into {shown}: {exc}") from None
    except OSError as exc:
        raise WorkFailed(f"--to {shown} cannot be reached: {os.strerror(exc.errno or 0).lower()}") from None
