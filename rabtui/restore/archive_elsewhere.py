"""What the copy a restore chose lacks of an archive directory. An archive keeps every file it saved,
but each medium holds only what was saved onto it (a file made and deleted on the source between
two visits of one medium is on the other one only; retention leaves a file on one medium, or on
the discs), so the newest copy of an archive directory may lack files other copies hold. The
restore reads the one copy it chose: these (files, symlinks, special files, empty directories) are
named, with where they are, never left out in silence (`--backup`/`--checkpoint` choose a copy
exactly, and say nothing of the others)."""

from __future__ import annotations

import os
import stat

from rabtui import fmt
from rabtui.checkpoint import own_dirs
from rabtui.checkpoint.marks import DIR_MARK, LINK_MARK, MARKS
from rabtui.config import Config, Source
from rabtui.media import below as medium_below
from rabtui.media.at_hand import medium_problem
from rabtui.restore.copies import Copy, configured
from rabtui.state import archive_held, catalog, others, saved_kinds
from rabtui.state.store import Store

SHOWN = 3       # names given per copy
MANY_SHAPED = 100   # places given two shapes beyond which the whole directory is read as before
FILE, EMPTY_DIR = "", " (an empty directory)"
# what an entry other than a file is called beside its name (others' kinds: rsync's letters)
OTHER_KINDS = {ord("L"): " (a symlink)", ord("S"): " (a FIFO or socket)", ord("D"): " (a device node)"}


def _entries(store: Store, source: Source, rel: bytes, copy: Copy) -> dict[bytes, str]:
    """path -> what it is (FILE, or said beside its name) of the entries at or below `rel` that
    `copy` holds, in archive directories: files, symlinks and special files, and of a disc copy its
    empty directories too (a backup's catalog records no directories)."""
    if copy.kind == "backup":
        found = {}
        for d in saved_kinds.archive_in(store, copy.backup, source.archive_paths):
            # those the newest shape of their place and of those on the way lets show (a place made
            # a file since holds none below it)
            shown = catalog.archive_as_of(store, copy.backup, (d,), rel, archive_now=source.archive_paths,
                                          others_too=True)
            found.update((p, _other(k)) for p, (k, _mtime, _first) in others.archive_as_of(
                store, copy.backup, d, rel).items() if p in shown and shown[p][0] is None)
        found.update(dict.fromkeys(catalog.contents(store, copy.backup, source.archive_paths, rel), FILE))
    else:
        found = {bytes(r["path"]): _what(copy, r) for r in store.all(*_sql(store, source, rel, copy, []))}
    tops = _tops(source)
    if not _inside(tops, rel):
        return found       # no other directory configured inside: all of them are in the archive
    return {p: what for p, what in found.items() if _in_archive(tops, p)}


def _inside(tops: list[tuple[bytes, str]], rel: bytes) -> bool:
    """Need the entries at or below `rel` be told apart by the directory holding each: it is not
    in an archive directory, or another directory is configured inside?"""
    below = rel + b"/" if rel else b""
    return not _in_archive(tops, rel) or any(top.startswith(below) and top != rel for top, _kind in tops)


def _sql(store: Store, source: Source, rel: bytes, copy: Copy, places: list[bytes], unheld: bool = False
         ) -> tuple[str, tuple]:
    """archive_held's SQL of the entries at or below `rel` `copy` holds, but at or below `places`
    (`unheld`: of those, the ones not held)."""
    if copy.kind == "backup":
        return archive_held.backup_sql(store, copy.backup, source.archive_paths, rel, tuple(places), unheld)
    return archive_held.disc_sql(copy.checkpoint, source.id, rel, MARKS, tuple(places), unheld)


def _what(copy: Copy, row) -> str:
    """What an entry of _sql's rows is (FILE, or said beside its name)."""
    kind = row["kind"]
    if copy.kind == "backup":
        return FILE if not kind else _other(kind)
    return (FILE if kind is None else EMPTY_DIR if kind == DIR_MARK else " (a symlink)" if kind == LINK_MARK
            else _special(row["mode"]))


def _other(kind: int) -> str:
    """What a symlink or special file of a backup's (`others`' kind) is called beside its name."""
    return OTHER_KINDS.get(kind, " (a special file)")


def _special(mode: int | None) -> str:
    if mode is None:
        return " (a special file)"
    return " (a FIFO or socket)" if stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) else " (a device node)"


