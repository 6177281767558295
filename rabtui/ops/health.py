"""Health checks (`rabtui check`, the dashboard): one Problem per thing the operator should fix.

Checks, each with a stable id (the key of the `health` table):

| id                     | level    | when |
|------------------------|----------|------|
| stale:SOURCE           | critical | no schedule: the newest backup that holds its data (complete, or kept: its post command failed) is older than 2 days; a schedule: its latest time a day ago or earlier has no such backup for it (one passed before an edit of the schedule was seen: the one before missed one too) (warning: never backed up, or older than 2 days while the schedule's first time is to come) |
| clock:SOURCE           | critical | its newest backup that holds its data is dated more than a day ahead (a clock ahead then), or all are (the clock behind now) |
| failed:SOURCE          | warning  | the newest backup run of the source failed |
| partial:SOURCE         | warning  | the newest backup run left files out (rsync 23, unreadable files; no directories) |
| size:SOURCE:MEDIUM     | warning  | the source uses more than max_size_mb on the medium |
| space:MEDIUM           | warning  | the medium is more than 90% full (space or inodes); critical above 98% |
| readonly:MEDIUM        | warning  | the medium is there, mounted read-only: a backup onto it would fail |
| holds:MEDIUM           | warning  | the medium's file system cannot hold what backups keep (xattrs, ACLs, holes, ...) |
| kept-label:MEDIUM      | warning  | the label kept in STATE_DIR/media/MEDIUM.label is missing or not the one the database records |
| ids:MEDIUM             | warning  | backup records on the medium still hold ids rebuild-state renumbered (it was killed, or could not write them) |
| rotation:MEDIUM        | warning  | the medium took no backup for max(7, 3 x number of media) days |
| symlink:SOURCE:MEDIUM  | warning  | a symlink is planted in the source's layout on the medium (its directory, `.archive`, a union or a directory on the way, `.linking`): its backups, cleanups and checkpoints stop there (media that are here only) |
| undoing:SOURCE:MEDIUM  | warning  | a cleanup was killed as it undid a complete backup's union links: the union lacks some of its files until the next backup, checkpoint, cleanup or rebuild-state settles it (media that are here only) |
| leftover:SOURCE:MEDIUM | warning  | a source no longer in the config has interrupted runs on the medium (rows `running`): a cleanup removes their partial directories (health_removed.py) |
| checkpoint:SOURCE:DIR  | warning  | a checkpoint of the directory is due (changed files, days, did not fit) |
| disc:NUMBER:DISC       | critical | a disc of a complete checkpoint failed a later verification and was not rewritten |
| unfinished:NUMBER      | warning  | a checkpoint is left unfinished (not being burned now), a disc of it failed or not: cleanup keeps the backups it reads |
| job:ID                 | warning  | a running job sent no heartbeat for 10 minutes (stuck) |
| job:ID                 | critical | a job's process died (in the last 2 days; until a later job of its kind and target ran to its end, but for a restore) |
| full:state             | critical | the state directory has less room (space or inodes) than rabtui needs to start a command; warning above 90% |
| private:state          | critical | the state directory or what it holds is open to other users |
| private:MEDIUM         | critical | a `<source>` or `.archive` directory of the medium is open to other users |
| private:images         | critical | the `images:` directory of the drive or an image in it is open to other users |
| private:config         | critical | the config holds credentials and other users can read it |
| private:key:SOURCE     | critical | the key a source logs in with (identity_file, else ~/.ssh/config's or ~/.ssh/id_*) is open to other users (its backups fail) |
| config                 | critical | the config cannot be loaded (`check --prometheus` only; nothing is recorded) |
| state                  | critical | the state database cannot be opened or read (a damaged page anywhere: every page is read first), or cannot record the changes of the check (`check` only; kept in a file beside it) |

The checks of the state directory's room and of who can read or change what rabtui keeps:
rabtui/ops/health_local.py; of checkpoints: rabtui/ops/health_checkpoints.py. What changed since
the last check, and its notifications: rabtui/ops/health_changes.py.
"""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.state import jobs as jobsmod
from rabtui.state import queries
from rabtui.ops import schedule, schedule_history
from rabtui.ops.health_checkpoints import due_checkpoints, failed_discs, unfinished
from rabtui.ops.health_local import privacy_problems, state_space
from rabtui.ops.health_layout import newest_not_on_disk, planted_symlinks
from rabtui.ops.health_removed import removed_sources_left
from rabtui.ops.health_unknown import unknown_backups
from rabtui.ops.problems import CRITICAL, FULL_CRIT, FULL_WARN, RANK, WARNING, Problem
from rabtui.config import Config
from rabtui.state.store import KEPT, RESTORABLE_SQL, Store

