"""Retention: which old backups go, per source and medium (`rabtui cleanup`, and after run-due).

The strategy is laravel-backup-server's DefaultStrategy, on the backups' start times:

1. the newest complete backup of a source on a medium is never deleted;
2. every backup younger than `keep_all_days` is kept;
3. in the `keep_daily_days` days before that, the newest backup of each calendar day is kept;
4. in the `keep_weekly_weeks` weeks before that, the newest of each ISO week;
5. in the `keep_monthly_months` months before that, the newest of each calendar month;
6. in the `keep_yearly_years` years before that, the newest of each calendar year;
7. anything older goes;
8. then, oldest first, backups go while the source uses more than `max_size_mb` on the medium.

Each period ends where the previous one starts (periods are counted back from `now`, like
DefaultStrategy's date ranges); a group is cut at the period edge, so the same day can keep one
backup on each side of an edge. Only complete backups take part; failed and abandoned runs go
once they are older than a day.

Two guards come on top: a backup that holds the only copy of an archive-directory file (no other
medium has that version, no verified checkpoint disc holds it) is kept, whatever the rules say;
and the newest complete backup is never a candidate.

The space a deletion frees counts hard links: an inode is freed only when every one of its links
lies in the trees being deleted (st_nlink equals the links found there).
"""

from __future__ import annotations

import os
import re
import shutil
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Iterable

from rabtui import fstree
from rabtui.backup.gfs import select_gfs
from rabtui.config import Config, Medium
from rabtui.store import COMPLETE, COMPLETE_SQL, Store

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


@dataclass
class Plan:
    delete: list[Candidate] = field(default_factory=list)
    kept: list[tuple[int, str, str]] = field(default_factory=list)   # (id, name, why kept)
    guarded: list[tuple[int, str, str]] = field(default_factory=list)  # kept by the archive guard
    freed_bytes: int = 0
    leftovers: list[Path] = field(default_factory=list)               # .deleting-* from a crash

    def summary(self) -> str:
        return f"{len(self.delete)} backups, {self.freed_bytes} bytes freed"


def _dt(ts: float) -> datetime:
    return datetime.fromtimestamp(ts)


def backup_time(row) -> datetime:
    """When a backup was taken: the time in its name (backup-YYYYmmddHHMMSS), else `started`."""
    m = re.match(r"^backup-(\d{14})", row["name"] or "")
    if m:
        return datetime.strptime(m.group(1), "%Y%m%d%H%M%S")
    return _dt(row["started"])


def archive_dirs(cfg: Config, source_id: str) -> list[str]:
    try:
        src = cfg.source(source_id)
    except Exception:
        return []
    return [d.path for d in src.directories if d.kind == "archive"]


def unsafe_archive_files(store: Store, source: str, medium: str, backup_id: int,
                         dirs: list[str]) -> int:
    """How many archive-directory versions first saved in this backup exist nowhere else: no other
    medium holds the same version in a complete backup, no verified checkpoint disc holds it."""
    if not dirs:
        return 0
    marks = ",".join("?" * len(dirs))
    row = store.one(
        f"""SELECT COUNT(*) AS n FROM versions v JOIN paths p ON p.id=v.path_id
            WHERE v.medium=? AND v.first_backup=? AND p.source=? AND p.dir IN ({marks})
              AND NOT EXISTS (SELECT 1 FROM disc_files f JOIN discs d ON d.number=f.number AND d.disc=f.disc
                              WHERE d.state='verified' AND f.source=p.source AND f.path=p.path
                                AND f.size=v.size AND f.mtime=v.mtime)
              AND NOT EXISTS (SELECT 1 FROM versions o JOIN backups b ON b.id=o.first_backup
                              WHERE o.path_id=v.path_id AND o.medium<>v.medium AND o.size=v.size
                                AND o.mtime=v.mtime AND b.status IN {COMPLETE_SQL})""",
        (medium, backup_id, source, *dirs),
    )
    return row["n"] if row else 0


