"""Retention: which old backups go, per source and medium (`rabtui cleanup`, and after run-due).

The strategy is laravel-backup-server's DefaultStrategy, on the backups' start times:

1. the newest complete backup of a source on a medium is never deleted (the newest by its date, and
   the one made last: after a clock was wrong they differ);
2. every backup younger than `keep_all_days` is kept;
3. in the `keep_daily_days` days before that, the newest backup of each calendar day is kept;
4. in the `keep_weekly_weeks` weeks before that, the newest of each ISO week;
5. in the `keep_monthly_months` months before that, the newest of each calendar month;
6. in the `keep_yearly_years` years before that, the newest of each calendar year;
7. anything older goes;
   (a backup dated before one made before it on its medium, by a clock that was behind, stays as
   long as that one does: see _keep_made_after)
8. then, oldest first, backups go while the source uses more than `max_size_mb` on the medium.

Each period ends where the previous one starts (periods are counted back from `now`, like
DefaultStrategy's date ranges; `now` as judged_time.judged_at gives it for a clock that may have
jumped ahead: never more than a week after the server's newest backup); a group is cut at the
period edge, so the same day can keep one backup on each side of an edge. Only complete (and kept)
backups take part; failed and abandoned runs go once they are older than a day (one dated ahead:
once a run made after it is), or at once where the source's complete backup made last on the
medium, made after it, holds each of its files (superseded.py).

Guards come on top, judged on the whole plan of a source across all media at once
(retention_guard.py): the newest backup and the newest complete backup on a medium are never
candidates, nor a backup that a checkpoint not yet written reads from; a backup goes only if
every archive-directory file version it holds (the directory's kind when it ran) keeps a copy in a
backup that stays on a medium of the config or on a verified checkpoint disc, and only if no later backup that stays on its medium would then
show an older version of one of its archive files as the newest; and when the catalog cannot
vouch for a backup that would go
(archive files on the medium it does not know, or copies it counts on that a medium here does not
hold), nothing of that source is deleted, and the plan says why.

Kept data (a backup whose post-backup command failed, status `kept`) is retained like a complete
backup: the periods count it and the guards protect it.

The space a deletion frees counts hard links (freed.py).
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable

from rabtui import fmt
from rabtui.backup import superseded
from rabtui.backup.freed import FreedCounter
from rabtui.backup.gfs import select_gfs
from rabtui.backup.judged_time import CLOCK_SLACK, backup_time, judged_at, server_nights, unwitnessed
from rabtui.backup.retention_guard import (ArchiveGuard, archive_dirs_then, catalog_gap, copies_gap,
                                          read_by_checkpoints)
from rabtui.backup.union_release import UnionGoing, released
from rabtui.config import Config, Medium
from rabtui.errors import ConfigError
from rabtui.media import medium_layout, union_look
from rabtui.media.medium_layout import TO_DO
from rabtui.state.store import COMPLETE, RESTORABLE, RESTORABLE_SQL, Store

DELETING_PREFIX = ".deleting-"
FAILED_GRACE = timedelta(days=1)


# --- the plan ---------------------------------------------------------------------------------------


@dataclass
class Candidate:
    id: int
    source: str
    medium: str
    name: str
    path: str
    status: str
    started: float
    why: str                         # why it goes
    freed_bytes: int = 0
    made: bool = True                # the run made its directory: else its path is another's, if any
    superseded: bool = False         # a failed run a later complete backup supersedes (superseded.py)


@dataclass
class Plan:
    delete: list[Candidate] = field(default_factory=list)
    kept: list[tuple[int, str, str]] = field(default_factory=list)   # (id, name, why kept)
    guarded: list[tuple[int, str, str]] = field(default_factory=list)  # kept by a guard, and why
    refused: list[tuple[str, str]] = field(default_factory=list)      # (source, why none of it goes)
    freed_bytes: int = 0
    leftovers: list[Path] = field(default_factory=list)               # .deleting-* from a crash
    notes: list[str] = field(default_factory=list)                    # how a source was judged, when not by now
    unions: list[UnionGoing] = field(default_factory=list)            # `.archive/` views no backup needs now

    def summary(self) -> str:
        return f"{fmt.count(len(self.delete), 'backup')}, {self.freed_bytes} bytes freed"


def unread_record(backup_path: str | None) -> str | None:
    """Why the failed or abandoned backup at `backup_path` may be complete after all, or None. A
    medium that is not there now says nothing: deletion asks again once it is (mounted by then).
    One whose backup.json says it is restorable had its record corrected by hand since it was found
    damaged (rebuild-state or a recovery kept it): the database records it so once rebuild-state
    has read it again."""
    path = Path(backup_path) if backup_path else None
    if path is None or not path.is_dir():
        return None
    info = medium_layout.read_backup_json(path)
    said = info.get("status") if info else None
    if said in RESTORABLE and not medium_layout.not_a_run(path, info):
        return (f"its backup.json says {said}, the state database does not: it may be a complete backup (run"
                " `rabtui rebuild-state` to record it as its backup.json says, or delete the directory)")
    why = medium_layout.not_a_run(path, info)
    return why and f"its backup.json: {why}; it may be a complete backup {TO_DO}"


def archive_dirs(cfg: Config, source_id: str) -> list[str]:
    try:
        src = cfg.source(source_id)
    except Exception:
        return []
    return list(src.archive_paths)


def _unions(cfg: Config, store: Store, source_id: str) -> list[tuple[str, str]]:
    """(medium id, directory) where a medium of the config held an archive union of a directory of
    the source that a backup there that recorded no kinds (made by an older version) was looked at
    for (saved_kinds.look): it saved the directory as an archive one, and every cleanup judges it
    so (ArchiveGuard: the directories that were archive ones)."""
    media = [m.id for m in cfg.media]
    return [(r["medium"], r["path"]) for r in store.all(
        "SELECT DISTINCT b.medium, l.path FROM unrecorded_looks l JOIN backups b ON b.id=l.backup_id"
        f" WHERE b.source=? AND b.status IN {RESTORABLE_SQL} AND l.kind='archive' ORDER BY b.medium, l.path",
        (source_id,)) if r["medium"] in media]


def plan_cleanup(cfg: Config, store: Store, now: datetime | None = None,
                 sources: Iterable[str] | None = None, count_space: bool = True,
                 failed_grace: timedelta = FAILED_GRACE) -> Plan:
    now = now or datetime.now()
    plan = Plan()
    src_ids = list(sources) if sources is not None else [s.id for s in cfg.sources]
    # another server's disk with a medium's id holds its own server's unfinished deletions
    present = [m for m in cfg.media if medium_present(store, m)]
    nights = server_nights(store)
    _, why_capped = unwitnessed(nights, now)
    capped = []         # the sources judged as of a week after the server's newest backup, said once
    for medium in present:          # the cleanup judges the backups there that recorded no kinds by it
        for source in src_ids:
            with contextlib.suppress(ConfigError):     # a source no longer in the config
                union_look.unions_looked_at(store, medium.id, medium.path, cfg.source(source))
    for source in src_ids:
        judged, note = judged_at(store, source, now, nights)
        if note:
            plan.notes.append(note)
        elif why_capped:
            capped.append(source)
        _plan_source(cfg, store, source, judged, plan, count_space, failed_grace)
        plan.leftovers += leftovers(present, source)
    if capped:
        plan.notes.insert(0, f"{', '.join(capped)}: {why_capped}")
    return plan


def leftovers(present: list[Medium], source: str) -> list[Path]:
    """The remains of the source's deletions a killed cleanup left on the media `present`."""
    found = []
    for medium in present:
        root = Path(medium.path) / source
        try:
            found += [root / n for n in os.listdir(root) if n.startswith(DELETING_PREFIX)]
        except OSError:
            pass
    return found


