"""Every copy of a path that a restore can read, and which of them is at hand.

Media rotate: on a given day most of them are away. A path of a source has a copy in the newest
backup holding it on each medium, and on each checkpoint whose discs holding it are verified.
Without `--backup`/`--checkpoint`, restore reads the newest copy; when that one is not at hand (its
medium not mounted, its disc not in the drive) it says so and reads the newest copy that is, or,
when none is, asks for each copy in turn (newest first: ready once it is there, skip to the next, abort).

A disc copy is as new as the backup its checkpoint was taken from. A checkpoint that does not
record that backup (rebuild-state found no README naming it) is ranked by what the catalog tells:
a file as of the newest backup holding a version of its size and mtime, anything else below every
backup; a restore that reads it says it rests on that guess, unless it is the only copy there is
(copy_choice.py: which copy is read).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rabtui import fmt
from rabtui.checkpoint import layout, xorriso
from rabtui.checkpoint.content import MARKS
from rabtui.checkpoint.marks import DIR_MARK
from rabtui.config import Config, Source
from rabtui.errors import UsageError, WorkFailed
from rabtui.events import Emit, no_emit
from rabtui.media import unknown_backups
from rabtui.media.at_hand import medium_problem
from rabtui.state import queries
from rabtui.state.catalog import rel_path
from rabtui.state.store import KEPT, RESTORABLE_SQL, Store, as_made, made_first


@dataclass
class Copy:
    kind: str                       # "backup" | "disc"
    when: float                     # when the state it holds was taken (the backup's start, as made: store.as_made)
    # of copies of one `when` (a backup made later dated before them ranks them all at its start):
    # the higher the newer, a backup's id; a disc's, that of the backup it is ranked as (the backup first)
    rank: float = 0.0
    medium: str | None = None
    backup: object = None           # the backups row
    checkpoint: int | None = None
    discs: list[tuple[int, str]] = field(default_factory=list)   # (disc, volid) holding the path
    of_discs: int = 0               # how many discs the checkpoint has
    version: tuple[int, int] | None = None   # (size, mtime) when the path is a file
    digest: tuple[tuple[int, str], ...] | None = None   # a disc's file: (size, sha256) of each part
    taken_from: int | None = None   # a disc copy: the id of the backup its checkpoint read, when known
    guess: str | None = None        # a disc copy whose backup is not known: how it was ranked
    below_backups: bool = False     # ... ranked below every backup
    missing: tuple[int, str] | None = None   # a disc copy: (disc, volid) of the first disc not_at_hand did not find
    unsure: bool = False            # a backup the catalog holds nothing at or below the path in (copy_choice.held_at_hand looks)
    looked: list = field(default_factory=list)   # unsure: the backups rows of its medium, newest first, from its own,
    #                                              that the catalog holds nothing at or below the path in

    def describe(self) -> str:
        if self.kind == "backup":
            return f"backup {self.backup['name']} on medium {self.medium}"
        return f"checkpoint {self.checkpoint} ({', '.join(v for _, v in self.discs)})"

    def as_json(self) -> dict:
        out = {"kind": self.kind, "when": self.when}
        if self.kind == "backup":
            out.update(medium=self.medium, backup=self.backup["name"])
        else:
            out.update(checkpoint=self.checkpoint, volids=[v for _, v in self.discs])
        return out


def directory_of(source: Source, path: bytes):
    """The configured directory that holds `path` (relative to /), the longest match."""
    best = None
    for d in source.directories:
        dr = rel_path(d.path)
        if path == dr or not dr or path.startswith(dr + b"/"):
            if best is None or len(rel_path(best.path)) < len(dr):
                best = d
    if best is None:
        raise UsageError(f"/{fmt.name(path)} is not in a directory of source {source.id}")
    return best


def _backup_copies(store: Store, source: str, rel: bytes, version: tuple[int, int] | None = None,
                   looked_for: bool = False) -> list[Copy]:
    """The newest restorable backup holding `rel` on each medium (a file known to the catalog: the
    newest holding one of its versions, or `version`; anything else: the newest backup, and with
    `looked_for`, where the catalog holds entries at or below it, those of _held_copies)."""
    only = " AND v.size=? AND v.mtime=?" if version else ""
    rows = store.all(
        f"""{made_first()}SELECT b.*, {as_made()} AS made, v.size AS v_size, v.mtime AS v_mtime FROM versions v
              JOIN paths p ON p.id=v.path_id
              JOIN backups b ON b.source=p.source AND b.medium=v.medium AND b.id BETWEEN v.first_backup AND v.last_backup
            WHERE p.source=? AND p.path=? AND b.status IN {RESTORABLE_SQL}
              AND (b.status<>'{KEPT}' OR b.id=v.first_backup){only}
            ORDER BY made DESC, b.id DESC""", (source, source, rel, *(version or ())))
    is_file = bool(rows)
    if not rows and version:
        # a symlink or special file `find` found (the catalog's `others`): the path in those backups
        rows = store.all(
            f"""{made_first()}SELECT b.*, {as_made()} AS made FROM others o
                  JOIN backups b ON b.source=o.source AND b.medium=o.medium AND b.id BETWEEN o.first_backup AND o.last_backup
                WHERE o.source=? AND o.path=? AND o.mtime=? AND b.status IN {RESTORABLE_SQL}
                  AND (b.status<>'{KEPT}' OR b.id=o.first_backup)
                ORDER BY made DESC, b.id DESC""", (source, source, rel, version[1])) if version[0] == 0 else []
        if not rows:
            return []
    if not rows and _held_by_no_backup(store, source, rel):
        return []
    if not rows:
        rows = store.all(f"{made_first()}SELECT b.*, {as_made()} AS made FROM backups b WHERE b.source=?"
                         f" AND b.status IN {RESTORABLE_SQL} ORDER BY made DESC, b.id DESC", (source, source))
        if looked_for:     # none there may hold it (a directory of empty ones, deleted on the source)
            return _held_copies(store, source, rel, rows, _entries_below(store, source, rel))
    out: dict[str, Copy] = {}
    for r in rows:
        if r["medium"] not in out:
            out[r["medium"]] = Copy("backup", r["made"], rank=r["id"], medium=r["medium"], backup=r,
                                    version=(r["v_size"], r["v_mtime"]) if is_file else None)
    if is_file and looked_for and _entries_below(store, source, rel):
        return _newer_shapes(store, source, rel, list(out.values()))
    return list(out.values())


def _newer_shapes(store: Store, source: str, rel: bytes, files: list[Copy]) -> list[Copy]:
    """`files` (the newest backup holding the file `rel` on each medium), each replaced by a newer
    backup of its medium whose catalog holds a directory there (entries below it) or a symlink: the
    path a file, then another kind, is restored as the newest backup holding it has it."""
    rows = store.all(f"{made_first()}SELECT b.*, {as_made()} AS made FROM backups b WHERE b.source=?"
                     f" AND b.status IN {RESTORABLE_SQL} ORDER BY made DESC, b.id DESC", (source, source))
    newest = {c.medium: c for c in files}
    held = _held_copies(store, source, rel, rows)
    for c in held:
        was = newest.get(c.medium)
        if not c.unsure and (was is None or (c.when, c.rank) > (was.when, was.rank)):
            newest[c.medium] = c
    for c in held:      # the backups after those, which may hold the directory emptied
        was = newest.get(c.medium)
        if was is None or not c.unsure:
            continue
        c.looked = [r for r in c.looked if (r["made"], r["id"]) > (was.when, was.rank)]
        if c.looked:
            newest[c.medium + "/unsure"] = c
    return list(newest.values())


def _held_copies(store: Store, source: str, rel: bytes, rows, entries: bool = True) -> list[Copy]:
    """Of `rows` (backups newest first), on each medium the newest backup whose catalog holds an
    entry at or below `rel`, and the medium's newest backup when that is another one (`unsure`: it,
    or one after it up to that one, may hold `rel` emptied since, or not at all; copy_choice.held_at_hand
    looks). Without `entries` (the catalog holds none there) every backup is unsure."""
    out: list[Copy] = []
    found: set[str] = set()
    unsure: dict[str, Copy] = {}
    for r in rows:
        if r["medium"] in found:
            continue
        held = entries and _entries_below(store, source, rel, r)
        if held:
            found.add(r["medium"])
        elif r["medium"] in unsure:
            unsure[r["medium"]].looked.append(r)
            continue
        out.append(Copy("backup", r["made"], rank=r["id"], medium=r["medium"], backup=r, unsure=not held,
                        looked=[] if held else [r]))
        if not held:
            unsure[r["medium"]] = out[-1]
    return out


def _entries_below(store: Store, source: str, rel: bytes, backup=None) -> bool:
    """Does the catalog hold a file, symlink or special file below `rel` (or at it: not a file's
    path), in `backup` when given (kept data: what it saved first)?"""
    below = (rel + b"/", rel + b"0")      # the paths that start with rel/ ("0" follows "/")
    held = "" if backup is None else \
        " AND v.medium=? AND ? BETWEEN v.first_backup AND v.last_backup AND (?<>? OR v.first_backup=?)"
    of = () if backup is None else (backup["medium"], backup["id"], backup["status"], KEPT, backup["id"])
    return bool(
        store.one(f"SELECT 1 FROM paths p JOIN versions v ON v.path_id=p.id WHERE p.source=? AND p.path>=?"
                  f" AND p.path<?{held} LIMIT 1", (source, *below, *of))
        or store.one(f"SELECT 1 FROM others v WHERE v.source=? AND (v.path=? OR v.path>=? AND v.path<?){held}"
                     " LIMIT 1", (source, rel, *below, *of)))


def _held_by_no_backup(store: Store, source: str, rel: bytes) -> bool:
    """`rel` is an entry the catalog or a disc knows (a directory: with files on the disc) that no
    backup holds now, nor anything below it: retention deleted its backups, a disc keeps it."""
    below = (source, len(rel) + 1, rel + b"/")
    return bool(
        (store.one("SELECT 1 FROM paths WHERE source=? AND path=?", (source, rel))
         or store.one("SELECT 1 FROM disc_files WHERE source=? AND (path=? AND sha256 IS NOT ?"
                      " OR substr(path, 1, ?)=?) LIMIT 1", (source, rel, DIR_MARK, *below[1:])))
        and not store.one("SELECT 1 FROM others WHERE source=? AND (path=? OR substr(path, 1, ?)=?)", (source, rel, *below[1:]))
        and not store.one("SELECT 1 FROM paths p JOIN versions v ON v.path_id=p.id"
                          " WHERE p.source=? AND substr(p.path, 1, ?)=? LIMIT 1", below))


def _disc_copies(store: Store, source: Source, rel: bytes) -> list[Copy]:
    """Each checkpoint holding `rel` whose discs holding it are all verified."""
    rows = store.all(
        "SELECT f.number, f.disc, d.volid, d.state, SUM(CASE WHEN f.path=? THEN f.size END) AS size,"
        " MAX(CASE WHEN f.path=? THEN f.mtime END) AS mtime, COUNT(*) AS n FROM disc_files f"
        " LEFT JOIN discs d ON d.number=f.number AND d.disc=f.disc"
        " WHERE f.source=? AND (f.path=? OR substr(f.path, 1, ?)=?) GROUP BY f.number, f.disc ORDER BY f.number, f.disc",
        (rel, rel, source.id, rel, len(rel) + 1, rel + b"/"))
    by_number: dict[int, list] = {}
    for r in rows:
        by_number.setdefault(r["number"], []).append(r)
    digests = _digests(store, source.id, rel)
    dir_path = directory_of(source, rel).path
    out, away_ranked = [], set()
    for number, discs in by_number.items():
        if any(d["state"] != "verified" for d in discs):
            continue
        taken = store.one(f"{made_first()}SELECT b.id, b.status, {as_made()} AS made FROM checkpoint_dirs c"
                          " JOIN backups b ON b.id=c.backup_id WHERE c.number=? AND c.source=? AND c.path=?",
                          (source.id, number, source.id, dir_path))
        cp = store.one("SELECT created, discs FROM checkpoints WHERE number=?", (number,))
        size = sum(d["size"] or 0 for d in discs)
        is_file = all(d["mtime"] is not None for d in discs)
        copy = Copy("disc", taken["made"] if taken else (cp["created"] if cp else 0.0), checkpoint=number,
                    discs=[(d["disc"], d["volid"] or layout.volid(number, d["disc"])) for d in discs],
                    of_discs=cp["discs"] if cp else len(discs),
                    version=(size, max(d["mtime"] for d in discs)) if is_file else None,
                    digest=digests.get(number) if is_file else None, taken_from=taken["id"] if taken else None,
                    rank=_rank_of(taken))
        away = unknown_backups.taken_unread(store, number, source.id, dir_path) if taken is None else None
        if away is not None:
            _rank_by_away(store, source.id, number, away, copy)
            away_ranked.add(number)
        elif taken is None:
            _rank_by_guess(store, source.id, rel, copy)
        out.append(copy)
    _before_later(out, away_ranked)
    return out


def _rank_of(taken) -> float:
    """A disc's rank among copies of its time: its backup's id, as that backup's own; of a deleted
    backup none (below the backups of its time): rebuild-state records one it reads of a checkpoint's
    copy of the state under an id after those of the backups on the media, which says nothing of
    when it was made."""
    return float(taken["id"]) if taken and taken["status"] != "deleted" else 0.0


def _before_later(discs: list[Copy], away_ranked: set[int]) -> None:
    """A checkpoint took the newest backup then: one made later holds the newer state. A disc copy
    ranked by a backup rebuild-state did not read (_rank_by_away) that a later checkpoint's copy,
    ranked by its backup, is dated before (a clock ahead then, or behind at that later backup) is
    ranked just before that one."""
    later = None        # (when, rank, checkpoint) of the earliest of the checkpoints made after
    for c in sorted(discs, key=lambda c: -(c.checkpoint or 0)):
        if c.checkpoint in away_ranked and later is not None and later[0] < c.when:
            c.when, c.rank = later[0], later[1]
            c.guess = (f"{c.guess}; taken to be before checkpoint {later[2]}, made after it and dated"
                       f" {fmt.stamp(later[0])}")
        if (c.taken_from is not None or c.checkpoint in away_ranked) and (later is None or c.when <= later[0]):
            later = (c.when, c.rank, c.checkpoint)


def _rank_by_away(store: Store, source: str, number: int, away: dict, copy: Copy) -> None:
    """Rank a disc copy taken from a backup the database does not know (on a medium rebuild-state
    did not read) by that backup's start, or, when a backup made after it started before it (a
    clock ahead then), just before that one's (as store.as_made ranks a backup it knows)."""
    taken = (f"checkpoint {number} was taken from backup {fmt.name(str(away.get('name')))} on medium"
             f" {fmt.name(str(away.get('medium')))}, which rebuild-state did not read")
    after = unknown_backups.made_after(store, source, away)
    if after is None:
        copy.when, copy.rank = away["started"], float("inf")     # every backup known then was made before
        copy.guess = f"{taken}: taken to be as of that backup's start ({fmt.stamp(copy.when)})"
        before = unknown_backups.made_before(store, source, away)
        if before is not None and before[0] > copy.when:
            copy.when, copy.rank = before[0], before[1] + 0.5
            copy.guess = (f"{taken}, dated {fmt.stamp(away['started'])}: taken to be after the backups the"
                          f" checkpoint knew, the newest of them dated {fmt.stamp(copy.when)} (a clock behind then)")
        return
    copy.when = after["started"]
    row = queries.backup_named(store, source, after["medium"], after["name"])
    copy.rank = row["id"] - 0.5 if row else float("-inf")     # just below it; gone: below every backup of its time
    name, medium = fmt.name(after["name"]), fmt.name(after["medium"])
    copy.guess = (f"{taken}, dated {fmt.stamp(away['started'])}: taken to be before backup {name} on medium"
                  f" {medium}, made after it and dated {fmt.stamp(copy.when)} (a clock ahead then)")