STALE_AFTER = timedelta(days=2)
# a scheduled time is missed once this has passed since it: 24 hours, not a day of the wall clock
# (the day an autumn DST change repeats an hour is 25 hours long: said an hour late)
DAY_TO_FINISH = 86400
STUCK_AFTER = timedelta(minutes=10)
DEAD_SHOWN_FOR = timedelta(days=2)


def exit_code(problems: list[Problem]) -> int:
    return max((RANK[p.level] for p in problems), default=0)


def run_checks(cfg: Config, store: Store, now: datetime | None = None) -> list[Problem]:
    now = now or datetime.now()
    ts = now.timestamp()
    out: list[Problem] = []
    out += _backups(cfg, store, ts)
    out += _media(cfg, store, ts)
    out += _media_holds(cfg, store)
    out += unknown_backups(cfg, store)
    out += planted_symlinks(cfg, store)
    out += newest_not_on_disk(cfg, store)
    out += _unwritten_ids(store)
    out += _undoings(cfg, store)
    out += removed_sources_left(cfg, store)
    out += due_checkpoints(cfg, store, now)
    out += failed_discs(store)
    out += unfinished(store)
    out += _jobs(store, ts)
    out += privacy_problems(cfg)
    out += state_space(cfg)
    return _one_per_id(out)


def _one_per_id(problems: list[Problem]) -> list[Problem]:
    """Problems that share an id (a medium called `state` or `images` has the ids of the state
    directory's and the images' checks) said as one, at the worse level: the health table and the
    textfile hold one row, one series, per id."""
    merged: dict[str, Problem] = {}
    for p in problems:
        had = merged.get(p.check_id)
        merged[p.check_id] = p if had is None else Problem(
            p.check_id, max(had.level, p.level, key=RANK.get), f"{had.message}; and {p.message}")
    return list(merged.values())


def _age(seconds: float) -> str:
    days = seconds / 86400
    return f"{days:.1f} days" if days >= 1 else f"{seconds / 3600:.1f} hours"


def newest_restorable(store: Store, source_id: str, ts: float) -> tuple[dict | None, float | None]:
    """The source's backup made last that holds its data (complete, with warnings, or kept: its
    post-backup command failed, which failed:SOURCE says; the status reader's "last complete"), and
    the start time the data's age is judged by: the newest date of those backups that is not in the
    future. One dated ahead ran under a clock that was ahead; one dated before those made before it
    (a clock that was behind) is no older than they are."""
    good = queries.last_backup(store, source_id, restorable=True)
    if good is None:
        return None, None
    row = store.one("SELECT MAX(started) AS t FROM backups WHERE source=? AND status IN "
                    + RESTORABLE_SQL + " AND started<=?", (source_id, _ahead(ts)))
    return good, row["t"] if row else None


def _ahead(ts: float) -> float:
    """A backup dated past this ran under a clock that was ahead."""
    return ts + schedule.CLOCK_SLACK.total_seconds()


def _dated_ahead(store: Store, source_id: str, ts: float) -> dict | None:
    """The source's backup holding its data dated furthest in the future, if one is."""
    return store.one("SELECT name, started FROM backups WHERE source=? AND status IN " + RESTORABLE_SQL
                     + " AND started>? ORDER BY started DESC LIMIT 1", (source_id, _ahead(ts)))


