"""Paths deeper than PATH_MAX, reached through symlinks with short names.

The kernel takes no path of 4096 bytes or more, and xorriso composes none longer than 4095; a
medium holds deeper ones (a 4,000-byte source path below the medium's backup directory). Such a
path is cut at a slash near 3,000 bytes: the head becomes the target of a symlink `FOLDER/<n>`,
and the path goes on from there (again, while it is still too long).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from rabtui import fmt, temp_dirs
from rabtui.errors import WorkFailed

LIMIT = 3800          # below PATH_MAX and xorriso's 4095 with a 255-byte name added to a directory
HEAD = 3000


class Shortcuts:
    """`path(p)`: `p`, or an equal path through symlinks in `folder` (made when first needed;
    a temporary directory when `folder` is None) that is at most LIMIT bytes long."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self._folder = os.fsencode(folder) if folder is not None else None
        self._temporary: contextlib.AbstractContextManager | None = None
        self._made: dict[bytes, bytes] = {}

    def path(self, p: bytes | str) -> bytes:
        p = os.fsencode(p)
        while len(p) > LIMIT:
            cut = p.rfind(b"/", 1, HEAD)
            head, tail = p[:cut], p[cut:]
            link = self._made.get(head)
            if link is None:
                folder = self._ensure()
                link = os.path.join(folder, b"%d" % len(self._made))
                if len(link) >= cut:      # no shorter than what it stands for: it would go on for ever
                    raise WorkFailed(f"{fmt.name(folder)} ({len(folder)} bytes) is too long to reach paths deeper"
                                     " than PATH_MAX through links in it",
                                     hint="set TMPDIR to a shorter directory" if self._temporary else None)
                try:
                    os.symlink(head, link)
                except OSError as exc:
                    if self._temporary is None:
                        raise
                    raise _unusable(exc) from None
                self._made[head] = link
            p = link + tail
        return p

    def _ensure(self) -> bytes:
        if self._folder is None:
            temporary = temp_dirs.private()
            try:
                self._folder = temporary.__enter__()
            except OSError as exc:
                raise _unusable(exc) from None
            self._temporary = temporary
        elif not self._made:
            os.makedirs(self._folder, exist_ok=True)
        return self._folder

    def close(self) -> None:
        if self._temporary is not None:
            self._temporary.__exit__(None, None, None)
            self._temporary = self._folder = None
            self._made.clear()

    def __enter__(self) -> "Shortcuts":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fresh(folder: Path) -> Shortcuts:
    """Shortcuts in `folder`, emptied first (links of an earlier run may point elsewhere)."""
    if folder.is_symlink() or folder.exists():
        shutil.rmtree(folder)
    return Shortcuts(folder)


@contextmanager
def alias(target: Path) -> Iterator[bytes]:
    """A symlink with a short name, in a private temporary directory, to `target`: xorriso
    extracts a disc below it, so that the path on the disc plus this stays within 4095 bytes
    (disc_names.DISC_PATH_MAX leaves 32 bytes for it: `/tmp/rabtui-<pid>-<n>/d/<disc>`). One a
    killed run left is removed by the next (temp_dirs)."""
    with contextlib.ExitStack() as stack:
        try:
            link = os.path.join(stack.enter_context(temp_dirs.private()), b"d")
            os.symlink(os.fsencode(target), link)
        except OSError as exc:
            raise _unusable(exc) from None
        yield link


class Unusable(WorkFailed):
    """The temporary directory cannot hold this run's private directory or a link in it (full,
    out of inodes, read-only since the run began)."""


def _unusable(exc: OSError) -> Unusable:
    return Unusable(f"cannot make a private directory, or a link in it, in the temporary directory"
                    f" {fmt.name(tempfile.gettempdir())}: {exc.strerror}",
                    hint="free some room there, or set TMPDIR to a directory with room (inodes too) that can be"
                         " written")
