"""Paths deeper than PATH_MAX, reached through symlinks with short names.

The kernel takes no path of 4096 bytes or more, and xorriso composes none longer than 4095; a
medium holds deeper ones (a 4,000-byte source path below the medium's backup directory). Such a
path is cut at a slash near 3,000 bytes: the head becomes the target of a symlink `FOLDER/<n>`,
and the path goes on from there (again, while it is still too long).
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

LIMIT = 4000          # below PATH_MAX and xorriso's 4095, with room for a name added to a directory
HEAD = 3000


class Shortcuts:
    """`path(p)`: `p`, or an equal path through symlinks in `folder` (made when first needed;
    a temporary directory when `folder` is None) that is at most LIMIT bytes long."""

    def __init__(self, folder: str | os.PathLike | None = None):
        self._folder = os.fsencode(folder) if folder is not None else None
        self._temporary = folder is None
        self._made: dict[bytes, bytes] = {}

    def path(self, p: bytes | str) -> bytes:
        p = os.fsencode(p)
        while len(p) > LIMIT:
            cut = p.rfind(b"/", 1, HEAD)
            head, tail = p[:cut], p[cut:]
            link = self._made.get(head)
            if link is None:
                link = os.path.join(self._ensure(), b"%d" % len(self._made))
                os.symlink(head, link)
                self._made[head] = link
            p = link + tail
        return p

    def _ensure(self) -> bytes:
        if self._folder is None:
            self._folder = os.fsencode(tempfile.mkdtemp(prefix="rabtui-links-"))
        elif not self._made:
            os.makedirs(self._folder, exist_ok=True)
        return self._folder

    def close(self) -> None:
        if self._temporary and self._folder is not None:
            shutil.rmtree(self._folder, ignore_errors=True)

    def __enter__(self) -> "Shortcuts":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def fresh(folder: Path) -> Shortcuts:
    """Shortcuts in `folder`, emptied first (links of an earlier run may point elsewhere)."""
    if folder.is_symlink() or folder.exists():
        shutil.rmtree(folder)
    return Shortcuts(folder)


def alias(target: Path) -> bytes:
    """A symlink with a short name in the temporary directory, to `target`: xorriso extracts a
    disc into it, so that the path on the disc plus this stays within xorriso's 4095 bytes."""
    base = os.fsencode(tempfile.gettempdir())
    while True:
        link = os.path.join(base, b"rv" + os.urandom(4).hex().encode())
        try:
            os.symlink(os.fsencode(target), link)
            return link
        except FileExistsError:
            continue