def _digests(store: Store, source: str, rel: bytes) -> dict[int, tuple[tuple[int, str], ...]]:
    """checkpoint -> (size, sha256) of each part of the file `rel` on its discs, where the disc
    catalog has a checksum of every part."""
    parts: dict[int, list] = {}
    for r in store.all("SELECT number, size, sha256 FROM disc_files WHERE source=? AND path=?"
                       " ORDER BY number, COALESCE(part, 0)", (source, rel)):
        parts.setdefault(r["number"], []).append((r["size"], r["sha256"]))
    return {n: tuple(p) for n, p in parts.items() if all(sha and sha not in MARKS for _, sha in p)}


def _rank_by_guess(store: Store, source: str, rel: bytes, copy: Copy) -> None:
    """Rank a disc copy whose checkpoint does not record the backup it read (a database rebuilt
    from discs that do not name it): as of the newest backup holding a file of the same size and
    mtime, else below every backup."""
    unknown = f"checkpoint {copy.checkpoint} does not record the backup it was taken from"
    held = _backup_copies(store, source, rel, copy.version) if copy.version is not None else []
    if held:
        like = max(held, key=lambda c: (c.when, c.backup["id"]))
        copy.when, copy.rank = like.when, like.rank
        copy.guess = (f"{unknown}: taken to be as of {like.describe()} ({fmt.stamp(like.when)}), which holds a"
                      f" file of the same size and mtime")
        return
    copy.below_backups = True
    copy.guess = (f"{unknown}{' and no backup holds a file of its size and mtime' if copy.version else ''}:"
                  f" taken to be older than every backup")


