"""The files of a standard directory's backup that its medium no longer holds as the backup saved
them (the catalog's paths, sizes and mtimes): gone (an fsck, a hand), a symlink or another entry in
their place, of another size (emptied by a crash, written into in place), or of its size but another
time (written into in place, another file of that size hard-linked in its place: `ln -f`), told only
on a medium that keeps times as rsync set them (vfat's are to 2 s, in local time). A checkpoint
would have put what is there now on its discs, verified against the medium and counted as a copy of
the backup: it refuses instead, naming them, as a restore from the medium names them (those gone, of
another kind or size: restore/as_saved.py). The next backup copies such a file anew from the source
(its size or time differs from the base's). So are its symlinks, FIFOs and device nodes (the
catalog's `others`) the medium no longer holds, or holds as another kind of entry: rsync -r or a
copy onto a file system without them leaves them out in silence. And so is a file, symlink or
special file its tree holds that the backup never saved (put there since: put_there)."""

from __future__ import annotations

import stat
from itertools import chain

from rabtui import fmt
from rabtui.checkpoint.marks import DIR_MARK
from rabtui.media import points_to
from rabtui.mtimes import as_recorded
from rabtui.state import catalog, others, shapes
from rabtui.state.catalog import rel_path
from rabtui.state.store import Store


def found(store: Store, backup, path: str, inner: list[str], paths: list[bytes], sizes: list[int],
          marks: list[str | None], mtimes: list[int] | None = None, modes: list[int] | None = None,
          sockets: list[bytes] = (), root: bytes | None = None, links: dict[bytes, bytes] | None = None
          ) -> list[tuple[bytes, str]]:
    """(path on the source without its first /, why) of each file of directory `path` that `backup`
    saved and the scan (paths relative to the directory, their sizes and marks: None for a regular
    file) does not find as saved; `inner`: configured directories inside it, read on their own.
    `mtimes` (the scan's, in seconds), given where the medium keeps times as rsync set them: a file
    of its size but of another time was written into since, or is another file linked in its place.
    `modes` (the scan's st_mode) and `sockets` (the sockets it left out): each symlink, FIFO or
    device node the backup saved must be there as that kind of entry; given `root` (the directory's
    copy on the medium), pointing where it pointed (points_to: a target or numbers the catalog knows;
    `links`: the scan's targets, by path relative to the directory)."""
    top = rel_path(path)
    times = mtimes if mtimes is not None else [None] * len(paths)
    kinds = modes if modes is not None else [None] * len(paths)
    at = top + b"/" if top else b""     # the directory / itself: its paths as the catalog's
    held = {at + p if p else top: (size, mark, t, mode)
            for p, size, mark, t, mode in zip(paths, sizes, marks, times, kinds)}
    skip = [rel_path(d) + b"/" for d in inner]
    out = []
    saved = catalog.contents(store, backup, prefix=top, own=True)
    entries = others.held(store, backup, top)
    for rel, (size, mtime) in sorted(saved.items()):
        if skip and any((rel + b"/").startswith(s) for s in skip):
            continue
        there = held.get(rel)
        if there is None:
            out.append((rel, "not on the medium any more"))
        elif there[1] is not None:
            out.append((rel, "another kind of entry is in its place"))
        elif why := changed("the backup", size, mtime, there[0], there[2]):
            out.append((rel, why))
    if modes is not None:
        held.update((at + p, (0, None, None, stat.S_IFSOCK)) for p in sockets)
        for rel, kind in entries.items():
            if skip and any((rel + b"/").startswith(s) for s in skip):
                continue
            mode = held.get(rel, (None,) * 4)[3]
            if mode is None:
                out.append((rel, f"not on the medium any more (a {others.NAMES.get(kind, 'special file')})"))
            elif not others.of_kind(kind, mode):
                out.append((rel, f"another kind of entry is in the place of the {others.NAMES.get(kind, 'special file')}"))
        if root is not None:
            out += _pointing_elsewhere(store, backup, top, root, links or {}, skip)
    out += put_there(backup, held, saved, entries, skip, others.recorded(store, backup))
    out.sort()
    return out


