"""Many nights of run-due every 15 minutes over the schedule's own functions and a real state
database (the rows run-due writes: a job for the time, its backup dated by the machine's clock, the
mark at its end): the machine off for hours or days, its clock stepped ahead and back, DST changes,
schedules edited, backups that fail, are cancelled, kept, warned, by hand in between. Judged in real
time: each scheduled time gets a backup for it (or a later one) by the first run-due after it whose
clock is right; no scheduled time gets two; check's stale rule is critical exactly when the latest
time a day ago that a schedule named while in force (from when run-due or check first read it) has
no backup holding the data for it (_stale_expected); rebuild-state forgets the edits before it,
the times before it judged by the data's age."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace

import pytest
from croniter import croniter

from rabtui.ops import health, schedule, schedule_history
from rabtui.state.store import Store

STEP = 15 * 60
HOUR = 3600
DAY = 86400


@dataclass
class History:
    zone: str
    start: str                      # local time the first run-due runs at
    days: int
    schedules: list                 # (hours after start, cron expression)
    off: list = field(default_factory=list)        # (from hour, to hour): no run-due
    clock: list = field(default_factory=list)      # (from hour, to hour, seconds the clock is off by)
    outcomes: dict = field(default_factory=dict)   # n-th run-due backup (from 0) -> status ('cancelled': unmarked, as a run killed)
    by_hand: list = field(default_factory=list)    # hours after start
    rebuilt: list = field(default_factory=list)    # hours after start: rebuild-state (no edit on record)


@dataclass
class Made:
    real: float
    status: str
    slot: float | None              # the time run-due made it for


def _in(spans, h) -> bool:
    return any(a <= h < b for a, b, *_ in spans)


def _offset(hist: History, h: float) -> float:
    return next((off for a, b, off in hist.clock if a <= h < b), 0)


def _expr(hist: History, h: float) -> str:
    return [e for at, e in hist.schedules if at <= h][-1]


def _index(hist: History, h: float) -> int:
    """The schedule in force at `h` (its time missed while the machine was off is edited away)."""
    return [k for k, (at, _) in enumerate(hist.schedules) if at <= h][-1]


def _simulate(tmp_path, hist: History):
    store = Store(tmp_path / "state")
    t0 = datetime.fromisoformat(hist.start).timestamp()
    made: list[Made] = []
    runs: list[tuple[float, bool, object]] = []     # (real time, clock right, stale as check says it)
    seen: list[tuple[float, str]] = []               # (real time, schedule) each edit first read, as on record
    n = 0

    def note(real: float, clock: float, expr: str) -> None:
        schedule_history.note_schedules(SimpleNamespace(sources=[SimpleNamespace(id="loc", schedule=expr)]), store, clock)
        if not seen or seen[-1][1] != expr:
            seen.append((real if seen else float("-inf"), expr))

    def write(real: float, clock: float, status: str, slot: datetime | None) -> None:
        job = store.execute("INSERT INTO jobs(kind, target, status, started) VALUES ('backup', 'loc', 'completed', ?)",
                            (clock,)).lastrowid
        if slot is not None:
            schedule.note_slot(store, job, slot)
        store.execute("INSERT INTO backups(source, medium, name, path, status, started, finished, job_id, dir_made)"
                      " VALUES ('loc', 'm', ?, '/x', ?, ?, ?, ?, 1)",
                      (f"backup-{job}", "failed" if status == "cancelled" else status, clock, clock + 60, job))
        made.append(Made(real, status, schedule.reached(slot) if slot is not None else None))

    for i in range(hist.days * 24 * 4):
        real = t0 + i * STEP
        h = i / 4
        clock = real + _offset(hist, h)
        now = datetime.fromtimestamp(clock)
        source = SimpleNamespace(id="loc", schedule=_expr(hist, h))
        if any(i == round(b * 4) for b in hist.by_hand):
            write(real, clock, "completed", None)
        if any(i == round(b * 4) for b in hist.rebuilt):
            store.execute("DELETE FROM schedule_history")
            schedule_history.note_rebuilt(SimpleNamespace(sources=[source]), store, clock)
            seen[:] = [(real, source.schedule)]
        if _in(hist.off, h):
            continue
        schedule.carry_slots(store, now)
        note(real, clock, source.schedule)
        for due in schedule.due_sources(SimpleNamespace(sources=[source]), store, now):
            status = hist.outcomes.get(n, "completed")
            n += 1
            write(real, clock, status, due.slot)
            if status != "cancelled":
                schedule.mark_run(store, "loc", due.slot, now)
        stale = None
        if i % 2 == 0:     # check each half hour
            _, newest = health.newest_restorable(store, "loc", clock)
            stale = newest is not None and health._stale(store, source, newest, clock)
            note(real, clock, source.schedule)
        runs.append((real, _offset(hist, h) == 0, stale, list(seen)))
    return t0, made, runs


def _times(hist: History, t0: float, end: float) -> list[tuple[float, float, int]]:
    """Each scheduled time as an instant, under the schedule in force then, and the instant from
    which a backup stands for it (after an edit: half way from the time before, as counted_for), and
    the schedule's index. An instant is the first run-due's whose wall clock reads that time or later
    (a time in the hour a DST change skips is the change's); a schedule whose minute or hour is a
    wildcard has its times of the hour an autumn change repeats in both passes, as cron."""
    out = []
    for k, (at, expr) in enumerate(hist.schedules):
        if not expr:    # none: run-due backs it up no more
            continue
        until = hist.schedules[k + 1][0] * HOUR + t0 if k + 1 < len(hist.schedules) else end
        it = croniter(expr, datetime.fromtimestamp(at * HOUR + t0 - 1))
        prev = schedule.reached(croniter(expr, datetime.fromtimestamp(at * HOUR + t0)).get_prev(datetime))
        first = True
        while (s := _reached(t0, wall := it.get_next(datetime))) < until:
            out.append((s, (prev + s) / 2 if first and k else s, k))
            prev, first = s, False
            again = wall.replace(fold=1).timestamp()    # the autumn repeated hour's second pass
            if (expr == "@hourly" or any(f.startswith("*") for f in expr.split()[:2])) and s < again < until:
                out.append((again, again, k))
    return sorted(out)


def _reached(t0: float, wall: datetime) -> float:
    s = t0 + (wall.timestamp() - t0) // STEP * STEP - HOUR
    while datetime.fromtimestamp(s) < wall:
        s += STEP
    return s


def _judge(hist: History, t0: float, made: list[Made], runs) -> list[str]:
    wrong = []
    end = t0 + hist.days * DAY
    right = [r for r, ok, *_ in runs if ok]
    times = _times(hist, t0, end)
    for s, since, k in times:
        after = [r for r in right if r >= s]
        if not after or _index(hist, (after[0] - t0) / HOUR) != k or any(_offset(hist, (r - t0) / HOUR) < 0 for r, *_ in runs if s - DAY <= r <= after[0]):
            continue
        # a clock ahead that reached the time (or one that counts for it, or a later one) made its
        # backup early: it stands when the first right clock after it finds it no further ahead than
        # FORGET_AHEAD (README: a clock minutes off, set right)
        back, before = croniter(hist.schedules[k][1], datetime.fromtimestamp(s)), s
        while before >= s:      # the time before, as an instant (02:00 the change skips is 03:00's)
            before = schedule.reached(back.get_prev(datetime))
        early = any((before + s) / 2 < m.slot and m.real < s and _offset(hist, (m.real - t0) / HOUR) > 0
                    and m.slot - next((r for r in right if r > m.real), s) <= schedule.FORGET_AHEAD.total_seconds()
                    for m in made if m.slot is not None)
        if not early and not any(since <= m.real <= after[0] for m in made if m.slot is not None):
            wrong.append(f"no backup for {datetime.fromtimestamp(s)} by {datetime.fromtimestamp(after[0])}")
    for (s, _, k), (nxt, _, k_next) in zip(times, times[1:]):
        if k != k_next:
            continue
        two = [m for m in made if m.slot is not None and m.status != "cancelled" and s <= m.real < nxt]
        # a mark more than FORGET_AHEAD ahead of a clock put back is forgotten: an extra backup, said in README
        if len(two) > 1 and all(ok for r, ok, *_ in runs if s - DAY <= r < nxt):
            wrong.append(f"{len(two)} backups for {datetime.fromtimestamp(s)}")
    askew = [x for x, *_ in runs if _offset(hist, (x - t0) / HOUR)]
    for r, ok, stale, seen in runs:
        if stale is None or not ok or any(r - 3 * DAY <= x <= r for x in askew):
            continue
        expected, why = _stale_expected(t0, seen, [m for m in made if m.real <= r and m.status in HOLD], r)
        if bool(stale) != expected:
            wrong.append(f"check at {datetime.fromtimestamp(r)}: stale {stale}, expected {expected}: {why}")
    return wrong


HOLD = ("completed", "warnings", "kept")


def _stale_expected(t0: float, seen: list[tuple[float, str]], made: list[Made], r: float) -> tuple[bool, str]:
    """Stale after edits seen at E (each schedule in force from the instant run-due or check first
    read it): critical exactly when the latest time a day ago or earlier that a schedule named while
    in force has no backup for it: one begun since it, or one run-due made for a time nearer it than
    the time of its schedule before it. A time of no schedule ('' in force then): the data older
    than 2 days now."""
    if not made:
        return False, "no backup yet: check says it was never made, not stale"
    bound = r - DAY
    for k in range(len(seen) - 1, -1, -1):
        start, expr = seen[k]
        if not expr:
            newest = max((m.real for m in made), default=None)
            return newest is not None and r - newest > 2 * DAY, f"no schedule from {_when(start)}: newest {_when(newest)}"
        wall = schedule.last_slot(expr, datetime.fromtimestamp(bound))
        if wall is not None and wall.timestamp() >= start:      # a time this schedule named in force
            t = _reached(t0, wall)
            prev = schedule.reached(croniter(expr, wall).get_prev(datetime))
            held = [m for m in made if m.real >= t or (m.slot is not None and m.slot > (prev + schedule.reached(wall)) / 2)]
            return not held, f"{expr} at {wall} (in force from {_when(start)}): held {bool(held)}"
        bound = min(bound, start - 1)
    if seen and seen[0][0] != float("-inf"):     # before rebuild-state's record: as of no schedule
        newest = max((m.real for m in made), default=None)
        return newest is not None and r - newest > 2 * DAY, f"before the rebuild {_when(seen[0][0])}"
    return False, "no time yet"


def _when(t: float | None) -> str:
    return "the start" if t is None or t == float("-inf") else f"{datetime.fromtimestamp(t):%Y-%m-%d %H:%M}"


HISTORIES = {
    "plain nights, failures, kept, by hand": History(
        "Europe/Berlin", "2026-10-01T00:00", 6, [(0, "0 2 * * *")],
        outcomes={1: "failed", 2: "kept", 3: "warnings", 4: "cancelled"}, by_hand=[30, 75.5]),
    "off for hours and days": History(
        "Europe/Berlin", "2026-10-01T00:00", 8, [(0, "0 2 * * *")], off=[(25, 27.5), (40, 100)]),
    "DST autumn Berlin, nightly then every 15 minutes": History(
        "Europe/Berlin", "2026-10-23T00:00", 4, [(0, "30 2 * * *"), (47, "*/15 * * * *")]),
    "DST spring New York": History(
        "America/New_York", "2026-03-06T00:00", 4, [(0, "30 2 * * *")], outcomes={4: "failed"}),
    "clock ahead minutes, hours, back again": History(
        "Europe/Berlin", "2026-10-01T00:00", 7, [(0, "0 2 * * *")],
        clock=[(25.75, 26.5, 600), (42, 42.5, 8 * HOUR), (66, 67, -2 * HOUR), (90, 91, 3 * DAY)]),
    "clock a year ahead, a day behind": History(
        "Europe/Berlin", "2026-10-01T00:00", 7, [(0, "0 2 * * *")],
        clock=[(30, 31, 365 * DAY), (60, 84, -DAY)]),
    "schedules edited": History(
        "Europe/Berlin", "2026-10-01T00:00", 20, [(0, "0 2 * * *"), (26, "0 14 * * *"), (60, "0 */6 * * *"),
                                                  (100, "0 2 * * 0"), (300, "0 3 * * *"), (420, "0 1 * * *")]),
    "daily made weekly while off, its nights missed before": History(
        "Europe/Berlin", "2026-10-01T00:00", 9, [(0, "0 2 * * *"), (99, "0 2 * * 4")], off=[(26, 99.5)]),
    "weekly made daily then another hour within a day, and back": History(
        "Europe/Berlin", "2026-10-04T00:00", 12, [(0, "0 2 * * 0"), (84, "0 2 * * *"), (84.5, "0 3 * * *"),
                                                  (150, "0 2 * * 0"), (160, "0 3 * * *")], outcomes={2: "failed"}),
    # changes at midnight (Santiago: 4 April's 23:00 hour repeated) and of half an hour (Lord Howe:
    # 01:30-02:00 repeated on 5 April), edited in either pass of the repeated hour
    "DST autumn Santiago at midnight, edited in the repeated hour": History(
        "America/Santiago", "2026-04-04T12:00", 2, [(0, "0 23 * * *"), (11.5, "*/15 * * * *"), (12.25, "0 0 * * *")]),
    "DST autumn Lord Howe, half an hour repeated": History(
        "Australia/Lord_Howe", "2026-04-04T14:00", 2, [(0, "45 1 * * *"), (11.5, "*/15 * * * *"), (12.25, "*/30 1 * * *")]),
    "schedule removed, given again, rebuild-state": History(
        "Europe/Berlin", "2026-10-01T00:00", 10, [(0, "0 2 * * *"), (30, ""), (100, "0 2 * * *"), (180, "0 */6 * * *")],
        rebuilt=[190], outcomes={9: "failed"}),
}


@pytest.mark.parametrize("name", list(HISTORIES))
def test_nights_of_run_due_keep_the_schedule_and_check_says_stale_exactly_when_a_time_went_unbacked(
        tmp_path, monkeypatch, name):
    hist = HISTORIES[name]
    monkeypatch.setenv("TZ", hist.zone)
    time.tzset()
    try:
        t0, made, runs = _simulate(tmp_path, hist)
        assert _judge(hist, t0, made, runs) == []
    finally:
        monkeypatch.undo()
        time.tzset()
