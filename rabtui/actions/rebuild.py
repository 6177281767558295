"""The rebuild-state verb: the state database made again from the media and the checkpoint discs
(rabtui/rebuild/scan.py), under every source's and the drive's lock, recorded as a job in the new
one. The new database is made beside the old one and takes its place only when whole: the old one
is then kept aside, and a rebuild that fails leaves it where it was."""

from __future__ import annotations

import os
import shutil
import sqlite3
import stat
import threading
import time
from contextlib import ExitStack, contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator, Sequence

from rabtui import faults, fmt, privacy
from rabtui.config import Config, safety
from rabtui.checkpoint import xorriso
from rabtui.config.model import drive_problem, resolve_drive
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS, Cancelled, LockBusy, RabtuiError, UsageError, WorkFailed
from rabtui.events import WARNING, Emit, Event, Prompter
from rabtui.media import labels_kept, mounts
from rabtui.ops import schedule_history
from rabtui.rebuild import scan
from rabtui.rebuild.report import Report
from rabtui.state.jobs import JobRecorder
from rabtui.state.dir_lock import StateDirLock
from rabtui.state.locks import (checkpoints_lock, cleanup_lock, drive_lock, reading_lock, reading_lock_sources,
                                rebuild_lock, source_lock, state_lock, union_lock)
from rabtui.state.store import Store
from rabtui.state.store_check import StateUnusable, fold_wal, state_failure

BUILDING = "rabtui.db.rebuilding"     # the directory of state_dir where the new database is made
DB_FILES = ("", "-wal", "-shm")


@dataclass
class RebuildResult:
    aside: Path | None     # where the old database was kept
    report: Report

    @property
    def exit_code(self) -> int:
        return EXIT_WARNINGS if self.report.unmatched or self.report.failed or self.report.lacking else EXIT_OK


def rebuild_state(cfg: Config, emit: Emit, cancel: threading.Event | None, prompter: Prompter,
                  drives: Sequence[str] = ()) -> RebuildResult:
    """Rebuild the state database. It takes no store: a new one is made and filled beside the one
    there (if any), which is moved aside only once the new one is whole. A rebuild that fails leaves
    the old one in its place and says so. `drives`: where discs are read besides the configured
    drive (as `--drive` of checkpoint burn takes them)."""
    drives = [_drive(d, cfg) for d in drives]
    state_dir = Path(cfg.state_dir)
    with all_locks(cfg) as marks:
        faults.point("rebuild.locked")
        building = state_dir / BUILDING
        try:
            _fresh_dir(building)
            made, report = _build(cfg, building, emit, cancel, prompter, marks, drives)
            faults.point("rebuild.built")
        except Exception as exc:
            raise _failed(exc, state_dir / "rabtui.db") from None
        else:
            aside = put_in_place(made, state_dir / "rabtui.db")
            for not_kept in _keep_labels(state_dir):
                emit(Event(WARNING, not_kept))
            faults.point("rebuild.in_place")
            # only now: a rebuild that failed before left the records as the old database knows them
            _write_ids(cfg, report, emit)
        finally:
            _remove(building)
    return RebuildResult(aside, report)


def _write_ids(cfg: Config, report: Report, emit: Emit) -> None:
    """The renumbered ids written into the backups' records; what stops it is said, and the ids
    left unwritten stay recorded in the database in place for the next backup or rebuild."""
    try:
        store = Store(cfg.state_dir)
        try:
            scan.write_ids(cfg, store, report, emit)
        finally:
            store.close()
    except (RabtuiError, OSError, sqlite3.Error) as exc:
        what = exc.message if isinstance(exc, RabtuiError) else f"{type(exc).__name__}: {exc}"
        report.unmatched.append(f"the renumbered ids were not all written into their backup.json: {what}; the"
                                " database keeps those left, and the next backup of their source onto their"
                                " medium, or the next rebuild-state, writes them")


def _keep_labels(state_dir: Path) -> list[str]:
    """The labels the new database recorded (a medium found that the old one did not know) kept
    beside it too, as every label the state records is; returns why some could not be."""
    not_kept = (labels_kept.keep(state_dir, medium_id, label) for medium_id, label in mounts.known_in(state_dir).items())
    return [why for why in not_kept if why]


def _remove(path: Path) -> None:
    """What is at `path` goes: a symlink itself, never what it leads to."""
    if path.is_symlink() or (os.path.lexists(path) and not path.is_dir()):
        path.unlink()
    else:
        shutil.rmtree(path, ignore_errors=True)


