"""Restore a file or directory of a source from a backup on a medium or from a checkpoint disc,
into a local directory (`--to DIR`, the original path below it) or back onto the source.

Names are bytes, checked one component at a time (no `..`, no absolute names, no NUL). Local
writes (to a directory, or onto a local source) go through rabtui.restore.write, which never
follows a symlink below the target. Onto a remote source, rsync is run without --keep-dirlinks
after a check on the source itself that no component of the destination, and no path the restore
would write, is a symlink there. An existing file is never replaced without `overwrite`.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field

from rabtui import faults, fmt, privacy
from rabtui.state import catalog, locks, restore_places
from rabtui.state.catalog import rel_path
from rabtui.config import Config, Source
from rabtui.config.model import name_too_long
from rabtui.errors import UsageError, WorkFailed
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.events import ABORT, LOG, READY, WARNING, Emit, Event, Question, no_emit
from rabtui.restore import as_saved, backup_gone, copy_choice, locks_unmade
from rabtui.restore import staging as stagingmod
from rabtui.media import opened_dirs, union_look
from rabtui.media.at_hand import medium_problem
from rabtui.restore.copies import directory_of
from rabtui.restore.discs import extract_from_checkpoint
from rabtui.restore.as_of import as_of
from rabtui.restore.in_backup import backup_source_path, roots_of
from rabtui.restore.source_held import SourceHeld
from rabtui.restore.known_source import as_saved_by, check_restorable_onto, source_of
from rabtui.restore.target_dirs import Refused, check_name, made_target, remove_made
from rabtui.restore.target_places import ONTO_KEPT_HINT, target_of, target_problem
from rabtui.restore.tree_copy import copy_into
from rabtui.restore.written import Written
from rabtui.state.dir_lock import StateDirLock
from rabtui.state.store import RESTORABLE, Store


# --- what to restore from ---------------------------------------------------------------------


def choose_backup(store: Store, source: Source, name: str):
    """Backup `name` (or id) of the source, which must be restorable."""
    row = store.one("SELECT * FROM backups WHERE source=? AND (name=? OR CAST(id AS TEXT)=?)"
                    " AND status<>'deleted' ORDER BY id DESC LIMIT 1", (source.id, name, name))
    if row is None:
        raise UsageError(f"source {source.id} has no backup {name}")
    twice = catalog.named_twice(store, source.id, name)
    if twice and row["name"] == name:
        raise UsageError(twice, hint="give the backup to read by its id: --backup ID")
    if row["status"] not in RESTORABLE:
        raise UsageError(f"backup {name} of {source.id} is {row['status']}, not complete")
    return row


def _medium_ready(medium, store, prompter, cancel) -> None:
    while True:
        problem = medium_problem(medium, store)
        if problem is None:
            return
        if prompter is None:
            raise WorkFailed(problem)
        answer = prompter.ask(Question("insert_medium", f"{problem[0].upper()}{problem[1:]}."
                                       f" Insert or mount medium {medium.id}, then answer ready.",
                                       (READY, ABORT), {"medium": medium.id}), cancel)
        if answer != READY:
            raise WorkFailed("restore aborted: the medium is not there")


# --- the command ------------------------------------------------------------------------------------


class RestoreIncomplete(WorkFailed):
    """The restore could not finish; `result` says what it restored and the first error."""

    def __init__(self, message: str, result: "RestoreResult", **kw):
        super().__init__(message, **kw)
        self.result = result


@dataclass
class RestoreResult:
    source: str
    path: str                 # exact (surrogate-escaped); fmt.name() for a terminal
    origin: str               # "backup NAME on MEDIUM" | "checkpoint N"
    target: str
    written: Written | None = None
    summary: str = ""
    warnings: list[str] = field(default_factory=list)   # e.g. an older copy read: the newest was away
    older: bool = False       # an older state than the newest copy's was read (copy_choice.OLDER)
    guessed: bool = False     # the copy read is ranked on a guess (copy_choice.GUESS)
    unseen: bool = False      # a medium may hold a newer copy the state database does not know (copy_choice.UNSEEN)
    elsewhere: bool = False   # other copies hold files of an archive directory this one lacks (copy_choice.ELSEWHERE)

    def incomplete(self) -> bool:
        """Something was not restored (refused, kept, not possible on the target, an error)."""
        return bool(self.written and self.written.problems())

    def as_json(self, exit_code: int) -> dict:
        out = {"source": self.source, "path": self.path, "from": self.origin, "to": self.target,
               "exit_code": exit_code, "summary": self.summary, "warnings": self.warnings}
        if self.written is not None:
            out.update(self.written.as_json())
        return out


def restore(cfg: Config, store: Store, source_id: str, path: str | bytes, *, backup: str | None = None,
            checkpoint: int | None = None, to: str | os.PathLike | None = None, to_source: bool = False,
            overwrite: bool = False, emit: Emit = no_emit, cancel=None, prompter=None) -> RestoreResult:
    """Restore `path` of a source. The source's reading lock is held shared throughout: a cleanup
    deletes none of its backups meanwhile (one deleting some now makes this refuse, saying so)."""
    source = source_of(cfg, store, source_id)
    into = None if to_source or to is None else os.fsdecode(to)
    # onto a source on this machine, `--to /` writes where `--to-source` does
    onto = to_source or (into is not None and source.is_local and os.path.realpath(into) == "/")
    # a backup of the source meanwhile would save a half-restored tree (let go at a question: source_held.py)
    unheld: list[str] = []
    with contextlib.ExitStack() as stack:
        alone = stack.enter_context(StateDirLock(cfg.state_dir, f"a restore of {source.id}"))
        reading = stack.enter_context(locks_unmade.Reading(cfg.state_dir, source.id, unheld, emit, alone))
        if onto:
            locks_unmade.held(stack, locks.restoring_lock(cfg.state_dir, source.id), alone, emit)
        held = stack.enter_context(SourceHeld(cfg, store, source.id, emit, cancel, alone)) if onto else None
        locks_unmade.held(stack, _places(cfg, source, path, into, to_source, cancel), alone, emit)
        chosen = held is not None and backup is None and checkpoint is None   # a copy made meanwhile is said
        try:
            result = _restore(cfg, store, source, path, backup=backup, checkpoint=checkpoint, to=to,
                              to_source=to_source, overwrite=overwrite, emit=emit, cancel=cancel,
                              prompter=held.asking(prompter) if held is not None else prompter, reading=reading)
        except RestoreIncomplete as exc:
            exc.result.warnings += unheld + (held.said(exc.result.origin) if chosen else [])
            raise
        result.warnings += unheld + (held.said(result.origin) if chosen else [])
        return result


def _places(cfg: Config, source: Source, path: str | bytes, into: str | None, to_source: bool, cancel):
    """Where the restore writes on this machine, held (restore_places): its --to and the tree it
    writes there; onto a source here, the path's directory (there already) and the path."""
    if into is not None:
        return restore_places.restoring_into(cfg.state_dir, os.fsencode(into),
                                             os.path.join(os.fsencode(into), rel_path(path)), cancel)
    if to_source and source.is_local:
        writes = b"/" + rel_path(path)
        return restore_places.restoring_into(cfg.state_dir, os.path.dirname(writes), writes, cancel)
    return contextlib.nullcontext()


