"""A schedule edited: check judges a time of the new schedule that passed before the edit was seen
(by run-due or check) as missed only if the schedule before the edit missed one too. Made more
frequent, it called the source stale at once, for times that were no schedule's when they passed."""

from __future__ import annotations

from datetime import datetime

from rabtui.actions import status
from rabtui.cli import main
from rabtui.ops import health
from tests.trees import Lab, write_files


def _lab(tmp_path, expr: str) -> Lab:
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra=f'schedule = "{expr}"' if expr else "")
    write_files(lab.src / "data", {"a": b"a"})
    return lab


def _edit(lab: Lab, expr: str):
    return lab.write(lab._local_source([("data", "standard")], f'schedule = "{expr}"' if expr else "", "loc"))


def _no_checkpoint_due(lab: Lab) -> None:
    lab.store().execute("UPDATE dir_state SET last_checkpoint=1, last_checkpoint_time=?",
                        (datetime(2026, 10, 4, 3).timestamp(),))


def _stale(problems) -> str | None:
    return next((p.message for p in problems if p.check_id == "stale:loc"), None)


def test_a_schedule_made_more_frequent_is_not_stale_for_times_before_the_edit(tmp_path, capsys):
    """Weekly on Sundays, backed up by run-due on Sunday 4 October; made daily on Wednesday: not
    stale for Tuesday's 02:00 (status and the dashboard, before anything recorded the edit, nor
    check, which records it), nor for Wednesday's, which passed before the edit; Thursday's 02:00
    missed is stale a day later. Then made every 6 hours: its times before that edit are not missed
    while the daily ones were made."""
    lab = _lab(tmp_path, "0 2 * * 0")
    args = ["--config", str(lab.config_path)]
    assert main([*args, "run-due", "--now", "2026-10-04T02:05"]) == 0
    _no_checkpoint_due(lab)
    cfg = _edit(lab, "0 2 * * *")
    at = datetime(2026, 10, 7, 12, 0)
    assert _stale(health.run_checks(cfg, lab.store(), at)) is None
    assert _stale(status.check(cfg, lab.store(), at).problems) is None
    assert _stale(health.run_checks(cfg, lab.store(), datetime(2026, 10, 8, 12, 0))) is None
    assert _stale(health.run_checks(cfg, lab.store(), datetime(2026, 10, 9, 3, 0))) == \
        "source loc: newest backup is 5.0 days old, none made for its scheduled time 2026-10-08 02:00"

    # run-due sees the edit too: daily backups, then every 6 hours from Saturday 12:00
    capsys.readouterr()
    for day in (9, 10):
        assert main([*args, "run-due", "--now", f"2026-10-{day:02d}T02:05"]) == 0
    cfg = _edit(lab, "0 */6 * * *")
    assert main([*args, "run-due", "--now", "2026-10-10T12:00"]) == 0     # its 12:00 made
    assert "loc: due (schedule time 2026-10-10 12:00)" in capsys.readouterr().out
    assert _stale(status.check(cfg, lab.store(), datetime(2026, 10, 11, 11, 0)).problems) is None
    assert _stale(health.run_checks(cfg, lab.store(), datetime(2026, 10, 11, 18, 5))) == \
        "source loc: newest backup is 1.3 days old, none made for its scheduled time 2026-10-10 18:00"


def test_a_time_the_schedule_before_the_edit_missed_is_stale_still(tmp_path):
    """Weekly, its Sunday 4 October missed (the machine off), made daily on Wednesday: stale for
    that Sunday, which was the schedule's when it passed (the edit neither hides it nor names a time
    that was not)."""
    lab = _lab(tmp_path, "0 2 * * 0")
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2026-09-27T02:05"]) == 0
    _no_checkpoint_due(lab)
    cfg = _edit(lab, "0 2 * * *")
    assert _stale(status.check(cfg, lab.store(), datetime(2026, 10, 7, 12, 0)).problems) == \
        "source loc: newest backup is 10.4 days old, none made for its scheduled time 2026-10-04 02:00"


def test_a_schedule_given_to_a_source_without_one_is_judged_as_before_until_its_first_time(tmp_path):
    """A source without a schedule, backed up a day ago, given an hourly one: not stale for the
    hours before (it was, at once); its first time after the edit missed is stale a day later."""
    lab = _lab(tmp_path, "")
    cfg = lab.load()
    assert lab.backup(cfg, now=datetime(2026, 10, 6, 12, 0)).status == "completed"
    _no_checkpoint_due(lab)
    assert _stale(status.check(cfg, lab.store(), datetime(2026, 10, 7, 12, 0)).problems) is None
    cfg = _edit(lab, "0 * * * *")
    assert _stale(status.check(cfg, lab.store(), datetime(2026, 10, 7, 13, 0)).problems) is None
    assert _stale(health.run_checks(cfg, lab.store(), datetime(2026, 10, 8, 13, 30))) == \
        "source loc: newest backup is 2.1 days old, none made for its scheduled time 2026-10-07 13:00"


def test_an_edit_first_read_under_a_clock_days_ahead_is_dated_when_a_right_clock_reads_it(tmp_path):
    """Weekly on Sundays, backed up on Sunday 4 October; made daily, read first by a check under a
    clock 30 days ahead: the next read under the right clock dates the edit then, so Monday's 02:00
    missed is stale a day later (the new schedule's times were judged as the weekly one's until the
    date read ahead: the next Sunday's, a week without a word)."""
    from types import SimpleNamespace

    from rabtui.ops import schedule, schedule_history
    from rabtui.state.store import Store

    store = Store(tmp_path / "state")
    sunday = datetime(2026, 10, 4, 2, 0)
    job = store.execute("INSERT INTO jobs(kind, target, status, started) VALUES ('backup', 'loc', 'completed', ?)",
                        (sunday.timestamp(),)).lastrowid
    schedule.note_slot(store, job, sunday)
    store.execute("INSERT INTO backups(source, medium, name, path, status, started, finished, job_id, dir_made)"
                  " VALUES ('loc', 'm', 'b', '/x', 'completed', ?, ?, ?, 1)",
                  (sunday.timestamp() + 60, sunday.timestamp() + 120, job))
    weekly, daily = (SimpleNamespace(id="loc", schedule=e) for e in ("0 2 * * 0", "0 2 * * *"))
    schedule_history.note_schedules(SimpleNamespace(sources=[weekly]), store, datetime(2026, 10, 4, 3).timestamp())
    schedule_history.note_schedules(SimpleNamespace(sources=[daily]), store, datetime(2026, 11, 3, 12).timestamp())
    schedule_history.note_schedules(SimpleNamespace(sources=[daily]), store, datetime(2026, 10, 4, 12, 15).timestamp())
    at = datetime(2026, 10, 6, 2, 30).timestamp()
    assert health._stale(store, daily, sunday.timestamp() + 60, at) == datetime(2026, 10, 5, 2, 0)
