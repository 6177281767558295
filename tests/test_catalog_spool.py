"""The catalog spool's unchanged files (kept apart from the other items) when the catalog does not
know some of them in the link base, and when the run's data is only kept (no base to extend)."""

from __future__ import annotations

import time

from rabtui import rsync
from rabtui.backup.catalog_update import CatalogSpool
from rabtui.state.store import Store

F = ord("f")


def _versions(store: Store) -> set[tuple[bytes, int, int]]:
    rows = store.all("SELECT p.path, v.first_backup, v.last_backup FROM versions v JOIN paths p ON p.id=v.path_id")
    return {(bytes(r[0]), r[1], r[2]) for r in rows}


def test_unchanged_files_extend_the_base_or_get_versions_of_their_own(tmp_path):
    store = Store(tmp_path)
    for i in (1, 2, 3):
        store.execute("INSERT INTO backups(id, source, medium, name, path, started, status)"
                      " VALUES (?, 'src', 'm1', ?, ?, ?, 'completed')", (i, f"b{i}", f"/x/b{i}", time.time()))
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=None)
    spool.add([("/d", b"d/f%d" % i, F, rsync.NEW, i, 100 + i) for i in range(10)])
    spool.apply(1)
    # unchanged since backup 1: twelve files, two of which the catalog does not know there
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=1)
    spool.add([("/d", b"d/g", F, rsync.NEW, 5, 5)], [("/d", b"d/f%d" % i, i, 100 + i) for i in range(12)])
    assert spool.apply(2) == 3
    assert _versions(store) == ({(b"d/f%d" % i, 1, 2) for i in range(10)}
                                | {(b"d/f10", 2, 2), (b"d/f11", 2, 2), (b"d/g", 2, 2)})
    # a run whose data is only kept (its post-backup command failed) extends nothing
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=2)
    spool.add([], [("/d", b"d/f%d" % i, i, 100 + i) for i in range(12)])
    spool.target(source="src", medium="m1", base_id=None)
    spool.apply(3)
    assert {p for p, first, last in _versions(store) if (first, last) == (3, 3)} == {b"d/f%d" % i for i in range(12)}
    assert {p for p, first, last in _versions(store) if last == 2} == {b"d/f%d" % i for i in range(12)} | {b"d/g"}
