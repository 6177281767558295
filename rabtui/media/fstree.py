"""Walking a tree on a medium: every entry with its lstat, in one place for whoever needs it."""

from __future__ import annotations

import os
from typing import Iterator


def scan(top: bytes) -> Iterator[tuple[os.DirEntry, os.stat_result]]:
    """Every entry below `top` (depth first, symlinks not followed) with its lstat. A directory
    that cannot be read, or an entry gone meanwhile, is passed over: a medium is read, not judged."""
    stack = [top]
    while stack:
        try:
            it = os.scandir(stack.pop())
        except OSError:
            continue
        with it:
            for e in it:
                try:
                    st = e.stat(follow_symlinks=False)
                except OSError:
                    continue
                if e.is_dir(follow_symlinks=False):
                    stack.append(e.path)
                yield e, st