def _plan_source(cfg: Config, store: Store, source: str, now: datetime, plan: Plan, count_space: bool,
                 failed_grace: timedelta = FAILED_GRACE) -> None:
    """One source's part of the plan, judged at `now` (judged_at), over all media at once: the
    archive guard sees every backup the plan deletes on any medium; if the catalog cannot vouch for
    a backup that would go, nothing of this source is deleted."""
    settings = cfg.retention
    adirs = archive_dirs(cfg, source)
    guard = ArchiveGuard(store, source, adirs, [m.id for m in cfg.media], _unions(cfg, store, source))
    read = read_by_checkpoints(store, source)
    going_all: list[tuple[Medium, Candidate]] = []
    seen: dict[str, bool] = {}

    def present(medium: Medium) -> bool:
        if medium.id not in seen:
            seen[medium.id] = medium_present(store, medium)
        return seen[medium.id]

    kept: list[tuple[int, str, str]] = []
    unions: list[UnionGoing] = []
    freed = 0
    for medium in cfg.media:
        rows = store.all(
            "SELECT * FROM backups WHERE source=? AND medium=? AND status<>'deleted' ORDER BY started, id",
            (source, medium.id),
        )
        retained = [r for r in rows if r["status"] in RESTORABLE]
        verdict = select_gfs([(r["id"], backup_time(r)) for r in retained], settings, now)
        complete = [r for r in retained if r["status"] in COMPLETE]
        # never a candidate: the newest backup (any restorable state) and the newest complete one
        newest = _newest(retained) | _newest(complete)
        _keep_made_after(retained, verdict, newest, now)
        going: list[Candidate] = []
        lacking = present(medium) and newest_not_there(complete, medium)

        def guarded(r) -> bool:
            why = lacking or elsewhere(r, medium)
            if not why and r["id"] in read:
                number = read[r["id"]]
                why = (f"checkpoint {number} is not written yet and reads from it"
                       f" (`rabtui checkpoint resume {number}`, or abandon it)")
            elif not why:
                n = guard.only_copies(r["id"])
                why = n and (f"holds the only copy of {fmt.count(n, 'archive file')} (no verified checkpoint holds them, nor a backup"
                             " on another medium of the config)")
                shown = not why and guard.reverts(r["id"])
                why = why or shown and (f"a later backup on {medium.id} shows its version of {fmt.count(shown, 'archive file')}:"
                                        " without it, an older version would show as the newest")
            if why and all(g[0] != r["id"] for g in plan.guarded):
                plan.guarded.append((r["id"], r["name"], why))
            return bool(why)

        def take(r, why: str) -> Candidate:
            c = candidate(r, why)
            guard.add(r["id"])
            going.append(c)
            return c

        for r in retained:
            why_kept = verdict[r["id"]] or ("newest complete" if r["id"] in newest else "")
            if why_kept:
                kept.append((r["id"], r["name"], why_kept))
            elif not guarded(r):
                take(r, "past the retention periods")
        # failed, abandoned: gone after a day, or at once when superseded (a running one is never
        # touched here), unless its record was damaged or lost since: it may be a complete backup
        # (medium_layout.not_a_run).
        # One dated ahead by a clock that was ahead is a day old once a run made after it is
        made_a_day_ago = max((r["id"] for r in rows if backup_time(r) < now - failed_grace), default=0)
        for r in rows:
            when = backup_time(r)
            if r["status"] not in ("failed", "abandoned"):
                continue
            if when < now - failed_grace or (when > now + CLOCK_SLACK and r["id"] < made_a_day_ago):
                grace = "a day" if failed_grace == FAILED_GRACE else fmt.duration(failed_grace.total_seconds())
                why, later = f"{r['status']} run older than {grace}", None
            elif (later := present(medium) and superseded.by(r, complete, medium.path)):
                why = f"{r['status']} run superseded by {later}, which holds each of its files"
            else:
                continue
            unread = lacking or elsewhere(r, medium) or (unread_record(r["path"]) if r["dir_made"] != 0 else None)
            if unread:
                plan.guarded.append((r["id"], r["name"], unread))
            else:
                going.append(replace(candidate(r, why), superseded=bool(later)))
        counter = FreedCounter() if count_space else None

        def count(c: Candidate) -> None:
            if counter is not None and c.made:
                extra = list(_union_links(cfg, medium, c)) if adirs and c.status in RESTORABLE else []
                c.freed_bytes = counter.add(Path(c.path), extra)

        for c in going:
            count(c)
        # size cap, oldest first, never the newest: usage is the sum of what each backup added
        # (new_bytes) less what the deletions free. Oldest as made (by id): backups dated years
        # behind by a clock reset went first by their dates, the source's newer state before the old
        cap = settings.max_size_mb * 1024 * 1024
        usage = sum((r["new_bytes"] or 0) for r in rows)
        going_ids = {c.id for c in going}
        for r in sorted(retained, key=lambda r: r["id"]):
            done = counter.total if counter is not None else 0
            if usage - done <= cap:
                break
            if r["id"] in newest or r["id"] in going_ids or guarded(r):
                continue
            c = take(r, f"source uses more than {settings.max_size_mb} MB on {medium.id}")
            count(c)
            if counter is None:
                usage -= r["new_bytes"] or 0
            going_ids.add(r["id"])
            kept = [k for k in kept if k[0] != r["id"]]
        # the unions of directories no archive one now that no backup staying here needs (after
        # the backups, so that the links they share are counted once)
        if medium_present(store, medium):
            for u in released(cfg, store, source, medium, going_ids | {c.id for c in going}):
                if counter is not None:
                    u.freed_bytes = counter.add(Path(u.path))
                unions.append(u)
        if counter is not None:
            freed += counter.total
        going.sort(key=lambda c: (c.started, c.id))
        going_all += [(medium, c) for c in going]
    gaps = _unproven(cfg, store, going_all, adirs)
    if gaps:
        plan.refused.append((source, gaps[0] + (f" (and {len(gaps) - 1} more)" if len(gaps) > 1 else "")
                             + "; `rabtui rebuild-state` rebuilds the catalog from the media"))
        plan.kept += kept + [(c.id, c.name, "the plan for its source cannot be proven safe") for _, c in going_all]
        return
    plan.kept += kept
    plan.delete += [c for _, c in going_all]
    plan.unions += unions
    plan.freed_bytes += freed


