"""Histories of several sources' backups whose spools run at once (each on a connection of its
own, as `backup --all` runs them), each a source's first or not: files new, unchanged since the
link base or changed, items taken back and copied again, runs killed at any step (their paths
stay, their staged rows go with their connection), paths added a few at a time. After each
history every complete backup holds in the catalog exactly its files, each version names a file
of its own backup's source, and each directory's change counter is its files."""

from __future__ import annotations

import tempfile
import time

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rabtui import rsync
from rabtui.backup import catalog_update
from rabtui.backup.catalog_update import CatalogSpool
from rabtui.state.catalog import contents
from rabtui.state.store import Store
from tests import invariants

F = ord("f")
SOURCES = ("a", "b", "c")
# names of 255 bytes, bytes that are not UTF-8 and a path of about 4,000 bytes among the plain ones
NAMES = ([b"d/f%d" % i for i in range(6)] + [b"e/g%d" % i for i in range(4)]
         + [b"d/" + b"n" * 255, b"e/\xff\xfe-%d" % 1, b"d/" + (b"x" * 200 + b"/") * 19 + b"y"])


def _dir(path: bytes) -> str:
    return "/" + path[:1].decode()


# one run: its files (name index -> size), in how many chunks they come, which of them are taken
# back after they came and copied again (with which size), and whether it is killed at a step
run = st.fixed_dictionaries({
    "files": st.dictionaries(st.integers(0, len(NAMES) - 1), st.integers(1, 3), max_size=len(NAMES)),
    "chunks": st.integers(1, 4),
    "again": st.lists(st.integers(0, len(NAMES) - 1), max_size=3, unique=True),
    "again_last": st.integers(0, 4),     # and the last ones that came (their rows' ids go to others)
    "again_size": st.integers(1, 3),
    "again_after": st.integers(0, 3),    # the step after which they are taken back
    "killed_at": st.none() | st.integers(0, 6),
})


class _Run:
    def __init__(self, tmp: str, source: str, plan: dict, base: tuple[int, dict] | None):
        self.store = Store(tmp)      # a connection of its own: its staged rows are its own
        self.source, self.plan = source, plan
        self.id = self.store.execute(
            "INSERT INTO backups(source, medium, name, path, started, status) VALUES (?, 'm1', ?, '/x', ?, 'running')",
            (source, f"b{time.monotonic_ns()}", time.time())).lastrowid
        self.base_files = base[1] if base else {}
        self.spool = CatalogSpool(self.store)
        self.spool.target(source=source, medium="m1", base_id=base[0] if base else None)
        files = sorted(plan["files"].items())
        size = max(1, -(-len(files) // plan["chunks"]))
        self.steps = [files[i:i + size] for i in range(0, len(files), size)] or [[]]
        self.want: dict[bytes, tuple[int, int]] = {}
        self.written: list[bytes] = []
        self.done = 0

    def step(self) -> tuple[int, dict] | None | bool:
        """One step; True while there are more, else the complete backup (id, files) or None."""
        if self.plan["killed_at"] is not None and self.done >= self.plan["killed_at"]:
            self.store.close()     # killed: the connection and its staged rows go
            return None
        if self.done < len(self.steps):
            rows, same = [], []
            for i, size in self.steps[self.done]:
                path = NAMES[i]
                self.want[path] = (size, size)
                if self.base_files.get(path) == (size, size):
                    same.append((_dir(path), path, size, size))
                else:
                    rows.append((_dir(path), path, F, rsync.NEW, size, size))
            self._add(rows, same)
            self.done += 1
            if self.done == min(self.plan["again_after"] + 1, len(self.steps)):
                self._again()
            return True
        self.spool.apply(self.id)
        self.store.execute("UPDATE backups SET status='completed' WHERE id=?", (self.id,))
        self.store.close()
        return self.id, self.want

    def _add(self, rows: list, same: list) -> None:
        for d in ("/d", "/e"):
            self.spool.add(d, [r for r in rows if r[0] == d], [s for s in same if s[0] == d])
            self.written += [r[1] for r in rows if r[0] == d]      # in the order of their rows

    def _again(self) -> None:
        """Items of the directory that came last taken back (copied again: they come back as items
        of their own, in another size, in another order: the rows of those whose paths were not
        added yet may take lower ids than before)."""
        if not self.written:
            return
        d = _dir(self.written[-1])
        mine = [p for p in self.written if _dir(p) == d]
        last = mine[len(mine) - self.plan["again_last"]:] if self.plan["again_last"] else []
        back = [p for p in mine if p in last or p in {NAMES[i] for i in self.plan["again"]}]
        self.spool.forget(d, back)
        self.written = [p for p in self.written if p not in back]
        size = self.plan["again_size"]
        self._add([(d, p, F, rsync.CHANGED, size, size) for p in reversed(back)], [])
        self.want.update({p: (size, size) for p in back})


# rows taken back whose paths were added, with rows after them whose paths were not yet: those
# copied again first take lower ids than the paths not added began after
TAKEN_BACK = {"files": {i: 1 for i in range(6)}, "chunks": 3, "again": [], "again_size": 2, "again_after": 2,
              "again_last": 3, "killed_at": None}


@example(runs=[("a", TAKEN_BACK)], order=[], at_once=3, batch=1)
@settings(max_examples=40, deadline=None)
@given(runs=st.lists(st.tuples(st.sampled_from(SOURCES), run), min_size=1, max_size=6),
       order=st.lists(st.sampled_from(SOURCES), max_size=60),
       at_once=st.sampled_from([1, 2, 3, 1000]), batch=st.sampled_from([1, 2, 1000]))
def test_backups_at_once_first_or_not_killed_or_not_hold_their_files(runs, order, at_once, batch):
    before = catalog_update.PATHS_AT_ONCE, catalog_update.BATCH
    catalog_update.PATHS_AT_ONCE, catalog_update.BATCH = at_once, batch
    try:
        with tempfile.TemporaryDirectory() as tmp:
            _history(tmp, runs, order)
    finally:
        catalog_update.PATHS_AT_ONCE, catalog_update.BATCH = before


def _history(tmp: str, runs: list, order: list) -> None:
    queued = {s: [plan for source, plan in runs if source == s] for s in SOURCES}
    active: dict[str, _Run] = {}
    last: dict[str, tuple[int, dict]] = {}      # each source's last complete backup: the link base
    complete: dict[int, tuple[str, dict]] = {}
    # the drawn order first, then each source to its end
    for source in [*order, *(s for s in SOURCES for _ in range(40))]:
        if source not in active:
            if not queued[source]:
                continue
            active[source] = _Run(tmp, source, queued[source].pop(0), last.get(source))
        result = active[source].step()
        if result is True:
            continue
        del active[source]
        if result is not None:
            last[source] = result
            complete[result[0]] = (source, result[1])
    assert not active and not any(queued.values())
    store = Store(tmp)
    for backup_id, (source, want) in complete.items():
        row = store.one("SELECT * FROM backups WHERE id=?", (backup_id,))
        assert contents(store, row) == want, f"backup {backup_id} of {source}"
    assert store.one("SELECT COUNT(*) AS n FROM versions v JOIN backups b ON b.id=v.first_backup"
                     " LEFT JOIN paths p ON p.id=v.path_id WHERE p.id IS NULL OR p.source<>b.source")["n"] == 0
    invariants.check_change_counters(store)
    store.close()