def copies_of(store: Store, source: Source, rel: bytes) -> list[Copy]:
    """Every copy of `rel`, newest first (a backup before a disc holding the same state; a disc
    whose backup is not known and matches none, after every backup)."""
    return newest_first(_backup_copies(store, source.id, rel, looked_for=True) + _disc_copies(store, source, rel))


def newest_first(copies: list[Copy]) -> list[Copy]:
    return sorted(copies, key=lambda c: (c.below_backups, -c.when, -c.rank, c.kind != "backup", -(c.checkpoint or 0)))


def _backups_of_version(cfg: Config, store: Store, source: str, rel: bytes, size: int, mtime: int) -> list[Copy]:
    """The backups holding this version of a file, one per medium: those on a medium mounted now
    first, each part newest first."""
    held = [c for c in _backup_copies(store, source, rel, (size, mtime)) if configured(cfg, c.medium)]
    held.sort(key=lambda c: (medium_problem(cfg.medium(c.medium), store) is not None, -c.when))
    return held


def configured(cfg: Config, medium_id: str) -> bool:
    """Whether the config names the medium: one taken out of it (retired, lost) keeps its backups
    in the state, but it has no path to read them at, and is never asked for."""
    return any(m.id == medium_id for m in cfg.media)


def copy_of_version(cfg: Config, store: Store, source: Source, rel: bytes, size: int, mtime: int) -> Copy | None:
    """Where to restore this version of a file from: the newest backup holding it on a medium
    mounted now, else the newest checkpoint whose verified discs hold it (the restore asks for each
    disc that is not in the drive), else the newest backup holding it (its medium is then asked
    for); None: no medium and no verified disc holds it."""
    held = _backups_of_version(cfg, store, source.id, rel, size, mtime)
    if held and medium_problem(cfg.medium(held[0].medium), store) is None:
        return held[0]
    discs = [c for c in _disc_copies(store, source, rel) if c.version == (size, mtime)]
    if discs:
        return max(discs, key=lambda c: (c.when, c.checkpoint))
    return held[0] if held else None


