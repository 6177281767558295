"""Scheduling: which sources are due (`rabtui run-due`), and the systemd/cron units that call it.

A source with a cron `schedule` is due when its most recent scheduled time at or before now is
later than the one last run for (`schedule_runs.last_due`, or the time of a backup run-due started
that is recorded complete though its run-due was killed before it marked it: `jobs.due_slot`, marked
by the next run-due). A source never run is due at its most recent scheduled time (one run, not one per missed slot): a server that was down over several slots
catches up with one backup. A time last run for that the schedule does not name (it was edited
since) counts for the schedule's time nearest to it, the earlier of two as near (counted_for). A
backup's time that a backup made after it is dated before counts for nothing (made_for), and so
does one further ahead of run-due's clock than FORGET_AHEAD (carry_slots forgets it).
"""

from __future__ import annotations

import os
import re
import shlex
import sys
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

from croniter import CroniterBadDateError, croniter

from rabtui import command_safety, file_replace
from rabtui.config import Config
from rabtui.errors import UsageError
from rabtui.state.store import COMPLETE_SQL, Store


def reached(slot: datetime) -> float:
    """The instant the wall clock first reads `slot` or later: its own, or, a time in the hour a
    DST change skips, the change's (its timestamp() is an hour after it). A time is marked and
    compared as this instant: `30 2,3` marked its 02:30 as 03:30's, which went without a backup."""
    ts = slot.timestamp()
    if datetime.fromtimestamp(ts) == slot:
        return ts
    t = slot.replace(fold=1).timestamp()      # the time the same distance before the change
    while datetime.fromtimestamp(t) < slot:
        t += 60
    return t


def last_slot(expr: str, now: datetime) -> datetime | None:
    """The most recent time at or before `now` that the cron expression names; None when it names
    none (its years are all to come, or further back than croniter looks). In the second pass of
    the hour an autumn DST change repeats (`now.fold`) and after it, a schedule whose minute or hour
    is a wildcard names its times of that hour again, as cron runs such jobs (fold=1: compared as
    instants): `*/30 2`'s last time at 03:05 is 02:30 of the second pass, not of the first."""
    slot = _last_wall(expr, now)
    if slot is not None and _wildcard(expr):     # after the repeated hour too: its second pass is later
        again = slot.replace(fold=1)
        if slot.timestamp() < again.timestamp() <= now.timestamp():
            return again
    return _first_pass_after(expr, slot, now) if slot is not None and now.fold else slot


def _first_pass_after(expr: str, slot: datetime, now: datetime) -> datetime:
    """In the second pass of a repeated hour, the schedule's latest time of its first pass that
    reads later than `now` (its instant is before it), else `slot`: at 02:20 of the second pass,
    30 2's last time is that day's 02:30, an hour ago, not the day before's (check's look back 24
    hours from there judged the day before: a night missed, said, then not, then again)."""
    try:
        it = croniter(expr, slot)
        nxt = it.get_next(datetime)
        while nxt.replace(fold=1).timestamp() != nxt.timestamp() and nxt.timestamp() <= now.timestamp():
            slot, nxt = nxt, it.get_next(datetime)
    except CroniterBadDateError:
        pass
    return slot


def _wildcard(expr: str) -> bool:
    """Whether the schedule's minute or hour is a wildcard (`*/15 *`, `0 *`, `*/30 2`, @hourly): as
    cron tells them (a field that begins with `*`), its jobs that run in both passes of a repeated
    hour; those of a fixed minute and hour (`30 2`, `0,30 2`, @daily) run once."""
    fields = expr.split()
    if len(fields) > 1:
        return fields[0].startswith("*") or fields[1].startswith("*")
    return expr.strip().lower() == "@hourly"


def _last_wall(expr: str, now: datetime) -> datetime | None:
    try:
        nxt = croniter(expr, now).get_next(datetime)
        # croniter's get_prev from `now` skips `now` itself when it is a slot; step back from next.
        prev = croniter(expr, nxt).get_prev(datetime)
        if prev <= now:
            return prev
    except CroniterBadDateError:     # no time to come (its years are past), or none before the next
        pass
    try:
        return croniter(expr, now).get_prev(datetime)
    except CroniterBadDateError:
        return None


def idle(expr: str, now: datetime) -> str | None:
    """Why run-due backs a source up by this schedule no more (it names no time to come: its years
    are past) or not yet (none before `now`: its years are to come); None while it does."""
    try:    # croniter looks 50 years on unless told: as far as the years it knows (as the config's check)
        first = croniter(expr, now, max_years_between_matches=130).get_next(datetime)
    except CroniterBadDateError:
        last = last_slot(expr, now)     # None: further back than croniter looks
        return (f"its schedule names no time {f'after {last:%Y-%m-%d %H:%M}' if last else 'to come'}:"
                " run-due backs it up no more")
    if last_slot(expr, now) is None:
        return not_yet(first)
    return None


