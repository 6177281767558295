"""`find` over many backups that could not read paths: a file closed for a year is named with the
first backup that could not read it and the count of those after, and the look-up of those backups
does the same work however many other paths the backups could not read. The rows are written
straight into a store: what is read is the shape of the tables, which tests/test_unreadable_on_source.py
makes with real backups."""

from __future__ import annotations

import pytest

from rabtui.backup import catalog_forget
from rabtui.state import catalog, unread_paths
from rabtui.state.store import Store
from tests.test_unreadable_on_source import _later_unread_before

DAYS = 365
FILES = [b"srv/data/f%03d" % i for i in range(20)] + [b"srv/data/sub/g", b"srv/datax/h", b"etc/x"]


def _store(tmp_path, other_rows: int) -> tuple[Store, dict[bytes, int]]:
    """Backups 1..10 hold the files; each of the DAYS after could not read srv/data/f000 nor
    `other_rows` other paths; one could not read srv/data, one the whole source; a deleted backup,
    and a backup of another source, could not read srv/data/f001. Returns the store and path ids."""
    store = Store(tmp_path / "state")
    days = 10 + DAYS
    rows = [(i, "web", "m1", f"backup-{i:04d}", f"/m1/web/backup-{i:04d}", "completed", 1_700_000_000 + i * 86400)
            for i in range(1, days + 1)]
    rows += [(days + 1, "web", "m1", "backup-gone", "/m1/web/backup-gone", "deleted", 1_800_000_000),
             (days + 2, "other", "m1", "backup-0001", "/m1/other/backup-0001", "completed", 1_700_000_000)]
    unread = [(b, b"srv/data/f000") for b in range(11, days + 1)]
    unread += [(b, b"var/junk/%06d" % j) for b in range(11, days + 1) for j in range(other_rows)]
    unread += [(50, b"srv/data"), (60, b""), (days + 1, b"srv/data/f001"), (days + 2, b"srv/data/f001")]
    with store.transaction() as conn:
        conn.executemany("INSERT INTO backups(id, source, medium, name, path, status, started) VALUES (?,?,?,?,?,?,?)", rows)
        conn.executemany("INSERT INTO paths(source, dir, path) VALUES ('web', '/', ?)", [(p,) for p in FILES])
        conn.execute("INSERT INTO paths(source, dir, path) VALUES ('other', '/', ?)", (FILES[1],))
        conn.execute("INSERT INTO versions(path_id, medium, size, mtime, first_backup, last_backup)"
                     " SELECT id, 'm1', 1, 0, 1, 10 FROM paths")
        conn.executemany("INSERT INTO unreadable(backup_id, path) VALUES (?, ?)", unread)
    return store, {bytes(r["path"]): r["id"] for r in store.all("SELECT id, path FROM paths WHERE source='web'")}


@pytest.fixture(scope="module")
def many(tmp_path_factory):
    store, ids = _store(tmp_path_factory.mktemp("unread-many"), other_rows=40)
    yield store, ids
    store.close()


def test_the_answer_is_the_one_before(many):
    store, ids = many
    every = sorted(r[0] for r in store.all("SELECT id FROM paths"))
    found = unread_paths.later_unread(store, every)
    # the same, but for a backup that named both a path and a directory above it (srv/data/f000
    # and srv/data): the join gave it twice (find counted it twice), the look-ups once
    before = _later_unread_before(store, every)
    assert found == {key: sorted(set(backups)) for key, backups in before.items()}
    assert [b for b, _ in before[(ids[b"srv/data/f000"], "m1")]].count(50) == 2
    # f000: each of the year's backups; the other files of srv/data: those two only; srv/datax
    # and etc: the one of the whole source
    assert [b for b, _ in found[(ids[b"srv/data/f000"], "m1")]] == list(range(11, 11 + DAYS))
    assert [b for b, _ in found[(ids[b"srv/data/f001"], "m1")]] == [50, 60]
    assert [b for b, _ in found[(ids[b"srv/data/sub/g"], "m1")]] == [50, 60]
    assert [b for b, _ in found[(ids[b"srv/datax/h"], "m1")]] == [60]


