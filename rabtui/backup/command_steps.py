"""Steps 4 and 6 of a backup: the pre- and post-backup commands on the source, and the post-backup
ones run all the same when the backup stops between them (they undo what the pre-backup ones did).
A part of pipeline.py's run, whose record, steps, events, configuration and cancel it uses."""

from __future__ import annotations

import threading

from rabtui.backup import source_commands
from rabtui.backup.completion import Stop as _Stop
from rabtui.errors import Cancelled, WorkFailed
from rabtui.events import WARNING, Event


class CommandSteps:
    """The pre-backup commands began, all ran; the post-backup ones began: those run at most once,
    after a failure once the pre-backup ones ran (or the state database cut them off)."""

    _pre_begun = _pre_ran = _post_begun = False
    # what stopped a whole transfer's post-backup commands (their failure, a cancel), said as step 7
    # says it: the reason of a run the state database stops after them (their step 6 row unwritten, say)
    _post_stopped: str | None = None

    def _step4(self) -> None:
        self._commands(4, self.source.pre_backup_commands, "pre-backup", self.cancel)

    def _commands(self, n: int, commands, what: str, cancel: threading.Event) -> None:
        self.step(n, "running")
        if commands:
            try:
                self._pre_begun, self._post_begun = self._pre_begun or n == 4, self._post_begun or n == 6
                source_commands.run_commands(self.cfg, self.source, commands, emit=self.emit, cancel=cancel,
                                             what=what)
            except (Cancelled, WorkFailed) as exc:
                if n == 4:
                    self._pre_begun = False    # cancelled, or one of them failed: no post-backup command runs
                elif isinstance(exc, Cancelled):
                    self._post_stopped = (f"post-backup commands stopped by a cancel"
                                          f" ({str(exc).removeprefix('cancelled: ')}): what they were to undo"
                                          " stays undone")
                else:
                    self._post_stopped = str(exc)
                if isinstance(exc, Cancelled):
                    self.step(n, "failed", "cancelled")
                    raise
                if n == 6:
                    self.step(n, "failed", str(exc))
                    raise
                self._fail_step(n, str(exc))
        if n == 4:
            self._pre_ran = True
        self.step(n, "ok" if commands else "skipped", f"{len(commands)} command(s)" if commands else "no commands")

    def _step6(self, cancel: threading.Event | None = None) -> str | None:
        try:
            self._commands(6, self.source.post_backup_commands, "post-backup", cancel or self.cancel)
        except WorkFailed as exc:
            return str(exc)
        return None

    def _post_step6(self) -> str | None:
        """Step 6 of a backup whose transfer ended whole: its failure, or a cancel that stopped the
        commands, said; the data is kept either way (step 7: `kept`), never lost for a cancel, the
        run then cancelled (as a cancel before it ends one), not failed."""
        try:
            return self._step6()
        except Cancelled:
            self._kept_cancelled = True     # the run ends cancelled, its data kept (completion._step7)
            self.emit(Event(WARNING, f"{self.source.id}: {self._post_stopped}"))
            return self._post_stopped

    def _undo_pre(self, exc: Exception) -> Exception:
        """The transfer failed or was cancelled after the pre-backup commands ran: the post-backup
        commands run all the same, since they undo what those did (a dump with secrets left on the
        source, a service left stopped). After a cancel they run to their end or their timeout; only
        a second cancel (`cancel_undo`: the console's) or the end of rabtui itself (a second Ctrl-C,
        a kill) stops them. The failure or cancel stays the backup's; their own failure or stop, if
        any, is added to its reason."""
        cancelled = isinstance(exc, Cancelled)
        if cancelled and self.source.post_backup_commands:
            self.emit(Event(WARNING, f"{self.source.id}: cancelled; the post-backup commands run all the same, to undo"
                                     " what the pre-backup commands did"))
        try:
            post_error = self._step6(self.cancel_undo if cancelled else self.cancel)
        except Cancelled as stopped:
            how = "by a second cancel" if cancelled else "by a cancel"
            post_error = (f"the post-backup commands were stopped {how} ({str(stopped).removeprefix('cancelled: ')}):"
                          " what they were to undo stays undone")
            self.emit(Event(WARNING, f"{self.source.id}: {post_error}"))
        if post_error is None:
            return exc
        reason = exc.reason if isinstance(exc, _Stop) else str(exc).removeprefix("cancelled: ")
        return _Stop(f"{reason}; then {post_error}", "cancelled" if cancelled else "failed")

    def _undo_pre_unrecorded(self) -> str | None:
        """The post-backup commands after the state database failed between the pre-backup commands and
        them: they run all the same (they undo what those did), said only in the run's log on the medium
        (the database cannot take it); their failure, if any."""
        try:
            source_commands.run_commands(self.cfg, self.source, self.source.post_backup_commands,
                                         emit=self._log.write, cancel=threading.Event(), what="post-backup")
        except (WorkFailed, Cancelled) as exc:
            return f"the post-backup commands, run all the same, failed: {exc}"
        return None
