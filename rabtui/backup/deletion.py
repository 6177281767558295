"""Doing what a cleanup plan says (retention.py makes the plan), medium by medium: each backup's
tree renamed to .deleting-<name> and emptied, the catalog told at once, the emptied directories
removed; a run killed midway is finished by the next. What did not happen is said, never counted as
freed."""

from __future__ import annotations

import os
import sqlite3
import stat
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from rabtui import faults, fmt
from rabtui.backup import catalog_forget, deletion_left, union_release, union_undo
from rabtui.backup.freed import FreedCounter
from rabtui.backup.retention import DELETING_PREFIX, Candidate, Plan, medium_present, unread_record
from rabtui.backup.retention_guard import read_by_checkpoints
from rabtui.config import Config, Medium
from rabtui.errors import Cancelled, LockBusy, WorkFailed
from rabtui.events import LOG, WARNING, Event
from rabtui.media import medium_layout, opened_dirs, source_dir_lock
from rabtui.media.backup_place import as_found, disk_changed
from rabtui.state import queries, saved_kinds
from rabtui.state.locks import Lock, cleanup_lock, reading_lock, union_lock
from rabtui.state.store import OWN_DIR_SQL, RESTORABLE, Store
from rabtui.state.store_check import state_failure


def _empty_tree(path: Path, set_aside=None) -> Path | None:
    """Crash-safe removal, but for the top directory: the tree renamed to .deleting-<name>
    (atomic) and emptied, the empty directory returned (None: there was no directory). A leftover
    .deleting-* directory is finished by the next cleanup. `set_aside()` is called once it is renamed
    (or found not there), before it is emptied."""
    target = path.parent / f"{DELETING_PREFIX}{path.name}"
    try:
        os.rename(path, target)
    except FileNotFoundError:
        target = None
    if set_aside is not None:
        set_aside()
    if target is None:
        return None
    if not stat.S_ISDIR(os.lstat(target).st_mode):     # a symlink planted in its place: only it goes
        os.unlink(target)
        return None
    os.chmod(target, 0o700)
    with os.scandir(target) as entries:
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                opened_dirs.remove_tree(Path(entry.path))
            else:
                os.unlink(entry.path)
    return target


def _remove_archive_entries(cfg: Config, store: Store, medium: Medium, c: Candidate, union: Lock) -> int:
    """Deleting a backup of an archive directory removes its files' union links too, so that the
    space is freed (the guard made sure they are safe elsewhere); where an older backup on this
    medium holds the path, the union shows its version again. A run abandoned is undone in the
    unions of every directory it ran as an archive one (history.unlink_archive), and so is any
    backup deleted, in the unions of directories made standard since: left to the removal of a
    union no backup needs (union_release), its links stayed there when that did not come (a kill,
    a medium gone), naming files no backup holds, which a backup of the directory made archive
    again took for saved. Returns how many. Its progress is marked on the `union` lock held: a
    backup waiting for it waits on while it goes on."""
    from rabtui.backup.history import ran_as_archive, unlink_archive

    return unlink_archive(cfg, c.source, Path(c.path), moved=union.moved, ran=ran_as_archive(store, c.id),
                          looked=saved_kinds.looks(store, c.source, medium.id))


@dataclass
class Applied:
    """What apply_cleanup did: a line per action, in order; the backups deleted, the unions removed
    and the space that freed (measured as each went: what the plan said of one counted on the
    others planned with it, some of which may stay); the planned deletions left for a later cleanup
    and why (lines of `kept`); and what failed."""
    lines: list[str] = field(default_factory=list)
    deleted: list[Candidate] = field(default_factory=list)
    unions: list[union_release.UnionGoing] = field(default_factory=list)
    freed_bytes: int = 0
    kept: list[str] = field(default_factory=list)
    failed: list[str] = field(default_factory=list)
    busy: dict[str, str] = field(default_factory=dict)     # source -> why its deletions wait, on every medium
    cancelled: bool = False     # a cancel came: the deletion under way ended whole, those not begun are kept
    undelivered: list[str] = field(default_factory=list)   # notifications of the failures not sent


