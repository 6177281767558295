"""The catalog spool's unchanged files (kept apart from the other items) when the catalog does not
know some of them in the link base, and when the run's data is only kept (no base to extend)."""

from __future__ import annotations

import time

from rabtui import rsync
from rabtui.backup import catalog_update
from rabtui.backup.catalog_update import ROWS_PER_INSERT, CatalogSpool, insert_rows
from rabtui.state.store import Store

F = ord("f")


def _completed(store: Store, *backups: tuple[str, str]) -> None:
    """Complete backups 1, 2, ... of (source, medium), each started a second after the one before."""
    for i, (source, medium) in enumerate(backups, 1):
        store.execute("INSERT INTO backups(id, source, medium, name, path, started, status)"
                      " VALUES (?, ?, ?, ?, ?, ?, 'completed')", (i, source, medium, f"b{i}", f"/x/b{i}", time.time() + i))


def _versions(store: Store) -> set[tuple[bytes, int, int]]:
    rows = store.all("SELECT p.path, v.first_backup, v.last_backup FROM versions v JOIN paths p ON p.id=v.path_id")
    return {(bytes(r[0]), r[1], r[2]) for r in rows}


def test_unchanged_files_extend_the_base_or_get_versions_of_their_own(tmp_path):
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m1"), ("src", "m1"))
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=None)
    spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.NEW, i, 100 + i) for i in range(10)])
    spool.apply(1)
    # unchanged since backup 1: twelve files, two of which the catalog does not know there
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=1)
    spool.add("/d", [("/d", b"d/g", F, rsync.NEW, 5, 5)], [("/d", b"d/f%d" % i, i, 100 + i) for i in range(12)])
    assert spool.apply(2) == 3
    assert _versions(store) == ({(b"d/f%d" % i, 1, 2) for i in range(10)}
                                | {(b"d/f10", 2, 2), (b"d/f11", 2, 2), (b"d/g", 2, 2)})
    # a run whose data is only kept (its post-backup command failed) extends nothing
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=2)
    spool.add("/d", [], [("/d", b"d/f%d" % i, i, 100 + i) for i in range(12)])
    spool.target(source="src", medium="m1", base_id=None)
    spool.apply(3)
    assert {p for p, first, last in _versions(store) if (first, last) == (3, 3)} == {b"d/f%d" % i for i in range(12)}
    assert {p for p, first, last in _versions(store) if last == 2} == {b"d/f%d" % i for i in range(12)} | {b"d/g"}


def test_rows_go_in_whole_and_in_order_whatever_their_number(tmp_path):
    conn = Store(tmp_path).conn
    conn.execute("CREATE TEMP TABLE t(a BLOB, b INTEGER, c TEXT)")
    for n in (0, 1, ROWS_PER_INSERT - 1, ROWS_PER_INSERT, ROWS_PER_INSERT + 1, 7 * ROWS_PER_INSERT + 33):
        conn.execute("DELETE FROM temp.t")
        rows = [(b"p%d" % i, i, f"d{i % 3}") for i in range(n)]
        insert_rows(conn, "temp.t", 3, rows)
        assert [tuple(r) for r in conn.execute("SELECT a, b, c FROM temp.t ORDER BY rowid")] == rows


def test_a_backup_read_in_many_batches_extends_and_adds_every_file(tmp_path):
    """Reads of 700 items, flushed at 1,000: the unchanged files' look-ups go batch by batch (by
    rowid), across the spool's multi-row inserts."""
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m1"))
    files = 5_432
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=None)
    for start in range(0, files, 700):
        spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.NEW, i, 100 + i) for i in range(start, min(files, start + 700))])
    assert spool.apply(1) == files
    changed = set(range(0, files, 7))
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=1)
    for start in range(0, files, 700):
        part = range(start, min(files, start + 700))
        spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.CHANGED, i + 1, 100 + i) for i in part if i in changed],
                  [("/d", b"d/f%d" % i, i, 100 + i) for i in part if i not in changed])
    assert spool.apply(2) == len(changed)
    assert _versions(store) == ({(b"d/f%d" % i, 1, 1 if i in changed else 2) for i in range(files)}
                                | {(b"d/f%d" % i, 2, 2) for i in changed})