def test_find_names_the_first_and_counts_the_rest(many):
    store, _ = many
    [v] = catalog.find(store, "f000")
    [loc] = v.locations
    assert loc.describe() == ("m1: backup-0001 .. backup-0010 (10 backups); then unreadable on the source"
                              f" in backup-0011 and {DAYS - 1} backups after (not deleted)")
    assert {k: v for k, v in v.as_json()["locations"][0].items() if k.startswith("unreadable")} == {
        "unreadable": "backup-0011", "unreadable_more": DAYS - 1}
    [v] = catalog.find(store, "datax/h")
    assert v.locations[0].describe().endswith("; then unreadable on the source in backup-0060 (not deleted)")
    assert "unreadable_more" not in v.as_json()["locations"][0]


def _steps(store: Store, ids: list[int]) -> int:
    """SQLite's virtual machine steps (in thousands) of one later_unread: work, counted, not timed."""
    steps = [0]

    def count():
        steps[0] += 1
    store.conn.set_progress_handler(count, 1000)
    try:
        unread_paths.later_unread(store, ids)
    finally:
        store.conn.set_progress_handler(None, 0)
    return steps[0]


def test_the_work_does_not_grow_with_the_other_rows(tmp_path):
    small, ids = _store(tmp_path / "small", other_rows=10)
    large, _ = _store(tmp_path / "large", other_rows=200)     # 20 times the rows: 73,000
    try:
        wanted = sorted(ids.values())
        few, many = _steps(small, wanted), _steps(large, wanted)
        assert many <= few * 1.5 + 5, (few, many)
    finally:
        small.close()
        large.close()


def test_a_backup_forgotten_takes_its_unreadable_paths(tmp_path):
    """Cleanup forgets backups 50 and 60: what they could not read goes with them (find no longer
    names them), the other backups' rows stay, and so do their directories' rows (the run's record)."""
    store, ids = _store(tmp_path, other_rows=2)
    try:
        with store.transaction() as conn:
            conn.executemany("INSERT INTO backup_dirs(backup_id, path, kind, unreadable) VALUES (?, '/srv', 'standard', 3)",
                             [(50,), (60,), (61,)])
        catalog_forget.forget_backups(store, [50, 60])
        assert store.all("SELECT * FROM unreadable WHERE backup_id IN (50, 60)") == []
        assert store.one("SELECT COUNT(*) FROM unreadable")[0] == (DAYS - 2) * 3 + 2
        assert [tuple(r) for r in store.all("SELECT backup_id, unreadable FROM backup_dirs ORDER BY 1")] == [
            (50, 3), (60, 3), (61, 3)]
        found = unread_paths.later_unread(store, [ids[b"srv/data/f000"], ids[b"srv/datax/h"]])
        assert 50 not in [b for b, _ in found[(ids[b"srv/data/f000"], "m1")]]
        assert (ids[b"srv/datax/h"], "m1") not in found
    finally:
        store.close()


def test_only_backups_whose_data_stays_are_named(tmp_path):
    """A failed run, an abandoned one (whose directory recovery removed) and one still running could
    not read srv/datax/h too: `find` names none of them, only the kept and complete backups."""
    store, ids = _store(tmp_path, other_rows=0)
    try:
        with store.transaction() as conn:
            conn.executemany(
                "INSERT INTO backups(id, source, medium, name, path, status, started) VALUES (?,'web','m1',?,?,?,?)",
                [(900 + i, f"backup-x{i}", f"/m1/web/backup-x{i}", status, 1_900_000_000 + i)
                 for i, status in enumerate(("failed", "abandoned", "running", "kept", "warnings"))])
            conn.executemany("INSERT INTO unreadable(backup_id, path) VALUES (?, ?)",
                             [(900 + i, b"srv/datax") for i in range(5)])
        found = unread_paths.later_unread(store, [ids[b"srv/datax/h"]])
        assert [b for b, _ in found[(ids[b"srv/datax/h"], "m1")]] == [60, 903, 904]
    finally:
        store.close()
