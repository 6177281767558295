"""A schedule whose years are all past backs its source up no more: check judges it as a source
without a schedule, saying why (the time of the schedule's last run stood for every time after it:
never stale, whatever the data's age). One whose first time is to come makes it stale not before."""

from __future__ import annotations

from datetime import datetime

from rabtui.cli import main
from rabtui.ops import health
from tests.trees import Lab, write_files


def _stale(lab: Lab, at: datetime) -> str | None:
    return next((p.message for p in health.run_checks(lab.load(), lab.store(), at) if p.check_id == "stale:loc"), None)


def test_a_schedule_whose_years_are_past_is_judged_as_none(tmp_path):
    """Daily at 02:00 in 2026 only: its last time backed up by run-due, then a backup by hand."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * * 0 2026"')
    write_files(lab.src / "data", {"a": b"a"})
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2026-12-31T02:05"]) == 0
    assert _stale(lab, datetime(2027, 1, 2, 2, 0)) is None
    assert _stale(lab, datetime(2027, 1, 2, 3, 0)) == ("source loc: newest backup is 2.0 days old, its schedule names"
                                                       " no time after 2026-12-31 02:00: run-due backs it up no more")
    assert lab.backup(lab.load(), now=datetime(2027, 3, 1, 12, 0)).status == "completed"
    assert _stale(lab, datetime(2027, 3, 3, 11, 0)) is None
    assert _stale(lab, datetime(2027, 3, 3, 13, 0)) is not None


def test_a_schedule_whose_first_time_is_to_come_makes_no_source_stale_before_it(tmp_path):
    """Daily from 2027 on, backed up by hand in October: the data older than 2 days is a warning
    naming the schedule's first time, not stale (critical, before); from a day after that time,
    missed, it is stale."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard")], extra='schedule = "0 2 * * * 0 2027"')
    write_files(lab.src / "data", {"a": b"a"})
    assert lab.backup(cfg, now=datetime(2026, 10, 1, 12, 0)).status == "completed"
    assert _stale(lab, datetime(2026, 10, 3, 11, 0)) is None
    said = {p.check_id: p for p in health.run_checks(lab.load(), lab.store(), datetime(2026, 12, 30, 13, 0))}
    assert (said["stale:loc"].level, said["stale:loc"].message) == (
        "warning", "source loc: newest backup is 90.0 days old, its schedule's first time is 2027-01-01 02:00:"
        " run-due backs it up not before (not stale before it)")
    said = {p.check_id: p for p in health.run_checks(lab.load(), lab.store(), datetime(2027, 1, 2, 3, 0))}
    assert (said["stale:loc"].level, said["stale:loc"].message) == (
        "critical", "source loc: newest backup is 92.6 days old, none made for its scheduled time 2027-01-01 02:00")


def test_a_schedule_run_out_then_edited_stays_stale_until_the_new_one_backs_it_up(tmp_path):
    """The 2026-only schedule made daily on 5 January, the data five days old: stale still (the
    schedule before the edit judged by its last time, the edit hid it until the next day's time
    passed by a day)."""
    from rabtui.actions import status

    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * * 0 2026"')
    write_files(lab.src / "data", {"a": b"a"})
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2026-12-31T02:05"]) == 0
    cfg = lab.write(lab._local_source([("data", "standard")], 'schedule = "0 2 * * *"', "loc"))
    at = datetime(2027, 1, 5, 12, 0)
    assert "stale:loc" in {p.check_id for p in status.check(cfg, lab.store(), at).problems}
    assert _stale(lab, at) == "source loc: newest backup is 5.4 days old"


def test_a_schedule_edited_to_one_whose_first_time_is_to_come_keeps_the_nights_missed_before_stale(tmp_path):
    """Daily, backed up by run-due on 1 October, its next two nights missed, then given a schedule
    from 2027 on (read by check on the 4th): stale still for the 3 October 02:00 the daily one missed
    (the schedule to come does not hide it)."""
    from rabtui.actions import status

    lab = Lab(tmp_path, media_count=1)
    lab.local([("data", "standard")], extra='schedule = "0 2 * * *"')
    write_files(lab.src / "data", {"a": b"a"})
    assert main(["--config", str(lab.config_path), "run-due", "--now", "2026-10-01T02:05"]) == 0
    cfg = lab.write(lab._local_source([("data", "standard")], 'schedule = "0 2 * * * 0 2027"', "loc"))
    said = {p.check_id: p for p in status.check(cfg, lab.store(), datetime(2026, 10, 4, 12, 0)).problems}
    assert (said["stale:loc"].level, said["stale:loc"].message) == (
        "critical", "source loc: newest backup is 3.4 days old, none made for its scheduled time 2026-10-03 02:00")
