"""Ranking a source's backups as made (store.as_made) reads each backup's time once: with thousands
of backups, status (checkpoint triggers), restore and diff stayed in one look-up per backup of every
backup made after it, 0.5 s a query with 4,000. Counted in SQLite's steps, not timed."""
from rabtui.checkpoint import holders
from rabtui.restore import copies
from rabtui.state import catalog
from rabtui.state.store import Store

N = 3000


def _steps(store: Store, work) -> int:
    steps = [0]

    def count() -> int:
        steps[0] += 1
        return 0
    store.conn.set_progress_handler(count, 1000)
    try:
        work()
    finally:
        store.conn.set_progress_handler(None, 0)
    return steps[0] * 1000


def test_ranking_thousands_of_backups_as_made_costs_steps_in_proportion(tmp_path):
    store = Store(tmp_path)
    day = 86400
    with store.transaction() as conn:
        for i in range(1, N + 1):
            started = 1.6e9 + i * day + (2000 * day if i == 10 else 0)     # the tenth: a clock years ahead
            conn.execute("INSERT INTO backups(id, source, medium, name, path, status, started)"
                         " VALUES (?,?,?,?,?,?,?)", (i, "web", f"m{i % 4}", f"b{i}", f"/m/b{i}", "completed", started))
            conn.execute("INSERT INTO backup_dirs(backup_id, path, kind) VALUES (?,?,?)", (i, "/data", "standard"))
    ranked = []
    cost = _steps(store, lambda: ranked.extend(r["id"] for r in catalog.complete_backups(store, "web")))
    assert ranked[8:12] == [9, 10, 11, 12]       # the one dated ahead just before those made after it
    assert ranked[-1] == N
    assert cost < 200 * N, cost
    assert _steps(store, lambda: holders.backups_holding(store, "web", "/data", limit=1)) < 200 * N
    assert _steps(store, lambda: copies._backup_copies(store, "web", b"data")) < 200 * N
