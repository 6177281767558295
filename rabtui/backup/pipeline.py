"""One backup of one source onto one medium: the seven steps (DESIGN.md, "The backup pipeline").

1 source reachable, 2 destination reachable, 3 destination directory, 4 pre-backup commands,
5 rsync per directory, 6 post-backup commands, 7 sizes. Each step is recorded in the state
database and in backup.json; the first failure stops the backup with its reason (a failing post
command marks the run failed but keeps its data as `kept`: restorable and retained like a complete
backup, never a --link-dest base).
"""

from __future__ import annotations

import getpass
import os
import sqlite3
import threading
import time
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Iterator

from rabtui import faults
from rabtui.backup import abandoned_left, deletion, history, id_writes, recovery, union_place
from rabtui.media import checkpoint_numbers
from rabtui.media.at_hand import medium_problem
from rabtui.media import medium as media, medium_layout, mounting, union_look
from rabtui.media.rotation import next_medium, record_use
from rabtui.media import medium_fs
from rabtui.media.backup_place import BackupPlace, left_since_checked
from rabtui.backup.catalog_update import CatalogSpool
from rabtui.backup.command_steps import CommandSteps
from rabtui.backup.transfer_step import TransferStep
from rabtui.backup.completion import Completion, Stop as _Stop, ending
from rabtui.backup.records import BackupResult, RunRecord
from rabtui.backup.run_lock import source_lock
from rabtui.backup.run_log import RunLog
from rabtui.config import Config, Medium, Source
from rabtui.errors import Cancelled, LockBusy, MissingTool, RabtuiError, WorkFailed
from rabtui.events import LOG, STEP, WARNING, Emit, Event, Prompter
from rabtui.rsync_exit import NO_SPACE
from rabtui.ssh.shared import SharedConnection
from rabtui.state import locks
from rabtui.state.store import Store

MIN_FREE_BYTES = 1 << 20   # less than this free on a medium: it is full
MIN_FREE_INODES = 64


def run_backup(cfg: Config, store: Store, source_id: str, *, emit: Emit, cancel: threading.Event | None,
               prompter: Prompter | None = None, now: datetime | None = None, medium_id: str | None = None,
               job_id: int | None = None, ssh: SharedConnection | None = None,
               cancel_undo: threading.Event | None = None) -> BackupResult:
    """Back up `source_id` onto `medium_id` (else the next medium of the rotation).
    `cancel_undo`: stops the post-backup commands that run after a cancel (a second cancel).

    `ssh`: the source's login, when the caller started it early (it is closed at the end).

    Takes the source's lock (unless this process already holds it) and raises LockBusy when
    another backup of the source runs. Failures of the work itself come back as a result with
    status `failed` and a reason, never as an exception.
    """
    source = cfg.source(source_id)
    with source_lock(cfg, source_id):
        run = _Run(cfg, store, source, emit=emit, cancel=cancel or threading.Event(), now=now, job_id=job_id, ssh=ssh,
                   cancel_undo=cancel_undo)
        return run.run(medium_id)