def apply_cleanup(cfg: Config, store: Store, plan: Plan, emit=None, cancel=None, held: Lock | None = None) -> Applied:
    """Delete what the plan says, medium by medium (mounting those with a device); a medium that is
    not there keeps its backups until a later cleanup. A medium whose deletions fail (read-only,
    say) stops there and the others go on; a state database that cannot record them stops the
    whole cleanup. Each failure is in `failed`. `cancel` (SIGTERM, SIGHUP, a first Ctrl-C) stops it
    at its next safe point: the deletion under way ends whole (recorded), those not begun are kept
    for the next cleanup, each said in `kept` (done.cancelled); it ends a wait for another process's
    mount or unmount of a medium too. `held`: the cleanup lock, which the caller took (else it
    is taken here, and another cleanup running makes this one delete nothing, said)."""
    done = Applied()

    def say(line: str, into: list | None = None) -> None:
        done.lines.append(line)
        if into is not None:
            into.append(line)
        if emit:
            emit(Event(LOG, line))

    # one cleanup at a time: another one's .deleting- directory would look like an interrupted one's
    if held is not None:
        _apply(cfg, store, plan, say, done, cancel)
        return done
    try:
        lock = cleanup_lock(cfg.state_dir).acquire()
    except LockBusy as exc:
        say(f"{exc}: this one deletes nothing (that one deletes what is due)", done.kept)
        return done
    try:
        _apply(cfg, store, plan, say, done, cancel)
    finally:
        lock.release()
    return done


def _apply(cfg: Config, store: Store, plan: Plan, say, done: Applied, cancel=None) -> None:
    from rabtui.media.mounting import mounted

    # the remains on a medium with a device are finished once it is mounted, as its deletions are
    left_on = {m.id: [p for p in plan.leftovers if p.parent.parent == Path(m.path)] for m in cfg.media}
    _finish_leftovers(store, cfg, [p for p in plan.leftovers if all(p not in ps for ps in left_on.values())],
                      say, done, cancel)
    for medium in cfg.media:
        mine = [c for c in plan.delete if c.medium == medium.id]
        unions = [u for u in plan.unions if u.medium == medium.id]
        if not mine and not left_on[medium.id] and not unions:
            continue
        if deletion_left.cancelled(cancel, done):
            deletion_left.left(mine, unions, left_on[medium.id], say, done)
            continue
        try:
            with mounted(medium, state_dir=cfg.state_dir, cancel=cancel):
                found = _as_found(medium)     # taken before it is judged: a disk put there since is told apart
                if found is None or not medium_present(store, medium):
                    if mine:
                        say(f"medium {medium.id} is not there: its {fmt.count(len(mine), 'old backup')}"
                            f" {fmt.are(len(mine))} kept for now",
                            done.kept)
                    continue
                _finish_leftovers(store, cfg, left_on[medium.id], say, done, cancel)
                if mine or unions:
                    _delete(cfg, store, medium, found, mine, say, done, unions, cancel)
        except sqlite3.Error as exc:
            # the catalog cannot forget what was emptied: the next media's backups stay as they are
            failure = state_failure(exc, store.path).message
            say(f"medium {medium.id}: cleanup stopped, the next media not touched: {failure}; once there is room,"
                " the next cleanup forgets the backups this one emptied", done.failed)
            break
        except Cancelled:     # as it waited for another process's mount or unmount of the medium
            done.cancelled = True
            deletion_left.left([c for c in mine if c not in done.deleted], unions, (), say, done)
        except Exception as exc:  # one medium's trouble must not stop the others
            if type(exc).__name__ in ("Cancelled", "KeyboardInterrupt"):
                raise
            say(f"medium {medium.id}: cleanup stopped: {exc}", done.failed)


def _as_found(medium: Medium) -> tuple[tuple[int, int], dict | None] | None:
    """The disk at the medium's path (backup_place.as_found), or None when nothing readable is there."""
    try:
        return as_found(medium)
    except (OSError, WorkFailed):
        return None