def _restore(cfg: Config, store: Store, source: Source, path: str | bytes, *, backup, checkpoint, to, to_source,
             overwrite, emit, cancel, prompter, reading) -> RestoreResult:
    if to_source:
        check_restorable_onto(cfg, source.id)
    rel = rel_path(path)
    if not rel:
        raise UsageError("give the path to restore (a file or directory of the source)")
    try:
        check_name(rel)
    except WorkFailed as exc:
        raise UsageError(exc.message, hint="give the path on the source, from /") from None
    too_long = name_too_long(os.fsdecode(b"/" + rel))
    if too_long:     # no backup holds it (the path cannot even be looked for through links)
        raise UsageError(f"{fmt.name(too_long)}: no backup holds such a path")
    if (to is None) == (not to_source):
        raise UsageError("give exactly one of --to DIR and --to-source")
    if backup and checkpoint is not None:
        raise UsageError("give at most one of --backup and --checkpoint")
    directory_of(source, rel)
    if to_source and source.is_local:
        _source_way_ready(source, rel)
        problem = target_problem(cfg, b"/" + rel)
        if problem:
            raise UsageError(f"/{fmt.name(rel)} is not restored onto {source.id}: {problem}", hint=ONTO_KEPT_HINT)
    if checkpoint is not None and store.one("SELECT 1 FROM checkpoints WHERE number=?", (checkpoint,)) is None:
        raise UsageError(f"there is no checkpoint {checkpoint}",
                         hint="rabtui checkpoint status lists them; if the state database was lost: rabtui rebuild-state")
    # the state directory's staging directories of killed restores (from discs onto a source, say):
    # each as large as what it restored, in the directory whose filling stops every backup
    stagingmod.remove_abandoned(os.fsencode(cfg.state_dir), emit)
    shown = "/" + fmt.name(rel)
    target = "source " + source.id if to_source else os.fspath(to)
    made = 0       # directories on the way to the target that this restore made
    if to is not None:
        # everything below names the target by this path, as the writer reaches it
        to, problem = target_of(cfg, to, rel)
        if problem:
            raise UsageError(f"{shown} is not restored into {target}: {problem}",
                             hint="restore into another directory")
        _target_ready(to, target)
        if privacy.others_can_change(to) is None:     # where a restore may stage, one killed may have
            stagingmod.remove_abandoned(to, emit, marked_only=True)
        made = _made(to, target)
    try:
        return _restore_from(cfg, store, source, rel, shown, target, backup=backup, checkpoint=checkpoint, to=to,
                             to_source=to_source, overwrite=overwrite, emit=emit, cancel=cancel, prompter=prompter,
                             reading=reading)
    except BaseException:
        if made:     # one that failed leaves no directory it made and wrote nothing in
            remove_made(to, made)
        raise


