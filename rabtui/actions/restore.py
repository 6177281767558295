"""The restore verb: a file or directory from a backup or from a checkpoint's discs, below a local
directory or back onto the source, as a job; a restore that fails is notified (one refused for its arguments is not,
nor recorded as a job)."""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass, field

from rabtui import fmt
from rabtui.config import Config
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_USAGE, EXIT_WARNINGS, RabtuiError
from rabtui.events import Emit, Prompter
from rabtui.actions.restore_record import RestoreRecord
from rabtui.ops import notify
from rabtui.restore import run as restoremod
from rabtui.restore.known_source import source_of
# what Browse needs of the engine: the directory of a file, the copy a found version is restored from
# (a medium at hand, else a verified checkpoint), and why a medium is not there
from rabtui.media.at_hand import another_there, medium_problem, unconfigured_problem  # noqa: F401
from rabtui.restore.copies import copy_of_version, directory_of  # noqa: F401
# the restore dialog refuses a target as the restore would, taking it as the restore does
from rabtui.restore.target_places import target_of  # noqa: F401
from rabtui.state.store import Store


@dataclass
class RestoreOutcome:
    result: restoremod.RestoreResult
    exit_code: int                 # 0, 3 when something could not be restored as it was, 1 when it failed
    undelivered: list[str] = field(default_factory=list)

    def as_json(self) -> dict:
        return self.result.as_json(self.exit_code)

    def problems(self) -> list[str]:
        """One line per thing not restored (names escaped)."""
        return self.result.written.problems() if self.result.written else []


def restore(cfg: Config, store: Store, emit: Emit, cancel: threading.Event | None, prompter: Prompter | None, *,
            source: str, path: str, backup: str | None = None, checkpoint: int | None = None, to: str | None = None,
            to_source: bool = False, overwrite: bool = False, job_id: int | None = None) -> RestoreOutcome:
    """`prompter` None: the job asks through the state database (a detached job). A state database
    that cannot record the restore is said (a warning: exit 3), the restore going on (restore_record)."""
    source_of(cfg, store, source)
    shown = fmt.name(os.fsencode(path))
    record = RestoreRecord(store, source, f"restore {shown} of {source}", job_id=job_id, cancel=cancel, emit=emit)

    try:
        result = restoremod.restore(
            cfg, store, source, path, backup=backup, checkpoint=checkpoint, to=to, to_source=to_source,
            overwrite=overwrite, emit=record.emit, cancel=record.cancel, prompter=record.prompter(prompter))
    except restoremod.RestoreIncomplete as exc:
        record.finish("failed", EXIT_FAILED, exc.result.summary)
        _unrecorded(record, exc.result)
        return RestoreOutcome(exc.result, EXIT_FAILED, _notify(cfg, str(exc), source))
    except RabtuiError as exc:
        if exc.exit_code == EXIT_USAGE and job_id is None:    # said to them; a detached job says it as its end
            record.discard()
        else:
            record.finish(exc.job_status, exc.exit_code, str(exc))
        if exc.exit_code != EXIT_USAGE:     # what the operator typed: said to them, no one paged
            exc.undelivered = _notify(cfg, str(exc), source)
        raise
    except BaseException as exc:
        record.finish("failed", EXIT_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    _unrecorded(record, result)
    code = EXIT_WARNINGS if result.incomplete() or result.warnings else EXIT_OK
    record.finish("warnings" if code else "completed", code, result.summary)
    if _unrecorded(record, result):     # its end could not be written
        code = EXIT_WARNINGS
    return RestoreOutcome(result, code)


def _unrecorded(record: RestoreRecord, result: restoremod.RestoreResult) -> bool:
    """The warning that the restore's record could not be written, among the result's (once)."""
    if record.lost is None:
        return False
    if record.lost not in result.warnings:
        result.warnings.append(record.lost)
    return True


def _notify(cfg: Config, message: str, source: str) -> list[str]:
    return notify.send(cfg, notify.make_event("restore_failed", "failed", message, source=source))
