"""A new checkpoint's number: after every number given before, also those a lost database gave
(the media keep them: rabtui/media/checkpoint_numbers.py; an images: drive's folder its images),
and written onto the media at hand before any disc carries it."""

from __future__ import annotations

import os
from pathlib import Path

from rabtui.checkpoint import xorriso
from rabtui.config import Config
from rabtui.events import WARNING, Emit, Event
from rabtui.media import checkpoint_numbers
from rabtui.media.at_hand import paths_there
from rabtui.state.store import Store


def highest_used(cfg: Config, store: Store, drive: str) -> int:
    """The highest number given before, as far as anything at hand tells: the database, the state
    directory, the records of the media at hand and the images of an images: drive (0: none)."""
    numbers = checkpoint_numbers.on_this_server(cfg, store)
    for path in paths_there(cfg, store):
        numbers |= checkpoint_numbers.read_record(path)
    return max(numbers | {_highest_image(drive)})


def _highest_image(drive: str) -> int:
    """The highest checkpoint number of the images in an images: drive's folder (0: none, or a burner)."""
    if not xorriso.is_image_drive(drive):
        return 0
    try:
        names = os.listdir(xorriso.images_dir(drive))
    except OSError:
        return 0
    found = (xorriso.IMAGE_NAME.fullmatch(name) for name in names)
    numbers = (int(m.group(1)) for m in found if m)
    return max((n for n in numbers if n <= checkpoint_numbers.LARGEST), default=0)


def note_number(cfg: Config, store: Store, number: int, emit: Emit) -> None:
    """The new number written onto every medium at hand before any disc carries it."""
    for path in paths_there(cfg, store):
        try:
            checkpoint_numbers.write_record(path, [number])
        except OSError as exc:
            emit(Event(WARNING, f"cannot write {path / checkpoint_numbers.RECORD} ({exc.strerror or exc}): the"
                                f" medium will learn that checkpoint {number} was used at its next backup"))


def note_abandoned(cfg: Config, store: Store, number: int) -> str:
    """Checkpoint `number`, abandoned, kept beside the database (a database lost before any medium
    learnt it loses it not: rebuild-state reads it there, and each backup writes it onto its
    medium) and written onto every medium at hand; what could not be, said."""
    said = ""
    try:
        # turns taken on locks/: the state directory's own flock, held whole, is a restore running
        # alone (each backup and restore holds it shared: this waited for them, then gave up)
        checkpoint_numbers.write_record(cfg.state_dir, [number], record=checkpoint_numbers.KEPT_ABANDONED,
                                        key="abandoned", turns=Path(cfg.state_dir) / "locks")
    except OSError as exc:
        said = (f"; cannot keep it beside the database in {Path(cfg.state_dir) / checkpoint_numbers.KEPT_ABANDONED}"
                f" ({exc.strerror or exc}): a database lost before a medium learns it loses it")
    failed = []
    for path in paths_there(cfg, store):
        try:
            checkpoint_numbers.write_record(path, [number], record=checkpoint_numbers.ABANDONED, key="abandoned")
        except OSError as exc:
            failed.append(f"{path / checkpoint_numbers.ABANDONED} ({exc.strerror or exc})")
    return said + (f"; cannot write {', '.join(failed)}: the medium learns it at its next backup" if failed else "")
