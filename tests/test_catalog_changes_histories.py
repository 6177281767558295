"""The changed-files trigger after any history of two sources' backups whose spools run at once
(each on a connection of its own), onto rotating media: first backups of a source or of a medium,
with a link base or not, files changed, removed and back with the same size and mtime, a file of a
directory first seen in another, items taken back and copied again, runs killed before step 7 and
after it (then undone as recovery does), checkpoints (standard and archive directories) and
rebuilds of `changes` meanwhile, between a spool's look-ups and its step 7. After each step 7
`changes` holds exactly the rows step 7 gave before it took what its spool found for granted
(each version written, unless its directory's last checkpoint covers the backup or holds the
version, or the row is there already), and each directory's count grows by its paths new there;
at all times each count is the number of distinct paths of its rows, and each row is in the
directory the backup that wrote it saved it under (the config's then, not the path's first)."""

from __future__ import annotations


from hypothesis import example, given, settings
from hypothesis import strategies as st
import pytest

from rabtui import rsync
from rabtui.backup import catalog_update, history
from rabtui.backup.catalog_update import CatalogSpool
from rabtui.state import changes
from rabtui.state.store import Store
from tests.trees import in_memory

pytestmark = pytest.mark.slow      # tens of seconds: handed out first (conftest)

F = ord("f")
SOURCES = ("a", "b")
MEDIA = ("m1", "m2", "m3")
DIRS = ("/d", "/e")
# x/...: in the directory the run says (its path keeps in `paths` the directory it was first seen in;
# its changes are the run's directory's)
NAMES = (b"d/f0", b"e/g0", b"x/s0")
VALUES = ((1, 10), (2, 10))    # (size, mtime): changed, and back to what it was

other = {"a": "b", "b": "a"}
value = st.none() | st.integers(0, len(VALUES) - 1)     # None: removed
started = st.tuples(st.sampled_from(MEDIA), st.booleans(), st.sampled_from(DIRS))     # medium, linked, x/'s dir
how = st.sampled_from(("complete", "complete", "complete", "killed", "undone"))
# what happens between a run's look-ups and its step 7 (of another source: `other`)
meanwhile = st.one_of(
    st.tuples(st.just("checkpoint"), st.sampled_from((False, False, True)), st.sampled_from(DIRS), st.sampled_from(("standard", "archive"))),
    st.tuples(st.just("rebuild"),),
    st.tuples(st.just("again"), st.lists(st.integers(0, len(NAMES) - 1), min_size=1, max_size=3, unique=True)),
    st.tuples(st.just("edit"), st.integers(0, len(NAMES) - 1), value),
    st.tuples(st.just("other"), started, how),      # another source's backup, whole
    st.tuples(st.just("other started"), started),   # another source's backup, left running
)
# one round: a source's files edited, a backup of it, a few steps, what happens meanwhile, its end
round_ = st.tuples(st.sampled_from(SOURCES), st.lists(st.tuples(st.integers(0, len(NAMES) - 1), value), min_size=1, max_size=3),
                   started, st.integers(0, 3), st.lists(meanwhile, min_size=1, max_size=3), how)


def _ops(s: str, edits: list, run: tuple, steps: int, between: list, end: str) -> list[tuple]:
    ops = [*(("edit", s, n, v) for n, v in edits), ("start", s, *run), *[("step", s)] * steps]
    for o in between:
        if o[0] == "checkpoint":
            ops.append(("checkpoint", other[s] if o[1] else s, *o[2:]))
        elif o[0] in ("again", "edit"):
            ops.append((o[0], s, *o[1:]))
        elif o[0] == "other":
            ops += [("start", other[s], *o[1]), ("step", other[s]), ("end", other[s], o[2])]
        elif o[0] == "other started":
            ops += [("start", other[s], *o[1]), ("step", other[s])]
        else:
            ops.append(o)
    return ops + [("end", s, end)]


histories = st.lists(round_, min_size=3, max_size=10).map(lambda rounds: [o for r in rounds for o in _ops(*r)])


