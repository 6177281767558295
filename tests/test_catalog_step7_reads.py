"""What step 7 reads of `changes` (a million rows read or looked up took a tenth, then a third of
it). A source's first backup counts each directory's changes from what the spool was handed,
without reading its rows back; the counts are those of the rows, in every directory, also when
items were taken back (then they are read back). A medium's first backup finds the versions
recorded already as the spool takes them, while rsync runs, and step 7 looks none up: unless rows
of `changes` were taken meanwhile (a run undone, a checkpoint), when it looks them all up again;
nor does it read the staged rows of those found (an index holds the others). A statement of step 7
that fails leaves nothing of the backup in the catalog."""

from __future__ import annotations

import sqlite3

import pytest

from rabtui import rsync
from rabtui.backup.catalog_update import CatalogSpool
from rabtui.state import changes
from rabtui.state.store import Store
from tests.test_catalog_spool import F, _completed


def _applied(spool: CatalogSpool, backup_id: int) -> list[str]:
    """Step 7 of `spool`'s backup, its statements."""
    statements: list[str] = []
    spool.store.conn.set_trace_callback(statements.append)
    try:
        spool.apply(backup_id)
    finally:
        spool.store.conn.set_trace_callback(None)
    return statements


def _first_backup(store: Store, *, taken_back: bool) -> list[str]:
    """Backup 1 of `src` (two directories of files, one of a directory alone), step 7's statements."""
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=None)
    for start in range(0, 2100, 700):
        spool.add("/a", [("/a", b"a/f%d" % i, F, rsync.NEW, i, 7) for i in range(start, start + 700)]
                  + [("/a", b"a/sub%d" % start, ord("d"), rsync.NEW, 0, 0)])
    spool.add("/b", [("/b", b"b/g%d" % i, F, rsync.NEW, i, 7) for i in range(5)])
    spool.add("/c", [("/c", b"c/only", ord("d"), rsync.NEW, 0, 0)])
    if taken_back:
        spool.forget("/a", [b"a/f5", b"a/f6"])
        spool.add("/a", [("/a", b"a/f5", F, rsync.NEW, 1, 1)])
    return _applied(spool, 1)


def _counts(store: Store) -> tuple[dict, dict]:
    return ({r[0]: r[1] for r in store.all("SELECT path, changed_since_checkpoint FROM dir_state")},
            {r[0]: r[1] for r in store.all("SELECT dir, COUNT(*) FROM changes GROUP BY dir")})


def test_a_first_backup_counts_its_changes_without_reading_them_back(tmp_path):
    store = Store(tmp_path)
    _completed(store, ("src", "m1"))
    statements = _first_backup(store, taken_back=False)
    assert not [s for s in statements if "FROM changes" in s and "COUNT" in s]
    counted, rows = _counts(store)
    assert counted == rows == {"/a": 2100, "/b": 5}


def test_a_first_backup_with_items_taken_back_counts_its_rows(tmp_path):
    store = Store(tmp_path)
    _completed(store, ("src", "m1"))
    _first_backup(store, taken_back=True)
    counted, rows = _counts(store)
    assert counted == rows == {"/a": 2099, "/b": 5}


def _mediums_first_backup(store: Store, backup_id: int, medium: str, *, meanwhile=None) -> list[str]:
    """The files of backup 1, ten of them changed since, onto a medium of their own."""
    spool = CatalogSpool(store)
    spool.target(source="src", medium=medium, base_id=None)
    for start in range(0, 2100, 700):
        spool.add("/a", [("/a", b"a/f%d" % i, F, rsync.NEW, i + (i < 10), 7) for i in range(start, start + 700)])
    if meanwhile:
        meanwhile()
    return _applied(spool, backup_id)


def test_a_mediums_first_backup_looks_up_no_recorded_version_in_step_7(tmp_path):
    """Step 7 takes what the spool found as it is: a row taken behind changes.py's back (which no
    code does: each removal goes through it) is not found missing, so none was looked up again."""
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m2"))
    _first_backup(store, taken_back=False)

    def behind() -> None:
        store.execute("DELETE FROM changes WHERE path_id=(SELECT id FROM paths WHERE path=?)", (b"a/f500",))

    _mediums_first_backup(store, 2, "m2", meanwhile=behind)
    counted, rows = _counts(store)
    assert counted == {"/a": 2100, "/b": 5}
    assert rows == {"/a": 2109, "/b": 5}       # the ten changed files' new versions too, counted once