def _drive(drive: str, cfg: Config) -> str:
    """A drive given to read discs in, as checkpoint burn's `--drive` takes it (an images: folder
    from the working directory; none in a folder of the state directory's own: the rebuild removes
    the one it builds in, and the images with it; none on a medium, as the config's)."""
    problem = (drive_problem(drive) or drive_problem(resolve_drive(drive, Path.cwd()))) if drive else "names no drive"
    problem = problem or safety.images_refused(resolve_drive(drive, Path.cwd()), cfg.state_dir, cfg.media)
    if problem:
        raise UsageError(f"--drive {problem}")
    drive = resolve_drive(drive, Path.cwd())
    where = xorriso.images_dir(drive) if xorriso.is_image_drive(drive) else drive
    if not os.path.isdir(where) if xorriso.is_image_drive(drive) else not os.path.exists(where):
        raise UsageError(f"--drive {fmt.name(drive)}: there is no {'folder' if where != drive else 'drive'}"
                         f" {fmt.name(where)}: no disc there to read")
    return drive


def _fresh_dir(path: Path) -> None:
    """An empty 0700 directory of rabtui's own at `path`, whatever was there (left by a rebuild that
    was killed, or put there by someone else: a symlink would have the database made elsewhere)."""
    _remove(path)
    os.mkdir(path, privacy.DIR_MODE)     # fails if anything came back meanwhile


def _build(cfg: Config, building: Path, emit: Emit, cancel: threading.Event | None,
           prompter: Prompter, marks: dict[str, Callable[[], None]], drives: Sequence[str] = ()) -> tuple[Path, Report]:
    """A new database filled in the directory `building`, with the rebuild recorded in it as a job;
    returned as one whole file (no -wal beside it) to be put in place. `marks`: as all_locks yields."""
    store = Store(building)
    recorder = JobRecorder(store, "rebuild", None, "rebuild-state", cancel=cancel)

    try:
        report = scan.rebuild(cfg, store, emit=recorder.recording(emit), prompter=prompter, cancel=recorder.cancel,
                              known=mounts.known_in(cfg.state_dir), marks=marks,
                              replacing=aside_name(Path(cfg.state_dir) / "rabtui.db") is not None, drives=drives)
        schedule_history.note_rebuilt(cfg, store, time.time())
        code = RebuildResult(None, report).exit_code
        recorder.finish("warnings" if code else "completed", code,
                        f"{fmt.count(report.backups, 'backup')}, checkpoints {report.checkpoints or 'none'}"
                        + (f", {len(report.unmatched)} not matched" if report.unmatched else ""))
        made = building / "rabtui.db.whole"
        privacy.create_private_file(made)
        store.backup_to(made)
    except BaseException as exc:
        with suppress(sqlite3.Error):    # it stops the job's watcher; the row goes with this database
            recorder.finish("failed", getattr(exc, "exit_code", EXIT_FAILED), f"{type(exc).__name__}: {exc}")
        raise
    finally:
        store.close()
    return made, report


def _failed(exc: Exception, db: Path) -> RabtuiError:
    """What stopped the rebuild, and that the database in place is the one there before."""
    if isinstance(exc, sqlite3.Error):
        exc = state_failure(exc, db.parent / BUILDING / "rabtui.db")    # the new one
    what = exc.message if isinstance(exc, RabtuiError) else f"{type(exc).__name__}: {exc}"
    # a damaged-database hint would send the operator back here: only the error's own lines are kept
    hints = [] if isinstance(exc, StateUnusable) or not isinstance(exc, RabtuiError) else exc.hint_lines()
    kept = f"{db} is as it was before" if os.path.lexists(db) else f"no state database was made at {db}"
    failure = (Cancelled if isinstance(exc, Cancelled) else WorkFailed)(
        f"rebuild-state failed: {what}; {kept}",
        hint="\n".join([*hints, "nothing on the media or the discs was changed by the failed rebuild; when what"
                         " is named above is put right, run `rabtui rebuild-state` again"]))
    failure.exit_code = getattr(exc, "exit_code", EXIT_FAILED)
    return failure


