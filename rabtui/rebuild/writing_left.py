"""What a burn killed as xorriso wrote into an `images:` drive left (`RAB<n>D<nn>.iso.writing`:
no disc), once rebuild-state has read the folder. The next write of that disc, or `checkpoint
abandon`, removes it; of a checkpoint rebuild-state recorded no disc of (killed at its first
disc), neither ever comes: its number is never given again, and abandon knows no such
checkpoint. rebuild-state removes those (it runs with no burn under way) and says so; one of a
checkpoint it recorded unfinished is left to `checkpoint abandon`, as before the rebuild."""

from __future__ import annotations

import os

from rabtui.checkpoint import xorriso
from rabtui.rebuild.report import Report


def remove_unowned(image_dir: str, report: Report) -> None:
    try:
        names = sorted(os.listdir(image_dir))
    except OSError:
        return
    discs = {int(m.group(1)) for m in map(xorriso.IMAGE_NAME.fullmatch, names) if m}
    for name in names:
        stem = name.removesuffix(xorriso.WRITING)
        found = xorriso.IMAGE_NAME.fullmatch(stem) if stem != name else None
        if found is None or int(found.group(1)) in report.checkpoints or int(found.group(1)) in discs:
            continue
        path = os.path.join(image_dir, name)
        try:
            os.unlink(path)
        except FileNotFoundError:
            continue
        except OSError as exc:
            report.notes.append(f"{path}: what a burn killed as it wrote {stem} left (no disc) cannot be removed:"
                                f" {exc.strerror}; remove it by hand")
            continue
        report.notes.append(f"{path} removed: what a burn killed as it wrote {stem} left (no disc; no disc of"
                            f" checkpoint {found.group(1)} is in the folder)")