def _finish_leftovers(store: Store, cfg: Config, paths: list[Path], say, done: Applied, cancel=None) -> None:
    """The remains of interrupted deletions (plan.leftovers) removed, the medium they are on there."""
    for k, path in enumerate(paths):
        if deletion_left.cancelled(cancel, done):
            deletion_left.left((), (), paths[k:], say, done)
            return
        if not os.path.lexists(path):     # finished by a cleanup that ran meanwhile
            continue
        planted = medium_layout.symlink_in_layout(path.parent.parent, path.parent.name)
        if planted:
            say(f"could not finish an interrupted deletion: {path}: {planted}", done.failed)
            continue
        # killed before the catalog had forgotten the backup: it does so now, before the directory
        # that marks the unfinished deletion goes (as _delete does); not while a backup of that name
        # is there (such a directory beside it is none of its deletion's)
        backup = path.with_name(path.name[len(DELETING_PREFIX):])
        row = store.one("SELECT id FROM backups WHERE path=? AND status<>'deleted'", (str(backup),))
        if row is not None and not os.path.lexists(backup):
            catalog_forget.forget_backups(store, [row["id"]], cfg)
        try:
            if stat.S_ISDIR(os.lstat(path).st_mode):
                opened_dirs.remove_tree(path)
            else:       # a symlink (or file) planted at its name, which rabtui never makes: only it goes
                os.unlink(path)
        except FileNotFoundError:     # finished by a cleanup that ran meanwhile
            continue
        except OSError as exc:
            say(f"could not finish an interrupted deletion: {path}: {exc}", done.failed)
            continue
        say(f"finished an interrupted deletion: {path}")


def forget_set_aside(cfg: Config, store: Store, medium: Medium, source_id: str, emit) -> None:
    """The backups of the source on the medium (there: the caller checked it) whose trees a cleanup
    killed midway had set aside (.deleting-<name>, their own name gone) before the catalog forgot
    them: forgotten now, by the next backup onto the medium, so that the catalog names no backup the
    medium no longer holds until a later cleanup (which removes what is left of their trees). Not
    while a cleanup runs: it forgets them itself. Each is said through `emit`."""
    root = medium_layout.source_root(medium.path, source_id)
    try:
        names = [n[len(DELETING_PREFIX):] for n in os.listdir(root) if n.startswith(DELETING_PREFIX)]
    except OSError:
        return
    names = [n for n in names if medium_layout.BACKUP_NAME.match(n) and not os.path.lexists(root / n)]
    if not names:
        return
    try:
        lock = cleanup_lock(cfg.state_dir, by=f"a backup of {source_id} forgetting what a cleanup deleted").acquire()
    except LockBusy:
        return
    try:
        rows = [r for n in names for r in store.all(
            f"SELECT id, name FROM backups WHERE medium=? AND source=? AND path=? AND status<>'deleted' AND {OWN_DIR_SQL}",
            (medium.id, source_id, str(root / n)))]
        catalog_forget.forget_backups(store, [r["id"] for r in rows], cfg)
    finally:
        lock.release()
    for r in rows:
        emit(Event(WARNING, f"found an interrupted deletion of {source_id} {r['name']} on medium {medium.id}: the"
                            " catalog forgets it now; the next cleanup removes what is left of it"))


def _delete(cfg: Config, store: Store, medium: Medium, found: tuple, going: list[Candidate], say,
            done: Applied, unions: list[union_release.UnionGoing] = (), cancel=None) -> None:
    """Delete these backups of one medium: their trees first, each emptied under its .deleting-
    name, then the catalog forgets them all at once, then the emptied directories go. Killed before
    the catalog has forgotten them, the .deleting- directories tell the next cleanup to. Then the
    `unions` no backup left there needs (_remove_unions)."""
    with ExitStack() as held:
        going, unions = _not_being_read(cfg, medium, going, held, say, done, unions)
        # a checkpoint recorded since the plan was made may read from some of them now (asked with
        # the reading locks held: none can be recorded meanwhile)
        read: dict[int, int] = {}
        for source in {c.source for c in going}:
            read.update(read_by_checkpoints(store, source))
        for c in going:
            if c.id in read:
                say(f"kept {c.source} {c.name} on {c.medium}: checkpoint {read[c.id]}, recorded since the cleanup"
                    " was planned, reads from it", done.kept)
        _delete_unread(cfg, store, medium, found, [c for c in going if c.id not in read], say, done, cancel)
        _remove_unions(cfg, store, medium, found, unions, say, done, cancel)


