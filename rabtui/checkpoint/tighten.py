"""Fewer discs after packing: while a plan has more discs than its lower bound, its last disc is
emptied into the others' free space where that can be done, within a time budget."""

from __future__ import annotations

import time
from typing import Sequence

from rabtui.checkpoint.discfill import DiscFill, entry_estimate, entry_of, file_of
from rabtui.checkpoint.isosize import SECTOR
from rabtui.checkpoint.packing import SPLIT, DiscPlan, Group, Plan


def empty_last_disc(p: Plan, state: list[DiscFill], groups: Sequence[Group], usable: int, deadline: float) -> bool:
    """Move every file of the last disc into the others' free space, largest first; all or nothing:
    the plan changes only when the last disc is emptied. Returns whether it was."""
    last = len(state) - 1
    if last < 1 or any(pt.disc == last for pt in p.parts):
        return False
    moves = _Moves(p, state, groups, usable)
    for f in sorted(moves.members[last], key=moves.size, reverse=True):
        if time.perf_counter() > deadline or not (moves.place(f) or moves.push_one(f, deadline)):
            return False
    for k, d in moves.changed.items():
        if d.sectors > usable:
            raise AssertionError(f"disc {k + 1} overfilled while emptying the last disc")
        state[k] = d
        for gi, i in moves.members[k]:
            p.placement[gi][i] = k
            if gi not in d.plan.groups:
                d.plan.groups.append(gi)
    state.pop()
    p.discs.pop()
    return True


