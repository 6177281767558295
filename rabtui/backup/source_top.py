"""Which configured directories of a source are symlinks there, asked of the source's own rsync.

rsync reads `dir/` through a symlink at `dir` (also `dir/.`, and with --no-implied-dirs: checked
with rsync 3.5.0), so a user who owns the directory's parent could put a link to /etc or /root in
its place, and a backup pulling as root would save those files under the directory's name. rsync
lists `dir` (no slash, no recursion) as the entry itself: the same command, over the same
connection and with the same rights as the transfer, says what is there, on a local source too.
rsync follows a link on the way to the directory as well (`www` of /home/alice/www/site): each
directory on the way is listed too. Not by its whole path: rsync -R drops a link of the listing
that is on the way to another name of it, for the directory it implies there (even with
--no-implied-dirs, rsync 3.5.0), so each is named `parent/./name` (-R lists `name`), and names
alike go in listings of their own (usually one: a listing asks of many directories at once).
Each look is made before the first transfer and after the last (rsync takes the last name it is
given for a destination, so it gets one: in the backup's own directory, below one that does not
exist, which rsync could not make without --mkpath; with --list-only it makes nothing there,
checked with strace): a link put in place after the first look and left there is seen by the
second, which therefore must not fail unseen. One put there and taken away while rsync runs is not
(rsync reaches every directory of the tree by its path again, below the top too), and the
transfer's own output cannot say it: its item of the top (`cd+++++++++ ./`, with -R the implied
`name/` too) is the directory the path led to, with that one's mode, owner and time, never the link.
"""

from __future__ import annotations

import os
import re
import threading
from typing import Callable, Sequence

from rabtui import fmt, proc, rsync, rsync_exit
from rabtui.errors import Stalled, WorkFailed

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
        argv += rsync.remote_shell(rsh)
    return argv + ["--", *(location.rstrip("/") for location in locations), dest]


def on_the_way(paths: Sequence[str]) -> list[str]:
    """The directories `paths` and every directory above them but /, each once."""
    names: dict[str, None] = {}
    for path in paths:
        parts = [part for part in path.split("/") if part]
        for n in range(1, len(parts) + 1):
            names["/" + "/".join(parts[:n])] = None
    return list(names)


def _groups(names: Sequence[str]) -> list[list[str]]:
    """`names` in lists whose last components differ (what each listing names them)."""
    groups: list[tuple[set[bytes], list[str]]] = []
    for name in names:
        group = next((g for g in groups if _rel(name) not in g[0]), None)
        if group is None:
            groups.append(group := (set(), []))
        group[0].add(_rel(name))
        group[1].append(name)
    return [group for _, group in groups]


def _dotted(path: str) -> str:
    """`path` as rsync -R is to list it: by its last component."""
    parent, name = path.rsplit("/", 1)
    return f"{parent}/./{name}"


def _rel(path: str) -> bytes:
    """How the listing names `path` (_dotted: its last component)."""
    return path.rsplit("/", 1)[-1].encode("utf-8", "surrogateescape")


def symlink_targets(listing: bytes, paths: Sequence[str]) -> dict[str, bytes]:
    """Of `paths` (last components unlike), those the listing shows as symlinks, with their targets."""
    # the longest first: of "a -> b" and "a", both wanted, the entry "a -> b -> c" is the first's
    wanted = {_rel(path): path for path in sorted(paths, key=len, reverse=True) if path.strip("/")}
    entries = [(mode, rsync.unescape(rest)) for mode, rest in _ENTRY.findall(listing)]
    # of "a", a link to "b -> c", and "a -> b", a directory, the entry "a -> b -> c" is the first's
    not_links = {entry for mode, entry in entries if not mode.startswith(b"l")}
    found = {}
    for mode, entry in entries:
        if not mode.startswith(b"l"):
            continue
        # by the wanted names, not at the first " -> ": a name may hold one
        for rel, path in wanted.items():
            if rel not in not_links and path not in found and entry.startswith(rel + b" -> "):
                found[path] = entry[len(rel) + 4:]
                break
    return found


_UNKNOWN = "could not look again, after the transfers, whether a configured directory was made a symlink"


def message(link: str, target: bytes, path: str | None = None) -> str:
    """Why the directory `path` (`link` itself when None) is not backed up: `link`, it or a
    directory above it, is a symlink to `target`; with the path to configure instead (a relative
    target taken from the link's directory: lib -> usr/lib says /usr/lib)."""
    path = link if path is None else path
    raw_link = os.fsencode(link)
    to = os.path.normpath(os.path.join(os.path.dirname(raw_link), target) + os.fsencode(path)[len(raw_link):])
    to = b"/" + to.lstrip(b"/")       # normpath keeps "//" at the start (POSIX leaves its meaning open)
    return (f"{fmt.name(link)} is a symlink on the source (to {fmt.name(target)}): not followed;"
            f" configure the directory it points to by its own path ({fmt.name(to)}) if that is to be backed up")


def symlinked(command: Sequence[str], locate: Callable[[str], str], paths: Sequence[str], backup_path: str, *,
              rsh: str | None, rsync_path: str | None, io_timeout: int | None,
              cancel: threading.Event, after: bool = False) -> dict[str, str]:
    """Why each of the directories `paths` that is, or has on its way, a symlink on the source is
    not backed up (`locate`: rsync's name of a directory of the source; `backup_path`: the
    backup's directory). A listing that fails says nothing of the directories it missed: their
    transfer meets what made it fail; `after` the transfers, it raises WorkFailed (whether rsync
    read one through a link is not known)."""
    links: dict[str, bytes] = {}
    dest = os.path.join(backup_path, "none", "none", "")
    for group in _groups(on_the_way(paths)):
        argv = list_argv(command, [locate(_dotted(name)) for name in group], dest, rsh=rsh,
                         rsync_path=rsync_path, io_timeout=io_timeout)
        try:
            listed = proc.run(argv, capture=True, env=rsync.ENV, cancel=cancel, die_with_parent=True,
                              silence=io_timeout)
        except Stalled:
            if after:
                raise WorkFailed(f"{_UNKNOWN}: nothing from rsync's listing for {io_timeout} s (io_timeout)") from None
            continue
        if after and listed.returncode not in (0, 23, 24):    # 23, 24: a directory missing (removed)
            raise WorkFailed(f"{_UNKNOWN}: {rsync_exit.interpret_exit(listed.returncode, listed.stderr_tail).reason}")
        links.update(symlink_targets(listed.stdout, group))
    why = {}
    for path in paths:
        # the first link on the way (on_the_way names the directories above a path before it)
        link = next((name for name in on_the_way([path]) if name in links), None)
        if link is not None:
            why[path] = message(link, links[link], path)
    return why
