"""The schedules each source had (table schedule_history), as run-due and check read them: which
one the stale rule judges a time by, and the rows no judgement can need any more, dropped."""

from __future__ import annotations

from datetime import datetime, timedelta

from rabtui.config import Config
from rabtui.ops.schedule import CLOCK_SLACK, idle, last_slot
from rabtui.state.store import Store


# on record for a span in which the schedules in force named no time, each row of them merged into
# one (no cron expression reads so): the stale rule looks past it to the one before, as past them
SILENT = "-"


def in_force(store: Store, source: str, expr: str | None, now: float) -> list[tuple[float, str]]:
    """The source's schedules as run-due and check read them (note_schedules), oldest first, each
    with the time it was first read ('' none; 0 as long as the record of it): the one read `now`
    last, since `now` when no record has it yet."""
    rows = [(r["since"], r["schedule"]) for r in store.all(
        "SELECT since, schedule FROM schedule_history WHERE source=? ORDER BY since", (source,))]
    if not rows:
        return [(0.0, expr or "")]
    return rows if rows[-1][1] == (expr or "") else rows + [(max(now, rows[-1][0]), expr or "")]


def judged(periods: list[tuple[float, str]], at: datetime) -> tuple[int, datetime | None]:
    """Which of `periods` (in_force) the stale rule judges by, looking back from `at` (a day before
    its now): (k, time), the latest time at or before `at` that the schedule of periods[k] named
    while in force; (k, None), periods[k] named none then (none, or its times to come or past when
    the next was read: judged as no schedule), and (0, None) too for a time before the first record
    when that is dated (rebuild-state's: the schedules before it are not known); (-1, None), no
    schedule on record named one. The times before a schedule was first read were the one's before it;
    a SILENT span is looked past."""
    for k in range(len(periods) - 1, -1, -1):
        since, expr = periods[k]
        if expr == SILENT:
            at = min(at, datetime.fromtimestamp(since) - timedelta(microseconds=1))
            continue
        # without a field of years a schedule has times before and to come: not idle (cheaper than
        # croniter's look over 130 years, for each of the many rows two configs read in turn leave)
        if not expr or (k < len(periods) - 1 and len(expr.split()) > 6
                        and idle(expr, datetime.fromtimestamp(periods[k + 1][0]))):
            return k, None
        if since > at.timestamp():      # in force after `at` only: none of its times to judge
            continue
        due = last_slot(expr, at)
        if due is not None and due.timestamp() >= since:
            return k, due
        at = datetime.fromtimestamp(since) - timedelta(microseconds=1)
    return (0, None) if periods and periods[0][0] > 0 else (-1, None)


# the stale rule looks back a day from now; a check under a clock behind by up to a week, or one
# after a prune under a clock as far ahead (an edit read then), looks back as far: the rows it
# reads are kept (a few: those between that named no time are one SILENT span)
KEPT_BACK = timedelta(days=8)


def _silent(expr: str, since: float, until: float) -> bool:
    """Whether the schedule, in force from `since` until `until`, named no time then, and the
    stale rule looks past it (judged): not none, nor one whose years were past or to come then."""
    if expr == SILENT:
        return True
    if not expr or (len(expr.split()) > 6 and idle(expr, datetime.fromtimestamp(until))):
        return False
    due = last_slot(expr, datetime.fromtimestamp(until) - timedelta(microseconds=1))
    return due is None or due.timestamp() < since


def _prune_schedules(store: Store, source: str, now: float) -> None:
    """The source's schedules before the one the stale rule judges by, KEPT_BACK before `now`,
    dropped: no judgement later than that reads them (one later looks back to that one or a newer,
    and an edit read from now on is dated `now` or later). Those after it, each but the last, that
    named no time while in force are one SILENT span: every judgement looks past them alike. Two
    configs of different schedules read in turn on one state directory kept a row a run for ever;
    and a bound of days, the newest row older than it kept as always had, forgot a time missed
    before schedules that named none (made monthly, a daily one's missed night was not stale).
    Read and written in one transaction: another process's prune between would have judged rows
    that this one dropped or merged."""
    with store.transaction() as tx:
        rows = [(r["since"], r["schedule"]) for r in tx.execute(
            "SELECT since, schedule FROM schedule_history WHERE source=? ORDER BY since", (source,))]
        k, _ = judged(rows, datetime.fromtimestamp(now) - KEPT_BACK)
        if k > 0:
            tx.execute("DELETE FROM schedule_history WHERE source=? AND since < ?", (source, rows[k][0]))
        kept = rows[max(k, 0):]
        span = None     # the first row of the silent span being merged
        for (since, expr), (until, _) in zip(kept, kept[1:]):
            if not _silent(expr, since, until):
                span = None
            elif span is None:
                span = since
                if expr != SILENT:
                    tx.execute("UPDATE schedule_history SET schedule=? WHERE source=? AND since=?", (SILENT, source, since))
            else:
                tx.execute("DELETE FROM schedule_history WHERE source=? AND since=?", (source, since))


def note_rebuilt(cfg: Config, store: Store, now: float) -> None:
    """Each source's schedule as first read `now`, by rebuild-state: the schedules before it are not
    known (the stale rule judges the times before it by the data's age, as of no schedule's)."""
    for s in cfg.sources:
        store.execute("INSERT OR REPLACE INTO schedule_history(source, since, schedule) VALUES (?, ?, ?)",
                      (s.id, now, s.schedule or ""))


def note_schedules(cfg: Config, store: Store, now: float) -> None:
    """Each source's schedule as read `now`: one first read is taken as always had (the checks as
    before), one that differs from the last read is an edit seen now (each kept: two edits within
    a day leave the times of the one between to that day only). A time `now` before the last edit's
    (read under a clock that was ahead) dates this one as that one; an edit dated further ahead of
    `now` than CLOCK_SLACK is dated `now`, those between dropped (its times up to the date read
    ahead were judged as the schedule's before it: a week without a word, weekly made daily)."""
    ahead = now + CLOCK_SLACK.total_seconds()
    if store.one("SELECT 1 FROM schedule_history WHERE since > ? LIMIT 1", (ahead,)):    # read first: no write lock
        store.execute("DELETE FROM schedule_history WHERE since > ? AND since < (SELECT MAX(since) FROM"
                      " schedule_history h WHERE h.source=schedule_history.source)", (ahead,))
        store.execute("DELETE FROM schedule_history WHERE since >= ? AND since <= ? AND source IN"
                      " (SELECT source FROM schedule_history WHERE since > ?)", (now, ahead, ahead))
        store.execute("UPDATE schedule_history SET since=? WHERE since > ?", (now, ahead))
    last = {r["source"]: (r["since"], r["schedule"]) for r in store.all(
        "SELECT source, MAX(since) AS since, schedule FROM schedule_history GROUP BY source")}
    for s in cfg.sources:
        seen = last.get(s.id)
        if seen is None or seen[1] != (s.schedule or ""):     # written only then: a check takes no write lock for it
            store.execute("INSERT INTO schedule_history(source, since, schedule) VALUES (?, ?, ?)"
                          " ON CONFLICT(source, since) DO UPDATE SET schedule=excluded.schedule",
                          (s.id, 0.0 if seen is None else max(now, seen[0]), s.schedule or ""))
            if seen is not None:
                _prune_schedules(store, s.id, now)