def _not_being_read(cfg: Config, medium: Medium, going: list[Candidate], held: ExitStack, say, done: Applied,
                    unions: list[union_release.UnionGoing] = ()) -> tuple[list[Candidate], list]:
    """The candidates (and unions) of the sources whose backups nothing reads now (a restore, a
    checkpoint burning: their reading locks, taken whole into `held`, and their directories on the
    medium, which a restore that could not make its reading lock file holds: source_dir_lock.py);
    the others, and those of the sources whose union another run held (done.busy), are kept for a
    later cleanup."""
    busy = dict(done.busy)
    for source in sorted({c.source for c in going} | {u.source for u in unions} - set(busy)):
        lock = reading_lock(cfg.state_dir, source)
        try:
            held.enter_context(lock.acquire())
        except LockBusy:
            # held shared: the file names the last reader to take it, which may have ended since
            pids = lock.pids_said()
            busy[source] = f"a restore or a checkpoint reads {source}'s backups now" + (f" ({pids})" if pids else "")
            continue
        if source_dir_lock.read_now(medium.path, source):
            busy[source] = (f"a restore reads {source}'s backups on {medium.id} now (without its lock file: the"
                            " state directory was full)")
    for c in going:
        if c.source in busy:
            say(f"kept {c.source} {c.name} on {c.medium} for a later cleanup: {busy[c.source]}", done.kept)
    for u in unions:
        if u.source in busy:
            say(f"kept the .archive/ view of {u.dir} of {u.source} on {u.medium} for a later cleanup:"
                f" {busy[u.source]}", done.kept)
    return [c for c in going if c.source not in busy], [u for u in unions if u.source not in busy]


def _union_of(cfg: Config, source: str, what: str, say, done: Applied) -> Lock | None:
    """The union lock of the source, taken; None when another run holds it (a backup linking its
    new files, perhaps hung on its medium): not waited for, the source's backups (and unions) are
    kept for a later cleanup, on every medium, and the holder is named (`what` is kept)."""
    if source not in done.busy:
        try:
            return union_lock(cfg.state_dir, source, by="a cleanup").acquire()
        except LockBusy as exc:
            done.busy[source] = str(exc)
    say(f"kept {what} for a later cleanup: {done.busy[source]}", done.kept)
    return None