def not_yet(first: datetime) -> str:
    return f"its schedule's first time is {first:%Y-%m-%d %H:%M}: run-due backs it up not before"


def first_to_come(expr: str, now: datetime) -> datetime | None:
    """The schedule's first time, while it is still to come (it names none at or before `now`)."""
    if last_slot(expr, now) is not None:
        return None
    try:
        return croniter(expr, now, max_years_between_matches=130).get_next(datetime)
    except CroniterBadDateError:
        return None


@dataclass(frozen=True)
class Due:
    source: str
    slot: datetime           # the scheduled time this run is for
    last: datetime | None    # the one run before


# a mark further ahead of now was made under a clock that was ahead (it jumped, then came back)
CLOCK_SLACK = timedelta(days=1)
# a time run for further ahead of run-due's clock than this was run for under a clock that was
# ahead (or one now behind): forgotten, so that it is due when it comes (an extra backup rather
# than a night without one); one nearer (a clock minutes off, set right) stands
FORGET_AHEAD = timedelta(hours=1)


def is_due(expr: str, now: datetime, last_due: datetime | None) -> datetime | None:
    slot = last_slot(expr, now)
    if slot is None:
        return None
    if last_due is None or last_due > now + CLOCK_SLACK:
        return slot
    if reached(slot) <= last_due.timestamp() or counted_for(expr, slot, last_due):
        return None
    return slot


def counted_for(expr: str, slot: datetime, last_due: datetime) -> bool:
    """Whether `last_due`, before `slot`, counts for it: a time the schedule does not name (marked
    under the schedule before an edit; for the health check, the time a run-due made the newest
    backup for) counts for the time of this one nearest to it, the earlier one when both are as near
    (the later is then due: an extra backup rather than a day without one). Without it a daily time
    moved later was due again that day; a schedule made more frequent is due at its next time still."""
    try:
        before = _before(expr, slot)
    except CroniterBadDateError:
        return False
    if before is None:
        return False
    # as the instants they stand for: a time in the hour a DST change skips (02:00) is marked as
    # the one it stands for (03:00), which is that time's own mark, nearer the next though it reads
    b, mark, s = reached(before), last_due.timestamp(), reached(slot)
    return b < mark and mark - b > s - mark


def _before(expr: str, slot: datetime) -> datetime | None:
    """The schedule's time before `slot`, in the order they pass: the first pass's last time of the
    repeated hour before one of its second pass, and that second pass's last before the hour after
    (a schedule whose minute or hour is a wildcard: last_slot)."""
    if slot.fold:
        return last_slot(expr, datetime.fromtimestamp(slot.timestamp() - 1e-6))
    before = croniter(expr, slot).get_prev(datetime)
    again = before.replace(fold=1)
    if _wildcard(expr) and before.timestamp() < again.timestamp() < slot.timestamp():
        return again
    return before


def due_sources(cfg: Config, store: Store, now: datetime) -> list[Due]:
    out = []
    for s in cfg.sources:
        if not s.schedule:
            continue
        last = _last_due(store, s.id, now)
        slot = is_due(s.schedule, now, last)
        if slot is not None:
            out.append(Due(s.id, slot, last))
    return out


# a backup of a time that ended: complete, or its data kept by the run itself (its step 7 ended); the
# data a recovery kept (the run killed after its transfer: backup/killed_kept.py) leaves the time due,
# as a kill does
_ENDED = (f"(b.status IN {COMPLETE_SQL} OR b.status='kept' AND EXISTS (SELECT 1 FROM backup_steps s"
          " WHERE s.backup_id=b.id AND s.step=7 AND s.state='ok'))")


def made_for(store: Store, source: str, until: float) -> float | None:
    """The latest time, up to `until`, a run-due made a backup holding the source's data for
    (`jobs.due_slot`), but a time a backup made after that one is dated before: that one ran under
    a clock that was ahead (a day or less ahead, it took the nights up to that time out, the clock
    right again)."""
    row = store.one("SELECT MAX(j.due_slot) AS t FROM (SELECT id, job_id, status, MIN(started) OVER (ORDER BY id"
                    " ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS later FROM backups WHERE source=?) b"
                    f" JOIN jobs j ON j.id=b.job_id WHERE {_ENDED} AND j.due_slot <= ?"
                    " AND j.due_slot <= COALESCE(b.later, j.due_slot)", (source, until))
    return row["t"] if row else None