def _backups(cfg: Config, store: Store, ts: float) -> list[Problem]:
    out = []
    cap = cfg.retention.max_size_mb * 1024 * 1024
    for s in cfg.sources:
        good, newest = newest_restorable(store, s.id, ts)
        if good is not None and newest is None:
            # every backup dated ahead: more likely this clock is behind now than every run's was ahead
            out.append(Problem(f"clock:{s.id}", CRITICAL, f"source {s.id}: every backup of its data is dated in the"
                               f" future ({good['name']} {_age(good['started'] - ts)} ahead): is the clock behind"
                               " now (an RTC that lost its time)? Check it: rabtui judges ages and retention by it"))
        elif good is not None and (ahead := _dated_ahead(store, s.id, ts)) is not None:
            # run under a clock that was ahead: retention and the schedule judge by such dates
            out.append(Problem(f"clock:{s.id}", CRITICAL, f"source {s.id}: backup {ahead['name']} is dated"
                               f" {_age(ahead['started'] - ts)} in the future: was the clock ahead when it ran? Check the"
                               " clock; until then this source's age is judged by the backups before it"))
        first = schedule.first_to_come(s.schedule, datetime.fromtimestamp(ts)) if s.schedule else None
        if good is None:
            out.append(Problem(f"stale:{s.id}", WARNING, f"source {s.id}: never backed up"))
        elif newest is not None and (missed := _stale(store, s, newest, ts)):
            out.append(Problem(f"stale:{s.id}", CRITICAL, f"source {s.id}: newest backup is {_age(ts - newest)} old"
                               + (f", none made for its scheduled time {missed:%Y-%m-%d %H:%M}"
                                  if isinstance(missed, datetime) else f", {missed}" if isinstance(missed, str) else "")))
        elif first is not None and newest is not None and ts - newest > STALE_AFTER.total_seconds():
            # a schedule that has named no time yet makes the data stale not before it: said, not paged
            out.append(Problem(f"stale:{s.id}", WARNING, f"source {s.id}: newest backup is {_age(ts - newest)}"
                               f" old, {schedule.not_yet(first)} (not stale before it)"))
        last = queries.last_run(store, s.id)
        if last is not None and last["status"] in ("failed", "abandoned", KEPT):   # kept: its post command failed
            out.append(Problem(f"failed:{s.id}", WARNING,
                               f"source {s.id}: last run {last['name']} {last['status']}: {last['reason'] or ''}".rstrip(": ")))
        if last is not None and _left_files_out(store, s, last):    # kept data too: both said
            out.append(Problem(f"partial:{s.id}", WARNING,
                               f"source {s.id}: last run {last['name']} left files out: {last['reason'] or ''}".rstrip(": ")))
        for m in cfg.media:
            used = store.one(
                "SELECT SUM(COALESCE(new_bytes,0)) AS b FROM backups WHERE source=? AND medium=?"
                " AND status NOT IN ('deleted','running')", (s.id, m.id))
            b = (used["b"] or 0) if used else 0
            if b > cap:
                out.append(Problem(f"size:{s.id}:{m.id}", WARNING,
                                   f"source {s.id} uses {b / 1048576:.0f} MB on {m.id}, more than "
                                   f"max_size_mb {cfg.retention.max_size_mb}"))
    return out


def _stale(store: Store, source, newest: float, ts: float) -> bool | datetime | str:
    """Without a schedule: the newest backup that holds the data (begun at `newest`) is older than
    STALE_AFTER. With one: the time of it missed, its latest time a day ago or earlier (a day to
    finish it) that no such backup is for (kept data is, as run-due counts it done): none begun
    since it (a time in the hour a DST change skips: since the change, schedule.reached), nor one a
    run-due made for it or for a time that counts for it (a time of the schedule before an edit:
    schedule.counted_for; the times run-due counts: schedule.made_for). A weekly source is not stale
    on its fourth day, and a time missed is said a day after it however late the backup before it
    began (a run-due catching up, a backup by hand: both were judged by the newest backup's start,
    two days, up to a day late). A backup by hand is for no time: it never stands for a later one.
    After edits (schedule_history.in_force) the time judged is the latest a day ago or earlier that a
    schedule named while in force: a time of the new one that passed before the edit was seen was no
    schedule's (an edit to a more frequent schedule called the source stale at once), and one the
    schedule before it missed stays missed (an edit to a less frequent one hid it; a schedule in
    force for an hour judged for its times of days before). A schedule that names no time to come
    (schedule.idle) is judged as none, its reason said: the time of its last run stood for every
    later one (never stale, whatever the data's age); one whose first time is to come is stale only
    for a time a schedule before it missed (_backups warns of the data's age)."""
    if not source.schedule:
        return ts - newest > STALE_AFTER.total_seconds()
    first = schedule.first_to_come(source.schedule, datetime.fromtimestamp(ts))
    if first is None and (idle := schedule.idle(source.schedule, datetime.fromtimestamp(ts))):   # as without one
        return idle if ts - newest > STALE_AFTER.total_seconds() else False
    periods = schedule_history.in_force(store, source.id, source.schedule, ts)
    k, due = schedule_history.judged(periods, datetime.fromtimestamp(ts - DAY_TO_FINISH))
    if due is not None:
        return _missed(store, source.id, periods[k][1], newest, due)
    return first is None and k >= 0 and ts - newest > STALE_AFTER.total_seconds()      # none then