@pytest.mark.parametrize("taken", ["undone", "checkpoint"])
def test_rows_of_changes_taken_while_the_spool_ran_are_looked_up_again(tmp_path, taken):
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m2"), ("src", "m3"))
    _first_backup(store, taken_back=False)
    _mediums_first_backup(store, 2, "m2")

    def meanwhile() -> None:
        with store.transaction() as conn:
            if taken == "undone":       # backup 1 undone, as recovery does: its rows go, backup 2's ten stay
                changes.forget(conn, 1)
            else:                       # a checkpoint of /a holds what backups 1 and 2 wrote
                started = conn.execute("SELECT started FROM backups WHERE id=2").fetchone()[0]
                changes.reset(conn, "src", "/a", 1, kind="standard", taken=started)

    _mediums_first_backup(store, 3, "m3", meanwhile=meanwhile)
    counted, rows = _counts(store)
    if taken == "undone":
        assert counted == {"/a": 2100, "/b": 0}     # /b's five went with backup 1
        assert rows == {"/a": 2100}
    else:
        assert counted == rows == {"/a": 2100, "/b": 5}
    assert store.one("SELECT COUNT(*) AS n FROM changes WHERE backup=3")["n"] == (2090 if taken == "undone" else 2100)


def test_a_mediums_first_backup_reads_in_step_7_only_the_files_not_recorded_yet(tmp_path):
    """Of 2,100 staged files ten are new versions: the changed-files pass goes to those through an
    index, where it read every staged row (on 1,000,000 files, a tenth of step 7)."""
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m2"))
    _first_backup(store, taken_back=False)
    statements = [s for s in _mediums_first_backup(store, 2, "m2") if "recorded" in s]
    assert statements
    for statement in statements:
        plan = [row[3] for row in store.conn.execute("EXPLAIN QUERY PLAN " + statement)]
        assert not [step for step in plan if step.startswith("SCAN i")], plan
    counted, rows = _counts(store)
    assert counted == {"/a": 2100, "/b": 5}
    assert rows == {"/a": 2110, "/b": 5}       # the ten changed files' new versions too, counted once


def _catalog(store: Store) -> list:
    return [[tuple(r) for r in store.all(f"SELECT * FROM {table} ORDER BY 1, 2, 3")]
            for table in ("paths", "versions", "changes", "dir_state")]


@pytest.mark.parametrize("fails", ["insert", "update"])
def test_a_step_7_that_fails_part_way_leaves_the_catalog_as_it_was(tmp_path, fails):
    """The writes to `versions` stop where they fail (OR FAIL, no statement journal): what they
    wrote before goes with the rest of the transaction."""
    store = Store(tmp_path)
    _completed(store, ("src", "m1"), ("src", "m1"))
    _first_backup(store, taken_back=False)
    spool = CatalogSpool(store)
    spool.target(source="src", medium="m1", base_id=1)
    spool.add("/a", [("/a", b"a/f%d" % i, F, rsync.CHANGED, i + 1, 8) for i in range(700, 1400)],
              [("/a", b"a/f%d" % i, i, 7) for i in range(700)] + [("/a", b"a/f%d" % i, i, 7) for i in range(1400, 2100)])
    before = _catalog(store)
    # the 500th row the statement writes fails (of 1,400 extended, or of 700 inserted after those)
    store.execute("CREATE TEMP TABLE n(k INTEGER)")
    when = "(SELECT COUNT(*) FROM temp.n) >= 500"
    if fails == "insert":
        store.execute("CREATE TEMP TRIGGER t BEFORE INSERT ON main.versions BEGIN INSERT INTO n VALUES (1);"
                      f" SELECT RAISE(FAIL, 'no room') WHERE {when}; END")
    else:
        store.execute("CREATE TEMP TRIGGER t BEFORE UPDATE ON main.versions BEGIN INSERT INTO n VALUES (1);"
                      f" SELECT RAISE(FAIL, 'no room') WHERE {when}; END")
    with pytest.raises(sqlite3.IntegrityError, match="no room"):
        spool.apply(2)
    assert not store.conn.in_transaction
    assert _catalog(store) == before