class _Run:
    """One backup: the source's files as rsync found them, handed to its spool one step at a time."""

    def __init__(self, tmp: str, source: str, medium: str, base: tuple[int, dict] | None, files: dict, x_dir: str,
                 started: int):
        self.store = Store(tmp)
        self.source, self.medium = source, medium
        self.id = self.store.execute(
            "INSERT INTO backups(source, medium, name, path, started, status, link_dest)"
            " VALUES (?, ?, ?, '/x', ?, 'running', ?)",
            (source, medium, f"b{started}", started, base[0] if base else None)).lastrowid
        self.spool = CatalogSpool(self.store)
        self.spool.target(source=source, medium=medium, base_id=base[0] if base else None)
        self.base = base[1] if base else {}
        self.x_dir = x_dir
        self.todo = sorted(files.items())
        self.items: dict[bytes, tuple[str, int, int]] = {}     # path -> (dir, size, mtime) handed over
        self.written: set[bytes] = set()      # those not unchanged since the base

    def dir(self, path: bytes) -> str:
        return self.x_dir if path.startswith(b"x/") else "/" + path[:1].decode()

    def step(self) -> None:
        if not self.todo:
            return
        path, (size, mtime) = self.todo.pop(0)
        d = self.dir(path)
        self.items[path] = (d, size, mtime)
        if self.base.get(path) == (d, size, mtime):
            self.spool.add(d, [], [(d, path, size, mtime)])
        else:
            state = rsync.CHANGED if path in self.base else rsync.NEW
            self.spool.add(d, [(d, path, F, state, size, mtime)])
            self.written.add(path)

    def again(self, paths: list[bytes], files: dict) -> None:
        """Items written already taken back and copied again, as they are now (if still there)."""
        back = sorted(p for p in paths if p in self.written and p in files)
        for d in DIRS:
            mine = [p for p in back if self.items[p][0] == d]
            if mine:
                self.spool.forget(d, mine)
                rows = []
                for p in reversed(mine):
                    self.items[p] = (d, *files[p])
                    rows.append((d, p, F, rsync.CHANGED, *files[p]))
                self.spool.add(d, rows)


class _Model:
    """`changes` and the counts as step 7 made them before it trusted its spool's look-ups."""

    def __init__(self, admin: Store):
        self.admin = admin
        self.rows: dict[tuple, int] = {}
        self.counts: dict[tuple[str, str], int] = {}

    def take(self) -> None:
        """After what step 7 does not do (undo, checkpoint, rebuild): as it is, checked before."""
        self.rows = _rows(self.admin)
        self.counts = _counts(self.admin)

    def step7(self, run: _Run) -> None:
        conn, s, b = self.admin.conn, run.source, run.id
        paths = {bytes(r[0]): (r[1], r[2]) for r in conn.execute("SELECT path, dir, id FROM paths WHERE source=?", (s,))}
        covered = {r[0] for r in conn.execute(
            "SELECT ds.path FROM dir_state ds JOIN checkpoint_dirs cd ON cd.number=ds.last_checkpoint"
            " AND cd.source=ds.source AND cd.path=ds.path AND cd.role='data'"
            " WHERE ds.source=? AND cd.backup_id >= ?", (s, b))}
        last = {r[0]: r[1] for r in conn.execute("SELECT path, last_checkpoint FROM dir_state WHERE source=?"
                                                 " AND last_checkpoint IS NOT NULL", (s,))}
        held = {(r[0], bytes(r[1]), r[2], r[3]) for r in conn.execute(
            "SELECT number, path, size, mtime FROM disc_files WHERE source=?", (s,))}
        had = {(k[1], k[2]) for k in self.rows if k[0] == s}
        for path in run.written:
            d, size, mtime = run.items[path]     # in the directory the run saved it under
            pid = paths[path][1]
            if d in covered or (d in last and (last[d], path, size, mtime) in held):
                continue
            key = (s, d, pid, size, mtime)
            if key not in self.rows:
                self.rows[key] = b
                if (d, pid) not in had:
                    had.add((d, pid))
                    self.counts[(s, d)] = self.counts.get((s, d), 0) + 1


def _rows(store: Store) -> dict[tuple, int]:
    return {tuple(r[:5]): r[5] for r in store.all("SELECT source, dir, path_id, size, mtime, backup FROM changes")}


def _counts(store: Store) -> dict[tuple[str, str], int]:
    return {(r[0], r[1]): r[2] for r in store.all("SELECT source, path, changed_since_checkpoint FROM dir_state")
            if r[2]}


def _check(admin: Store, model: _Model, when: str) -> None:
    assert _rows(admin) == model.rows, f"{when}: rows of changes"
    assert _counts(admin) == model.counts, f"{when}: counts"
    recount = {(r[0], r[1]): r[2] for r in admin.all(
        "SELECT source, dir, COUNT(DISTINCT path_id) FROM changes GROUP BY source, dir")}
    assert model.counts == recount, f"{when}: counts against the rows"
    assert admin.one("SELECT COUNT(*) FROM changes c JOIN paths p ON p.id=c.path_id"
                     " WHERE p.source<>c.source")[0] == 0, f"{when}: a row of another source's path"


# a medium's first backup finds a version recorded by an older backup; a checkpoint of a backup
# that held another version of the file takes that row before step 7: the version is a change again
TAKEN_MEANWHILE = [("edit", "a", 0, 0), ("start", "a", "m1", False, "/d"), ("end", "a", "complete"),
                   ("edit", "a", 0, 1), ("start", "a", "m3", False, "/d"), ("end", "a", "complete"),
                   ("edit", "a", 0, 0), ("start", "a", "m2", False, "/d"), ("step", "a"),
                   ("checkpoint", "a", "/d", "standard"), ("end", "a", "complete")]

