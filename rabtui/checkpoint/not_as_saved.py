"""The files of a standard directory's backup that its medium no longer holds as the backup saved
them (the catalog's paths and sizes): gone (an fsck, a hand), a symlink or another entry in their
place, or of another size (emptied by a crash, written into in place). A checkpoint would have put
what is there now on its discs, verified against the medium and counted as a copy of the backup:
it refuses instead, naming them, as a restore from the medium names them (restore/as_saved.py). The
next backup copies such a file anew from the source (its size and time differ from the base's)."""

from __future__ import annotations

from rabtui import fmt
from rabtui.state import catalog
from rabtui.state.catalog import rel_path
from rabtui.state.store import Store


def found(store: Store, backup, path: str, inner: list[str], paths: list[bytes], sizes: list[int],
          marks: list[str | None]) -> list[tuple[bytes, str]]:
    """(path on the source without its first /, why) of each file of directory `path` that `backup`
    saved and the scan (paths relative to the directory, their sizes and marks: None for a regular
    file) does not find as saved; `inner`: configured directories inside it, read on their own."""
    top = rel_path(path)
    held = {top + b"/" + p if p else top: (size, mark) for p, size, mark in zip(paths, sizes, marks)}
    skip = [rel_path(d) + b"/" for d in inner]
    out = []
    for rel, (size, _) in sorted(catalog.contents(store, backup, prefix=top, own=True).items()):
        if skip and any((rel + b"/").startswith(s) for s in skip):
            continue
        there = held.get(rel)
        if there is None:
            out.append((rel, "not on the medium any more"))
        elif there[1] is not None:
            out.append((rel, "another kind of entry is in its place"))
        elif there[0] != size:
            out.append((rel, f"{there[0]} bytes, where the backup saved {size}"))
    return out


def said(key: str, backup, lost: list[tuple[bytes, str]]) -> str:
    """The refusal's message."""
    rel, why = lost[0]
    return (f"{key}: {fmt.count(len(lost), 'file')} of backup {backup['name']} on medium {backup['medium']}"
            f" {'is' if len(lost) == 1 else 'are'} not there as it saved {'it' if len(lost) == 1 else 'them'},"
            f" e.g. /{fmt.name(rel)}: {why}; nothing was recorded")