class _Run(Completion, CommandSteps, TransferStep):
    def __init__(self, cfg: Config, store: Store, source: Source, *, emit: Emit, cancel: threading.Event,
                 now: datetime | None, job_id: int | None, ssh: SharedConnection | None = None,
                 cancel_undo: threading.Event | None = None):
        self.cfg, self.store, self.source = cfg, store, source
        self.outer_emit, self.cancel = emit, cancel
        self.cancel_undo = cancel_undo or threading.Event()
        self.when = now or datetime.now()
        self.started = now.timestamp() if now else time.time()   # `now`: a pretended time (run-due --now)
        self.job_id = job_id
        self.rec: RunRecord | None = None
        self._base_path: Path | None = None
        self._base_cache = False
        self._listed_cache: list | None = None
        self._log = RunLog()
        self._ssh = ssh
        self._step7_wrote = False     # archive links or catalog rows: undone should the backup fail after all
        self._not_undone: list[str] = []   # killed runs on its medium that its recovery left as they were

    # --- events (into the run's log too) ------------------------------------------------------------------

    def emit(self, event: Event) -> None:
        self._log.write(event)
        self.outer_emit(event)

    def step(self, n: int, state: str, message: str | None = None) -> None:
        self.rec.step(n, state, message)
        name = self.rec.steps[n - 1]["name"]
        text = f"step {n}/7 {name}: {state}" + (f" ({message})" if message else "")
        self.emit(Event(STEP, text, {"step": n, "name": name, "state": state, "message": message,
                                     "backup_id": self.rec.id, "source": self.source.id}))

    # --- the run -----------------------------------------------------------------------------------

    def run(self, medium_id: str | None) -> BackupResult:
        medium = self.cfg.medium(medium_id) if medium_id else next_medium(self.cfg, self.store)
        later = medium.id if medium.device and not os.path.ismount(medium.path) else None   # step 2 mounts it
        left = recovery.recover_abandoned(self.store, self.source.id, self.emit, self.cfg, self.cancel,
                                          mounted_later=later)     # its runs then: _recovered_here
        self._not_undone = [why for on, why in left if on == medium.id]   # another medium's union is its own
        self._away_at_recovery = medium_problem(medium, self.store) is not None
        name = history.free_name(self.store, medium, self.source.id, self.when)
        path = medium_layout.source_root(medium.path, self.source.id) / name
        self.rec = RunRecord(self.store, source=self.source.id, medium=medium.id, name=name, path=path,
                             started=self.started, job_id=self.job_id)
        self.emit(Event(LOG, f"backup of {self.source.id} onto medium {medium.id} ({medium.path})",
                        {"backup_id": self.rec.id, "medium": medium.id}))
        spool = CatalogSpool(self.store)
        try:
            status, reason = self._steps(medium, spool)
        finally:
            self._log.close()
            if self._ssh is not None:
                self._ssh.close()
        return self._result(status, reason)

    def _steps(self, medium: Medium, spool: CatalogSpool) -> tuple[str, str | None]:
        failure: Exception | None = None
        try:
            if self.cancel.is_set():      # already, while recovery waited for the union's holder, say
                raise Cancelled("cancelled: before it began")
            self._over_no_killed_run(1, self._not_undone)
            self._step1()
            faults.point("backup.step1")
            self.step(2, "running")
            with mounting.mounted(medium, self.emit, self.cfg.state_dir, cancel=self.cancel), self._medium_held(medium):
                # everything that writes on the medium happens before it is unmounted
                try:
                    try:
                        info = self._step2(medium)
                        self._over_no_killed_run(3, self._recovered_here(medium) + abandoned_left.finish_abandoned(
                            self.store, self.cfg, medium, self.source.id, self.emit, self.cancel,
                            self._listed(medium), self.rec.id))
                        faults.point("backup.step2")
                        self._step3(medium, info)
                        faults.point("backup.step3")
                        self._step4()
                        faults.point("backup.step4")
                        holds = info["label"].get("holds")
                        self._step5(medium, spool, exact_times=medium_fs.keeps_nanoseconds(holds),
                                    medium_links=medium_fs.keeps_hard_links(holds),
                                    folds_case=medium_fs.folds_case(holds))
                        faults.point("backup.step5")
                        if self._ssh is not None:
                            self._ssh.release()     # its closing overlaps steps 6 and 7
                        post_error = self._post_step6()
                        faults.point("backup.step6")
                        done = self._step7(medium, spool, post_error)
                        faults.point("backup.step7")
                        return done
                    except (_Stop, RabtuiError, OSError) as exc:
                        failure = exc
                        if self._pre_ran and not self._post_begun:
                            exc = self._undo_pre(exc)
                        return self._failed(exc, spool)
                # the state directory full, read-only, its disk failing: in a step, or while a failure
                # is recorded (then the post-backup commands may not have run yet either)
                except sqlite3.Error as exc:
                    if self._end_said:      # said already, by the failure's own record
                        raise
                    undo = (self._pre_begun or self._pre_ran) and not self._post_begun
                    then = self._undo_pre_unrecorded() if undo else None
                    failure = failure or self._stopping
                    # else the post-backup commands' own failure or stop, which keeps the data
                    said = ending(failure)[1] if failure is not None else self._post_stopped
                    self._state_failed(exc, said, then=then)
                finally:
                    self._log.close()
        except (_Stop, RabtuiError, OSError) as exc:   # step 1, or mounting the medium
            return self._failed(exc, spool)

    @contextmanager
    def _medium_held(self, medium: Medium) -> Iterator[None]:
        """The medium's lock, shared with the other backups onto it, from step 2 to the end: no
        `media label` changes the medium's label between its check and its record. One running
        takes a moment: it is waited for."""
        lock = locks.medium_lock(self.cfg.state_dir, medium.id, f"a backup of {self.source.id} onto medium {medium.id}")
        try:
            lock.acquire_within(locks.MEDIUM_WAIT, self.cancel, lambda text: self.emit(Event(LOG, text)), shared=True)
        except LockBusy as exc:
            self._fail_step(2, str(exc))
        with lock:
            yield

    def _recovered_here(self, medium: Medium) -> list[str]:
        """Runs of this source on `medium` that recovery left as it was not there (a device is mounted
        only now), recovered now; what could not be undone. The base and listing are read again.
        (Those recovery left on a medium that was there, their writers still running, wait for the
        next run: they were said once.)"""
        if not self._away_at_recovery or not any(r["medium"] == medium.id and r["id"] != self.rec.id
                   for r in recovery.find_abandoned(self.store, self.source.id)):
            return []
        left = recovery.recover_abandoned(self.store, self.source.id, self.emit, self.cfg, self.cancel,
                                         medium=medium.id, but=self.rec.id)
        self._base_cache, self._listed_cache = False, None
        return [why for _, why in left]

    def _over_no_killed_run(self, n: int, not_undone: list[str]) -> None:
        why = history.left_undone(self.source, not_undone)
        if why:
            self._fail_step(n, why)

    def _step1(self) -> None:
        self.step(1, "running")
        if self.source.is_local:
            user = getpass.getuser()
        else:
            self._ssh = self._ssh or SharedConnection(self.cfg, self.source)
            try:
                user = self._ssh.open(self.cancel)
            except (WorkFailed, MissingTool) as exc:   # MissingTool: no ssh
                self._fail_step(1, str(exc))
        where = "local machine" if self.source.is_local else self.source.host
        self.step(1, "ok", f"{user} on {where}")

    def _step2(self, medium: Medium) -> dict:
        try:
            info = media.check_medium(medium, self.emit, self.store)
        except WorkFailed as exc:
            self._fail_step(2, str(exc))
        # the backups there that recorded no kinds are judged by the unions as they are before
        # anything is taken out of them (a union lacking a file of one says it is a standard one)
        union_look.unions_looked_at(self.store, medium.id, medium.path, self.source)
        for said in union_place.make_way(self.store, medium.path, medium.id, self.source.id, self.source.archive_paths):
            self.emit(Event(WARNING, said))
        planted = medium_layout.symlink_in_layout(medium.path, self.source.id, self.source.archive_paths)
        if planted:
            self._fail_step(2, f"medium {medium.id}: {planted}; nothing written")
        not_kept = record_use(self.store, medium, info)
        if not_kept:
            self.emit(Event(WARNING, not_kept))
        checkpoint_numbers.note_on_medium(self.cfg, self.store, medium, self.cancel, self.emit)
        id_writes.finish(self.store, medium, self.source.id, self.emit)
        deletion.forget_set_aside(self.cfg, self.store, medium, self.source.id, self.emit)
        lost = medium_fs.warning(medium.id, info["label"].get("holds"), acls=self.source.acls,
                                 xattrs=self.source.xattrs)
        if lost:
            self.emit(Event(WARNING, lost))
        free, inodes = info["free_bytes"], info["free_inodes"]
        why = ([f"a backup needs {MIN_FREE_BYTES} bytes free at the least"] if free < MIN_FREE_BYTES else []) \
            + ([f"a backup needs {MIN_FREE_INODES} inodes free at the least"]
               if info["total_inodes"] > 0 and inodes < MIN_FREE_INODES else [])
        need = self._expected_bytes(medium)
        if need is not None and need > free:
            if self._base(medium) is None:      # a first backup here needs a whole copy: it cannot fit
                why.append(f"a whole copy needs {need} bytes, by the sizes its last backups recorded")
            else:
                self.emit(Event(WARNING, f"medium {medium.id} has {free} bytes free; the last backup of "
                                         f"{self.source.id} needed {need}: it may not fit"))
        if why:
            dirs = [d.path for d in self.source.directories]
            self.rec.did_not_fit(history.not_fitting(self.store, self.source.id, dirs, free,
                                                     with_base=self._base(medium) is not None))
            self._fail_step(2, f"{NO_SPACE}: medium {medium.id} has {free} bytes and {inodes} inodes free, "
                               + "; ".join(why))
        self.step(2, "ok", f"medium {medium.id}: {free} bytes free")
        return info

    def _step3(self, medium: Medium, info: dict) -> None:
        rec = self.rec
        self.step(3, "running")
        highest = history.highest_id(self._listed(medium))
        was = rec.number_above(highest)
        if was is not None:
            self.emit(Event(LOG, f"backup id {was} recorded as {rec.id}: backups of {self.source.id} made before it on"
                                 f" medium {medium.id} record ids up to {highest}", {"backup_id": rec.id}))
        taken = {r["name"] for r in self.store.all(
            "SELECT name FROM backups WHERE medium=? AND source=? AND id<>?", (medium.id, self.source.id, rec.id))}
        base_id, base_path, base_name = self._base(medium) or (None, None, None)
        others = medium_layout.others_can_change_backups(medium.path, self.source)
        if others:
            self._fail_step(3, f"medium {medium.id}: {others}, who could read or change {self.source.id}'s backups"
                               " there; nothing written (give it to this user or root, closed to others: chown,"
                               " chmod go-w)")
        self._union_settled(medium, 3)     # writes in the unions: only once no other user can change them
        try:
            self._close_medium(medium)
            path = medium_layout.make_backup_dir(medium.path, self.source.id, self.when, taken)
            faults.point("backup.dir_made")
            rec.made(path)
            (path / "data").mkdir()
            gone = left_since_checked(medium, info, path)
            if gone:
                self._fail_step(3, gone)
            self._place = BackupPlace.taken(medium, info, path)
        except (WorkFailed, OSError) as exc:
            reason = exc.message if isinstance(exc, WorkFailed) else f"cannot create {rec.path}: {exc.strerror}"
            self._fail_step(3, reason)
        rec.dir_created = True
        self._log.open(self.rec.path)
        rec.set_link_dest(base_name, base_id)
        self._base_path = base_path
        try:
            rec.write_json()
        except OSError as exc:     # a medium filled by another since step 2, say
            self._fail_step(3, f"cannot write {rec.path}/backup.json: {exc.strerror}")
        note = f"{path}" + (f", unchanged files linked to {base_name}" if base_name else ", no earlier backup here")
        self.step(3, "ok", note)

    def _close_medium(self, medium: Medium) -> None:
        closed, errors = medium_layout.close_private_dirs(medium.path)
        if closed:
            shown = ", ".join(str(p) for p in closed)
            self.emit(Event(WARNING, f"medium {medium.id}: closed to other users (chmod go-rwx, they could read"
                                     f" the backups): {shown}"))
        for error in errors:    # the backup goes on: `check` keeps reporting what is still open
            self.emit(Event(WARNING, f"medium {medium.id}: cannot close to other users {error}"))

    # --- helpers -----------------------------------------------------------------------------------

    def _base(self, medium: Medium):
        """The newest complete backup of this source on this medium: (id or None, path, name)."""
        if self._base_cache is False:
            self._base_cache = history.find_base(self.store, medium, self.source.id, self._listed(medium))
        return self._base_cache

    def _listed(self, medium: Medium) -> list:
        """The source's backups on the medium with their backup.json (read once a run)."""
        if self._listed_cache is None:
            self._listed_cache = medium_layout.list_backups(medium.path, self.source.id)
        return self._listed_cache

    def _expected_bytes(self, medium: Medium) -> int | None:
        dirs = {d.path: [*self.source.excludes, *d.excludes] for d in self.source.directories}
        return history.expected_bytes(self.store, self.source.id, dirs, with_base=self._base(medium) is not None)
