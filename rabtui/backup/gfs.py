"""The pure part of retention: which backups a grandfather-father-son policy keeps.

Periods are counted back from `now` (keep all, then daily, weekly, monthly, yearly), each ending
where the previous one starts; in every day, week, month or year group the newest backup is kept,
and the newest of all is always kept.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Iterable

from rabtui import fmt
from rabtui.config import RetentionSettings


def _earliest(when: datetime) -> datetime:
    """The first moment a datetime can hold: a period that reaches back beyond it holds all time
    (`keep_yearly_years = 9999`, an operator's "for ever")."""
    return datetime.min.replace(tzinfo=when.tzinfo)


def _back(when: datetime, delta: timedelta | int) -> datetime:
    try:
        return when - (delta if isinstance(delta, timedelta) else timedelta(days=delta))
    except OverflowError:
        return _earliest(when)


def _months_back(when: datetime, months: int) -> datetime:
    year, month = divmod(when.year * 12 + (when.month - 1) - months, 12)
    month += 1
    if year < datetime.min.year:
        return _earliest(when)
    day = when.day
    while True:
        try:
            return when.replace(year=year, month=month, day=day)
        except ValueError:
            day -= 1


def _years_back(when: datetime, years: int) -> datetime:
    return _months_back(when, 12 * years)


@dataclass(frozen=True)
class Periods:
    keep_all_from: datetime     # backups at or after this are all kept
    daily_from: datetime
    weekly_from: datetime
    monthly_from: datetime
    yearly_from: datetime       # backups before this are deleted


def periods(settings: RetentionSettings, now: datetime) -> Periods:
    keep_all = _back(now, settings.keep_all_days)
    daily = _back(keep_all, settings.keep_daily_days)
    weekly = _back(daily, 7 * settings.keep_weekly_weeks)
    monthly = _months_back(weekly, settings.keep_monthly_months)
    yearly = _years_back(monthly, settings.keep_yearly_years)
    return Periods(keep_all, daily, weekly, monthly, yearly)


def _bucket(p: Periods, when: datetime) -> tuple | None:
    """The group a backup started at `when` belongs to; None: it is in the keep-all period."""
    if when >= p.keep_all_from:
        return None
    if when >= p.daily_from:
        return ("daily", when.date())
    if when >= p.weekly_from:
        iso = when.isocalendar()
        return ("weekly", iso[0], iso[1])
    if when >= p.monthly_from:
        return ("monthly", when.year, when.month)
    if when >= p.yearly_from:
        return ("yearly", when.year)
    return ("expired",)


def select_gfs(backups: Iterable[tuple[int, datetime]], settings: RetentionSettings,
               now: datetime) -> dict[int, str]:
    """Complete backups (id, start time) -> why each is kept ('' for the ones that may go).

    The newest is always kept; in each daily/weekly/monthly/yearly group the newest is kept.
    """
    items = sorted(backups, key=lambda b: (b[1], b[0]), reverse=True)
    if not items:
        return {}
    p = periods(settings, now)
    verdict: dict[int, str] = {}
    seen: set[tuple] = set()
    for i, (bid, when) in enumerate(items):
        if i == 0:
            verdict[bid] = "newest"
            continue
        bucket = _bucket(p, when)
        if bucket is None:
            verdict[bid] = f"younger than {fmt.count(settings.keep_all_days, 'day')}"
        elif bucket[0] == "expired":
            verdict[bid] = ""
        elif bucket in seen:
            verdict[bid] = ""
        else:
            seen.add(bucket)
            verdict[bid] = f"newest of its {'day' if bucket[0] == 'daily' else bucket[0][:-2]}"
        if bucket is not None and bucket[0] != "expired":
            seen.add(bucket)
    return verdict