def plan_cleanup(cfg: Config, store: Store, now: datetime | None = None,
                 sources: Iterable[str] | None = None, count_space: bool = True) -> Plan:
    now = now or datetime.now()
    plan = Plan()
    settings = cfg.retention
    src_ids = list(sources) if sources is not None else [s.id for s in cfg.sources]
    for source in src_ids:
        adirs = archive_dirs(cfg, source)
        for medium in cfg.media:
            rows = store.all(
                "SELECT * FROM backups WHERE source=? AND medium=? AND status<>'deleted' ORDER BY started, id",
                (source, medium.id),
            )
            complete = [r for r in rows if r["status"] in COMPLETE]
            verdict = select_gfs([(r["id"], backup_time(r)) for r in complete], settings, now)
            going: list[Candidate] = []
            guard_cache: dict[int, int] = {}

            def guarded(r) -> bool:
                if r["id"] not in guard_cache:
                    guard_cache[r["id"]] = unsafe_archive_files(store, source, medium.id, r["id"], adirs)
                n = guard_cache[r["id"]]
                if n and all(g[0] != r["id"] for g in plan.guarded):
                    plan.guarded.append((r["id"], r["name"], f"holds the only copy of {n} archive files"
                                         " (no verified checkpoint holds them)"))
                return bool(n)

            for r in complete:
                why_kept = verdict[r["id"]]
                if why_kept:
                    plan.kept.append((r["id"], r["name"], why_kept))
                elif not guarded(r):
                    going.append(_candidate(r, "past the retention periods"))
            # failed, abandoned: gone after a day (a running one is never touched here)
            for r in rows:
                if r["status"] in ("failed", "abandoned") and backup_time(r) < now - FAILED_GRACE:
                    going.append(_candidate(r, f"{r['status']} run older than a day"))
            counter = FreedCounter() if count_space else None

            def count(c: Candidate) -> None:
                if counter is not None:
                    extra = [k for _, k in _union_links(cfg, medium, c)] if adirs and c.status in COMPLETE else []
                    c.freed_bytes = counter.add(Path(c.path), extra)

            for c in going:
                count(c)
            # size cap, oldest first, never the newest complete: usage is the sum of what each
            # backup added (new_bytes) less what the deletions free
            cap = settings.max_size_mb * 1024 * 1024
            usage = sum((r["new_bytes"] or 0) for r in rows)
            newest = complete[-1]["id"] if complete else None
            going_ids = {c.id for c in going}
            for r in complete:
                freed = counter.total if counter is not None else 0
                if usage - freed <= cap:
                    break
                if r["id"] == newest or r["id"] in going_ids or guarded(r):
                    continue
                c = _candidate(r, f"source uses more than {settings.max_size_mb} MB on {medium.id}")
                count(c)
                if counter is None:
                    usage -= r["new_bytes"] or 0
                going.append(c)
                going_ids.add(r["id"])
                plan.kept = [k for k in plan.kept if k[0] != r["id"]]
            if counter is not None:
                plan.freed_bytes += counter.total
            going.sort(key=lambda c: (c.started, c.id))
            plan.delete.extend(going)
        for medium in cfg.media:
            root = Path(medium.path) / source
            try:
                plan.leftovers += [root / n for n in os.listdir(root) if n.startswith(DELETING_PREFIX)]
            except OSError:
                pass
    return plan


def _candidate(r, why: str) -> Candidate:
    return Candidate(r["id"], r["source"], r["medium"], r["name"], r["path"], r["status"], r["started"], why)


# --- space, counting hard links -----------------------------------------------------------------------


def _walk(top: Path, links: dict[tuple[int, int], int], sizes: dict[tuple[int, int], int],
          nlinks: dict[tuple[int, int], int]) -> None:
    for _, st in fstree.scan(os.fsencode(top)):
        key = (st.st_dev, st.st_ino)
        links[key] = links.get(key, 0) + 1
        nlinks[key] = st.st_nlink
        sizes[key] = st.st_blocks * 512 if st.st_blocks else st.st_size


class FreedCounter:
    """Space freed by deleting a growing set of trees: an inode counts once every one of its
    links has been seen in the set (st_nlink), so files hard-linked from kept backups count 0."""

    def __init__(self):
        self.links: dict = {}
        self.sizes: dict = {}
        self.nlinks: dict = {}
        self.total = 0

    def add(self, tree: Path, extra_links=()) -> int:
        """Add a tree (and links elsewhere that go with it: (dev, ino) keys); returns how much more
        the set frees now."""
        before = self.total
        if Path(tree).is_dir():
            _walk(Path(tree), self.links, self.sizes, self.nlinks)
            for key in extra_links:
                self.links[key] = self.links.get(key, 0) + 1
            self.total = sum(self.sizes[k] for k, n in self.links.items() if n >= self.nlinks.get(k, 1))
        return self.total - before


# --- doing it ----------------------------------------------------------------------------------------


def remove_tree(path: Path) -> None:
    """Crash-safe removal: rename to .deleting-<name> first (atomic), then delete; a leftover
    .deleting-* directory is finished by the next cleanup."""
    path = Path(path)
    if path.name.startswith(DELETING_PREFIX):
        target = path
    else:
        target = path.parent / f"{DELETING_PREFIX}{path.name}"
        if not path.exists():
            return
        os.rename(path, target)
    _make_writable_and_rm(target)


def _make_writable_and_rm(path: Path) -> None:
    def onerror(func, p, exc):  # a read-only directory inside the backup: open it up and retry
        try:
            os.chmod(os.path.dirname(p), 0o700)
            func(p)
        except OSError:
            pass

    shutil.rmtree(path, onerror=onerror)


