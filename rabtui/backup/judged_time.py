"""When a source's backups are dated and judged: the time in a backup's name, and the time retention
judges a source at when its clock may have jumped ahead (judged_at)."""

from __future__ import annotations

import re
from datetime import datetime, timedelta

from rabtui.state.store import RESTORABLE_SQL, Store

# a gap this long between two of a source's last JUMPED_NIGHTS backups may be a clock that jumped
# ahead: its backups are then judged as of the backup before the gap plus this (judged_at)
CLOCK_LEAD = timedelta(days=7)
CLOCK_SLACK = timedelta(days=1)     # a backup dated further ahead of now ran under a clock that was ahead
JUMPED_NIGHTS = 3


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts)


def backup_time(row) -> datetime:
    """When a backup was taken: the time in its name (backup-YYYYmmddHHMMSS), else `started`."""
    m = re.match(r"^backup-(\d{14})", row["name"] or "")
    if m:
        return datetime.strptime(m.group(1), "%Y%m%d%H%M%S")
    return _dt(row["started"])


def server_nights(store: Store) -> list[datetime]:
    """The last run of each day, of any source, in order (judged_at's `nights`): read once for all
    sources of a cleanup."""
    nights: dict = {}
    for r in store.all("SELECT name, started FROM backups"):
        when = backup_time(r)
        nights[when.date()] = max(nights.get(when.date(), when), when)
    return sorted(nights.values())


def judged_at(store: Store, source: str, now: datetime, nights: list[datetime]) -> tuple[datetime, str | None]:
    """The time a source's backups are judged at: `now`, unless one of its last few backups came
    more than CLOCK_LEAD after the one before it. A night run under a clock that jumped ahead (NTP, a
    dead RTC battery) dates its backup years ahead, and every backup before it would be past the
    retention periods; judged as of the backup before that gap plus CLOCK_LEAD instead, nothing goes
    for the jump. After a real pause of the backups this keeps more for a few nights. The second
    value says so, or is None. A run that failed (or was killed) after its newest backup counts
    too, once: that night's backup may have failed under the clock that jumped (the source away, a
    pre-backup command failing), and the cleanup after it runs under that clock all the same. So do
    the server's last nights of runs of any source: a source not backed up that night (no schedule,
    its lock held) is judged under that clock too (`nights`: server_nights). And never later than
    CLOCK_LEAD after the server's newest backup of any source, whatever its status (`unwitnessed`): a
    cleanup with no run that night under a clock years ahead has nothing dated ahead to show the jump.
    Judged so, the second value is None: the why is the same for every source, and the cleanup says
    it once (unwitnessed)."""
    times = sorted(backup_time(r) for r in store.all(
        "SELECT name, started FROM backups WHERE source=? AND status IN " + RESTORABLE_SQL, (source,)))
    failed = [backup_time(r) for r in store.all(
        "SELECT name, started FROM backups WHERE source=? AND status NOT IN " + RESTORABLE_SQL
        + " AND status<>'deleted'", (source,))]
    if failed and times and max(failed) > times[-1]:
        times.append(max(failed))
    at_most, _ = unwitnessed(nights, now)
    own, server = _jump(times, at_most), _jump(nights, at_most)
    if own is not None and (server is None or own[0] <= server[0]):
        at, after, before = own
        return at, (f"{source}: judged as of {at:%Y-%m-%d %H:%M}, not {now:%Y-%m-%d %H:%M}: backup"
                    f" {after:%Y-%m-%d %H:%M} came more than {CLOCK_LEAD.days} days after the one before"
                    f" it ({before:%Y-%m-%d %H:%M}); if the clock was ahead then, check it")
    if server is not None:
        at, after, before = server
        return at, (f"{source}: judged as of {at:%Y-%m-%d %H:%M}, not {now:%Y-%m-%d %H:%M}: the backups of"
                    f" {after:%Y-%m-%d} came more than {CLOCK_LEAD.days} days after those before them"
                    f" ({before:%Y-%m-%d %H:%M}); if the clock was ahead then, check it")
    return at_most, None


def unwitnessed(nights: list[datetime], now: datetime) -> tuple[datetime, str | None]:
    """`now`, or CLOCK_LEAD after the newest of `nights` when `now` is later than that, and why."""
    if not nights or now <= nights[-1] + CLOCK_LEAD:
        return now, None
    at = nights[-1] + CLOCK_LEAD
    return at, (f"judged as of {at:%Y-%m-%d %H:%M}, not {now:%Y-%m-%d %H:%M}: no backup of any source ran"
                f" since {nights[-1]:%Y-%m-%d %H:%M}, more than {CLOCK_LEAD.days} days before; if the clock"
                " is ahead, check it (the next nights' backups let retention judge by the clock again)")


def _jump(times: list[datetime], now: datetime) -> tuple[datetime, datetime, datetime] | None:
    """(the time to judge at, the time after the gap, the time before it) when one of the last
    JUMPED_NIGHTS of `times` (in order) came more than CLOCK_LEAD after the one before it, and that
    judges earlier than `now`; else None."""
    for i in range(len(times) - 1, max(0, len(times) - JUMPED_NIGHTS - 1), -1):
        if times[i] - times[i - 1] > CLOCK_LEAD:
            at = min(now, times[i - 1] + CLOCK_LEAD)
            return None if at == now else (at, times[i], times[i - 1])
    return None