def put_there(backup, held: dict[bytes, tuple], saved: dict, entries: dict, skip: list[bytes],
              entries_known: bool = True) -> list[tuple[bytes, str]]:
    """(path, why) of each file, symlink, FIFO, socket or device node of `held` (the scan's, by path
    on the source, each (size, mark, ...)) that the backup saved neither as a file (`saved`) nor as
    another entry (`entries`): put into its tree on the medium since (by hand, another program), it
    would go onto the discs and come back from them as if saved. Its directories are not told (the
    catalog does not list them): an empty one is not named, one holding such entries is, by them;
    nor is an entry in the place of a directory the backup saved (what it saved there is named).
    Without `entries_known` (others.recorded), only regular files are told."""
    out = [rel for rel, there in held.items()
           if (_a_file(there) or (entries_known and there[1] != DIR_MARK)) and rel not in saved and rel not in entries
           and not (skip and any((rel + b"/").startswith(s) for s in skip))]
    if out:
        places = {up for rel in chain(saved, entries) for up in shapes.on_the_way(rel)}
        out = [rel for rel in out if rel not in places]
    return [(rel, "not saved by the backup: put there since") for rel in out]


def _a_file(there: tuple) -> bool:
    """Is the scan's entry `there` ((size, mark, mtime, st_mode or None)) a regular file? A socket
    (left out of the discs) has no mark either."""
    return there[1] is None and (there[3] is None or stat.S_ISREG(there[3]))


def _pointing_elsewhere(store: Store, backup, top: bytes, root: bytes, links: dict[bytes, bytes],
                        skip: list[bytes]) -> list[tuple[bytes, str]]:
    """(path, why) of the symlinks and device nodes the backup saved below `top` that its copy at
    `root` holds pointing elsewhere (one gone or of another kind is said apart): a symlink's target
    as the scan read it (`links`), the one that goes onto the discs."""
    out = []
    for rel, (kind, target, rdev) in others.pointing(store, backup, top).items():
        if skip and any((rel + b"/").startswith(s) for s in skip):
            continue
        under = rel[len(top):].lstrip(b"/")
        now = (links.get(under), None) if kind == points_to.SYMLINK else points_to.held(root, under, kind)
        if why := points_to.differs(now, (target, rdev)):
            out.append((rel, why))
    return out


def changed(saver: str, size: int, mtime: int, size_now: int, mtime_now: int | None) -> str | None:
    """Why a regular file of `size_now` and `mtime_now` (None: times not compared) is not the one
    `saver` (its words: "the backup", "backup NAME") saved of `size` and `mtime`; None if it is."""
    if size_now != size:
        return f"{size_now} bytes, where {saver} saved {size}"
    if mtime_now is not None and not as_recorded(mtime_now, mtime):
        return (f"modified at {fmt.utc(mtime_now)}, where {saver} saved it as of {fmt.utc(mtime)}"
                " (written into, or another file put in its place, since)")
    return None


def said(key: str, backup, lost: list[tuple[bytes, str]], killed: str | None = None) -> str:
    """The refusal's message; `killed`: a run after the backup, running or killed once it linked its
    files into an archive's union (their place), not yet recovered."""
    rel, why = lost[0]
    one = len(lost) == 1
    how = f" {'is' if one else 'are'} not there as it saved {'it' if one else 'them'}"
    if killed is not None:
        how += (f": backup {killed}, running or killed before it ended, linked its own files into the union"
                f" in {'its' if one else 'their'} place")
    return (f"{key}: {fmt.count(len(lost), 'file')} of backup {backup['name']} on medium {backup['medium']}{how},"
            f" e.g. /{fmt.name(rel)}: {why}; nothing was recorded")