def _delete_unread(cfg: Config, store: Store, medium: Medium, found: tuple, going: list[Candidate], say,
                   done: Applied, cancel=None) -> None:
    """Each backup's tree emptied, then the catalog forgets them. The disk at the medium's path is
    checked before each (its root's device and inode, its label: `found` before the medium was
    judged there): a medium unmounted, unplugged or swapped meanwhile holds the backups not yet
    emptied, and one whose directory was not found as it went away; they are kept, not forgotten
    (the catalog would lose backups the disk holds, and count them freed)."""
    from rabtui.backup.history import ran_as_archive
    from rabtui.backup.abandoned_left import undone_with_it

    root, label = found
    configured = {s.id for s in cfg.sources}    # a removed source's failed runs linked nothing (removed_runs.py)
    emptied: list[tuple[Candidate, Path | None]] = []
    freed: dict[int, int] = {}     # measured before each tree is emptied: what it alone holds then
    left = 0
    changed = None
    try:
        for k, c in enumerate(going):
            faults.point("cleanup.deleting")
            if deletion_left.cancelled(cancel, done):     # each one begun ends whole: those before are forgotten below
                deletion_left.left(going[k:], (), (), say, done)
                break
            changed = disk_changed(medium, root, label)
            if changed:
                left = len(going) - k
                break
            if not c.made:     # a run that ended before it made its directory: only its row goes
                emptied.append((c, None))
                continue
            # and those it saved as archive ones: it is undone in their unions (_remove_archive_entries)
            ran = ran_as_archive(store, c.id)
            archive_paths = [*(cfg.source(c.source).archive_paths if c.source in configured else ()), *ran]
            # below its copy of a directory it saved, a symlink is one the source had (data/photos
            # made a directory since, the config naming it): the undoing reads nothing through it
            planted = (medium_layout.symlink_in_layout(medium.path, c.source, archive_paths, saved_ok=True)
                       or medium_layout.symlink_in_backup(c.path, [d for d in archive_paths
                                                                   if not medium_layout.inside_any(d, ran)]))
            if planted:
                say(f"kept {c.source} {c.name} on {c.medium}: {planted}", done.failed)
                continue
            path = Path(c.path)
            unread = c.status not in RESTORABLE and unread_record(c.path)
            if unread:     # planned while its medium was away (cleanup mounts one with a device)
                say(f"kept {c.source} {c.name} on {c.medium}: {unread}", done.kept)
                continue
            if path.is_dir() and c.source in configured and (c.status in RESTORABLE or (
                    c.status == "abandoned" and undone_with_it(store, medium, c.source, c.name))):
                union = _union_of(cfg, c.source, f"{c.source} {c.name} on {c.medium}", say, done)
                if union is None:
                    continue
                with union:
                    # one under way compared its archive directories with the unions (--compare-dest)
                    running = queries.backup_under_way(store, c.source, c.medium)
                    if running:
                        say(f"kept {c.source} {c.name} on {c.medium} for a later cleanup: the backup {running}"
                            " under way there left out what the archive view holds", done.kept)
                        continue
                    _remove_archive_entries(cfg, store, medium, c, union)
                    freed[c.id] = FreedCounter().add(path, union_undo.recorded_link(medium.path, c.source, path.name))
                    # set aside before another run takes the union: the record of the undoing
                    # (union_undo.py) would have it go back on the undoing of a backup still there
                    emptied.append((c, _empty_tree(path, lambda: _undone(medium, c, union))))
                continue
            freed[c.id] = FreedCounter().add(path)
            emptied.append((c, _empty_tree(path)))
    finally:
        unsure = [c for c, mark in emptied if mark is None and c.made]
        changed = changed or (unsure and disk_changed(medium, root, label))
        if changed:
            emptied = [(c, mark) for c, mark in emptied if mark is not None or not c.made]
            say(f"medium {medium.id} went away during the cleanup: {changed}; {left + len(unsure)} of its old backups"
                " are kept for a later cleanup", done.failed)
        if emptied:
            faults.point("cleanup.trees_emptied")
            catalog_forget.forget_backups(store, [c.id for c, _ in emptied], cfg)
            for c, mark in emptied:
                try:
                    if mark is not None:
                        os.rmdir(mark)
                except OSError as exc:   # the next cleanup removes it (plan.leftovers)
                    say(f"{c.source} {c.name} on {c.medium}: its emptied directory stays: {exc}", done.failed)
                done.deleted.append(c)
                done.freed_bytes += freed.get(c.id, 0)
                say(f"deleted {c.source} {c.name} on {c.medium}: {c.why}")


def _undone(medium: Medium, c: Candidate, union: Lock) -> None:
    """A backup whose archive links are undone, set aside: the record of its undoing goes, and the
    union is another run's again (its tree is emptied meanwhile)."""
    union_undo.end(medium.path, c.source, Path(c.path).name)
    union.release()


def _remove_unions(cfg: Config, store: Store, medium: Medium, found: tuple, unions: list, say, done: Applied,
                   cancel=None) -> None:
    """The unions no backup on the medium needs (union_release.py), removed as a backup is: set aside
    under a .deleting- name, then emptied. Each is looked at again first, the backups of the plan
    gone: one an archive backup still needs (kept, or made since) stays; so does one on a medium
    that went away, or behind a symlink planted on the way; none is removed while another run
    holds the source's union."""
    root, label = found
    for k, u in enumerate(unions):
        if deletion_left.cancelled(cancel, done):
            deletion_left.left((), unions[k:], (), say, done)
            return
        where = f"the .archive/ view of {u.dir} of {u.source} on {u.medium}"
        union = _union_of(cfg, u.source, where, say, done)
        if union is None:
            continue
        with union:     # looked at with the union held: a backup that would use it holds it, or is running
            aside = union_release.set_aside_unneeded(cfg, store, medium, found, u, where, say, done.kept,
                                                     done.failed)
        if aside is None:
            continue
        freed = FreedCounter().add(aside)
        faults.point("cleanup.union_set_aside")
        opened_dirs.remove_tree(aside)
        done.unions.append(u)
        done.freed_bytes += freed
        say(f"removed {where}: no backup there is an archive one of it now")