def _restore_from(cfg: Config, store: Store, source: Source, rel: bytes, shown: str, target: str, *, backup,
                  checkpoint, to, to_source, overwrite, emit, cancel, prompter, reading) -> RestoreResult:
    from rabtui.media import medium as mediamod

    warned: list[tuple[str, str]] = []
    if backup is None and checkpoint is None:   # the newest copy at hand (rabtui.restore.copy_choice)
        chosen, warned = copy_choice.choose(cfg, store, source, rel, emit=emit, prompter=prompter, cancel=cancel)
        if chosen.kind == "disc":
            checkpoint = chosen.checkpoint
        else:
            backup = str(chosen.backup["id"])
    if checkpoint is not None:
        with stagingmod.staged_in(cfg.state_dir, to, emit) as work_parent, \
                stagingmod.staging(work_parent, emit) as staging:
            apart: list[tuple[str, bytes, str]] = []   # hard links the discs could not keep
            closed: dict[bytes, int] = {}              # modes of directories opened up in the staging
            item = extract_from_checkpoint(cfg, store, source, checkpoint, rel, staging, prompter, cancel, emit,
                                           apart, closed)
            faults.point("restore.extracted")
            return _deliver(cfg, source, rel, item, to, to_source, overwrite, emit, cancel,
                            _result(source, rel, f"checkpoint {checkpoint}", target, warned),
                            not_restored=apart, staged=True, dir_modes=closed)
    row = choose_backup(store, source, backup)
    medium = cfg.medium(row["medium"])
    origin = f"backup {row['name']} on {medium.id}"
    emit(Event(LOG, f"restoring {shown} of {source.id} from {origin} to {target}"))
    # a 4,000-byte source path is deeper than the kernel takes below the medium's backup directory
    with locks_unmade.mounted(medium, emit, cfg.state_dir, reading.alone, cancel=cancel), Shortcuts() as sc, contextlib.ExitStack() as on_the_way:
        _medium_ready(medium, store, prompter, cancel)
        reading.on_medium(on_the_way, medium, row["path"])
        union_look.unions_looked_at(store, medium.id, medium.path, source)
        source = as_saved_by(store, source, row)    # each directory read as that backup saved it
        roots = roots_of(cfg, source, row, rel)     # the backup's own tree, and an archive's union
        for root, under in roots:   # a user other than root: through their closed directories
            on_the_way.enter_context(opened_dirs.searchable_on_the_way(root, under, cfg.state_dir))
        item = backup_source_path(cfg, source, row, rel, sc, store)
        pick = as_of(store, source, row, rel, item, sc, roots[1][0] if len(roots) > 1 else None)
        for shut in pick.closed if pick is not None else ():   # kept data's, read by a user other than root
            was = on_the_way.enter_context(opened_dirs.opened_to_read(shut, cfg.state_dir))
            pick.opened.update({os.path.normpath(os.path.join(shut, under)): mode for under, mode in was.items()})
        item = sc.path(item)
        if not os.path.lexists(item):
            raise backup_gone.not_there(shown, origin, row["path"], sc.path(row["path"]), source.id)
        result = _result(source, rel, origin, target, warned)
        times = mediamod.labelled_nanoseconds(medium, row["started"])     # a file's mtime tells it apart there too
        if to_source and not source.is_local and pick is None:    # rsync sends it as the backup holds it
            lost, saved = as_saved.lost_on_medium(store, source, row, rel, item, sc, times)
            if saved is None or not (saved.changed or lost):    # else what is there in a lost file's place is left out
                return _deliver(cfg, source, rel, item, to, to_source, overwrite, emit, cancel, result, pick,
                                exact_times=times, not_restored=lost)
        # read by a user other than root: the backup's directories closed to them are opened meanwhile
        with opened_dirs.opened_to_read(item, cfg.state_dir) as closed:
            lost, saved = as_saved.lost_on_medium(store, source, row, rel, item, sc, times)
            pick = saved if pick is None else pick     # one of another size is left out, never handed back as the file saved
            return _deliver(cfg, source, rel, item, to, to_source, overwrite, emit, cancel, result, pick,
                            exact_times=times, dir_modes=closed, not_restored=lost)


