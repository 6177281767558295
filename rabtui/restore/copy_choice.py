"""Which copy of a path a restore reads (copies.py lists them): the newest at hand, else the
newest copy that is, else each asked for in turn; and what a restore from an older copy says.

An older copy holds the same as the newest when both come from one backup, or when the file's
sha256 is the same on both (discs; a backup has the one of a disc taken from it). Otherwise a file
of the same size and mtime is the same version as the backups tell versions apart (rsync's own
test), not known to be the same content (it may have been rewritten with its mtime kept): a restore
that reads it says so in its log, and does not count it as an older state.
"""

from __future__ import annotations

import os

from rabtui import fmt
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.config import Config, Source
from rabtui.errors import WorkFailed
from rabtui.events import ABORT, READY, SKIP, WARNING, Emit, Event, Question, no_emit
from rabtui.media import below, unknown_backups
from rabtui.media.at_hand import ask_in_turn, medium_problem
from rabtui.restore import archive_elsewhere
from rabtui.restore.copies import Copy, configured, copies_of, newest_first, not_at_hand
from rabtui.restore.in_backup import roots_of
from rabtui.restore.locks_unmade import mounted
from rabtui.state import catalog
from rabtui.state.store import Store

INSERT_MEDIUM = "insert_medium"
INSERT_DISC = "insert_disc"


SAME = "same"                 # the same content
DIFFERENT = "different"       # another content (or not known to be the same)
LOOKS_SAME = "looks the same"  # the same sizes and mtimes, the content not compared

# what a warning of `choose` says: an older state than the newest copy's was read, or the copy
# read (the newest at hand, or one holding the newest's state) is ranked on a guess
OLDER = "older"
GUESS = "guess"
UNSEEN = "unseen"     # a medium may hold backups the state database does not know (media/unknown_backups.py)
ELSEWHERE = "elsewhere"   # files of an archive directory that other copies hold, not the one read


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


def held_at_hand(cfg: Config, store: Store, source: Source, rel: bytes, copy: Copy, emit: Emit = no_emit,
                 cancel=None) -> Copy | None:
    """`copy`, or when it is unsure and at hand, the newest of its medium's backups it stands for
    (Copy.looked) whose tree, or an archive directory's union, holds `rel` (a directory emptied
    since); None when none does (a directory gone before their backups)."""
    if not copy.unsure or not configured(cfg, copy.medium):
        return copy
    medium = cfg.medium(copy.medium)
    try:
        with mounted(medium, emit, cfg.state_dir, None, cancel=cancel), Shortcuts() as sc:
            if medium_problem(medium, store) is not None or not os.path.isdir(sc.path(copy.backup["path"])):
                return copy     # said when it is read
            for row in copy.looked:
                for root, under in roots_of(cfg, source, row, rel) if os.path.isdir(sc.path(row["path"])) else ():
                    if below.symlink_on_the_way(root, under) is not None \
                            or os.path.lexists(sc.path(os.path.join(root, under) if under else root)):
                        return copy if row is copy.backup else \
                            Copy("backup", row["made"], rank=row["id"], medium=row["medium"], backup=row)
            return None
    except (WorkFailed, OSError):
        return copy


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


def _as_of(copy: Copy) -> str:
    """When the state a copy holds was taken. A backup dated ahead of one made after it (a clock
    ahead then) is ranked at that one's start (store.as_made): said as before it, with its own date."""
    started = copy.backup["started"] if copy.kind == "backup" else None
    if started is not None and started > copy.when + 60:
        return f"before {fmt.stamp(copy.when)} (dated {fmt.stamp(started)}: a clock ahead then)"
    return fmt.stamp(copy.when)


def _question(cfg: Config, copy: Copy, k: int, n: int, shown: str, why: str, following: Copy | None) -> Question:
    then = f"skip to go on to copy {k + 1} ({following.describe()})" if following else "skip to give up"
    head = (f"Copy {k} of {n} of {shown} ({copy.describe()}, as of {_as_of(copy)}) is not at hand:"
            f" {why}.")
    if copy.kind == "backup":
        medium = cfg.medium(copy.medium)
        return Question(INSERT_MEDIUM, f"{head} Insert or mount medium {medium.id} at {medium.path}, then answer"
                                       f" ready; {then}; abort to stop.", (READY, SKIP, ABORT),
                        {"medium": medium.id, "path": medium.path, "backup": copy.backup["name"],
                         "copy": k, "copies": n})
    disc, volid = copy.missing or copy.discs[0]
    return Question(INSERT_DISC, f"{head} Insert checkpoint {copy.checkpoint} disc {disc} of {copy.of_discs}"
                                 f" (volume id {volid}) into {cfg.checkpoint.drive}, then answer ready; {then};"
                                 f" abort to stop.", (READY, SKIP, ABORT),
                    {"number": copy.checkpoint, "disc": disc, "discs": copy.of_discs, "volid": volid,
                     "copy": k, "copies": n})