def test_a_mediums_first_backup_finds_known_paths_new_ones_and_those_added_meanwhile(tmp_path, monkeypatch):
    """The spool looks each file's path up as it goes in, and adds the paths the catalog does not
    know yet once PATHS_AT_ONCE have come (here each batch's; committed before step 7): the files known already, the paths first seen in
    this backup, paths the catalog got from elsewhere before the look-up or between the look-up and
    the spool's own adding (each kept in the directory it was first seen in), directories (no
    versions) and items taken back all end as step 7 recorded them before."""
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m2"))
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=None)
    spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.NEW, i, 100 + i) for i in range(1500)])
    spool.apply(1)

    class Meanwhile(CatalogSpool):
        def _add_paths(self) -> None:
            store.execute("INSERT OR IGNORE INTO paths(source, dir, path) VALUES ('src', '/other', ?)", (b"d/k",))
            super()._add_paths()

    monkeypatch.setattr(catalog_update, "PATHS_AT_ONCE", 1)

    spool = Meanwhile(store)
    spool.target(source="src", medium="m2", base_id=None)
    for start in range(0, 1500, 700):
        spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.NEW, i, 100 + i) for i in range(start, min(1500, start + 700))]
                  + [("/d", b"d/g%d" % start, F, rsync.NEW, 1, 1), ("/d", b"d/sub%d" % start, ord("d"), rsync.NEW, 0, 0)])
    spool.add("/d", [("/d", b"d/h", F, rsync.NEW, 2, 2), ("/d", b"d/k", F, rsync.NEW, 4, 4),
                     ("/d", b"d/gone", F, rsync.NEW, 3, 3)])
    store.execute("INSERT INTO paths(source, dir, path) VALUES ('src', '/other', ?)", (b"d/h",))
    spool.forget("/d", [b"d/gone"])
    spool.flush()
    # the new files' paths are in the catalog before step 7 (a path taken back too: it names a
    # file, no version says a medium holds it); the directories' are not
    new = {b"d/g0", b"d/g700", b"d/g1400", b"d/h", b"d/k", b"d/gone"}
    assert {bytes(r[0]) for r in store.all("SELECT path FROM paths")} - {b"d/f%d" % i for i in range(1500)} == new
    assert store.one("SELECT COUNT(*) AS n FROM versions WHERE medium='m2'")["n"] == 0
    assert spool.apply(2) == 1500 + 3 + 2
    got = {(bytes(r[0]), r[1], r[2]) for r in store.all(
        "SELECT p.path, v.size, v.mtime FROM versions v JOIN paths p ON p.id=v.path_id WHERE v.medium='m2'")}
    assert got == ({(b"d/f%d" % i, i, 100 + i) for i in range(1500)} | {(b"d/g%d" % s, 1, 1) for s in (0, 700, 1400)}
                   | {(b"d/h", 2, 2), (b"d/k", 4, 4)})
    assert {bytes(r[0]): r[1] for r in store.all("SELECT path, dir FROM paths WHERE path IN (?, ?, ?)",
                                                 (b"d/h", b"d/k", b"d/g0"))} == {b"d/h": "/other", b"d/k": "/other",
                                                                                 b"d/g0": "/d"}
    # the files of m1 were counted then; only the paths new here are changes now, each in the
    # directory the backup saved it under (h and k too, whose paths /other added first)
    counts = {r[0]: r[1] for r in store.all("SELECT path, changed_since_checkpoint FROM dir_state")}
    assert counts == {"/d": 1500 + 3 + 2}
    assert {r[0]: r[1] for r in store.all("SELECT dir, COUNT(*) FROM changes GROUP BY dir")} == counts


def test_files_copied_again_in_place_of_taken_back_ones_get_their_paths(tmp_path):
    """Files taken back (spool.forget: hard links to files below a directory copied again) at the
    end of the items leave their row ids free for the files copied again, some below the ids the
    paths not added yet began after: those files get their paths all the same."""
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m1"))
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=None)
    spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.NEW, i, 100 + i) for i in range(1000)])
    spool.apply(1)
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=None)
    spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.NEW, i, 100 + i) for i in range(1000)])   # one batch, known
    spool.add("/d", [("/d", b"d/g%d" % i, F, rsync.NEW, 1, 1) for i in range(5)])           # new paths
    followers = [b"d/f%d" % i for i in range(997, 1000)] + [b"d/g%d" % i for i in range(5)]
    spool.forget("/d", followers)
    again = [("/d", b"d/s/h%d" % i, F, rsync.NEW, 2, 2) for i in range(5)]
    spool.add("/d", again + [("/d", p, F, rsync.NEW, 3, 3) for p in followers])
    assert spool.apply(2) == 1000 + 5 + 5
    assert {bytes(r[0]) for r in store.all("SELECT p.path FROM versions v JOIN paths p ON p.id=v.path_id"
                                           " WHERE v.first_backup=2")} == (
        {b"d/f%d" % i for i in range(1000)} | {b"d/g%d" % i for i in range(5)} | {b"d/s/h%d" % i for i in range(5)})


