"""Step 7 of a backup and the end of its run: archive files linked into the unions, catalog, result."""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
import stat
from typing import NoReturn

from rabtui import faults, fmt
from rabtui.backup import cancelled_by, history, killed_kept, partial_note, union_undo
from rabtui.backup.catalog_update import CatalogSpool
from rabtui.backup.records import EXIT_OF, BackupResult, remove_leftovers, transfer_whole
from rabtui.backup.union_link import link_new_files
from rabtui.config import Medium
from rabtui.errors import Cancelled, LockBusy, RabtuiError, WorkFailed
from rabtui.events import ERROR, LOG, RESULT, WARNING, Emit, Event
from rabtui.media import medium_layout
from rabtui.media.backup_place import BackupPlace
from rabtui.media.rotation import record_space
from rabtui.rsync_exit import NO_SPACE
from rabtui.state import locks, saved_kinds
from rabtui.state.store import COMPLETE, KEPT, RESTORABLE
from rabtui.state.store_check import state_failure


class Stop(Exception):
    """A step failed: stop the backup with this reason."""

    def __init__(self, reason: str, status: str = "failed"):
        super().__init__(reason)
        self.reason = reason
        self.status = status


def ending(exc: Exception) -> tuple[str, str]:
    """How a run that stopped on `exc` ended: (failed or cancelled, the reason)."""
    if isinstance(exc, Stop):
        return exc.status, exc.reason
    if isinstance(exc, Cancelled):      # "cancelled: rsync": said once, as "backup of S cancelled: rsync"
        return "cancelled", exc.message.removeprefix("cancelled: ")
    if isinstance(exc, OSError):   # e.g. the medium disappeared under the backup
        where = f": {exc.filename}" if exc.filename else ""
        return "failed", f"{exc.strerror or exc}{where}"
    return "failed", exc.message


