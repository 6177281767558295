"""Every copy of a path that a restore can read, and which of them is at hand.

Media rotate: on a given day most of them are away. A path of a source has a copy in the newest
backup holding it on each medium, and on each checkpoint whose discs holding it are verified.
Without `--backup`/`--checkpoint`, restore reads the newest copy; when that one is not at hand (its
medium not mounted, its disc not in the drive) it says so and reads the newest copy that is, or,
when none is, asks for each copy in turn (newest first: ready once it is there, skip to the next, abort).

A disc copy is as new as the backup its checkpoint was taken from. A checkpoint that does not
record that backup (rebuild-state found no README naming it) is ranked by what the catalog tells:
a file as of the newest backup holding a version of its size and mtime, anything else below every
backup; a restore that reads it says it rests on that guess. An older copy holds the same as the
newest when both come from one backup, or when the file's sha256 is the same on both (discs; a
backup has the one of a disc taken from it). Otherwise a file of the same size and mtime is the
same version as the backups tell versions apart (rsync's own test), not known to be the same
content (it may have been rewritten with its mtime kept): a restore that reads it says so in its
log, and does not count it as an older state.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from rabtui import fmt
from rabtui.checkpoint import layout, xorriso
from rabtui.checkpoint.content import MARKS
from rabtui.checkpoint.marks import DIR_MARK
from rabtui.config import Config, Source
from rabtui.errors import UsageError, WorkFailed
from rabtui.events import ABORT, READY, SKIP, WARNING, Emit, Event, Question, no_emit
from rabtui.media.at_hand import ask_in_turn, medium_problem
from rabtui.state import catalog
from rabtui.state.catalog import rel_path
from rabtui.state.store import KEPT, RESTORABLE_SQL, Store, as_made, made_first

INSERT_MEDIUM = "insert_medium"
INSERT_DISC = "insert_disc"


@dataclass
class Copy:
    kind: str                       # "backup" | "disc"
    when: float                     # when the state it holds was taken (the backup's start, as made: store.as_made)
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


def _backup_copies(store: Store, source: str, rel: bytes, version: tuple[int, int] | None = None) -> list[Copy]:
    """The newest restorable backup holding `rel` on each medium (a file known to the catalog: the
    newest holding one of its versions, or `version`; anything else: the newest backup)."""
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
    out: dict[str, Copy] = {}
    for r in rows:
        if r["medium"] not in out:
            out[r["medium"]] = Copy("backup", r["made"], medium=r["medium"], backup=r,
                                    version=(r["v_size"], r["v_mtime"]) if is_file else None)
    return list(out.values())


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
    out = []
    for number, discs in by_number.items():
        if any(d["state"] != "verified" for d in discs):
            continue
        taken = store.one(f"{made_first()}SELECT b.id, {as_made()} AS made FROM checkpoint_dirs c"
                          " JOIN backups b ON b.id=c.backup_id WHERE c.number=? AND c.source=? AND c.path=?",
                          (source.id, number, source.id, dir_path))
        cp = store.one("SELECT created, discs FROM checkpoints WHERE number=?", (number,))
        size = sum(d["size"] or 0 for d in discs)
        is_file = all(d["mtime"] is not None for d in discs)
        copy = Copy("disc", taken["made"] if taken else (cp["created"] if cp else 0.0), checkpoint=number,
                    discs=[(d["disc"], d["volid"] or layout.volid(number, d["disc"])) for d in discs],
                    of_discs=cp["discs"] if cp else len(discs),
                    version=(size, max(d["mtime"] for d in discs)) if is_file else None,
                    digest=digests.get(number) if is_file else None, taken_from=taken["id"] if taken else None)
        if taken is None:
            _rank_by_guess(store, source.id, rel, copy)
        out.append(copy)
    return out


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
        copy.when = like.when
        copy.guess = (f"{unknown}: taken to be as of {like.describe()} ({fmt.stamp(like.when)}), which holds a"
                      f" file of the same size and mtime")
        return
    copy.below_backups = True
    copy.guess = (f"{unknown}{' and no backup holds a file of its size and mtime' if copy.version else ''}:"
                  f" taken to be older than every backup")


def copies_of(store: Store, source: Source, rel: bytes) -> list[Copy]:
    """Every copy of `rel`, newest first (a backup before a disc holding the same state; a disc
    whose backup is not known and matches none, after every backup)."""
    copies = _backup_copies(store, source.id, rel) + _disc_copies(store, source, rel)
    copies.sort(key=lambda c: (c.below_backups, -c.when, c.kind != "backup"))
    return copies


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
        from rabtui.media.mounting import mounted

        if not configured(cfg, copy.medium):
            return f"medium {copy.medium} is not in the configuration"
        medium = cfg.medium(copy.medium)
        try:
            with mounted(medium, emit, state_dir=cfg.state_dir):
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
    missing = [volid for (_, volid), ok in zip(copy.discs, present) if not ok]
    return f"disc {', '.join(missing)} is not in {cfg.checkpoint.drive}"


SAME = "same"                 # the same content
DIFFERENT = "different"       # another content (or not known to be the same)
LOOKS_SAME = "looks the same"  # the same sizes and mtimes, the content not compared


def same_state(store: Store, source: Source, rel: bytes, a: Copy, b: Copy, others: list[Copy] = ()) -> str:
    """Whether two copies hold the same content at `rel`, as far as the catalog tells: SAME when
    they come from one backup or the file has the same sha256 on both (a backup has the one of a
    disc in `others` taken from it), LOOKS_SAME when only sizes and mtimes can be compared and
    agree, else DIFFERENT."""
    a_from, b_from = _backup_id(a), _backup_id(b)
    if a_from is not None and a_from == b_from:
        return SAME
    if a.version is not None or b.version is not None:
        if a.version != b.version:
            return DIFFERENT
        a_digest, b_digest = _digest(a, others), _digest(b, others)
        if a_digest and b_digest:
            if a_digest == b_digest:
                return SAME
            if [size for size, _ in a_digest] == [size for size, _ in b_digest]:
                return DIFFERENT
        return LOOKS_SAME
    if a.kind == b.kind == "disc":
        a_files, b_files = _disc_contents(store, source, rel, a), _disc_contents(store, source, rel, b)
        if a_files is not None and a_files == b_files:
            return SAME
    a_row, b_row = _backup_row(store, a), _backup_row(store, b)
    if a_row is not None and b_row is not None:
        archive = source.archive_paths
        if catalog.contents(store, a_row, archive, rel) == catalog.contents(store, b_row, archive, rel):
            return LOOKS_SAME
    return DIFFERENT


def _digest(copy: Copy, others: list[Copy]):
    """The copy's checksums: its own (a disc), else those of a disc taken from the same backup."""
    if copy.digest or _backup_id(copy) is None:
        return copy.digest
    return next((c.digest for c in others if c.digest and _backup_id(c) == _backup_id(copy)), None)


