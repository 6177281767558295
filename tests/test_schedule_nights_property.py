"""Generated nights of run-due every 15 minutes (tests/test_schedule_nights' simulation: the
schedule's own functions over a real state database, the rows run-due writes), around a DST change
of a generated time zone: the clock moved ahead and back by generated amounts, the schedule edited,
the machine off, backups that fail, are killed (their time left unmarked) or keep their data. Each
scheduled time gets a backup for it by the first run-due after it whose clock is right, no time gets
two, and check says a source stale exactly when a time went unbacked (_judge)."""

from __future__ import annotations

import os
import time
from datetime import datetime, timedelta

from hypothesis import example, given, settings, strategies as st

from tests.test_schedule_nights import HOUR, DAY, History, _judge, _simulate

# each zone's 2026 changes: (day, hour of the local day the change is near)
CHANGES = {
    "Europe/Berlin": ("2026-03-29T02", "2026-10-25T02"),
    "America/New_York": ("2026-03-08T02", "2026-11-01T01"),
    "America/Santiago": ("2026-04-04T23", "2026-09-06T00"),
    "Australia/Lord_Howe": ("2026-04-05T01", "2026-10-04T02"),
    "Asia/Kolkata": ("2026-03-29T02", "2026-10-25T02"),      # none
}

EXPRS = ("0 2 * * *", "30 2 * * *", "30 2,3 * * *", "*/30 2 * * *", "0,30 1,2 * * *", "*/15 * * * *",
         "0 * * * *", "0 */6 * * *", "45 1 * * *", "0 23 * * *", "0 0 * * *", "0 2 * * 0", "")

DAYS = 3


@st.composite
def histories(draw) -> History:
    zone = draw(st.sampled_from(sorted(CHANGES)))
    change = datetime.fromisoformat(draw(st.sampled_from(CHANGES[zone])))
    start = change.replace(hour=0) - timedelta(hours=draw(st.integers(0, 36)))
    hours = DAYS * 24
    at = st.floats(0, hours, allow_nan=False).map(lambda h: round(h * 4) / 4)
    edits = sorted(draw(st.lists(at.filter(lambda h: h > 0), max_size=2, unique=True)))
    schedules = [(0, draw(st.sampled_from(EXPRS[:-1])))] + [(h, draw(st.sampled_from(EXPRS))) for h in edits]
    span = st.tuples(at, st.floats(0.25, 30).map(lambda h: round(h * 4) / 4)).map(lambda s: (s[0], s[0] + s[1]))
    off = draw(st.lists(span, max_size=1))
    offsets = st.one_of(st.integers(-3 * DAY, 3 * DAY), st.sampled_from([600, -600, HOUR, -HOUR, DAY + 60, -DAY - 60]))
    clock = [(a, b, draw(offsets)) for a, b in draw(st.lists(span, max_size=2))]
    clock = [c for k, c in enumerate(clock) if all(c[0] >= d[1] or c[1] <= d[0] for d in clock[:k])]   # apart
    outcomes = draw(st.dictionaries(st.integers(0, 12), st.sampled_from(["failed", "kept", "warnings", "cancelled"]),
                                    max_size=3))
    return History(zone, start.isoformat(), DAYS, schedules, off=off, clock=clock, outcomes=outcomes)


@settings(max_examples=40)
@given(hist=histories())
@example(hist=History("Europe/Berlin", "2026-03-28T00:00", DAYS, [(0, "30 2,3 * * *")]))     # its 03:30 was lost
@example(hist=History("Europe/Berlin", "2026-10-24T00:00", DAYS, [(0, "*/30 2 * * *")]))     # its second pass was lost
@example(hist=History("America/New_York", "2026-03-08T00:00", DAYS, [(0, "0 2 * * *"), (1, "30 2 * * *")],
                      clock=[(0, 24, 87420)]))      # a day ahead, then right an hour before its time
@example(hist=History("America/New_York", "2026-03-08T00:00", DAYS, [(0, "0 2 * * *")], clock=[(0, 2, 900)]))
@example(hist=History("America/New_York", "2026-03-07T05:00", DAYS, [(0, "0 2 * * *"), (21, "30 2 * * *")]))
@example(hist=History("America/New_York", "2026-03-08T00:00", DAYS, [(0, "30 2,3 * * *")], clock=[(0, 2, 9000)]))
# its night missed before the day of 25 hours: check said it stale 25 hours after, not 24
@example(hist=History("America/Santiago", "2026-04-04T00:00", DAYS, [(0, "0 2 * * *")], outcomes={1: "failed"}))
def test_generated_nights_back_each_scheduled_time_up_once(tmp_path_factory, hist):
    tz = os.environ.get("TZ")
    os.environ["TZ"] = hist.zone
    time.tzset()
    try:
        t0, made, runs = _simulate(tmp_path_factory.mktemp("nights"), hist)
        assert _judge(hist, t0, made, runs) == [], hist
    finally:
        if tz is None:
            os.environ.pop("TZ", None)
        else:
            os.environ["TZ"] = tz
        time.tzset()