def choose(cfg: Config, store: Store, source: Source, rel: bytes, *, emit: Emit, prompter=None,
           cancel=None) -> tuple[Copy, list[tuple[str, str]]]:
    """The copy to restore `rel` from, and the warnings to report with the result, each with its
    kind (OLDER: an older state than the newest copy's was read; GUESS; ELSEWHERE: other copies
    hold files of an archive directory that it lacks; UNSEEN: a medium may hold a newer copy that
    the state database does not know)."""
    shown = "/" + fmt.name(rel)
    unseen = unknown_backups.not_known(cfg, store, {source.id}, emit, cancel)
    listed = copies_of(store, source, rel)
    copies = newest_first([held for c in listed
                           if (held := held_at_hand(cfg, store, source, rel, c, emit, cancel)) is not None])
    copies = copies or listed      # none holds it: the newest is read, and says so
    if not copies:
        raise WorkFailed(f"source {source.id} has no complete backup and no verified disc holding {shown}"
                         + "".join(f"; {line}" for line in unseen),
                         hint="mount it and run `rabtui rebuild-state`" if unseen else None)
    chosen, warned = _choose(cfg, store, source, rel, shown, copies, emit=emit, prompter=prompter, cancel=cancel)
    for line in archive_elsewhere.lacking(cfg, store, source, rel, chosen, copies):
        emit(Event(WARNING, line))
        warned.append((ELSEWHERE, line))
    for line in unseen:
        warning = (f"{line}: a newer copy of {shown} may be there, which this restore does not know;"
                   " `rabtui rebuild-state` with it mounted records its backups")
        emit(Event(WARNING, warning))
        warned.append((UNSEEN, warning))
    return chosen, warned


def _choose(cfg: Config, store: Store, source: Source, rel: bytes, shown: str, copies: list[Copy], *, emit: Emit,
            prompter, cancel) -> tuple[Copy, list[tuple[str, str]]]:
    newest = copies[0]
    why = not_at_hand(cfg, store, newest, emit, cancel)
    if why is None:
        # the only copy there is was ranked against nothing: no guess to say
        return newest, _guessed(newest, shown, emit) if len(copies) > 1 else []
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
    if chosen.unsure:       # at hand now: the backup of its medium that holds the path, if one does
        held = held_at_hand(cfg, store, source, rel, chosen, emit, cancel)
        rest = [c for c in copies if c is not chosen]
        if held is None and rest:
            return _choose(cfg, store, source, rel, shown, rest, emit=emit, prompter=prompter, cancel=cancel)
        if chosen is newest:
            newest = held or chosen
        chosen = held or chosen
    if chosen is newest:
        return chosen, _guessed(chosen, shown, emit) if len(copies) > 1 else []
    return chosen, _older(store, source, rel, chosen, newest, copies, shown, emit)


def _guessed(used: Copy, shown: str, emit: Emit) -> list[tuple[str, str]]:
    """The warning for a copy taken to be the newest on a guess (its checkpoint's backup unknown)."""
    if used.guess is None:
        return []
    warning = f"restoring {shown} from {used.describe()}, ranked on a guess: {used.guess}"
    emit(Event(WARNING, warning))
    return [(GUESS, warning)]


def _older(store: Store, source: Source, rel: bytes, used: Copy, newest: Copy, copies: list[Copy], shown: str,
           emit: Emit) -> list[tuple[str, str]]:
    state = same_state(store, source, rel, used, newest, copies)
    guess = f"; {used.describe()} is ranked on a guess: {used.guess}" if used.guess else ""
    if state == SAME and not guess:
        emit(Event(WARNING, f"reading {shown} from {used.describe()}, which holds the same as the newest copy"))
        return []
    if state == SAME:
        warning = f"restoring {shown} from {used.describe()}, which holds the same as the newest copy{guess}"
    elif state == LOOKS_SAME and not guess:
        # the same version as the backups themselves tell versions apart (rsync's size and mtime):
        # said with its basis, not counted as an older state
        what = "a file" if used.version is not None else "files"
        emit(Event(WARNING, f"reading {shown} from {used.describe()}, which holds {what} of the same size and"
                            f" mtime as the newest copy ({newest.describe()}, not at hand); the content itself"
                            " is not known to be the same (no checksum of both)"))
        return []
    elif state == LOOKS_SAME:
        warning = (f"restoring {shown} as of {_as_of(used)} from {used.describe()}, which holds the same size"
                   f" and mtime as the newest copy ({newest.describe()}, not at hand){guess}")
    else:
        warning = (f"restoring {shown} as of {_as_of(used)} from {used.describe()}: the newest copy"
                   f" ({newest.describe()}, {fmt.stamp(newest.when)}) was not at hand{guess}")
    emit(Event(WARNING, warning))
    return [(OLDER if state == DIFFERENT else GUESS, warning)]
