"""Where a restore must never write, as the configuration names those places: each medium, the
state directory, and an `images:` drive's directory (config.safety.restore_target_problem). One
check for `rabtui restore --to` and for the UI's restore dialog, which refuses such a target before
a job is started."""

from __future__ import annotations

from rabtui.checkpoint.xorriso import images_dir, is_image_drive
from rabtui.config import Config
from rabtui.config.safety import restore_target_problem


def target_problem(cfg: Config, path: str | bytes) -> str | None:
    """Why a restore must not write `path` (the target with the restored path below it), or None."""
    drive = cfg.checkpoint.drive
    return restore_target_problem(cfg.media, cfg.state_dir, path, images_dir(drive) if is_image_drive(drive) else None)