def _above(paths) -> set[bytes]:
    """The directories on the way to `paths`."""
    out: set[bytes] = set()
    for q in paths:
        i = q.rfind(b"/")
        while i > 0 and q[:i] not in out:
            out.add(q[:i])
            i = q.rfind(b"/", 0, i)
    return out


def _holds_dirs(store: Store, source: Source, tops: list[tuple[bytes, str]], paths, chosen: Copy,
                have: dict[bytes, str], looked: dict) -> set[bytes]:
    """Those of `paths` at which the chosen copy (its entries: `have`) holds a directory: an entry
    below it, an empty one of a disc's, or, of a chosen backup, one that the own trees of the backups
    on its medium up to it hold, where the restore reads archive directories' directories (own_dirs:
    a backup's catalog records none; its medium's union holds no empty directory). `looked`: what
    was read of them, kept across calls."""
    out = {p for p in paths if p in have or p in looked["above"]}
    ask = [p for p in paths if p not in out]
    if looked["held"] and ask:
        out |= archive_held.held_at_or_below(store, ask)
    if chosen.kind != "backup":
        return out
    for path in ask:
        if path not in out and _own_dir(store, source, tops, path, chosen, looked):
            out.add(path)
    return out


def _own_dir(store: Store, source: Source, tops: list[tuple[bytes, str]], path: bytes, chosen: Copy,
             looked: dict) -> bool:
    """Do the own trees of the backups on the chosen backup's medium up to it hold a directory at `path`?"""
    for top, kind in tops:
        if kind == "archive" and (not top or path == top or path.startswith(top + b"/")):
            if top not in looked:
                d = next(d.path for d in source.directories if catalog.rel_path(d.path) == top)
                roots = own_dirs.covered(store, source.id, chosen.medium, chosen.backup["id"], d)
                looked[top] = (own_dirs.OwnDirs(roots, top), set(roots))
            dirs, roots = looked[top]
            return dirs.held_in(path[len(top):].lstrip(b"/"), roots)
    return False


def _tops(source: Source) -> list[tuple[bytes, str]]:
    """(path relative to /, kind) of the configured directories, the innermost first."""
    return sorted(((catalog.rel_path(d.path), d.kind) for d in source.directories), key=lambda t: -len(t[0]))


def _in_archive(tops: list[tuple[bytes, str]], path: bytes) -> bool:
    """Is `path` in an archive directory: the innermost of `tops` (_tops) holding it?"""
    for top, kind in tops:
        if not top or path == top or path.startswith(top + b"/"):
            return kind == "archive"
    return False


def _how(store: Store, source: Source, copy: Copy) -> str:
    if copy.kind == "disc":
        return f"--checkpoint {copy.checkpoint}"
    name = copy.backup["name"]
    return f"--backup {copy.backup['id'] if catalog.named_twice(store, source.id, name) else name}"


def lacking(cfg: Config, store: Store, source: Source, rel: bytes, chosen: Copy, copies: list[Copy]) -> list[str]:
    """One line per other copy holding files of an archive directory at or below `rel` that
    `chosen` lacks (each file said once, with the newest copy holding it). Compared in SQL
    (archive_held), but at or below the places the source gave two shapes, read as before."""
    below = rel + b"/" if rel else b""
    tops = _tops(source)
    if not _in_archive(tops, rel) and not any(d.kind == "archive" and catalog.rel_path(d.path).startswith(below)
                                              for d in source.directories):
        return []
    places = archive_held.shaped(store, source.id, rel)
    whole = places == [rel] or len(places) > MANY_SHAPED       # read as before, all of it
    places = [rel] if whole else places
    inside = _inside(tops, rel)
    have = {p: what for place in places for p, what in _entries(store, source, place, chosen).items()}
    looked: dict = {"above": _above(have), "held": not whole}
    if not whole:
        archive_held.hold(store, _sql(store, source, rel, chosen, places))
    try:
        lines = []
        for c in copies:
            if c is chosen or (c.kind == "backup" and not configured(cfg, c.medium)):
                continue
            unread: list[bytes] | None = (
                [] if c.kind == "backup" and medium_problem(cfg.medium(c.medium), store) is None else None)
            lines += _line(store, source, rel, chosen, c, _more(
                store, source, rel, chosen, c, places, whole, inside, have, looked, unread))
            lines += _unread_line(rel, c, unread or [])
        return lines
    finally:
        if not whole:
            archive_held.let_go(store)