# a file back to a version written before a checkpoint of another: its row is of the backup after
# it; a rebuild of `changes` gives it to the first backup, which the checkpoint covers, and takes it
REBUILT_MEANWHILE = [("edit", "a", 0, 0), ("start", "a", "m1", False, "/d"), ("end", "a", "complete"),
                     ("edit", "a", 0, 1), ("start", "a", "m1", True, "/d"), ("end", "a", "complete"),
                     ("checkpoint", "a", "/d", "standard"),
                     ("edit", "a", 0, 0), ("start", "a", "m1", True, "/d"), ("end", "a", "complete"),
                     ("start", "a", "m2", False, "/d"), ("step", "a"), ("rebuild",), ("end", "a", "complete")]


@example(ops=REBUILT_MEANWHILE, batch=1, at_once=1000)
@example(ops=TAKEN_MEANWHILE, batch=1, at_once=1000)
@settings(max_examples=40, deadline=None)
@given(ops=histories, batch=st.sampled_from([1, 2, 1000]), at_once=st.sampled_from([1, 3, 1000]))
def test_changes_and_counts_are_what_step_7_gave_before_it_trusted_its_look_ups(ops, batch, at_once):
    before = catalog_update.PATHS_AT_ONCE, catalog_update.BATCH
    catalog_update.PATHS_AT_ONCE, catalog_update.BATCH = at_once, batch
    try:
        with in_memory("rabtui-history-") as tmp:
            _history(tmp, ops)
    finally:
        catalog_update.PATHS_AT_ONCE, catalog_update.BATCH = before


def _history(tmp: str, ops: list) -> None:
    admin = Store(tmp)
    model = _Model(admin)
    files: dict[str, dict[bytes, tuple[int, int]]] = {s: {} for s in SOURCES}
    active: dict[str, _Run] = {}
    complete: dict[int, tuple[str, str, dict]] = {}    # id -> (source, medium, {path: (dir, size, mtime)})
    number = 0
    for i, o in enumerate(ops):
        kind = o[0]
        if kind == "edit":
            _, s, n, value = o
            if value is None:
                files[s].pop(NAMES[n], None)
            else:
                files[s][NAMES[n]] = VALUES[value]
        elif kind == "start" and o[1] not in active:
            _, s, m, linked, x_dir = o
            bases = [bid for bid, (src, med, _) in complete.items() if src == s and med == m]
            base = (max(bases), complete[max(bases)][2]) if linked and bases else None
            active[s] = _Run(tmp, s, m, base, dict(files[s]), x_dir, i + 1)
        elif kind == "step" and o[1] in active:
            active[o[1]].step()
        elif kind == "again" and o[1] in active:
            active[o[1]].again([NAMES[n] for n in o[2]], files[o[1]])
        elif kind == "end" and o[1] in active:
            run = active.pop(o[1])
            while run.todo:
                run.step()      # rsync ends
            if o[2] == "killed":     # before step 7: its connection and staged rows go
                run.store.close()
                admin.execute("UPDATE backups SET status='failed' WHERE id=?", (run.id,))
                continue
            run.spool.apply(run.id)
            run.store.execute("UPDATE backups SET status='completed' WHERE id=?", (run.id,))
            run.store.close()
            model.step7(run)
            _check(admin, model, f"op {i}: step 7 of backup {run.id}")
            if o[2] == "undone":     # killed after step 7: recovery undoes it
                history.forget_catalog(admin, admin.one("SELECT * FROM backups WHERE id=?", (run.id,)))
                admin.execute("UPDATE backups SET status='failed' WHERE id=?", (run.id,))
                model.take()
            else:
                complete[run.id] = (run.source, run.medium, run.items)
        elif kind == "checkpoint":
            _, s, d, dir_kind = o
            mine = [bid for bid, (src, _, _) in complete.items() if src == s]
            if not mine:
                continue
            content = max(mine)
            number += 1
            with admin.transaction() as conn:
                conn.executemany(
                    "INSERT INTO disc_files(number, disc, source, path, disc_path, size, mtime) VALUES (?, 1, ?, ?, ?, ?, ?)",
                    [(number, s, p, p, size, mtime) for p, (pd, size, mtime) in complete[content][2].items() if pd == d])
                conn.execute("INSERT INTO checkpoint_dirs(number, source, path, role, backup_id) VALUES (?, ?, ?, 'data', ?)",
                             (number, s, d, content))
                conn.execute("INSERT INTO dir_state(source, path, last_checkpoint, last_checkpoint_time) VALUES (?, ?, ?, ?)"
                             " ON CONFLICT(source, path) DO UPDATE SET last_checkpoint=excluded.last_checkpoint,"
                             " last_checkpoint_time=excluded.last_checkpoint_time", (s, d, number, i + 0.5))
                changes.reset(conn, s, d, number, kind=dir_kind)
            model.take()
        elif kind == "rebuild":
            with admin.transaction() as conn:
                changes.rebuild(conn)
            model.take()
        _check(admin, model, f"op {i}: {kind}")
    for run in active.values():
        run.store.close()
    admin.close()
