"""One backup run as a job: its outcome on the job row and, when it failed or ended with warnings,
a notification. `rabtui backup` (also the job process the TUI starts) and `rabtui run-due` both
go through here, so a backup that goes wrong is reported however it was started."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from rabtui.ops import notify
from rabtui.backup.pipeline import run_backup
from rabtui.config import Config
from rabtui.errors import EXIT_FAILED, LockBusy, RabtuiError
from rabtui.events import Emit, Prompter
from rabtui.state.jobs import JobRecorder
from rabtui.ssh.shared import SharedConnection
from rabtui.state.store import Store


@dataclass(frozen=True)
class JobOutcome:
    exit_code: int
    summary: str
    error: str | None                  # the backup could not start (a medium unknown, cannot be mounted ...)
    notify_problems: list[str]         # notifications that could not be delivered


def run_backup_job(cfg: Config, store: Store, source_id: str, recorder: JobRecorder, *, emit: Emit,
                   prompter: Prompter | None, medium_id: str | None = None,
                   now: datetime | None = None, ssh: SharedConnection | None = None) -> JobOutcome:
    """Raises LockBusy (another backup of the source runs) with the job row left to the caller:
    the command line calls it a failure, run-due a slot already covered. `ssh`: see run_backup."""
    try:
        result = run_backup(cfg, store, source_id, emit=emit, cancel=recorder.cancel, prompter=prompter,
                            now=now, medium_id=medium_id, job_id=recorder.job_id, ssh=ssh)
    except LockBusy:
        raise
    except RabtuiError as exc:
        recorder.finish("failed", exc.exit_code, str(exc))
        event = notify.make_event("backup_failed", "failed", f"backup of {source_id} failed: {exc}",
                                  source=source_id, now=now)
        problems = notify.send(cfg, event, today=now.date() if now else None)
        return JobOutcome(exc.exit_code, f"failed: {exc}", str(exc), problems)
    except BaseException as exc:
        recorder.finish("failed", EXIT_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    summary = result.status + (f": {result.reason}" if result.reason else "")
    recorder.finish(result.status, result.exit_code, summary)
    return JobOutcome(result.exit_code, summary, None, notify.backup_result(cfg, result, now))