def _union_links(cfg: Config, medium: Medium, c: Candidate):
    """(union path, (dev, ino)) of the archive files first saved in this backup whose union-tree
    entry is still the same inode (a newer version replaced the others)."""
    from rabtui.backup import media as mediamod
    from rabtui.backup.archive import same_in_union

    for d in archive_dirs(cfg, c.source):
        data = mediamod.backup_data_path(c.path, d)
        union = mediamod.archive_root(medium.path, c.source, d)
        if not data.is_dir() or not union.is_dir():
            continue
        for theirs, _rel, inode in same_in_union(data, union):
            yield theirs, inode


def _remove_archive_entries(cfg: Config, medium: Medium, c: Candidate) -> int:
    """Deleting a backup of an archive directory removes its files' union links too, so that the
    space is freed (the guard made sure they are safe elsewhere); where an older backup on this
    medium holds the path, the union shows its version again. Returns how many."""
    from rabtui.backup.history import unlink_archive

    return unlink_archive(cfg, c.source, Path(c.path))


def forget_backup(store: Store, backup_id: int, cfg: Config | None = None) -> None:
    """The catalog after a backup is gone: mark it deleted, tighten version ranges, drop versions
    left in no backup."""
    row = store.one("SELECT * FROM backups WHERE id=?", (backup_id,))
    if row is None:
        return
    src, med = row["source"], row["medium"]
    adirs = archive_dirs(cfg, src) if cfg else []
    with store.transaction() as conn:
        conn.execute("UPDATE backups SET status='deleted', finished=COALESCE(finished, ?) WHERE id=?",
                     (time.time(), backup_id))
        if adirs:
            marks = ",".join("?" * len(adirs))
            conn.execute(
                f"DELETE FROM versions WHERE medium=? AND first_backup=? AND path_id IN"
                f" (SELECT id FROM paths WHERE source=? AND dir IN ({marks}))",
                (med, backup_id, src, *adirs),
            )
        live = f"SELECT {{fn}}(id) FROM backups WHERE source=? AND medium=? AND status IN {COMPLETE_SQL}"
        # versions starting at it: start at the next live backup in range
        conn.execute(
            f"""UPDATE versions SET first_backup=COALESCE(({live.format(fn='MIN')} AND id>? AND id<=versions.last_backup), -1)
                WHERE medium=? AND first_backup=? AND path_id IN (SELECT id FROM paths WHERE source=?)""",
            (src, med, backup_id, med, backup_id, src),
        )
        conn.execute(
            f"""UPDATE versions SET last_backup=COALESCE(({live.format(fn='MAX')} AND id<? AND id>=versions.first_backup), -1)
                WHERE medium=? AND last_backup=? AND first_backup<>-1 AND path_id IN (SELECT id FROM paths WHERE source=?)""",
            (src, med, backup_id, med, backup_id, src),
        )
        conn.execute("DELETE FROM versions WHERE medium=? AND (first_backup=-1 OR last_backup=-1)", (med,))


def _present(medium: Medium) -> bool:
    from rabtui.backup.media import read_label

    try:
        label = read_label(medium.path) if Path(medium.path).is_dir() else None
    except Exception:
        return False
    return bool(label) and label.get("id") == medium.id


def apply_cleanup(cfg: Config, store: Store, plan: Plan, emit=None) -> list[str]:
    """Delete what the plan says, medium by medium (mounting those with a device); a medium that is
    not there keeps its backups until a later cleanup. Returns one line per action."""
    from rabtui.backup.media import mounted
    from rabtui.events import LOG, Event

    lines: list[str] = []

    def say(line: str) -> None:
        lines.append(line)
        if emit:
            emit(Event(LOG, line))

    for path in plan.leftovers:
        _make_writable_and_rm(path)
        say(f"finished an interrupted deletion: {path}")
    for medium in cfg.media:
        mine = [c for c in plan.delete if c.medium == medium.id]
        if not mine:
            continue
        try:
            with mounted(medium):
                if not _present(medium):
                    say(f"medium {medium.id} is not there: its {len(mine)} old backups are kept for now")
                    continue
                for c in mine:
                    path = Path(c.path)
                    if c.status in COMPLETE and path.is_dir():
                        _remove_archive_entries(cfg, medium, c)
                    remove_tree(path)
                    forget_backup(store, c.id, cfg)
                    say(f"deleted {c.source} {c.name} on {c.medium}: {c.why}")
        except Exception as exc:  # one medium's trouble must not stop the others
            if type(exc).__name__ in ("Cancelled", "KeyboardInterrupt"):
                raise
            say(f"medium {medium.id}: cleanup stopped: {exc}")
    return lines