def test_a_sources_first_backup_gives_its_paths_ids_without_looking_them_up(tmp_path, monkeypatch):
    """A source the catalog knows no path of is looked up in nothing; its new paths take ids from
    their rows' (past the largest id of the catalog, another source's here): every version names
    its own file, also when another added some of those paths meanwhile (then they are looked up),
    and when items whose paths were added are taken back and their rows' ids go to others."""
    store = Store(tmp_path)
    _completed(store, ("other", "m1"), ("src", "m1"))
    spool = CatalogSpool(store)
    spool.target(source="other", medium="m1", base_id=None)
    spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.NEW, i, i) for i in range(300)])
    spool.apply(1)
    meanwhile: list[bytes] = []

    class Meanwhile(CatalogSpool):
        def _add_paths(self) -> None:
            for path in meanwhile:
                store.execute("INSERT OR IGNORE INTO paths(source, dir, path) VALUES ('src', '/other', ?)", (path,))
            meanwhile.clear()
            super()._add_paths()

    monkeypatch.setattr(catalog_update, "PATHS_AT_ONCE", 1000)   # the last rows added before some are taken back
    spool = Meanwhile(store)
    spool.target(source="src", medium="m1", base_id=None)
    expected = {}
    for start in range(0, 4000, 700):
        rows = [("/d", b"d/f%d" % i, F, rsync.NEW, i, 7) for i in range(start, min(4000, start + 700))]
        rows.append(("/d", b"d/sub%d" % start, ord("d"), rsync.NEW, 0, 0))
        if start == 1400:
            meanwhile.extend([b"d/f1401", b"d/f2000"])     # added by another before the spool adds them
        spool.add("/d", rows)
        expected.update({r[1]: r[4] for r in rows if r[2] == F})
    spool.forget("/d", [b"d/f3999", b"d/f3998"])
    spool.add("/d", [("/d", b"d/again", F, rsync.NEW, 5, 5), ("/d", b"d/f3999", F, rsync.NEW, 6, 6)])
    del expected[b"d/f3998"]
    expected.update({b"d/again": 5, b"d/f3999": 6})
    assert spool.apply(2) == len(expected)
    got = {bytes(r[0]): r[1] for r in store.all(
        "SELECT p.path, v.size FROM versions v JOIN paths p ON p.id=v.path_id AND p.source='src' WHERE v.first_backup=2")}
    assert got == expected
    assert store.one("SELECT COUNT(*) AS n FROM versions v LEFT JOIN paths p ON p.id=v.path_id"
                     " WHERE p.id IS NULL OR p.source<>(SELECT source FROM backups WHERE id=v.first_backup)")["n"] == 0
    assert {bytes(r[0]) for r in store.all("SELECT path FROM paths WHERE source='src' AND dir='/other'")} == {
        b"d/f1401", b"d/f2000"}
    # each change counted in the directory the backup saved it under (not its path's first)
    assert {r[0]: r[1] for r in store.all("SELECT dir, COUNT(*) FROM changes WHERE source='src' GROUP BY dir")} == {
        "/d": len(expected)}
    assert store.one("SELECT COUNT(*) AS n FROM paths WHERE source='other'")["n"] == 300


def test_unchanged_files_taken_back_extend_nothing(tmp_path):
    """case_folded.py takes back an unchanged file the medium holds another in the place of: the
    base's version of it is not extended to the backup, the others are (a medium that folds case
    and holds hard links)."""
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m1"))
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=None)
    spool.add("/d", [("/d", b"d/f%d" % i, F, rsync.NEW, i, 100 + i) for i in range(4)])
    spool.apply(1)
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=1)
    spool.add("/d", [], [("/d", b"d/f%d" % i, i, 100 + i) for i in range(4)])
    assert spool.take_back_same("/d", [b"d/f1", b"d/f3"]) == [1, 3]
    assert sorted(spool.file_paths("/d")) == [b"d/f0", b"d/f2"]
    spool.apply(2)
    assert _versions(store) == {(b"d/f0", 1, 2), (b"d/f1", 1, 1), (b"d/f2", 1, 2), (b"d/f3", 1, 1)}
