"""Where a verification extracts a disc: a private directory of the run in `checkpoints/` of the
state directory (temp_dirs.py), what killed runs left there, and what tells an extraction failed
for want of a place to write (out of room, or unwritable): this machine's failure, not the disc's
(as xorriso killed, or short of file descriptors or memory: xorriso_output.machine_failure)."""

from __future__ import annotations

import os
import shutil
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rabtui import privacy, temp_dirs

SCRATCH_PREFIX = "verify-"


def scratch_place(state_dir: str | os.PathLike) -> Path:
    """Where verifications extract discs: `checkpoints/` of the state directory."""
    return Path(state_dir) / "checkpoints"


def remove_extracted(path: bytes) -> None:
    """Remove what a verification extracted at `path`, its read-only directories too, quietly."""
    try:
        rmtree(path)
    except OSError:
        shutil.rmtree(path, ignore_errors=True)     # what can go


@contextmanager
def scratch(place: Path) -> Iterator[Path]:
    """A private directory of this run in `place` (`verify-<pid>-<n>`, temp_dirs.py): what a
    verification killed meanwhile extracted there goes with the next verification of any disc, or
    the next cleanup (remove_dead_scratch), read-only directories and all."""
    with temp_dirs.private(privacy.private_dir(place), SCRATCH_PREFIX, remove_extracted) as top:
        yield Path(os.fsdecode(top))


def remove_dead_scratch(state_dir: str | os.PathLike) -> list[bytes]:
    """Remove what verifications killed (SIGKILL) left in the state directory; returns their paths."""
    return temp_dirs.remove_dead(os.fsencode(scratch_place(state_dir)), SCRATCH_PREFIX, remove_extracted)


def unmade(place: Path, exc: OSError) -> str:
    return f"no directory can be made in {place} to extract the disc ({exc.strerror or exc})"


class NoPlace(Exception):
    """The extraction of a disc found no place to write in the scratch's file system (out of room,
    or unwritable): `why`, said to the operator."""

    def __init__(self, why: str):
        super().__init__(why)
        self.why = why


def out_of_room(scratch: Path, lines: list[bytes], stderr: str) -> bool:
    """Whether an extraction that failed did so for want of room: xorriso says so, or the scratch's
    file system is full now."""
    said = ("No space left on device", "Disk quota exceeded")
    if any(w in stderr or any(w.encode() in line for line in lines) for w in said):
        return True
    try:
        st = os.statvfs(scratch)
    except OSError:
        return False
    return st.f_bavail * st.f_frsize < (1 << 20) or (st.f_files > 0 and st.f_favail == 0)


PROBE = b".rabtui-write-test"


def unwritable(*dirs: str | bytes | os.PathLike) -> str | None:
    """Why nothing can be written in one of `dirs` that is there now (the scratch and what the
    extraction made of the disc's root in it: closed to this user, the file system read-only or
    failing), or None: an extraction that failed then tells nothing of the disc."""
    for d in dirs:
        if not os.path.isdir(d):
            continue
        probe = os.path.join(os.fsencode(d), PROBE)
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600))
            os.unlink(probe)
        except OSError as exc:
            return exc.strerror or str(exc)
    return None


def opened_up(base: bytes) -> dict[bytes, int]:
    """Every directory below `base` given its owner's rwx (one of mode 0000 extracted by a user
    other than root is closed to them: nothing in it could be compared, nor removed); returns the
    mode each changed one had."""
    was: dict[bytes, int] = {}
    for dirpath, dirnames, _files, fd in os.fwalk(base):     # by descriptor: paths past 4,096 bytes
        for name in dirnames:
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o700 != 0o700:
                os.chmod(name, stat.S_IMODE(st.st_mode) | 0o700, dir_fd=fd)
                was[os.path.join(dirpath, name)] = st.st_mode
    return was


def rmtree(path: str | bytes | os.PathLike) -> None:
    """Remove the tree at `path`, its directories opened to their owner first (opened_up), `path`
    itself too (closed since it was made: an extraction then failed in it)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if stat.S_ISDIR(st.st_mode) and st.st_mode & 0o700 != 0o700:
        os.chmod(path, stat.S_IMODE(st.st_mode) | 0o700)
    opened_up(os.fsencode(path))
    shutil.rmtree(path)