@contextmanager
def all_locks(cfg: Config) -> Iterator[dict[str, Callable[[], None]]]:
    """Every source's lock, reading lock and union lock, the drive's, the checkpoints' and the cleanup's: no
    backup, burn, restore or cleanup writes the database while it is rebuilt, nor changes the media
    it is rebuilt from (a running one is refused with its lock's "already running since ..., pid
    ..." message; one started meanwhile with "cannot run now: rebuild-state is running ..."). Yields
    what marks the rebuild's progress on each source's union lock (Lock.moved), by source id: a run
    waiting for a union (a checkpoint plan settling it) waits on while the rebuild changes it. The
    state directory's flock first (dir_lock.py): a restore running alone holds none of these lock
    files, and records in the database a rebuild would replace."""
    by = "rebuild-state"
    with ExitStack() as stack:
        stack.enter_context(StateDirLock(cfg.state_dir, by))
        stack.enter_context(rebuild_lock(cfg.state_dir))
        stack.enter_context(cleanup_lock(cfg.state_dir, by=by))
        for source in cfg.sources:
            stack.enter_context(source_lock(cfg.state_dir, source.id, by=by))
        # no restore reads meanwhile: its job and events would go into the database put aside
        for source_id in sorted({s.id for s in cfg.sources} | set(reading_lock_sources(cfg.state_dir))):
            stack.enter_context(reading_lock(cfg.state_dir, source_id, by=by))
        # the rebuild undoes the archive links of a run killed in step 7, as a backup's recovery does, and
        # settles a union a killed cleanup left half undone (rebuild/unions.py)
        marks = {source.id: stack.enter_context(union_lock(cfg.state_dir, source.id, by=by, kept_out=by)).moved
                 for source in cfg.sources}
        stack.enter_context(drive_lock(cfg.state_dir, cfg.checkpoint.drive, by=by))
        stack.enter_context(checkpoints_lock(cfg.state_dir, by=by))     # a burn on another drive too
        # no command records anything meanwhile (a job, a disc verified, a directory asked for)
        try:
            stack.enter_context(state_lock(cfg.state_dir, by=by))
        except LockBusy:     # said by its command line: the lock's own word is "a command that records"
            raise LockBusy(f"rebuild-state cannot run now: {state_lock(cfg.state_dir).holder_described()}"
                           " records in the state database", hint="run it again once that has ended") from None
        yield marks


def aside_name(db: Path) -> Path | None:
    """Where the database `db` is kept by a rebuild; None when there is none."""
    if not any(os.path.lexists(f"{db}{suffix}") for suffix in DB_FILES):
        return None
    stamp = time.strftime("%Y%m%d%H%M%S")
    aside = db.with_name(f"rabtui.db.before-rebuild-{stamp}")
    n = 1
    while aside.exists():       # a second rebuild in the same second keeps the first one's copy too
        n += 1
        aside = db.with_name(f"rabtui.db.before-rebuild-{stamp}-{n}")
    return aside


def put_in_place(made: Path, db: Path) -> Path | None:
    """The new database `made` at the place of `db`, the old one kept aside (its new name is
    returned). A database is at `db` at every moment, so that a kill anywhere leaves one there: the
    old one is kept aside by hard links, its -wal and -shm go (left beside the new one, SQLite would
    replay the old -wal into it), then one rename puts the new one in place. What is no file there
    (a directory in the database's place) is no database: it is moved aside as it is. Should that
    fail, the old one is put back, and the error says where each is."""
    aside = aside_name(db)
    try:
        if aside is not None:
            fold_wal(db)     # its -wal is kept aside with it where that fails
            for suffix in DB_FILES:
                old = f"{db}{suffix}"
                if os.path.lexists(old) and not stat.S_ISREG(os.lstat(old).st_mode):
                    os.rename(old, f"{aside}{suffix}")
                elif os.path.lexists(old) and suffix != "-shm":
                    os.link(old, f"{aside}{suffix}")
            faults.point("rebuild.kept_aside")
            for suffix in ("-wal", "-shm"):
                with suppress(FileNotFoundError):
                    os.unlink(f"{db}{suffix}")
            faults.point("rebuild.old_wal_gone")
        os.replace(made, db)
    except OSError as exc:
        raise WorkFailed(f"rebuild-state could not put the new database at {db}: {exc.strerror or exc};"
                         f" {_put_back(aside, db)}",
                         hint="nothing on the media or the discs was changed; when what is named above is put"
                              " right, run `rabtui rebuild-state` again") from None
    return aside


def _put_back(aside: Path | None, db: Path) -> str:
    """After a failed put_in_place: the old database is still at `db` (the rename did not happen);
    its -wal goes back beside it, and the names kept aside go."""
    if aside is None:
        return "there was no database before"
    try:
        for suffix in DB_FILES:
            kept = f"{aside}{suffix}"
            if os.path.lexists(kept) and not stat.S_ISREG(os.lstat(kept).st_mode):
                os.rename(kept, f"{db}{suffix}")     # moved aside whole: it goes back
        if os.path.lexists(f"{aside}-wal") and not os.path.lexists(f"{db}-wal"):
            os.link(f"{aside}-wal", f"{db}-wal")
        for suffix in ("", "-wal"):
            with suppress(FileNotFoundError):
                os.unlink(f"{aside}{suffix}")
    except OSError as exc:
        return (f"the old database is also at {aside} ({exc.strerror}): if {db} lacks its last changes, move"
                f" {aside} and {aside}-wal back to {db} and {db}-wal")
    return f"the old database is as it was at {db}"