def _last_due(store: Store, source: str, now: datetime | None = None) -> datetime | None:
    """The time last run for: the mark, or a later time a backup recorded complete was for (its
    run-due killed before it marked it; one under a clock that was ahead, past CLOCK_SLACK or of
    a backup made after it dated before it, ignored: made_for)."""
    ahead = ((now or datetime.now()) + CLOCK_SLACK).timestamp()
    mark = store.one("SELECT last_due FROM schedule_runs WHERE source=?", (source,))
    last = max((t for t in (mark["last_due"] if mark else None, made_for(store, source, ahead)) if t is not None),
               default=None)
    return datetime.fromtimestamp(last) if last is not None else None


def note_slot(store: Store, job_id: int, slot: datetime) -> None:
    """The backup of job `job_id` is for `slot`: done once that backup is recorded complete."""
    store.execute("UPDATE jobs SET due_slot=? WHERE id=?", (reached(slot), job_id))


def carry_slots(store: Store, now: datetime | None = None) -> None:
    """The times backups recorded complete were for (their run-due killed before it marked them:
    `jobs.due_slot`) marked, as mark_run marks them: the mark outlives the job's row. Times further
    ahead of `now` than FORGET_AHEAD are forgotten first, mark and jobs alike: a night under a
    clock hours ahead made the next night's backup early, and that night went without one."""
    ahead = ((now or datetime.now()) + CLOCK_SLACK).timestamp()
    forget = ((now or datetime.now()) + FORGET_AHEAD).timestamp()
    store.execute("UPDATE schedule_runs SET last_due=NULL WHERE last_due > ?", (forget,))
    store.execute("UPDATE jobs SET due_slot=NULL WHERE due_slot > ? AND status NOT IN ('running', 'queued', 'waiting')",
                  (forget,))
    # only those the mark lacks (a run-due writes nothing else before its backups), looked at again
    # as made_for reads them: mostly none, and the whole table is read once, not ranked
    for row in store.all("SELECT b.source, MAX(j.due_slot) AS t, s.last_due AS mark FROM backups b"
                         " JOIN jobs j ON j.id=b.job_id LEFT JOIN schedule_runs s ON s.source=b.source"
                         f" WHERE {_ENDED} AND j.due_slot <= ? GROUP BY b.source"
                         " HAVING mark IS NULL OR t > mark OR mark > ?", (ahead, ahead)):
        t = made_for(store, row["source"], ahead)
        if t is not None and (row["mark"] is None or t > row["mark"] or row["mark"] > ahead):
            mark_run(store, row["source"], datetime.fromtimestamp(t), now)


def killed_for(store: Store, source: str, slot: datetime) -> list[str]:
    """The media of the backups of `source` for `slot` (or a later one) still `running` on record:
    their runs killed, recovery may record one complete (and the slot done)."""
    return [r["medium"] for r in store.all(
        "SELECT DISTINCT b.medium FROM backups b JOIN jobs j ON j.id=b.job_id WHERE b.source=?"
        " AND b.status='running' AND j.due_slot >= ?", (source, reached(slot)))]


def begun_on(store: Store, dues: list[Due]) -> str | None:
    """The medium a backup of one of `dues` for its very time began on, the newest such: its run-due
    killed (or cancelled) before it ended, the time is due again, and the night's medium is that one."""
    found = [r for due in dues for r in store.all(
        "SELECT b.id, b.medium FROM backups b JOIN jobs j ON j.id=b.job_id WHERE b.source=? AND j.due_slot=?"
        " ORDER BY b.id DESC LIMIT 1", (due.source, reached(due.slot)))]
    return max(found, key=lambda r: r["id"])["medium"] if found else None


def mark_run(store: Store, source: str, slot: datetime, now: datetime | None = None) -> None:
    """The backup for `slot` has ended. Never moves back (run-dues that overlap may end in any
    order), unless the mark lies ahead of `now` by more than CLOCK_SLACK: made under a wrong clock."""
    ahead = ((now or datetime.now()) + CLOCK_SLACK).timestamp()
    store.execute(
        "INSERT INTO schedule_runs(source, last_due) VALUES (?, ?)"
        " ON CONFLICT(source) DO UPDATE SET last_due=CASE WHEN last_due > ? THEN excluded.last_due"
        " ELSE MAX(COALESCE(last_due, 0), excluded.last_due) END",
        (source, reached(slot), ahead),
    )


def done(store: Store, source: str, slot: datetime, now: datetime | None = None) -> bool:
    """Whether `slot` (or a later one) is marked: a run-due that overlapped this one backed it up (a
    mark made under a clock that was ahead does not count, as in is_due)."""
    last = _last_due(store, source, now)
    return (last is not None and last.timestamp() >= reached(slot)
            and last <= (now or datetime.now()) + CLOCK_SLACK)