def _backup_id(copy: Copy) -> int | None:
    return copy.backup["id"] if copy.kind == "backup" else copy.taken_from


def _backup_row(store: Store, copy: Copy):
    if copy.kind == "backup":
        return copy.backup
    return store.one("SELECT * FROM backups WHERE id=?", (copy.taken_from,)) if copy.taken_from else None


def _disc_contents(store: Store, source: Source, rel: bytes, copy: Copy) -> set | None:
    """(path, part, size, mtime, sha256) of each file below `rel` on the checkpoint's discs; None
    when the disc catalog lacks a checksum."""
    rows = {(bytes(r["path"]), r["part"], r["size"], r["mtime"], r["sha256"]) for r in store.all(
        "SELECT path, part, size, mtime, sha256 FROM disc_files WHERE number=? AND source=?"
        " AND (path=? OR substr(path, 1, ?)=?)", (copy.checkpoint, source.id, rel, len(rel) + 1, rel + b"/"))}
    return None if any(r[4] is None for r in rows) else rows


def _question(cfg: Config, copy: Copy, k: int, n: int, shown: str, why: str, following: Copy | None) -> Question:
    then = f"skip to go on to copy {k + 1} ({following.describe()})" if following else "skip to give up"
    head = (f"Copy {k} of {n} of {shown} ({copy.describe()}, as of {fmt.stamp(copy.when)}) is not at hand:"
            f" {why}.")
    if copy.kind == "backup":
        medium = cfg.medium(copy.medium)
        return Question(INSERT_MEDIUM, f"{head} Insert or mount medium {medium.id} at {medium.path}, then answer"
                                       f" ready; {then}; abort to stop.", (READY, SKIP, ABORT),
                        {"medium": medium.id, "path": medium.path, "backup": copy.backup["name"],
                         "copy": k, "copies": n})
    disc, volid = copy.discs[0]
    return Question(INSERT_DISC, f"{head} Insert checkpoint {copy.checkpoint} disc {disc} of {copy.of_discs}"
                                 f" (volume id {volid}) into {cfg.checkpoint.drive}, then answer ready; {then};"
                                 f" abort to stop.", (READY, SKIP, ABORT),
                    {"number": copy.checkpoint, "disc": disc, "discs": copy.of_discs, "volid": volid,
                     "copy": k, "copies": n})


