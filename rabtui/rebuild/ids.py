"""The id each backup found by rebuild-state is recorded under.

A backup keeps the id its backup.json holds (the discs' README and the record on the medium name
it by that id), unless
- another backup found holds the same id: a state database made anew after the old one was lost
  numbers its backups from 1 again, and cron may back up onto it before rebuild-state runs; the
  backup started first keeps the id;
- keeping it would break the order of the ids of a source's backups on a medium: the catalog's
  ranges run over those ids, and the first backup after the rebuild extends the ranges of the
  newest one, so an older backup with a higher id would be said to hold its files; and a killed
  run's archive links are undone against the complete backups made before it, by their ids.
Any other backup gets an id above every id found, in the order of its source's backups there
and, across media, in the order they were made (_made: by the ids they keep, else by their starts);
so do the source's backups on any medium made after it (a backup made later never has an id below
one made before it).

That order is the one they were made in (made_order): by the ids their records hold, else by
their names, except that a backup comes after the one it was linked from. A clock that was wrong
dates a backup ahead of those made after it (or those made after it behind it); numbered by name,
it would pass for the one made last.
"""

from __future__ import annotations

import heapq
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rabtui.backup.made_order import an_id
from rabtui.state.store import BACKUP_IDS_USED, ID_REACH, read_only

Key = tuple[str, str, str]       # medium, source, backup name


@dataclass(frozen=True)
class Found:
    key: Key
    started: float
    wanted: int | None           # the id its backup.json holds
    restorable: bool             # in the catalog's ranges: completed, warnings, kept


def assign(groups: list[list[Found]], used: int = 0) -> dict[Key, int]:
    """An id for each backup; `groups`: the backups of each source on each medium, oldest first;
    `used`: the highest id given before (used_in), which a new id goes above."""
    found = [f for group in groups for f in group]
    owner: dict[int, Key] = {}
    for f in sorted(found, key=lambda f: f.started):
        if f.wanted is not None:
            owner.setdefault(f.wanted, f.key)
    fresh = max(max((f.wanted for f in found if f.wanted is not None), default=0), used) + 1
    ids: dict[Key, int] = {}
    last = [0] * len(groups)
    renumbered: set[str] = set()      # sources one of whose backups got a new id
    # in the order the backups were made across media, each medium's in its own order: once one of a
    # source's backups gets a new id (above every id), so do those made after it, on any
    # medium, else a backup made later would keep an id below it, and be taken for made before it.
    # A killed or failed run too: undoing its archive links gives the union back the versions of
    # the complete backups made before it, known by their ids.
    for g, f in _made(groups, {f.key for f in found if f.wanted is not None and owner[f.wanted] == f.key}):
        bid = f.wanted if f.wanted is not None and owner[f.wanted] == f.key else None
        if bid is None or f.key[1] in renumbered or bid <= last[g]:
            bid, fresh = fresh, fresh + 1
        if f.restorable or f.wanted is not None:     # a run that recorded no id orders nothing
            if bid != f.wanted:
                renumbered.add(f.key[1])
            last[g] = bid
        ids[f.key] = bid
    return ids


def _made(groups: list[list[Found]], owning: set[Key]):
    """(group, backup) of every backup, each group's in its order, each source's across its media in
    the order they were made: by the ids their records hold where both keep theirs (`owning`: a
    run's id is above those of the backups made before it, whatever the clock said; one that another
    backup holds too was given by a database made anew, which knew only its medium's), else by
    their starts."""
    by_source: dict[str, list[int]] = {}
    for g, group in enumerate(groups):
        if group:
            by_source.setdefault(group[0].key[1], []).append(g)
    for gs in by_source.values():
        at = dict.fromkeys(gs, 0)
        while heads := [(g, groups[g][at[g]]) for g in gs if at[g] < len(groups[g])]:
            pick = next((h for h in heads if all(_before(h[1], o[1], owning) for o in heads if o is not h)),
                        min(heads, key=lambda h: h[1].started))
            at[pick[0]] += 1
            yield pick


def _before(a: Found, b: Found, owning: set[Key]) -> bool:
    if a.key in owning and b.key in owning:
        return a.wanted < b.wanted
    return a.started <= b.started


def used_in(db: Path) -> int:
    """The highest backup id the database `db` gave, or knew as given before it (BACKUP_IDS_USED), as
    far as it can be read: rebuild-state reads the one it replaces, whose ids backups on the media
    it does not read (offsite) hold; the ids given after the rebuild go on above it."""
    return read_only(db, _used, 0)


def _used(conn: sqlite3.Connection) -> int:
    ids = [conn.execute("SELECT MAX(id) FROM backups").fetchone()[0] or 0]
    ids += [int(v) for (v,) in conn.execute("SELECT value FROM meta WHERE key=?", (BACKUP_IDS_USED,)).fetchall()
            if str(v).isascii() and str(v).isdigit()]
    return max([0, *(i for i in ids if isinstance(i, int) and i < ID_REACH)])


def made_order(names: list[str], bases: list[str | None], ids: list[int | None] | None = None) -> list[int]:
    """The indexes of a source's backups on a medium (`names`, in the order of their names, each
    with the name of the backup it was linked from, or None, and the id its backup.json records, or
    None) in the order they were made: each after its link base, and otherwise in the order of
    their ids (a run's id is above those of the backups made before it on its medium: a kept or
    failed backup is no link base, and one made after it under a clock behind is named before it),
    those without an id in the places of their names. A base that is not among them (deleted
    since) binds nothing; a loop (records changed by hand) is broken in that order."""
    rank = list(range(len(names)))
    with_id = [i for i in range(len(names)) if ids and an_id(ids[i])]
    for place, i in zip(with_id, sorted(with_id, key=lambda i: (ids[i], i))):
        rank[i] = place
    at = {n: i for i, n in enumerate(names)}
    waits = [0] * len(names)
    after: dict[int, list[int]] = {}
    for i, base in enumerate(bases):
        if base in at and at[base] != i:
            waits[i] = 1
            after.setdefault(at[base], []).append(i)
    ready = [(rank[i], i) for i in range(len(names)) if not waits[i]]
    heapq.heapify(ready)
    order: list[int] = []
    placed = [False] * len(names)
    while len(order) < len(names):
        if not ready:      # a loop: the first of those left goes first
            heapq.heappush(ready, min((rank[i], i) for i in range(len(names)) if not placed[i]))
        _, i = heapq.heappop(ready)
        if placed[i]:
            continue
        placed[i] = True
        order.append(i)
        for j in after.get(i, ()):
            waits[j] -= 1
            if waits[j] == 0 and not placed[j]:
                heapq.heappush(ready, (rank[j], j))
    return order