def with_at_hand(version_json: dict, at_hand: set[str]) -> dict:
    """A found version's JSON (catalog.Version.as_json) with `at_hand` on each medium location."""
    for loc in version_json["locations"]:
        if loc["kind"] == "backup":
            loc["at_hand"] = loc["medium"] in at_hand
    return version_json


def not_at_hand(cfg: Config, store: Store, copy: Copy, emit: Emit = no_emit, cancel=None) -> str | None:
    """Why `copy` cannot be read now, or None when it can. A mount that hangs is said in the
    answer; an unmount that hangs after the look (the medium left mounted), to `emit`."""
    if copy.kind == "backup":
        from rabtui.restore.locks_unmade import mounted

        if not configured(cfg, copy.medium):
            return f"medium {copy.medium} is not in the configuration"
        medium = cfg.medium(copy.medium)
        try:
            with mounted(medium, emit, cfg.state_dir, None, cancel=cancel):     # its lock files unmade too (a look)
                return medium_problem(medium, store)
        except WorkFailed as exc:
            return str(exc)
    from rabtui.restore.disc_drive import disc_in_drive

    images = xorriso.is_image_drive(cfg.checkpoint.drive)
    try:
        found = [disc_in_drive(cfg, store, copy.checkpoint, disc, volid, cancel) for disc, volid in copy.discs]
    except WorkFailed as exc:     # a disc whose tree loops
        return str(exc)
    present = [got == volid for (_, volid), (_, got) in zip(copy.discs, found)]
    if all(present) or (not images and any(present)):
        return None
    missing = [d for d, ok in zip(copy.discs, present) if not ok]
    copy.missing = missing[0]      # the disc to ask for
    return f"disc {', '.join(volid for _, volid in missing)} is not in {cfg.checkpoint.drive}"
