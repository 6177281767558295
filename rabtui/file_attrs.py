"""The xattrs of a file, its POSIX ACLs among them (system.posix_acl_*), read from one file and
given to another: a stand-in of a disc's entry (checkpoint/continuation.py), a new config file put
in place of the old one (file_replace.replace_file)."""

from __future__ import annotations

import os
from typing import Callable, Sequence

from rabtui.filecopy import read_xattrs


def _how(target) -> dict:
    return {} if isinstance(target, int) else {"follow_symlinks": False}


def names(target) -> list[str]:
    """The names of the xattrs of `target`: a path (a symlink itself, not followed), or an open
    descriptor."""
    try:
        return os.listxattr(target, **_how(target))
    except OSError:     # none on this file system, or gone meanwhile
        return []


def read(target) -> list[tuple[str, bytes]]:
    """The xattrs of `target` (filecopy.read_xattrs: the capability last), name and value; none
    where its file system has none or it is gone."""
    return [(os.fsdecode(n), v) for n, v in read_xattrs(target)]


def give(target, attrs: Sequence[tuple[str, bytes]], names_for: Callable[[str], list[str]] = lambda n: [n],
         leave: tuple[str, ...] = ()) -> str:
    """Give `target` the xattrs `attrs` and no others (an inherited default ACL, a label), each under
    the first of `names_for(name)` it may be set as; those whose names begin with one of `leave`
    are left as they are on `target` (not set, not removed). Why not, or "" once done."""
    want = {n for n, _ in attrs}
    for n in names(target):
        if n not in want and not n.startswith(leave):
            try:
                os.removexattr(target, n, **_how(target))
            except OSError as exc:
                return f"cannot remove {n}: {exc.strerror}"
    for n, v in attrs:
        if n.startswith(leave):
            continue
        why = ""
        for name in names_for(n):
            try:
                os.setxattr(target, name, v, **_how(target))
                break
            except OSError as exc:
                why = exc.strerror
        else:
            return f"cannot give it the xattr {n}: {why}"
    return ""