def _target_ready(to: bytes, given: str) -> None:
    """The directory `to` (resolved, `given` as the operator named it) can be written in, or one can
    be made there; else why not (the directory itself is made when it is written in)."""
    there = to
    while not os.path.lexists(there):
        there = os.path.dirname(there)
    if not os.path.isdir(there):
        raise UsageError(f"--to {fmt.name(os.fsencode(given))} cannot be made: {fmt.name(there)} is not a directory")
    if not os.access(there, os.W_OK | os.X_OK):
        where = f"the target directory {fmt.name(os.fsencode(given))}" if there == to else fmt.name(there)
        why = "read-only file system" if os.statvfs(there).f_flag & os.ST_RDONLY else "permission denied"
        raise WorkFailed(f"cannot write in {where}: {why}")


def _source_way_ready(source: Source, rel: bytes) -> None:
    """Onto a local source, the configured directory and all below it are opened without following
    a symlink, but the directories above it by their names: refused, before anything is read, when
    someone other than root and this user can change one of them (and so put a symlink there that
    leads the restore elsewhere on this machine), as onto an SSH source."""
    d = directory_of(source, rel)
    above = os.path.dirname(os.fsencode(d.path).rstrip(b"/")) or b"/"
    why = privacy.others_can_change(above)
    if why:
        raise WorkFailed(f"refusing to restore onto {source.id}: {why}, on the way to"
                         f" {fmt.name(os.fsencode(d.path))}; someone other than root and rabtui's user could put a"
                         f" symlink in its place while the restore writes, and it would be followed; nothing written",
                         hint="restore with --to DIR and move the files in place, or let only root or this user"
                              " change the directories above it")


