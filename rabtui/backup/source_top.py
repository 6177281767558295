"""Which configured directories of a source are symlinks there, asked of the source's own rsync.

rsync reads `dir/` through a symlink at `dir` (also `dir/.`, and with --no-implied-dirs: checked
with rsync 3.5.0), so a user who owns the directory's parent could put a link to /etc or /root in
its place, and a backup pulling as root would save those files under the directory's name. rsync
lists `dir` (no slash, no recursion) as the entry itself: the same command, over the same
connection and with the same rights as the transfer, says what is there, on a local source too.
One listing (-R: each named by its whole path) asks of every directory at once, before the first
transfer and after the last (rsync takes the last name it is given for a destination, so it gets
one: in the backup's own directory, below one that does not exist, which rsync could not make
without --mkpath; with --list-only it makes nothing there, checked with strace): a link put in place after the first look and left there is seen by
the second. One put there and taken away while rsync runs is not (rsync reaches every directory
of the tree by its path again, below the top too).
"""

from __future__ import annotations

import os
import re
import threading
from typing import Sequence

from rabtui import fmt, proc, rsync
from rabtui.errors import Stalled

# one entry of --list-only: mode, size, date, time, name (rsync escapes what cannot be printed)
_ENTRY = re.compile(rb"^([-a-zA-Z]{10}) +[\d,]+ \d{4}/\d\d/\d\d \d\d:\d\d:\d\d (.*)$", re.M)


def list_argv(command: Sequence[str], locations: Sequence[str], dest: str, *, rsh: str | None,
              rsync_path: str | None, io_timeout: int | None) -> list[str]:
    """rsync listing the entries `locations` (rsync_location's names of directories) themselves.
    `command`: the local rsync's words; `rsync_path` the remote side's; `dest` a local directory
    that does not exist."""
    argv = [*command, "--list-only", "-R", "-d", "-l",
            *rsync.transfer_options(io_timeout=io_timeout, rsync_path=rsync_path)]
    if rsh:
        argv += ["-e", rsh]
    return argv + ["--", *(location.rstrip("/") for location in locations), dest]


def _rel(path: str) -> bytes:
    """How the listing names `path` (-R drops the leading slash)."""
    return path.strip("/").encode("utf-8", "surrogateescape")


def symlink_targets(listing: bytes, paths: Sequence[str]) -> dict[str, bytes]:
    """Of `paths`, those the listing shows as symlinks, with their targets."""
    # the longest first: of "a -> b" and "a", both wanted, the entry "a -> b -> c" is the first's
    wanted = {_rel(path): path for path in sorted(paths, key=len, reverse=True) if path.strip("/")}
    found = {}
    for mode, rest in _ENTRY.findall(listing):
        if not mode.startswith(b"l"):
            continue
        entry = rsync.unescape(rest)
        # by the wanted names, not at the first " -> ": a name may hold one
        for rel, path in wanted.items():
            if entry.startswith(rel + b" -> "):
                found[path] = entry[len(rel) + 4:]
                break
    return found


def message(path: str, target: bytes) -> str:
    return (f"{fmt.name(path)} is a symlink on the source (to {fmt.name(target)}): not followed;"
            " configure the directory it points to by its own path if that is to be backed up")


def symlinked(command: Sequence[str], locations: Sequence[str], paths: Sequence[str], backup_path: str, *,
              rsh: str | None, rsync_path: str | None, io_timeout: int | None,
              cancel: threading.Event) -> dict[str, str]:
    """Why each of the directories `paths` (at `locations`) that is a symlink on the source is not
    backed up (`backup_path`: the backup's directory). A listing that fails says nothing of the
    directories it missed: their transfer meets what made it fail."""
    locations = [location for location, path in zip(locations, paths) if path.strip("/")]
    if not locations:
        return {}
    dest = os.path.join(backup_path, "none", "none", "")
    argv = list_argv(command, locations, dest, rsh=rsh, rsync_path=rsync_path, io_timeout=io_timeout)
    try:
        listed = proc.run(argv, capture=True, env=rsync.ENV, cancel=cancel, die_with_parent=True,
                          silence=io_timeout)
    except Stalled:
        return {}
    return {path: message(path, target) for path, target in symlink_targets(listed.stdout, paths).items()}