def _more(store: Store, source: Source, rel: bytes, chosen: Copy, c: Copy, places: list[bytes], whole: bool,
          inside: bool, have: dict[bytes, str], looked: dict, unread: list[bytes] | None = None) -> dict[bytes, str]:
    """path -> what it is of the entries `c` holds that neither `chosen` nor a copy before it named
    holds (`have`: those at or below `places`; the rest in archive_held's table), now held too.
    `inside`: the entries are told apart by the configured directory holding each (_inside);
    `unread`: a list when `c` is a backup whose medium is at hand, its own tree read for its empty
    directories: the directories there that could not be read are added to it."""
    tops = _tops(source)
    theirs = {p: what for place in places for p, what in _entries(store, source, place, c).items()}
    held = _holds_dirs(store, source, tops, [p for p, what in theirs.items() if what == EMPTY_DIR and p not in have],
                       chosen, have, looked)
    more = {p: what for p, what in theirs.items() if p not in have and p not in held}
    have.update(more)
    looked["above"] |= _above(more)
    if not whole:
        rows = [(bytes(r["path"]), _what(c, r)) for r in archive_held.not_held(
            store, _sql(store, source, rel, c, places, unheld=True))]
        rows = [(p, what) for p, what in rows if not inside or _in_archive(tops, p)]
        held = _holds_dirs(store, source, tops, [p for p, what in rows if what == EMPTY_DIR], chosen, have, looked)
        new = {p: what for p, what in rows if p not in held}
        archive_held.add(store, new)
        more.update(new)
    if unread is not None:
        ways = _above(more)
        found = [p for p in _own_empty(source, rel, c, unread) if p not in more and p not in ways]
        held = _holds_dirs(store, source, tops, found, chosen, have, looked)
        empty = {p: EMPTY_DIR for p in found if p not in held}
        have.update(empty)
        looked["above"] |= _above(empty)
        if not whole:
            archive_held.add(store, empty)
        more.update(empty)
    return more


def _own_empty(source: Source, rel: bytes, c: Copy, unread: list[bytes]) -> list[bytes]:
    """The empty directories of archive directories at or below `rel` (`rel` itself too, but a
    configured directory) in backup `c`'s own tree (its catalog records none: the tree holds every
    directory the source had then), never read through a symlink. Its files saved by older backups
    are in the union: the caller leaves out a directory with an entry of `c` below it. Those that
    cannot be read are added to `unread`."""
    tops = _tops(source)
    below = rel + b"/" if rel else b""
    starts = [rel] if _in_archive(tops, rel) else [t for t, kind in tops if kind == "archive" and t.startswith(below)]
    root = os.path.join(os.fsencode(c.backup["path"]), b"data")
    out = []
    for start in starts:
        if own_dirs.OwnTree(root, start).directory(start) is None:
            continue
        out += [d for d in medium_below.empty_dirs(root, start, unread) if _in_archive(tops, d)]
        if start == rel and all(rel != top for top, _kind in tops) and _empty(root, rel):
            out.append(rel)     # the empty directory asked for itself
    return out


def _empty(root: bytes, rel: bytes) -> bool:
    try:
        return not medium_below.entries(root, rel)
    except OSError:
        return False


def _unread_line(rel: bytes, c: Copy, unread: list[bytes]) -> list[str]:
    if not unread:
        return []
    more = sorted(unread)
    shown = ", ".join("/" + fmt.name(p) for p in more[:SHOWN])
    shown += f" and {len(more) - SHOWN} more" if len(more) > SHOWN else ""
    return [f"{fmt.count(len(more), 'directory')} below /{fmt.name(rel)} in {c.describe()} could not be read"
            f" (first: {shown}): empty directories in {'it' if len(more) == 1 else 'them'} that the restore lacks"
            " are not named"]


def _line(store: Store, source: Source, rel: bytes, chosen: Copy, c: Copy, theirs: dict[bytes, str]) -> list[str]:
    if not theirs:
        return []
    more = sorted(theirs)
    shown = ", ".join("/" + fmt.name(p) + theirs[p] for p in more[:SHOWN])
    shown += f" and {len(more) - SHOWN} more" if len(more) > SHOWN else ""
    is_, they, them = ("is", "it is", "it") if len(more) == 1 else ("are", "they are", "them")
    noun = fmt.count(len(more), "file" if all(theirs[p] == FILE for p in more) else "entry")
    return [f"{noun} the archive saved below /{fmt.name(rel)} {is_} not in"
            f" {chosen.describe()}: {they} in {c.describe()} (first: {shown}); restore {them} from there"
            f" with {_how(store, source, c)}"]