def _made(to: bytes, given: str) -> int:
    """The target directory made, as the restore's writer will open it (see open_target); returns
    how many directories on the way to it were made (removed again when the restore fails)."""
    try:
        fd, made = made_target(to)
        os.close(fd)
        return made
    except Refused as exc:
        raise WorkFailed(f"refusing to restore into {fmt.name(os.fsencode(given))}: {exc}") from None
    except OSError as exc:
        raise WorkFailed(f"cannot make the target directory {fmt.name(os.fsencode(given))}:"
                         f" {os.strerror(exc.errno or 0).lower()}") from None


def _result(source: Source, rel: bytes, origin: str, target: str, warned: list[tuple[str, str]]) -> "RestoreResult":
    return RestoreResult(source.id, "/" + os.fsdecode(rel), origin, target, warnings=[w for _, w in warned],
                         older=any(kind == copy_choice.OLDER for kind, _ in warned),
                         guessed=any(kind == copy_choice.GUESS for kind, _ in warned),
                         unseen=any(kind == copy_choice.UNSEEN for kind, _ in warned),
                         elsewhere=any(kind == copy_choice.ELSEWHERE for kind, _ in warned))


def _summary(result: "RestoreResult", w: Written, where: str) -> str:
    head = f"restored /{fmt.name(os.fsencode(result.path)[1:])} from {result.origin} {fmt.name(where)}: {w.counts()}"
    if result.older:
        head += " (an older copy: the newest was not at hand)"
    elif result.guessed:
        head += " (the copy read is ranked on a guess: its checkpoint does not record its backup)"
    if result.elsewhere:
        head += " (other copies hold entries of the archive that this one lacks: see the warnings)"
    if result.unseen:
        head += " (a newer copy may be on a medium whose backups the state database does not know)"
    problems = w.problems()
    if not problems:
        return head
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    finish = ("; what was written stays where it is: once the cause is fixed, restore again with --overwrite to"
              " finish it") if w.errors else ""
    return f"{head}; {len(problems)} not restored, first: {problems[0]}{more}{finish}"


def _finish(result: "RestoreResult", w: Written, where: str, not_restored=()) -> "RestoreResult":
    # a mode or time the discs' extraction could not set is named by it, with what the disc holds,
    # not again as the staged copy's that the target could not take either
    told = {(kind, name) for kind, name, _ in not_restored if kind in ("mode", "time")}
    w.not_restored = [e for e in w.not_restored if (e[0], e[1]) not in told] + list(not_restored)
    result.written = w
    result.summary = _summary(result, w, where)
    if w.errors:
        raise RestoreIncomplete(f"the restore could not finish: {result.summary}", result)
    return result


def _privileged_open(w: Written, to: bytes, result: RestoreResult, emit: Emit) -> None:
    """The warning that files restored setuid, setgid or with a capability (kept as the backup has
    them, as rsync and tar keep them) are in a --to directory other users can reach (an existing one:
    the restore makes its own 0700): an old setuid-root program there runs as root for any of them."""
    if not w.privileged or not privacy.others_can_reach(to):
        return
    first = fmt.name(os.path.join(to, w.first_privileged))
    warning = (f"{fmt.count(w.privileged, 'file')} restored setuid, setgid or with a file capability (the first:"
               f" {first}) {'is' if w.privileged == 1 else 'are'} in {fmt.name(to)}, which other users can reach:"
               f" they run with their owner's rights for whoever starts them; close it (chmod 700 {fmt.name(to)})"
               f" or restore into a directory the restore makes")
    emit(Event(WARNING, warning))
    result.warnings.append(warning)