# --- systemd / cron ------------------------------------------------------------------------------


def rabtui_argv(config_path: Path | None) -> list[str]:
    exe = Path(sys.argv[0]).resolve() if sys.argv and sys.argv[0].endswith("rabtui") else None
    argv = [str(exe)] if exe and exe.exists() else [sys.executable, "-m", "rabtui"]
    if config_path is not None:
        # absolute, but as named: a symlinked config's relative paths are relative to the link's
        # folder (as every command reads them), not to where it points
        argv += ["--config", os.path.abspath(config_path)]
    return argv + ["run-due"]


_PLAIN = re.compile(r"[A-Za-z0-9_@%+=:,./-]+")


def _unit_word(word: str, program: bool) -> str:
    """One word of ExecStart= as systemd reads it back as `word`: quoted, with its backslashes and
    quotes escaped (systemd unescapes C escapes in it), `%` doubled (else a specifier: `%b` is the boot
    id), and in an argument `$` too (else a variable; systemd substitutes none in the program)."""
    if not _PLAIN.fullmatch(word):
        word = '"' + word.replace("\\", "\\\\").replace('"', '\\"') + '"'
    word = word.replace("%", "%%")
    return word if program else word.replace("$", "$$")


def _cron_word(word: str) -> str:
    """One word of a crontab line as cron hands it to sh: quoted, and `%` (a line end to cron) escaped."""
    return shlex.quote(word).replace("%", "\\%")


def _writable(argv: list[str]) -> None:
    """UsageError when a word of `argv` cannot be written in a unit file or a crontab line: a control
    character (a line break would end the line there), or bytes that are no UTF-8."""
    for i, word in enumerate(argv):
        if any(ord(c) < 32 or ord(c) == 127 or "\udc80" <= c <= "\udcff" for c in word):
            what = "the rabtui program" if i == 0 else "the configuration file"
            raise UsageError(f"the path of {what}, {word}, holds a control character or bytes that are no UTF-8:"
                             " a systemd unit or a crontab line cannot name it; nothing was written",
                             hint="move it to a path of printable UTF-8 names")


def units(config_path: Path | None, every: str = "*:0/15") -> dict[str, str]:
    """The systemd service and timer, and the crontab line, that run `rabtui run-due` (any path
    written so that systemd and cron read it back as it is).

    run-due itself decides what is due, so the timer only needs to fire often enough for the
    finest schedule (every 15 minutes by default).
    """
    argv = rabtui_argv(config_path)
    _writable(argv)
    exec_start = " ".join(_unit_word(a, program=i == 0) for i, a in enumerate(argv))
    # the working directory and PATH its commands run with, as check-config judges them (systemd's and
    # cron's own differ: /, or the user's home; PATH without /usr/sbin for cron)
    search = ":".join(command_safety.SCHEDULED_PATH)
    cmd = f"cd {command_safety.SCHEDULED_CWD} && PATH={search} " + " ".join(_cron_word(a) for a in argv)
    service = (
        "[Unit]\n"
        "Description=rabtui: run the backups and checkpoints that are due\n"
        "Wants=network-online.target\n"
        "After=network-online.target\n\n"
        "[Service]\n"
        "Type=oneshot\n"
        f"ExecStart={exec_start}\n"
        f"WorkingDirectory={command_safety.SCHEDULED_CWD}\n"
        f"Environment=PATH={search}\n"
        "Nice=10\n"
        "IOSchedulingClass=best-effort\n"
        "IOSchedulingPriority=7\n"
    )
    timer = (
        "[Unit]\n"
        "Description=rabtui: check for due backups\n\n"
        "[Timer]\n"
        f"OnCalendar={every}\n"
        "Persistent=true\n"
        "RandomizedDelaySec=60\n\n"
        "[Install]\n"
        "WantedBy=timers.target\n"
    )
    minute = "*/15" if every == "*:0/15" else "*"
    cron = f"{minute} * * * * {cmd} >/dev/null 2>&1\n"
    return {"rabtui-run-due.service": service, "rabtui-run-due.timer": timer, "crontab": cron}


def install(unit_texts: dict[str, str], unit_dir: Path) -> list[Path]:
    unit_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for name, text in unit_texts.items():
        if name == "crontab":
            continue
        path = unit_dir / name
        file_replace.replace_file(path, text.encode(), 0o644)     # the system's unit files hold no secret
        written.append(path)
    return written


def default_unit_dir() -> Path:
    if os.geteuid() == 0:
        return Path("/etc/systemd/system")
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.expanduser("~/.config")
    return Path(base) / "systemd" / "user"
