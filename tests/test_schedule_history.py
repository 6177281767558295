"""The schedules a source had (schedule_history): kept as long as the stale rule can read them, and
a database of an older layout opened without what it no longer uses."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from types import SimpleNamespace

from rabtui.ops import health, schedule_history
from rabtui.state.store import Store


def _history(store: Store) -> list[tuple[float, str]]:
    return [(r["since"], r["schedule"]) for r in store.all("SELECT since, schedule FROM schedule_history ORDER BY since")]


def _alternate(tmp_path, exprs: tuple[str, str], every: int, reads: int) -> tuple[list, list, list]:
    """Two configs on one state directory, the source's schedule `exprs[0]` in one and `exprs[1]`
    in the other, read in turn each `every` hours from 1 October 00:30: the rows kept, the rows of a
    database given each row (never pruned), and check's stale rule at each read on both (the newest
    backup 20 hours, 30 hours, and 40 days old)."""
    pruned, whole = Store(tmp_path / "a"), Store(tmp_path / "b")
    t0 = datetime(2026, 10, 1, 0, 30)
    said = []
    for n in range(reads):
        now = (t0 + timedelta(hours=n * every)).timestamp()
        source = SimpleNamespace(id="loc", schedule=exprs[n % 2])
        schedule_history.note_schedules(SimpleNamespace(sources=[source]), pruned, now)
        whole.execute("INSERT INTO schedule_history(source, since, schedule) VALUES ('loc', ?, ?)",
                      (0.0 if n == 0 else now, source.schedule))
        for ago in (20, 30, 40 * 24):
            said.append((n, ago, health._stale(pruned, source, now - ago * 3600, now),
                         health._stale(whole, source, now - ago * 3600, now)))
    return _history(pruned), _history(whole), said


def test_two_configs_read_in_turn_keep_the_rows_the_stale_rule_reads_only(tmp_path):
    """Daily at 02:00 in one config, at 03:00 in the other, read in turn each 6 hours for 16
    days: a row a read was kept for ever. Now the rows before those the stale rule reads (a day
    back, and a week more for a clock wrong) are dropped, those after that named no time while in
    force are one span, and check judges as it did with every row."""
    kept, whole, said = _alternate(tmp_path, ("0 2 * * *", "0 3 * * *"), 6, 64)
    assert len(whole) == 64 and len(kept) <= 20, kept
    assert kept[-1] == whole[-1] and set(kept) - set(whole) <= {(t, schedule_history.SILENT) for t, _ in whole}
    assert [s for s in said if s[2] != s[3]] == []
    assert any(isinstance(s[2], datetime) for s in said) and any(s[2] is False for s in said)


def test_two_configs_whose_times_fall_in_each_other_s_turn_keep_three_rows(tmp_path):
    """Daily at 14:00 in one config read each morning, at 02:00 in the other read each evening: no
    schedule names a time while in force, and the stale rule reads back to the first. The rows
    between are one span that named no time: check judges exactly as with every row (a bound of 8
    days, the newest row older kept as always had, judged by that one's times)."""
    kept, whole, said = _alternate(tmp_path, ("0 14 * * *", "0 2 * * *"), 12, 40)
    assert len(whole) == 40 and kept == [whole[0], (whole[1][0], schedule_history.SILENT), whole[-1]]
    assert [s for s in said if s[2] != s[3]] == []
    assert [bool(s[2]) for s in said if s[0] == 39] == [False, False, True]


def test_an_edit_long_ago_leaves_the_schedule_in_force_on_record_only(tmp_path):
    """Weekly made daily, then hourly: once the hourly one has named a time more than 8 days ago,
    the rows before it go; the hourly one, first read then, stays dated then."""
    store = Store(tmp_path / "state")
    t0 = datetime(2026, 10, 1, 12, 0)
    for days, expr in ((0, "0 2 * * 0"), (1, "0 2 * * *"), (2, "0 * * * *"), (11, "0 * * * *")):
        schedule_history.note_schedules(SimpleNamespace(sources=[SimpleNamespace(id="loc", schedule=expr)]), store,
                                (t0 + timedelta(days=days)).timestamp())
    assert _history(store) == [(0.0, "0 2 * * 0"), ((t0 + timedelta(days=1)).timestamp(), "0 2 * * *"),
                               ((t0 + timedelta(days=2)).timestamp(), "0 * * * *")]
    schedule_history.note_schedules(SimpleNamespace(sources=[SimpleNamespace(id="loc", schedule="0 */2 * * *")]), store,
                            (t0 + timedelta(days=11)).timestamp())
    assert _history(store) == [((t0 + timedelta(days=2)).timestamp(), "0 * * * *"),
                               ((t0 + timedelta(days=11)).timestamp(), "0 */2 * * *")]


def test_a_database_with_the_unused_schedule_edits_table_opens_without_it(tmp_path):
    """A database made by an intermediate layout kept a table schedule_edits nothing reads: it is
    dropped when the database is opened, everything else as it was."""
    store = Store(tmp_path / "state")
    store.execute("INSERT INTO schedule_history(source, since, schedule) VALUES ('loc', 0, '0 2 * * *')")
    store.execute("CREATE TABLE schedule_edits(source TEXT PRIMARY KEY, schedule TEXT NOT NULL, since REAL NOT NULL,"
                  " previous TEXT)")
    store.execute("INSERT INTO schedule_edits VALUES ('loc', '0 2 * * *', 0, NULL)")
    path = store.path
    store.close()

    def layout() -> list:
        conn = sqlite3.connect(path)
        try:
            return conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY name").fetchall()
        finally:
            conn.close()

    before = layout()
    assert "schedule_edits" in {row[2] for row in before}
    store = Store(tmp_path / "state")
    assert layout() == [row for row in before if row[2] != "schedule_edits"]
    assert _history(store) == [(0.0, "0 2 * * *")]
    store.close()
    assert layout() == [row for row in before if row[2] != "schedule_edits"]     # opened again: nothing more


def test_rebuild_state_records_the_schedules_as_read_then_and_judges_the_times_before_by_the_data_s_age(tmp_path):
    """An hourly source backed up 30 hours ago (its schedule given just before, read by nothing),
    then rebuild-state: the schedule was taken as always had, and check paged at once for its hour
    a day ago. Now rebuild-state records it as first read then: the times before it are judged by
    the data's age (not stale, 30 hours), and its first hour after it missed is stale a day later."""
    from tests.test_rebuild_odd_records import _rabtui
    from tests.trees import Lab, write_files

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")], extra='schedule = "0 * * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    now = datetime.now().replace(microsecond=0)
    assert lab.backup(cfg, now=now - timedelta(hours=30)).status == "completed"
    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 0, done.stdout + done.stderr
    store = lab.store()
    [(since, expr)] = _history(store)
    assert expr == "0 * * * *" and now.timestamp() <= since <= datetime.now().timestamp()

    def stale(at: datetime):
        return next(((p.level, p.message) for p in health.run_checks(cfg, store, at) if p.check_id == "stale:loc"), None)

    rebuilt = datetime.fromtimestamp(since)
    assert stale(rebuilt + timedelta(minutes=1)) is None
    first = (rebuilt + timedelta(hours=1)).replace(minute=0, second=0)
    level, message = stale(first + timedelta(days=1, minutes=1))
    assert level == "critical" and message.endswith(f" old, none made for its scheduled time {first:%Y-%m-%d %H:%M}")


def test_a_time_missed_before_schedules_that_named_none_stays_missed_when_their_rows_are_pruned(tmp_path):
    """Daily, backed up on 1 October only; made monthly at noon on the 4th (it names no time
    before 1 November): stale for the nights the daily one missed, the 4 October 02:00 its last. An
    edit to weekly on the 14th pruned the daily row and kept the monthly one as always had: its
    1 October time, backed up, made the source not stale, 13 days without a backup and no notice."""
    store = Store(tmp_path / "state")
    t0 = datetime(2026, 10, 1, 12, 0)
    newest = datetime(2026, 10, 1, 3, 0).timestamp()
    said = []
    for days, expr in ((0, "0 2 * * *"), (3, "0 2 1 * *"), (13, "0 2 * * 0")):
        source = SimpleNamespace(id="loc", schedule=expr)
        now = (t0 + timedelta(days=days)).timestamp()
        schedule_history.note_schedules(SimpleNamespace(sources=[source]), store, now)
        said.append(health._stale(store, source, newest, now))
    assert said == [False, datetime(2026, 10, 3, 2, 0), datetime(2026, 10, 4, 2, 0)]


def test_an_edit_read_under_a_clock_days_ahead_drops_no_row_check_reads_once_the_clock_is_right(tmp_path):
    """Daily, backed up each night up to the 5 October, made weekly (Wednesdays) at noon that day;
    made hourly on the 6th under a clock 3 days ahead: that prune judged as of the 7th, after the
    weekly one's time, and dropped the daily row. With the clock right, from the 7th 02:00 the
    weekly one had named no time while in force and the daily one was not on record: judged by the
    data's age (2 days), check paged for a source backed up as its schedules said."""
    store = Store(tmp_path / "state")
    for at, expr, ahead in (((2026, 10, 1, 12), "0 2 * * *", 0), ((2026, 10, 5, 12), "0 2 * * 3", 0),
                            ((2026, 10, 6, 12), "0 * * * *", 3), ((2026, 10, 6, 13), "0 * * * *", 0)):
        now = (datetime(*at) + timedelta(days=ahead)).timestamp()
        schedule_history.note_schedules(SimpleNamespace(sources=[SimpleNamespace(id="loc", schedule=expr)]), store, now)
    hourly, newest = SimpleNamespace(id="loc", schedule="0 * * * *"), datetime(2026, 10, 5, 2, 0).timestamp()
    assert health._stale(store, hourly, newest, datetime(2026, 10, 7, 3, 0).timestamp()) is False
    assert health._stale(store, hourly, newest, datetime(2026, 10, 8, 3, 0).timestamp()) == datetime(2026, 10, 7, 3, 0)


def test_a_run_due_under_way_as_the_schedule_is_edited_does_not_record_the_one_it_read_again(tmp_path):
    """run-due read daily at 02:00; while its backups ran the config was made daily at 14:00, and a
    check recorded that edit. The run's own health check at its end recorded its schedule read at
    the start as one more edit (the operator's undone on record until the next check)."""
    from rabtui.actions import run_due, status
    from tests.trees import Lab

    lab = Lab(tmp_path, media_count=1)
    before = lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    store = lab.store()
    t0 = datetime(2026, 10, 1, 1, 0)
    schedule_history.note_schedules(before, store, t0.timestamp())       # as run-due's start reads it
    after = lab.write(lab._local_source([("data", "standard")], 'schedule = "0 14 * * *"', "loc"))
    status.check(after, store, t0 + timedelta(minutes=30))
    run_due._health_check(before, store, lambda event: None, t0 + timedelta(hours=1))
    assert _history(store) == [(0.0, "0 2 * * *"), ((t0 + timedelta(minutes=30)).timestamp(), "0 14 * * *")]