def _unproven(cfg: Config, store: Store, going: list[tuple[Medium, Candidate]], adirs: list[str]) -> list[str]:
    """Why the guard's verdict on these candidates cannot be trusted: the catalog does not know
    archive files they hold, or the copies it counts on are not on media that are here. A
    candidate's archive directories are those it ran with (archive_dirs_then): one it saved as a
    standard directory holds its whole tree, files saved first by the backups before it (the
    catalog does not list them as its own: the source's cleanups were refused for good once the
    config made that directory archive)."""
    present = {m.id: medium_present(store, m) for m in cfg.media}
    going_ids = {c.id for _, c in going}
    out = []
    for medium, c in going:
        if c.status not in RESTORABLE:
            continue
        row = store.one("SELECT * FROM backups WHERE id=?", (c.id,))
        dirs = archive_dirs_then(store, c.id, adirs)
        if not dirs:
            continue
        gap = (catalog_gap(store, medium.id, present[medium.id], row, dirs)
               or copies_gap(store, present, row, going_ids, dirs))
        if gap:
            out.append(gap)
    return out


def elsewhere(r, medium: Medium) -> str | None:
    """Why a backup's directory, as the catalog records it, is not where its medium is now (the
    medium's path changed in the config, its disk copied onto another): deleting there would delete
    on whatever is at the old path now, another disk perhaps, and the catalog would forget a backup
    its medium still holds. None when it is there (or the run made no directory)."""
    if r["dir_made"] == 0 or not r["path"] or r["path"] == medium_layout.recorded_path(medium.path, r["source"],
                                                                                          r["name"]):
        return None
    return medium_layout.stale_path(r["path"], medium.id, medium.path, "deleted")


