"""The temporary tables of archive_held filled to their limit (the temp store full): the error
raised is SQLite's own, not "cannot rollback - no transaction is active" of a ROLLBACK after
SQLite rolled the transaction back by itself."""

from __future__ import annotations

import sqlite3

import pytest

from rabtui.state import archive_held
from rabtui.state.store import Store

MANY = [b"d/" + b"x" * 200 + str(i).encode() for i in range(2000)]


@pytest.fixture
def store(tmp_path):
    store = Store(tmp_path / "state")
    archive_held.hold(store, ("SELECT NULL AS path WHERE 0", ()))
    store.conn.execute(f"CREATE TEMP TABLE IF NOT EXISTS {archive_held.ASKED.split('.')[1]}"
                       "(path BLOB PRIMARY KEY, low BLOB, high BLOB) WITHOUT ROWID")
    store.conn.execute("PRAGMA temp.max_page_count=%d" % store.conn.execute("PRAGMA temp.page_count").fetchone()[0])
    yield store
    store.close()


@pytest.mark.parametrize("step", ["add", "held_at_or_below"])
def test_the_temp_store_full_raises_its_own_error(store, step):
    with pytest.raises(sqlite3.OperationalError, match="full"):
        getattr(archive_held, step)(store, MANY)
    assert not store.conn.in_transaction
    store.conn.execute("PRAGMA temp.max_page_count=1000000")
    archive_held.add(store, MANY[:3])          # the store still usable
    assert archive_held.held_at_or_below(store, [b"d", b"e"]) == {b"d"}
