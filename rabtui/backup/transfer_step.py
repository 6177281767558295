"""Step 5 of a backup: rsync per directory, with the looks for directories that are symlinks on the
source (a directory read through a link fails, its copy removed). A part of pipeline.py's run,
whose record, steps, events, configuration, connection and cancel it uses."""

from __future__ import annotations

from typing import NoReturn, Sequence

from rabtui import command_safety, faults, fmt
from rabtui.backup import history
from rabtui.backup.catalog_update import CatalogSpool
from rabtui.backup.sizes import DirSizes
from rabtui.backup.source_looks import looks as source_looks, symlinked as symlinked_dirs
from rabtui.backup.transfer import drop_copy, transfer_directory
from rabtui.config import safety as config_safety
from rabtui.config import Medium
from rabtui.errors import Cancelled, WorkFailed
from rabtui.events import WARNING, Event
from rabtui.rsync_exit import NO_SPACE


class TransferStep:
    def _step5(self, medium: Medium, spool: CatalogSpool, *, exact_times: bool, medium_links: bool,
               folds_case: bool = False) -> None:
        rec = self.rec
        self.step(5, "running")
        unsafe = config_safety.permission_problem(self.cfg.path) if self.source.rsync_path and self.cfg.path else None
        if unsafe:
            self._fail_step(5, f"refusing to run the source's rsync_path: {unsafe}")
        changeable = command_safety.command_changeable(self.source.rsync_path) if self.source.rsync_path \
            and self.source.is_local else None
        if changeable:      # run here, as this user
            self._fail_step(5, f"refusing to run the source's rsync_path: {changeable}")
        # as when the config was read: a pre-backup command may have pointed a directory elsewhere
        overlap = config_safety.overlap_problem(self.cfg.media, [self.source], self.cfg.state_dir,
                                               self.cfg.checkpoint.drive)
        if overlap:
            self._fail_step(5, f"{overlap[1]} (as the paths are now, after the pre-backup commands)")
        rsh = None if self._ssh is None else self._ssh.rsync_rsh()
        spool.target(source=self.source.id, medium=medium.id, base_id=rec.link_dest_id)
        dirs = self.source.directories
        looks = source_looks(self.source, lambda after: self._symlinked(rsh, after))
        looks.begin()
        for index, directory in enumerate(dirs):
            self._still_in_place(5)    # else the parents made here would hold the backup in another's place
            if directory.path in looks.before:
                rec.dirs.append(DirSizes(directory.path, directory.kind, state="failed", message=looks.before[directory.path]))
                self._drop_linked(looks.before, failing=rec.dirs[-1])
            try:
                sizes = transfer_directory(
                    self.cfg, self.source, directory, medium, rec.path, base_path=self._base_path,
                    rsh=rsh, spool=spool, emit=self.emit, cancel=self.cancel, index=index, count=len(dirs),
                    last_files=history.last_files(self.store, self.source.id, directory.path),
                    exact_times=exact_times, medium_links=medium_links, folds_case=folds_case, looks=looks,
                )
            except Cancelled:
                self.step(5, "failed", "cancelled")
                raise
            except WorkFailed as exc:
                self._fail_step(5, str(exc))
            faults.point("backup.rsync_ended")
            rec.dirs.append(sizes)
            if sizes.state == "failed" and looks.after_seen is not False:
                if NO_SPACE in (sizes.message or ""):
                    rec.did_not_fit([directory.path])
                self._drop_linked(looks.before, failing=sizes)    # a look apart made since may name earlier ones
        self._drop_linked({**looks.before, **looks.after()})    # links put in place after a directory's look
        if looks.after_seen is False:    # the last transfer's session saw a link that the look after did not
            self._dir_failed(rec.dirs[-1], rec.dirs[-1].message)
        warnings = [f"{d.path}: {d.message}" for d in rec.dirs if d.state == "warning"]
        if not dirs:
            warnings.append("this source has no directories configured: nothing was backed up")
        totals = rec.save_dirs()
        self._still_in_place(5)     # the mark below goes nowhere else
        if warnings:
            for w in warnings:
                self.emit(Event(WARNING, w))
            self.step(5, "warning", "; ".join(warnings))
        else:
            self.step(5, "ok", f"{fmt.count(len(dirs), 'directory')}, "
                               f"{fmt.count(totals.files, 'file')}, {totals.new_bytes} new bytes")
        # the transfer ended whole: a run killed from here on is kept by its recovery (killed_kept.py)
        problem = rec.transfer_ended()
        if problem:
            self.emit(Event(WARNING, f"{problem}: killed before it ends, this backup would be undone"))

    def _symlinked(self, rsh: str | None, after: bool = False) -> dict[str, str]:
        try:
            return symlinked_dirs(self.source, self.rec.path, rsh, self.cancel, after)
        except Cancelled:
            self.step(5, "failed", "cancelled")
            raise
        except WorkFailed as exc:
            self._fail_step(5, str(exc))

    def _drop_linked(self, symlinked: dict[str, str], failing: DirSizes | None = None) -> None:
        """Step 5 fails with `failing` and the directories `symlinked` names (read through a link: copies removed)."""
        rec = self.rec
        dropped = [i for i, d in enumerate(rec.dirs) if d.path in symlinked and d is not failing]
        for i in dropped:     # each one's copy, before the step fails with the first
            self._still_in_place(5)
            drop_copy(rec.path, rec.dirs[i].path)
            rec.dirs[i] = DirSizes(rec.dirs[i].path, rec.dirs[i].kind, state="failed", message=symlinked[rec.dirs[i].path])
        named = ([failing] if failing else []) + [rec.dirs[i] for i in dropped]
        if named:
            self._dir_failed(named[0], named[0].message, also=named[1:])

    def _dir_failed(self, sizes: DirSizes, message: str | None, also: Sequence[DirSizes] = ()) -> NoReturn:
        """Step 5 fails with the directory `sizes` of the record (failed so, with `message`), and
        the directories `also` (failed already)."""
        sizes.state, sizes.message = "failed", message
        self.rec.save_dirs()
        self._fail_step(5, "; ".join(f"{d.path}: {d.message}" for d in (sizes, *also)))