def newest_not_there(complete: list, medium: Medium) -> str | None:
    """Why the medium at hand lacks the newest complete backup the catalog records on it (its disk
    put back from a copy made before that backup, another disk copied from it with dd, the
    directory removed by hand), or None. The guards judge what goes by the backups the catalog
    says stay: without it there, a cleanup could delete every backup the disk holds."""
    for r in {r["id"]: r for r in complete if r["id"] in _newest(complete)}.values():
        path = r["path"]
        if r["dir_made"] != 0 and path and (os.path.islink(path) or not os.path.isdir(path)):
            return (f"the newest complete backup the state database records on {medium.id}, {r['name']}, is not"
                    f" on the disk at {medium.path} (a copy of the disk made before it, or removed by hand): nothing"
                    " there is deleted until `rabtui rebuild-state` reads what the disk holds")
    return None


def _keep_made_after(retained: list, verdict: dict[int, str], newest: set[int], now: datetime) -> None:
    """A backup dated before one made before it on its medium (a lower id) that stays ran under a
    clock that was behind (an RTC reset by a power cut, say): it stays as long as that one does.
    Judged by its date, it would be past every period once the clock is right again. A backup dated
    more than a day ahead of `now` (a clock that was ahead) keeps none this way."""
    shield = None     # the backup that stays, made so far, dated latest
    for r in sorted(retained, key=lambda r: r["id"]):
        when = backup_time(r)
        if not verdict[r["id"]] and r["id"] not in newest and shield is not None and when < backup_time(shield):
            verdict[r["id"]] = f"made after {shield['name']}, which stays, and dated before it (a clock behind)"
        stays = verdict[r["id"]] or r["id"] in newest
        if stays and when <= now + CLOCK_SLACK and (shield is None or when > backup_time(shield)):
            shield = r


def _newest(rows: list) -> set[int]:
    """The ids of the newest of `rows` (in order of their dates) and of the one made last (the
    highest id). They differ after a clock was wrong: a backup dated years ahead stays the newest
    by its date, while those made after it under a right clock hold the source's newest state."""
    return {rows[-1]["id"], max(r["id"] for r in rows)} if rows else set()


def candidate(r, why: str) -> Candidate:
    """The backup of row `r` (of backups) as one a cleanup may delete, for `why`."""
    return Candidate(r["id"], r["source"], r["medium"], r["name"], r["path"], r["status"], r["started"], why,
                     made=r["dir_made"] != 0)


def _union_links(cfg: Config, medium: Medium, c: Candidate):
    """(dev, ino) of the archive files first saved in this backup whose union-tree entry is still
    the same inode (a newer version replaced the others)."""
    from rabtui.media import medium_layout
    from rabtui.backup.archive import same_in_union

    for d in archive_dirs(cfg, c.source):
        data = medium_layout.backup_data_path(c.path, d)
        union = medium_layout.archive_root(medium.path, c.source, d)
        if medium_layout.symlink_to_copy(c.path, d) is not None or not data.is_dir() or not union.is_dir():
            continue
        for _rel, inode in same_in_union(data, union):
            yield inode


def medium_present(store: Store, medium: Medium) -> bool:
    """Is the medium mounted where the config says, with its own label (not another disk's with its
    id)?"""
    from rabtui.media.at_hand import medium_problem

    return medium_problem(medium, store) is None