class Completion:
    """Step 7 and the result of a backup run, a part of pipeline.py's run (whose record, steps,
    events, configuration and cancel it uses); `_step7_wrote` tells a failure after it what to undo."""

    _end_said = False      # _state_failed has said how the run ended on the medium
    _stopping: Stop | None = None    # the failure _fail_step was recording
    _place: BackupPlace | None = None     # where step 3 made the backup's directory
    # a cancel stopped the post-backup commands of a whole transfer, or came as step 7 waited for the
    # union: the data kept, the run cancelled (a failure after it, the final record's, keeps it so)
    _kept_cancelled = False
    _whole_said: str | None = None   # step 7 failed, the data whole: how the run ended (_kept_whole), said once
    _union_linking = False     # step 7 began linking into the archive unions

    def _step7(self, medium: Medium, spool: CatalogSpool, post_error: str | None) -> tuple[str, str | None]:
        rec = self.rec
        self.step(7, "running")
        self._still_in_place(7)    # the rsync wrote onto a medium unmounted or swapped meanwhile: nothing to be had
        # on the disk, with the run's record, before anything of step 7 reaches the medium: recovery
        # goes by that record to undo what a run that ended here left there
        totals = rec.save_dirs(durable=True)
        warnings = [f"{d.path}: {d.message}" for d in rec.dirs if d.state == "warning"]
        if not rec.dirs:
            warnings.append("this source has no directories configured: nothing was backed up")
        if post_error:
            # the commands' own failure names them already ("post-backup command failed (exit 4): ...")
            said = post_error if post_error.startswith("post-backup") else f"post-backup commands failed: {post_error}"
            status, reason = KEPT, "; ".join([f"{said}; the data is kept", *warnings])    # and what it left out
            # kept data is in the catalog with versions of its own: it is never a base to extend
            spool.target(source=self.source.id, medium=medium.id, base_id=None)
        elif warnings:
            status, reason = "warnings", "; ".join(warnings)
        else:
            status, reason = "completed", None
        archives = [d for d in rec.dirs if d.kind == "archive"]
        # a failure from here on (the medium filled by another source, say) undoes what is written
        self._step7_wrote = status in RESTORABLE
        if status in COMPLETE and archives:
            # only complete backups feed the archive union trees (what the next backup compares with)
            self._union_linking = True
            status, reason = self._link_into_unions(medium, spool, archives, status, reason)
        if status in RESTORABLE:
            spool.apply(rec.id)
            faults.point("backup.catalog")
        self._still_in_place(7)    # what step 7 wrote is undone (_failed) when the medium went away meanwhile
        self.step(7, "ok", f"total {totals.total_bytes} bytes, new {totals.new_bytes} bytes, "
                           f"{fmt.count(totals.files, 'file')}, {totals.new_files} new or modified")
        faults.point("backup.step7_ended")
        try:
            rec.complete(status, reason)   # backup.json, then the row: only now is it complete (or its data kept)
        except OSError as exc:     # why it was kept, or its warnings, said before
            self._fail_step(7, "; then ".join([*([reason] if reason else []), self._unrecorded(medium, exc)]))
        record_space(self.store, medium)     # once the room kept for backup.json is given back
        if status == KEPT:   # the run failed (exit 1, notified); its data stays restorable
            ended = "cancelled" if self._kept_cancelled else "failed"
            self.emit(Event(ERROR, f"backup of {self.source.id} {ended}: {reason}", {"backup_id": rec.id}))
            return ended, reason
        return status, reason

    def _unrecorded(self, medium: Medium, exc: OSError) -> str:
        """Why the final backup.json of a backup complete on the medium cannot be written, and what to do."""
        record = self.rec.path / "backup.json"
        why = f"cannot write its final record {record}: {exc.strerror or exc}"
        room = record.with_name(record.name + ".tmp")
        try:
            mode = os.lstat(room).st_mode
        except OSError:
            mode = None
        if mode is None or not stat.S_ISREG(mode):
            what = "gone" if mode is None else ("a directory another made" if stat.S_ISDIR(mode) else
                                                "something another put there")
            why += f" (the room kept for it since step 3, {room.name}, is {what})"
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            why += (f"; without it the backup is not complete on the medium: free space on medium {medium.id},"
                    f" then back up {self.source.id} again")
        return why

    def _still_in_place(self, n: int) -> None:
        """Step `n` fails unless the backup's directory is where step 3 made it, on the disk step 2 checked."""
        gone = self._place.gone()
        if gone:
            self._fail_step(n, gone)

    def _fail_step(self, n: int, reason: str, status: str = "failed") -> NoReturn:
        self._stopping = Stop(reason, status)     # the reason all the same, should the step's state not be recorded
        self.step(n, "failed", reason)
        raise self._stopping

    def _failed(self, exc: Exception, spool: CatalogSpool) -> tuple[str, str | None]:
        """The end of a run that failed or was cancelled: what its step 7 wrote undone, then
        backup.json says `failed` with the reason, then its database row (a run killed between the
        two is recorded by the next run's recovery as its backup.json says)."""
        status, reason = ending(exc)
        rec = self.rec
        if reason and NO_SPACE in reason:
            with contextlib.suppress(sqlite3.Error):
                reason += partial_note.partial_note(self.cfg, self.store, rec.medium, rec.id)
        if rec.final_written:
            # complete on its medium already (unmounting it failed after, say): nothing of it is undone
            self.emit(Event(WARNING, f"backup of {self.source.id} is {rec.status}; after that, {reason}",
                            {"backup_id": rec.id}))
            return ("failed" if rec.status == KEPT else rec.status), rec.reason
        if self._whole_said is not None:     # then unmounting it failed, say
            self.emit(Event(WARNING, f"backup of {self.source.id}: after that, {reason}", {"backup_id": rec.id}))
            return status, self._whole_said
        # the backup stays failed, its record saying it was cancelled: its reason alone ("rsync", the
        # step) read on the dashboard and in check as rsync's failure
        recorded = f"{cancelled_by.CANCELLED}{reason}" if status == "cancelled" else reason
        if self._step7_wrote and (kept := self._kept_whole(spool, "cancelled" if self._kept_cancelled else status,
                                                           recorded)):
            return kept
        problem = None
        try:
            spool.discard()
            if self._union_linking and self._away():
                # unplugged, unmounted or swapped in step 7: its links in the unions, on the medium away,
                # are undone by the run that finds it back (its recovery), its row left running for it
                # (undone here, they were not: at its return the union showed them, the catalog not, and
                # the next backup took them for saved). Back already, from another device: it is the
                # disk at the path now, which that run proves the medium (undone here, the run was
                # recorded failed, its backup.json not, and its whole data was not kept)
                problem = self._links_left()
                self.emit(Event(WARNING, f"backup of {self.source.id}: {problem}"))
            elif self._step7_wrote:
                problem = history.undo_written(self.store, self.cfg, rec.id, self.emit, self.cancel)
                if problem:
                    self.emit(Event(WARNING, f"backup of {self.source.id}: {problem}"))
        except sqlite3.Error as err:
            self._state_failed(err, recorded)
        rec.end("failed", recorded)
        rec.cancelled_by = cancelled_by.who(self.store, self.job_id, self.cancel)
        self._write_end(self.emit)
        rec.save_end(row_running=problem is not None)
        self.emit(Event(ERROR, f"backup of {self.source.id} {status}: {reason}", {"backup_id": rec.id}))
        return status, reason

    def _away(self) -> bool:
        """Whether the backup's directory is no longer where step 3 made it, on the disk step 2 checked."""
        return bool(self._place.gone()) or not (self.rec.path / "data").is_dir()

    def _links_left(self) -> str:
        """What is left of a run whose medium went away after step 7 linked into its archive unions."""
        return (f"its links in the archive union cannot be undone with medium {self.rec.medium} away or"
                f" swapped; they and its catalog rows are left for the next backup of {self.source.id}"
                " onto it to undo")

    def _kept_whole(self, spool: CatalogSpool, status: str, recorded: str) -> tuple[str, str] | None:
        """Step 7 failed (a link into an archive union, the final backup.json) on a run whose
        transfer had ended whole (its backup.json says so): its data kept as a kill there keeps it
        (killed_kept.keep: its links in the unions undone, its catalog recorded again with versions
        of its own, then backup.json and its row say `kept`). Its links not undone now, its row
        stays `running` and backup.json as it is, for the next run's recovery (or rebuild-state) to
        keep it. None for another run: it fails as any. Returns how the run ended, said."""
        rec = self.rec
        if self._place.gone():
            return None
        info = medium_layout.read_backup_json(rec.path)
        if not transfer_whole(info):
            return None
        spool.discard()
        row = self.store.one("SELECT * FROM backups WHERE id=?", (rec.id,))
        try:
            problem, _ = killed_kept.keep(self.store, self.cfg, row, rec.path, info, self.emit, self.cancel, recorded)
        except (OSError, RabtuiError) as exc:     # its tree unreadable now (the medium failing), say
            problem = f"its data cannot be kept now: {ending(exc)[1]}"
        if problem:
            self._whole_said = (f"{recorded}; {problem}; its transfer had ended whole: the next backup of"
                                f" {self.source.id} keeps the data (as rebuild-state does)")
            rec.reason = recorded      # in its backup.json, still running: the reason it is kept with then
            rec.transfer_ended()       # (not written: the medium full, say; it is kept all the same)
        else:
            kept = self.store.one("SELECT reason FROM backups WHERE id=?", (rec.id,))["reason"]
            rec.status, rec.reason, rec.final_written = KEPT, kept, True
            self._whole_said = kept
        self._end_said = True      # nothing more is said of it, backup.json as it is
        self.emit(Event(ERROR, f"backup of {self.source.id} {status}: {self._whole_said}", {"backup_id": rec.id}))
        return status, self._whole_said

    def _whole_left(self, reason: str) -> bool:
        """The state database failed in step 6 or 7 of a run whose transfer had ended whole (from
        step 6's first record, as the post-backup commands start, on): its backup.json stays as it is
        (saying so), for the next run's recovery or rebuild-state to keep the data; said in the
        run's log. Whether it is such a run."""
        if self.rec.steps[5]["state"] == "pending" or self._place.gone() or \
                not transfer_whole(medium_layout.read_backup_json(self.rec.path)):
            return False
        # rewritten with the steps as the run knows them (step 6 begun or ended, unrecorded in the database)
        # and why it stopped, still running: the reason its data is kept with (killed_kept, rebuild-state)
        self.rec.reason = reason
        if problem := self.rec.transfer_ended():
            reason += f"; {problem}"
        reason += (f"; its transfer had ended whole: its backup.json says so, and the next backup of"
                   f" {self.source.id} keeps the data (as rebuild-state does)")
        self._log.write(Event(ERROR, f"backup of {self.source.id} failed: {reason}"))
        return True

    def _state_failed(self, exc: sqlite3.Error, failure: str | None = None, *, then: str | None = None) -> NoReturn:
        """The state database cannot be written (its directory full or read-only, its disk failing):
        how the run ends cannot be recorded there. Unless its backup.json says complete already, or
        its transfer ended whole and step 6 began (_whole_left), it says `failed` with the reason on
        the medium (what step 7 linked into the archive unions undone first), and its database row
        stays `running`: the next run's recovery records it as
        its backup.json says and forgets the catalog rows it may have. The error goes on to the
        caller, which says it (nothing more goes into the database, which would fail again). `failure`:
        the run's failure before it, `then`: what failed after it."""
        rec = self.rec
        if rec is None or not rec.dir_created or rec.final_written or self._end_said:
            raise exc
        self._end_said = True
        said = state_failure(exc, self.store.path).message
        reason = (said if failure is None else f"{failure}; then {said}") + (f"; {then}" if then else "")
        if rec.steps[6]["state"] == "ok":    # said in this record only (its row could not take it): not ended
            rec.steps[6].update(state="failed", message=said)
        if self._step7_wrote:
            # never on a disk the run did not write (the medium unplugged or swapped meanwhile): its row,
            # left running, has the run that finds the medium back undo them (as _failed leaves them)
            if self._away():
                problem = self._links_left() if self._union_linking else None
            else:
                problem = history.undo_links(self.cfg, self.source.id, rec.path, self._log.write, self.cancel)
            reason += f"; {problem}" if problem else ""
        if self._whole_left(reason):
            raise exc
        rec.end("failed", reason)
        rec.cancelled_by = cancelled_by.who(self.store, self.job_id, self.cancel)
        self._log.write(Event(ERROR, f"backup of {self.source.id} failed: {reason}"))
        self._write_end(self._log.write)
        raise exc

    def _write_end(self, say: Emit) -> None:
        """backup.json as the run ended; then the temporary files of its own that a kill may have left."""
        rec = self.rec
        if not rec.dir_created:
            return
        if gone := self._place.gone():    # what is at its path now is another disk's, or a copy
            say(Event(LOG, f"{rec.path}/backup.json not written: {gone}"))
            return
        try:
            rec.write_json()
        except OSError as err:
            say(Event(WARNING, f"cannot write {rec.path}/backup.json: {err.strerror}"))
            return
        remove_leftovers(rec.path)

    def _union_settled(self, medium: Medium, n: int) -> None:
        """A killed cleanup's undoing settled (union_undo.py) before rsync compares the archive
        directories with their union (--compare-dest): else a file back at a version an older backup
        saved would be neither copied nor linked, and the settling would then show the newer one.
        Under the union lock; its holder said at once, step `n` failed after io_timeout."""
        try:
            history.union_settled(self.cfg, self.source.id, medium.path, self.emit, self.cancel,
                                  by=f"a backup of {self.source.id}",
                                  looked=saved_kinds.looks(self.store, self.source.id, medium.id))
        except WorkFailed as exc:
            if self.cancel.is_set():
                self.step(n, "failed", "cancelled")
                raise Cancelled("cancelled: while waiting for the lock of the archive union") from None
            self._fail_step(n, str(exc))

    def _link_into_unions(self, medium: Medium, spool: CatalogSpool, archives: list,
                          status: str, reason: str | None) -> tuple[str, str | None]:
        union = locks.union_lock(self.cfg.state_dir, self.source.id, by=f"a backup of {self.source.id}")
        try:
            union.acquire_within(self.source.io_timeout, self.cancel,
                                 lambda text: self.emit(Event(WARNING, f"{self.source.id}: {text}")))
        except (Cancelled, LockBusy) as exc:
            # another process (a cleanup hung on its medium, a stopped one) holds the union, or a
            # cancel came as it was waited for: the data, complete on the medium, is kept as after a
            # failing post-backup command (as a kill here would keep it: killed_kept.py)
            spool.target(source=self.source.id, medium=medium.id, base_id=None)
            self._kept_cancelled = isinstance(exc, Cancelled)
            return KEPT, f"{exc}; the data is kept, not linked into the archive union"
        warnings = []
        with union:
            # a cleanup killed as it undid a backup that is still there: its files first
            looked = saved_kinds.looks(self.store, self.source.id, medium.id)
            union_undo.settle(medium.path, self.source.id, self.source.archive_paths, moved=union.moved,
                              looked=looked)
            for d in archives:
                replaced: list[bytes] = []
                try:
                    linked = link_new_files(medium.path, self.source.id, self.rec.path, d.path, spool, replaced,
                                            state_dir=self.cfg.state_dir, moved=union.moved)
                except (WorkFailed, OSError) as exc:
                    failed = self._links_undone(exc, archives, union.moved, looked)
                    spool.target(source=self.source.id, medium=medium.id, base_id=None)
                    spool.became_dirs.clear()
                    return KEPT, "; ".join([f"{failed}; the data is kept, not linked into the archive union",
                                            *([reason] if reason else [])])
                self.emit(Event(LOG, f"{d.path}: {linked} new item(s) linked into the archive of"
                                     f" medium {medium.id}"))
                if replaced:
                    text = (f"{d.path}: {fmt.count(len(replaced), 'entry')} of the archive of medium {medium.id} replaced by"
                            f" what the source has in their place now (a directory where a file or a symlink was, or a file"
                            f" where a directory was): {', '.join(fmt.name(r) for r in replaced[:5])}"
                            + (", ..." if len(replaced) > 5 else "") + "; the older backups still hold them"
                            " (restore --backup gives them), checkpoints from now on hold the newer ones")
                    self.emit(Event(WARNING, text))
                    warnings.append(text)
            faults.point("backup.archive_linked")
        if warnings and status == "completed":
            status = "warnings"
        if warnings:
            reason = "; ".join(([reason] if reason else []) + warnings)
        return status, reason

    def _links_undone(self, exc: Exception, archives: list, moved, looked) -> str:
        """A link into an archive union failed (too many links, an immutable or full directory
        there): the links the run made undone, under the union lock held, for its data to be kept
        as after a failing post-backup command. Returns the failure said; step 7 fails when they
        cannot be undone (the data then kept by _kept_whole, or the next run's recovery)."""
        failed = ending(exc)[1]
        try:
            history.unlink_archive(self.cfg, self.source.id, self.rec.path, moved=moved,
                                   ran=[d.path for d in archives], looked=looked)
        except (WorkFailed, OSError) as undo:
            self._fail_step(7, f"{failed}; its links in the archive union cannot be undone now: {ending(undo)[1]}")
        return failed

    def _result(self, status: str, reason: str | None) -> BackupResult:
        rec = self.rec
        totals = rec.save_dirs() if rec.dirs else None
        result = BackupResult(
            backup_id=rec.id, source=self.source.id, medium=rec.medium, status=status,
            path=rec.path if rec.dir_created else None,
            total_bytes=totals.total_bytes if totals else 0, new_bytes=totals.new_bytes if totals else 0,
            reason=reason, exit_code=EXIT_OF[status],
        )
        self.outer_emit(Event(RESULT, f"backup of {self.source.id}: {status}" + (f" ({reason})" if reason else ""),
                              result.as_dict()))
        return result