def _missed(store: Store, source_id: str, expr: str, newest: float, due: datetime) -> bool | datetime:
    """`due`, a time of `expr`, when no backup holding the data is for it."""
    if newest >= schedule.reached(due):
        return False
    made_for = schedule.made_for(store, source_id, newest)
    if made_for is not None and (made_for >= schedule.reached(due)
                                 or schedule.counted_for(expr, due, datetime.fromtimestamp(made_for))):
        return False
    return due


def _left_files_out(store: Store, source, backup: dict) -> bool:
    """A backup complete "with warnings", or kept (its post command failed), that did not save
    every file of its source: rsync 23 (a file it could not read), or no directory at all. Files
    that vanished while it ran (rsync 24) were not there to be saved, a directory whose rsync 23 said only that files were read whole on its second
    try saved them (whole_on_retry; state ok where it was recorded before that), and a directory the
    config allows to be empty or missing that came empty was the operator's choice: not counted."""
    if backup["status"] not in ("warnings", KEPT):
        return False
    allowed = {d.path for d in source.directories if d.allow_empty}
    dirs = store.all("SELECT path, state, rsync_exit, files, whole_on_retry FROM backup_dirs WHERE backup_id=?",
                     (backup["id"],))
    return not dirs or any(d["rsync_exit"] == 23 and d["state"] != "ok" and not d["whole_on_retry"]
                           and not (d["path"] in allowed and not d["files"]) for d in dirs)


def _medium_space(m, row, store: Store) -> dict | None:
    """Live numbers (and whether it is read-only) when the medium is there (labelled as itself, not
    another disk with its id), else the last recorded ones."""
    try:
        from rabtui.media.at_hand import label_problem

        if label_problem(m, store) is None:
            st = os.statvfs(m.path)
            return {"total_bytes": st.f_blocks * st.f_frsize, "free_bytes": st.f_bavail * st.f_frsize,
                    "total_inodes": st.f_files, "free_inodes": st.f_favail,
                    "read_only": bool(st.f_flag & os.ST_RDONLY)}
    except Exception:
        pass
    if row is not None and row["total_bytes"]:
        return dict(row)
    return None


def _media(cfg: Config, store: Store, ts: float) -> list[Problem]:
    out = []
    too_long = max(7, 3 * len(cfg.media)) * 86400
    any_used = store.one("SELECT MAX(last_used) AS t FROM media")
    any_used = any_used["t"] if any_used else None
    for m in cfg.media:
        row = store.one("SELECT * FROM media WHERE id=?", (m.id,))
        sp = _medium_space(m, row, store)
        if sp and sp.get("read_only"):
            out.append(Problem(f"readonly:{m.id}", WARNING, f"medium {m.id} is mounted read-only at {m.path}:"
                               " a backup onto it fails; file system errors? Check it, then mount it read-write"))
        if sp:
            parts = []
            worst = 0.0
            if sp.get("total_bytes"):
                used = 1 - sp["free_bytes"] / sp["total_bytes"]
                worst = max(worst, used)
                if used > FULL_WARN:
                    parts.append(f"{used:.0%} of its space")
            if sp.get("total_inodes"):
                used = 1 - sp["free_inodes"] / sp["total_inodes"]
                worst = max(worst, used)
                if used > FULL_WARN:
                    parts.append(f"{used:.0%} of its inodes")
            if parts:
                level = CRITICAL if worst > FULL_CRIT else WARNING
                out.append(Problem(f"space:{m.id}", level, f"medium {m.id} uses {' and '.join(parts)}"))
        last = row["last_used"] if row is not None else None
        if last is None:
            if any_used is not None and ts - any_used < too_long:
                pass  # rotation just started, this one's turn may not have come
            elif any_used is not None:
                out.append(Problem(f"rotation:{m.id}", WARNING, f"medium {m.id} has never been used"))
        elif ts - last > too_long:
            out.append(Problem(f"rotation:{m.id}", WARNING,
                               f"medium {m.id} took no backup for {_age(ts - last)}: is it still in the rotation?"))
    return out