def _privileged_changeable(w: Written, root: bytes, result: RestoreResult, emit: Emit) -> None:
    """The warning that files restored onto a local source setuid, setgid or with a capability (put
    back where they were, as the backup has them: nothing to say of a /usr/bin restored) lie where a
    user other than root, this one and their owner can change the way to them (a directory of theirs,
    or one open to them): they can move such a file aside and keep it as it is, an old setuid-root
    program with its flaw, for whenever they like, or link it where they like."""
    found = []
    for name in w.privileged_names:
        path = os.path.join(root, name)
        try:
            owner = os.lstat(path).st_uid
        except OSError:     # gone since (a post command, the operator): nothing there to keep
            continue
        why = privacy.others_can_change(path, also=owner)
        if why:
            found.append((path, why))
    if not found:
        return
    first, why = found[0]
    warning = (f"{fmt.count(len(found), 'file')} restored setuid, setgid or with a file capability onto the source"
               f" (the first: {fmt.name(first)}) {'lies' if len(found) == 1 else 'lie'} where another user can change the"
               f" way to {'it' if len(found) == 1 else 'them'}: {fmt.name(why)}: they can move it aside and run it as"
               f" restored whenever they like; close that directory (chown root, chmod go-w) or take the bits off"
               f" (chmod ug-s)")
    emit(Event(WARNING, warning))
    result.warnings.append(warning)


def _deliver(cfg, source, rel, item, to, to_source, overwrite, emit, cancel, result: RestoreResult, pick=None, *,
             exact_times: bool = False, not_restored=(), staged: bool = False, dir_modes=None):
    if not to_source:
        w = copy_into(item, to, rel, overwrite, emit, cancel, pick=pick, staged=staged, dir_modes=dir_modes)
        _privileged_open(w, to, result, emit)
        return _finish(result, w, f"into {result.target}", not_restored)
    if source.is_local:
        d = directory_of(source, rel)
        root = os.fsencode(d.path).rstrip(b"/") or b"/"
        under = rel[len(rel_path(d.path)):].lstrip(b"/")
        # another file system mounted inside is written only where the backups took it in
        w = copy_into(item, root, under, overwrite, emit, cancel, onto_source=True, pick=pick, staged=staged,
                      dir_modes=dir_modes, cross_mounts=not source.one_file_system)
        _privileged_changeable(w, root, result, emit)
        return _finish(result, w.named_from(root.lstrip(b"/")), f"onto {source.id}", not_restored)
    from rabtui.restore import remote as remote_restore

    if pick is None:
        return _finish(result, remote_restore.rsync_onto_source(cfg, source, rel, item, overwrite, cancel,
                                                                exact_times=exact_times),
                       f"onto {source.id}", not_restored)
    # the files as the backup had them (`pick`), not the union tree: put together first in a
    # private staging directory (0700: staged_in), and that is what rsync sends
    with stagingmod.staged_in(cfg.state_dir, None, emit) as parent, stagingmod.staging(parent, emit) as staging:
        name = os.path.basename(rel)       # rsync writes a file under the name it has here
        staged = copy_into(item, staging, name, False, emit, cancel, pick=pick,
                           dir_modes=dir_modes).named_from(os.path.dirname(rel))
        if staged.errors:
            raise WorkFailed(f"could not put /{fmt.name(rel)} together as the backup had it before restoring"
                             f" it: {staged.problems()[0]}; nothing written onto {source.id}")
        w = remote_restore.rsync_onto_source(cfg, source, rel, os.path.join(staging, name), overwrite, cancel,
                                             exact_times=exact_times)
    w.refused += staged.refused
    w.not_restored += staged.not_restored
    return _finish(result, w, f"onto {source.id}", not_restored)
