"""The note of a medium mounted by a restore running alone (its lock files unmade: the state
directory full, where no note can be written), kept in this boot's runtime directory instead (/run,
a tmpfs of its own): written before mount runs, removed once the restore has unmounted it. Such a
restore killed, its read-only mount is proved rabtui's by it (mount_notes.proves: this boot, that
very mount), and rabtui's next user of the medium takes it over as its own (mounting.mounted):
used, made writable for a backup, unmounted by the last user. Without the note (no runtime
directory to write in), the mount is one made by hand for rabtui: left, and named."""

from __future__ import annotations

import fcntl
import hashlib
import os
from pathlib import Path

from rabtui import privacy
from rabtui.config import Medium
from rabtui.events import LOG, Emit, Event
from rabtui.media import mount_notes


def runtime_dir() -> Path | None:
    """rabtui's directory in this boot's runtime directory: /run/rabtui for root, else the user's
    /run/user/UID/rabtui; None where there is none."""
    top = Path("/run") if os.geteuid() == 0 else Path(f"/run/user/{os.geteuid()}")
    return top / "rabtui" if top.is_dir() else None


def note_path(state_dir: str | os.PathLike, medium_id: str) -> Path | None:
    """Where the note of the medium's mount by a restore running alone on `state_dir` is kept
    (made private on the way), or None where there is no runtime directory to keep it in."""
    top = runtime_dir()
    if top is None:
        return None
    key = hashlib.sha256(f"{os.path.realpath(state_dir)}\0{medium_id}".encode("utf-8", "surrogatepass"))
    try:
        privacy.private_dir(top)
    except OSError:
        return None
    return top / f"mounted-alone-{key.hexdigest()[:32]}"


def write(note: Path | None, medium: Medium | None = None) -> None:
    """mount_notes.write, for a note there may be no place for (None); one that cannot be written
    leaves the mount unproved, as before."""
    if note is not None:
        mount_notes.write(note, medium)


def remove(note: Path | None) -> None:
    if note is not None:
        mount_notes.remove(note)


def nobody_alone(state_dir: str | os.PathLike) -> bool:
    """Whether no restore runs alone on the state directory now (its flock to be had shared)."""
    try:
        fd = os.open(state_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    except OSError:
        return False
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


def _own(note: Path) -> bool:
    """Whether `note` is a file of this user's: another user's (put in a runtime directory left open
    to others) proves nothing, whatever it says: the boot's id and the mount's, anyone can read."""
    try:
        return os.lstat(note).st_uid == os.geteuid()
    except OSError:
        return False


def taken_over(medium: Medium, state_dir: str | os.PathLike, ours: Path, emit: Emit) -> bool:
    """Whether the mount at the medium's path is one a restore that ran alone made and left (killed):
    then noted as rabtui's (`ours`, mounting.py's note) for its users, its runtime note gone. A
    note of a mount no longer there goes; one of a restore that still runs alone is left to it; one
    another user made proves nothing."""
    note = note_path(state_dir, medium.id)
    if note is None or not mount_notes.written(note) or not _own(note):
        return False
    if not mount_notes.proves(note, medium):
        mount_notes.remove(note)
        return False
    if not nobody_alone(state_dir) or mount_notes.write(ours, medium) is not None:
        return False
    mount_notes.remove(note)
    emit(Event(LOG, f"medium {medium.id}: the mount at {medium.path} is the one a restore running alone made and"
                    " did not unmount (killed): taken as rabtui's own"))
    return True