def _media_holds(cfg: Config, store: Store) -> list[Problem]:
    """From the medium's label (probed when it was labelled or first used): the one on the medium
    when it is there, else the one recorded at its last use. Another disk labelled with the
    medium's id (another server's) is a problem of its own, and so is a label kept beside the
    database that is not the one it records."""
    from rabtui.media.at_hand import moved_away
    from rabtui.media.medium import read_label
    from rabtui.media.medium_fs import warning
    from rabtui.media.mounts import kept_label_problem, other_labelling, remembered_label

    acls = any(s.acls for s in cfg.sources)
    xattrs = any(s.xattrs for s in cfg.sources)
    out = []
    for m in cfg.media:
        try:
            label = read_label(m.path)
        except Exception:
            label = None
        other = other_labelling(store, m, label)
        if other:
            out.append(Problem(f"other-disk:{m.id}", WARNING, f"medium {m.id}: {other}: a backup refuses it"))
        if not isinstance(label, dict) or label.get("id") != m.id or other:
            label = remembered_label(store, m.id)
        message = warning(m.id, label.get("holds") if isinstance(label, dict) else None, acls=acls, xattrs=xattrs)
        if message:
            out.append(Problem(f"holds:{m.id}", WARNING, message))
        moved = moved_away(m, store)
        if moved:
            out.append(Problem(f"moved:{m.id}", WARNING, f"{moved}: restore, Browse and checkpoints do not read"
                               " this medium's backups, nor does a cleanup delete them, until then"))
        not_kept = kept_label_problem(store, m.id)
        if not_kept:
            out.append(Problem(f"kept-label:{m.id}", WARNING, not_kept))
    return out


def _unwritten_ids(store: Store) -> list[Problem]:
    from rabtui.backup import id_writes

    by_medium: dict[str, list] = {}
    for w in id_writes.pending(store):
        by_medium.setdefault(w.medium, []).append(w)
    return [Problem(f"ids:{m}", WARNING, f"medium {m}: {len(ws)} backup record(s) do not say the id the database"
                    f" records the backup under yet (e.g. {ws[0].path}: {ws[0].bid}): the next backup of their source"
                    " onto the medium, or `rabtui rebuild-state`, writes them")
            for m, ws in sorted(by_medium.items())]


def _undoings(cfg: Config, store: Store) -> list[Problem]:
    """The undoings of complete backups' union links a killed cleanup recorded on a medium
    (backup/union_undo.py), read on the media that are here only: one away is never mounted nor
    waited for."""
    from rabtui.backup import union_undo
    from rabtui.errors import WorkFailed
    from rabtui.media.at_hand import label_problem

    out = []
    for m in cfg.media:
        if label_problem(m, store) is not None:
            continue
        for s in cfg.sources:
            try:
                names = union_undo.pending(m.path, s.id)
            except WorkFailed:
                continue
            if names:
                out.append(Problem(f"undoing:{s.id}:{m.id}", WARNING, (
                    f"medium {m.id}: a cleanup was interrupted as it undid the union links of source {s.id}'s"
                    f" backup {', '.join(names)}: the union (.archive) lacks some of its files, or shows older"
                    f" versions, until the next backup of {s.id} onto {m.id}, a checkpoint reading it, a"
                    f" cleanup deleting one of its backups there, or rebuild-state puts them back")))
    return out


def _jobs(store: Store, ts: float) -> list[Problem]:
    out = []
    try:
        jobsmod.refresh_dead(store)
    except Exception:
        pass
    for row in store.all("SELECT * FROM jobs WHERE status IN ('running','waiting')"):
        if row["status"] == "running" and row["heartbeat"] and ts - row["heartbeat"] > STUCK_AFTER.total_seconds():
            out.append(Problem(f"job:{row['id']}", WARNING,
                               f"job {row['id']} ({row['title'] or row['kind']}) sent no heartbeat for "
                               f"{_age(ts - row['heartbeat'])}: stuck?"))
    # a later job of the same kind and target that ran to its end speaks for that target now (its
    # own failure is a problem of its own); a restore is not done again by the next one
    for row in store.all("SELECT * FROM jobs d WHERE status='dead' AND COALESCE(finished, heartbeat, started) > ?"
                         " AND (kind='restore' OR NOT EXISTS (SELECT 1 FROM jobs l WHERE l.kind=d.kind"
                         "  AND l.target IS d.target AND l.id>d.id AND l.status IN ('completed', 'warnings', 'failed')))",
                         (ts - DEAD_SHOWN_FOR.total_seconds(),)):
        out.append(Problem(f"job:{row['id']}", CRITICAL,
                           f"job {row['id']} ({row['title'] or row['kind']}) died (pid {row['pid']} is gone)"))
    return out
