"""What changed from one backup of a source to another, from the catalog (never the trees): the
files (`versions`) and the symlinks and special files (`others`), each with its kind as `find`
names it ("file", "symlink", "special")."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import NamedTuple

from rabtui.state import others
from rabtui.state.catalog import contents, rel_path
from rabtui.state.store import Store
from rabtui.state.unread_paths import Unread

FILE = "file"


class Entry(NamedTuple):
    """A path added or removed: a file with its size, or a symlink or special file (size 0)."""
    path: bytes
    size: int
    kind: str = FILE


class Change(NamedTuple):
    """A path both backups hold, changed: a file of another size or mtime, a symlink or special
    file made anew (others.changes), or a path of another kind (a file that became a symlink)."""
    path: bytes
    old_size: int
    size: int
    old_kind: str = FILE
    kind: str = FILE


class Unreadable(NamedTuple):
    """A path the later backup could not read on the source (rsync could not open it, or list the
    directory it is in): not in that backup, yet not deleted there. `size`: of the file the earlier
    backup holds (None where it held none: a path new since, or a directory that could not be listed).
    `unmade`: read on the source, the file could not be created on the medium (a name its file
    system refuses), not unread."""
    path: bytes
    size: int | None
    kind: str = FILE
    unmade: bool = False


class ReadableAgain(NamedTuple):
    """A path the earlier backup could not read on the source and the later one holds: not added
    (it was there all along), read again. `size`: of the file the later backup holds."""
    path: bytes
    size: int
    kind: str = FILE


def _kinds(key: str, kind: str) -> dict:
    """A kind in JSON as find gives it: only when it is no regular file."""
    return {} if kind == FILE else {key: kind}


@dataclass
class Diff:
    a: str
    b: str
    added: list[Entry] = field(default_factory=list)
    removed: list[Entry] = field(default_factory=list)
    changed: list[Change] = field(default_factory=list)
    unreadable: list[Unreadable] = field(default_factory=list)
    unnamed: int = 0     # paths b could not read past those it names: some of `removed` may be among them
    readable_again: list[ReadableAgain] = field(default_factory=list)
    again_unnamed: int = 0     # paths a could not read past those it names: some of `added` may be among them

    def as_json(self) -> dict:
        d = os.fsdecode
        return {
            "a": self.a, "b": self.b,
            "added": [{"path": "/" + d(e.path), "size": e.size, **_kinds("kind", e.kind)} for e in self.added],
            "removed": [{"path": "/" + d(e.path), "size": e.size, **_kinds("kind", e.kind)} for e in self.removed],
            "changed": [{"path": "/" + d(c.path), "old_size": c.old_size, "size": c.size,
                         **_kinds("old_kind", c.old_kind), **_kinds("kind", c.kind)} for c in self.changed],
            "unreadable": [{"path": "/" + d(u.path), "size": u.size, **_kinds("kind", u.kind),
                            **({"unmade": True} if u.unmade else {})} for u in self.unreadable],
            **({"unreadable_unnamed": self.unnamed} if self.unnamed else {}),
            "readable_again": [{"path": "/" + d(r.path), "size": r.size, **_kinds("kind", r.kind)}
                               for r in self.readable_again],
            **({"readable_again_unnamed": self.again_unnamed} if self.again_unnamed else {}),
        }


def diff(store: Store, a, b, archive_dirs: tuple[str, ...] = (), prefix: bytes = b"") -> Diff:
    """Files added, removed and changed (other size or mtime) from backup `a` to backup `b`, and
    the symlinks and special files likewise (others.changes); a path that is a file in one and
    no file in the other is changed. With `prefix` (a path relative to /), only those at or
    below it."""
    old = contents(store, a, archive_dirs, prefix)
    new = contents(store, b, archive_dirs, prefix)
    out = Diff(a["name"], b["name"])
    for path, (size, mtime) in new.items():
        prev = old.get(path)
        if prev is None:
            out.added.append(Entry(path, size))
        elif prev != (size, mtime):
            out.changed.append(Change(path, prev[0], size))
    gone = {path: size for path, (size, _) in old.items() if path not in new}
    came = {e.path: e.size for e in out.added}
    for path, was, now in others.changes(store, a, b, archive_dirs, prefix):
        if was is None and path in gone:
            out.changed.append(Change(path, gone.pop(path), 0, FILE, now))
        elif now is None and path in came:
            out.changed.append(Change(path, 0, came.pop(path), was, FILE))
        elif was is None:
            out.added.append(Entry(path, 0, now))
        elif now is None:
            out.removed.append(Entry(path, 0, was))
        else:
            out.changed.append(Change(path, 0, 0, was, now))
    out.added = sorted(e for e in out.added if e.kind != FILE or e.path in came)
    out.removed = sorted([Entry(p, s) for p, s in gone.items()] + out.removed)
    out.changed.sort()
    _unreadable(store, b, out, rel_path(prefix))
    _readable_again(store, a, out)
    return out


def _readable_again(store: Store, a, out: Diff) -> None:
    """What `a` could not read on the source and `b` holds: read again, not added."""
    unread = Unread(store, a["id"])
    out.again_unnamed = unread.unnamed
    if not unread.paths:
        return
    added, out.added = out.added, []
    for e in added:
        if unread.covering(e.path) is None:
            out.added.append(e)
        else:
            out.readable_again.append(ReadableAgain(e.path, e.size, e.kind))


def _unreadable(store: Store, b, out: Diff, prefix: bytes) -> None:
    """What `b` could not read on the source: not removed. Those of its paths that name nothing
    removed (a file new since `a`, a directory that could not be listed) are listed too."""
    unread = Unread(store, b["id"])
    if not unread.count:
        return
    removed, out.removed, used = out.removed, [], set()
    for e in removed:
        by = unread.covering(e.path)
        if by is None:
            out.removed.append(e)
        else:
            used.add(by)
            out.unreadable.append(Unreadable(e.path, e.size if e.kind == FILE else None, e.kind, by in unread.unmade))
    under = prefix + b"/" if prefix else b""
    out.unreadable += [Unreadable(path, None, unmade=path in unread.unmade) for path in unread.paths - used
                       if not prefix or path == prefix or path.startswith(under)]
    if prefix and prefix not in unread.paths - used and unread.listing(prefix):
        out.unreadable.append(Unreadable(prefix, None))     # the directory compared was not (all) listed
    out.unreadable.sort(key=lambda u: u.path)
    out.unnamed = unread.unnamed