def choose(cfg: Config, store: Store, source: Source, rel: bytes, *, emit: Emit, prompter=None,
           cancel=None) -> tuple[Copy, list[str]]:
    """The copy to restore `rel` from, and the warnings to report with the result (an older state
    than the newest copy's was read)."""
    shown = "/" + fmt.name(rel)
    copies = copies_of(store, source, rel)
    if not copies:
        raise WorkFailed(f"source {source.id} has no complete backup and no verified disc holding {shown}")
    newest = copies[0]
    why = not_at_hand(cfg, store, newest, emit, cancel)
    if why is None:
        return newest, _guessed(newest, shown, emit)
    emit(Event(WARNING, f"the newest copy of {shown} ({newest.describe()}) is not at hand: {why}"))
    for c in copies[1:]:
        if not_at_hand(cfg, store, c, emit, cancel) is None:
            return c, _older(store, source, rel, c, newest, copies, shown, emit)
    if prompter is None:
        raise WorkFailed(f"no copy of {shown} is at hand: {why}",
                         hint=f"mount medium {newest.medium}" if newest.kind == "backup" else "insert the disc")
    askable = [c for c in copies if c.kind != "backup" or configured(cfg, c.medium)]
    if not askable:
        raise WorkFailed(f"no copy of {shown} is at hand: {why}")
    chosen = ask_in_turn(askable, lambda c: not_at_hand(cfg, store, c, emit, cancel),
                         lambda c, k, n, why, following: _question(cfg, c, k, n, shown, why, following),
                         prompter, cancel, shown)
    if chosen is newest:
        return chosen, _guessed(chosen, shown, emit)
    return chosen, _older(store, source, rel, chosen, newest, copies, shown, emit)


def _guessed(used: Copy, shown: str, emit: Emit) -> list[str]:
    """The warning for a copy taken to be the newest on a guess (its checkpoint's backup unknown)."""
    if used.guess is None:
        return []
    warning = f"{shown} restored from {used.describe()}, ranked on a guess: {used.guess}"
    emit(Event(WARNING, warning))
    return [warning]


def _older(store: Store, source: Source, rel: bytes, used: Copy, newest: Copy, copies: list[Copy], shown: str,
           emit: Emit) -> list[str]:
    state = same_state(store, source, rel, used, newest, copies)
    guess = f"; {used.describe()} is ranked on a guess: {used.guess}" if used.guess else ""
    if state == SAME and not guess:
        emit(Event(WARNING, f"reading {shown} from {used.describe()}, which holds the same as the newest copy"))
        return []
    if state == SAME:
        warning = f"{shown} restored from {used.describe()}, which holds the same as the newest copy{guess}"
    elif state == LOOKS_SAME and not guess:
        # the same version as the backups themselves tell versions apart (rsync's size and mtime):
        # said with its basis, not counted as an older state
        what = "a file" if used.version is not None else "files"
        emit(Event(WARNING, f"reading {shown} from {used.describe()}, which holds {what} of the same size and"
                            f" mtime as the newest copy ({newest.describe()}, not at hand); the content itself"
                            " is not known to be the same (no checksum of both)"))
        return []
    elif state == LOOKS_SAME:
        warning = (f"{shown} restored as of {fmt.stamp(used.when)} from {used.describe()}, which holds the same size"
                   f" and mtime as the newest copy ({newest.describe()}, not at hand){guess}")
    else:
        warning = (f"{shown} restored as of {fmt.stamp(used.when)} from {used.describe()}: the newest copy"
                   f" ({newest.describe()}, {fmt.stamp(newest.when)}) was not at hand{guess}")
    emit(Event(WARNING, warning))
    return [warning]