class _Moves:
    """Files moved off the last disc: the other discs' members, and afresh accounting of the discs
    that changed (a DiscFill only grows, so a disc that loses a file is rebuilt from its members)."""

    def __init__(self, p: Plan, state: list[DiscFill], groups: Sequence[Group], usable: int):
        self.state, self.groups, self.usable = state, groups, usable
        self.last = len(state) - 1
        self.members: list[list[tuple[int, int]]] = [[] for _ in state]
        for gi, where in enumerate(p.placement):
            for i, k in enumerate(where):
                if k != SPLIT:
                    self.members[k].append((gi, i))
        self.parts_on = [[pt for pt in p.parts if pt.disc == k] for k in range(len(state))]
        self.changed: dict[int, DiscFill] = {}

    def size(self, f: tuple[int, int]) -> int:
        return self.groups[f[0]].sizes[f[1]]

    def disc(self, k: int) -> DiscFill:
        return self.changed.get(k) or self.state[k]

    def fits(self, k: int, f: tuple[int, int]) -> bool:
        """Exactly (on a copy), where the estimate the packing uses leaves a doubt."""
        entry = entry_of(self.groups[f[0]], f[1])
        d = self.disc(k)
        if d.sectors + d.data_of(entry[2], entry[4]) > self.usable:
            return False
        if d.sectors + entry_estimate(d, *entry) <= self.usable:
            return True
        trial = d.copy()
        trial.add_entry(*entry)
        return trial.sectors <= self.usable

    def build(self, k: int, members: list[tuple[int, int]]) -> DiscFill:
        d = DiscFill(self.state[k].plan)
        for gi, i in sorted(members):
            d.add_entry(*entry_of(self.groups[gi], i))
        for pt in self.parts_on[k]:
            dpath, name, _ = file_of(self.groups[pt.group], pt.index)
            d.add_file(dpath, name + b".part00-of-00", -(-pt.length // SECTOR))
        return d

    def put(self, k: int, f: tuple[int, int]) -> None:
        if k not in self.changed:
            self.changed[k] = self.build(k, self.members[k])
        self.changed[k].add_entry(*entry_of(self.groups[f[0]], f[1]))
        self.members[k].append(f)

    def place(self, f: tuple[int, int]) -> bool:
        """f onto the disc with the least room that takes it."""
        takers = [k for k in range(self.last) if self.fits(k, f)]
        if not takers:
            return False
        self.put(min(takers, key=lambda k: self.usable - self.disc(k).sectors), f)
        return True

    def push_one(self, f: tuple[int, int], deadline: float) -> bool:
        """Room for f on a disc k, made by moving one smaller file of k onto another disc."""
        need = self.size(f)
        for k in sorted(range(self.last), key=lambda k: self.disc(k).sectors):
            for g in sorted((g for g in self.members[k] if self.size(g) < need), key=self.size, reverse=True):
                if time.perf_counter() > deadline:
                    return False
                j = next((j for j in range(self.last) if j != k and self.fits(j, g)), None)
                if j is None:
                    continue
                rest = [m for m in self.members[k] if m != g] + [f]
                trial = self.build(k, rest)
                if trial.sectors > self.usable:
                    continue
                self.put(j, g)
                self.members[k] = rest
                self.changed[k] = trial
                return True
        return False


EXACT_MAX_FILES = 40    # a checkpoint this small is packed again by an exhaustive search


def repack_small(p: Plan, state: list[DiscFill], groups: Sequence[Group], usable: int, deadline: float) -> bool:
    """A small checkpoint (no cut files) packed into as few discs as an exhaustive search finds
    before the deadline, largest file first; directories may then spread over more discs.
    Returns whether the plan changed."""
    files = [(gi, i) for gi, where in enumerate(p.placement) for i in range(len(where))]
    if p.parts or len(files) > EXACT_MAX_FILES or len(state) <= max(p.lower_bound, 1):
        return False
    size = lambda f: groups[f[0]].sizes[f[1]]   # noqa: E731
    files.sort(key=size, reverse=True)
    best = None
    target = len(state) - 1
    while target >= max(p.lower_bound, 1):
        found = _search(files, groups, usable, target, deadline)
        if found is None:
            break
        best, target = found, len(found) - 1
    if best is None:
        return False
    state[:] = []
    p.discs[:] = []
    for k, members in enumerate(best):
        d = DiscFill(DiscPlan())
        for gi, i in sorted(members):
            d.add_entry(*entry_of(groups[gi], i))
            p.placement[gi][i] = k
            if gi not in d.plan.groups:
                d.plan.groups.append(gi)
        state.append(d)
        p.discs.append(d.plan)
    return True


def _search(files, groups, usable: int, discs: int, deadline: float) -> list[list[tuple[int, int]]] | None:
    """Depth first: each file onto each disc started so far, or onto one new disc."""
    # data still to place, a lower bound: a file's with hard links (Group.same) counted at its first
    # name, as the others may go where that one is
    left = [0] * (len(files) + 1)
    firsts = {(gi, groups[gi].same.get(i, i)): n for n, (gi, i) in reversed(list(enumerate(files)))}
    for n in range(len(files) - 1, -1, -1):
        gi, i = files[n]
        left[n] = left[n + 1] + (-(-groups[gi].sizes[i] // SECTOR) if firsts[gi, groups[gi].same.get(i, i)] == n else 0)
    bins: list[DiscFill] = []
    members: list[list[tuple[int, int]]] = []

    def go(n: int) -> bool:
        if n == len(files):
            return True
        if time.perf_counter() > deadline:
            return False
        room = sum(usable - b.sectors for b in bins) + (discs - len(bins)) * usable
        if left[n] > room:
            return False
        f = files[n]
        where = entry_of(groups[f[0]], f[1])
        for k in range(len(bins) + (len(bins) < discs)):
            trial = bins[k].copy() if k < len(bins) else DiscFill(DiscPlan())
            trial.add_entry(*where)
            if trial.sectors > usable:
                continue
            saved = bins[k] if k < len(bins) else None
            if saved is None:
                bins.append(trial)
                members.append([f])
            else:
                bins[k] = trial
                members[k].append(f)
            if go(n + 1):
                return True
            if saved is None:
                bins.pop()
                members.pop()
            else:
                bins[k] = saved
                members[k].pop()
        return False

    return [list(m) for m in members] if go(0) else None
