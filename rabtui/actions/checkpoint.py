"""The checkpoint verbs: status, plan (of the configured directories or of any "SIZE PATH" list),
burn, resume, verify, abandon.

Burn, resume and verify run as a job (recorded, cancellable, its questions answerable from the UI
when it runs detached); a checkpoint left unfinished is notified. A burn is refused while an
earlier checkpoint is unfinished (unless a new one is asked for), and when its plan needs more
than `max_discs` discs, before anything is written.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

from rabtui import config as configmod
from rabtui.actions.recording import recording
from rabtui.checkpoint import plan as planmod
from rabtui.checkpoint import prepare, questions, run, triggers
from rabtui.checkpoint import status as checkpoint_status
from rabtui.checkpoint.xorriso import is_image_drive  # noqa: F401 (the fronts ask it here)
from rabtui.config import Config, safety
from rabtui.config.model import directory_path, drive_problem, resolve_drive
from rabtui.config.disc_types import parse_disc
from rabtui.errors import EXIT_FAILED, Cancelled, RabtuiError, UsageError
from rabtui.events import NO, YES, Emit, Prompter, Question, no_emit
from rabtui.media import mounting
from rabtui.ops import notify
from rabtui.state import jobs, locks, queries
from rabtui.state.dir_lock import StateDirLock
from rabtui.state.store import Store
from rabtui.state.store_whole import check_pages

PLAN_QUESTION = "confirm_plan"   # its data holds the plan's summary, for the front to show
INSERT = questions.INSERT
YES_ANSWER = questions.YES_ANSWER
NEVER = triggers.NEVER           # the reason of a directory never checkpointed


# --- status --------------------------------------------------------------------------------------


def shown_checkpoints(store: Store, limit: int = 1) -> list[dict]:
    """The newest checkpoints (default: the newest one) with their discs as the screens show them
    (`disc_rows`; a disc a gone job left "writing" reads "interrupted")."""
    out = []
    for d in queries.checkpoints(store, limit):
        d["status"], d["disc_rows"] = checkpoint_status.shown_discs(store, d["number"], d["status"])
        out.append(d)
    return out


@dataclass
class Status:
    directories: list          # triggers.DirStatus
    checkpoints: list[dict]    # the newest ten, with disc_rows

    def as_json(self) -> dict:
        keep = ("number", "created", "status", "disc_type", "drive", "discs", "lower_bound")
        cps = [{**{k: c[k] for k in keep}, "disc_states": {r["disc"]: r["state"] for r in c["disc_rows"]}}
               for c in self.checkpoints]
        return {"directories": [s.as_dict() for s in self.directories], "checkpoints": cps}


def status(cfg: Config, store: Store) -> Status:
    return Status(triggers.statuses(cfg, store), shown_checkpoints(store, 10))


# --- plan ----------------------------------------------------------------------------------------


@dataclass
class PlanResult:
    summary: dict
    refused: RabtuiError | None = None    # more discs than max_discs: said after the plan is shown

    def raise_if_refused(self) -> None:
        if self.refused is not None:
            raise self.refused


def _max_discs_problem(p: planmod.Plan, limit: int, disc_type: str) -> RabtuiError | None:
    try:
        planmod.check_max_discs(p, limit, disc_type)
    except RabtuiError as exc:
        return exc
    return None


def asked_dirs(cfg: Config, store: Store, names: list[str] | None) -> set[str]:
    """The directories named for a checkpoint now (`SOURCE:PATH`; an empty list: every directory
    that has a backup; None: none)."""
    if names is None:
        return set()
    known = triggers.statuses(cfg, store)
    if not names:
        return {s.key for s in known if s.backup_id}
    keys = {s.key for s in known}
    asked = set()
    for k in names:
        if ":" not in k:
            raise UsageError(f"{k!r}: name a directory as SOURCE:PATH, e.g. web1:/etc")
        source, path = k.split(":", 1)
        key = f"{source}:{directory_path(path)}" if path.startswith("/") else k   # web1:/etc/ (a shell's completion)
        if key not in keys:
            raise UsageError(f"{k!r} is not a configured directory", hint="configured: " + ", ".join(sorted(keys)))
        asked.add(key)
    return asked


def plan(cfg: Config, store: Store, *, now: list[str] | None = None, disc: str | None = None,
         emit: Emit = no_emit, cancel: threading.Event | None = None) -> PlanResult:
    """The plan of the next checkpoint (writes no disc). Directories asked for stay due until a
    checkpoint holds them. `emit`: what the planning has to say as it goes (a wait for a union's lock).
    `cancel` stops it, the xorriso of its trials with it (Cancelled)."""
    asked = asked_dirs(cfg, store, now)
    # refused by a restore running alone (dir_lock.py), as a burn is: it mounts and unmounts the media
    # uncounted, and records the directories asked for
    with StateDirLock(cfg.state_dir, "a checkpoint plan"):
        with _media_in_use(cfg, emit, cancel):
            computed = prepare.compute(cfg, store, asked=asked, disc=disc, emit=emit, cancel=cancel)
        if cancel is not None and cancel.is_set():    # as it read the backups, which heeds none: nothing recorded
            raise Cancelled("checkpoint plan: cancelled")
        if asked:
            with recording(store):
                triggers.request(store, sorted(asked))
    summary = computed.summary()
    limit = cfg.checkpoint.max_discs
    summary["max_discs"] = limit
    return PlanResult(summary, _max_discs_problem(computed.plan, limit, computed.disc_type))


def plan_list(stream: Iterable[bytes], disc: str, max_discs: int) -> PlanResult:
    """The plan of the lines of a "SIZE PATH" list (the format of `find -printf "%s %p\\n"`)."""
    try:
        name, sectors = parse_disc(disc)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    group = planmod.parse_list(stream)
    started = time.perf_counter()
    p = planmod.plan([group], sectors)
    seconds = time.perf_counter() - started
    summary = {"disc_type": name, "disc_bytes": sectors * 2048, "discs": len(p.discs), "lower_bound": p.lower_bound,
               "files": p.files, "data_bytes": p.data_bytes, "content_bytes": sum(group.sizes),
               "reserved_bytes_per_disc": p.reserve_sectors * 2048,
               "per_disc": p.summary(), "seconds": round(seconds, 3), "max_discs": max_discs}
    return PlanResult(summary, _max_discs_problem(p, max_discs, name))


def default_max_discs() -> int:
    """max_discs where there is no configuration."""
    return configmod.CheckpointSettings().max_discs


# --- burn, resume, verify ------------------------------------------------------------------------


@dataclass
class Outcome:
    number: int
    status: str                    # completed | incomplete | aborted
    verified: list[int]
    skipped: list[int]
    message: str
    exit_code: int
    undelivered: list[str] = field(default_factory=list)   # notifications that could not be sent
    unchecked: dict[int, list[str]] = field(default_factory=dict)   # disc -> what verifying it left out

    def as_json(self) -> dict:
        return {"number": self.number, "status": self.status, "verified": self.verified, "skipped": self.skipped,
                "message": self.message, "unchecked": {str(k): v for k, v in self.unchecked.items()}}


def drive_for(cfg: Config, store: Store, drive: str | None, number: int | None = None,
              of_checkpoint: bool = False) -> str:
    """The drive to use: the one asked for (an images: drive's folder taken from the working
    directory: the checkpoint records it, and runs started elsewhere read its images there), else
    (resume, verify) the checkpoint's own, else the config's."""
    if drive:
        problem = drive_problem(drive) or drive_problem(resolve_drive(drive, Path.cwd())) or \
            safety.images_refused(resolve_drive(drive, Path.cwd()), cfg.state_dir, cfg.media)
        if problem:
            raise UsageError(f"--drive {problem}")
        return resolve_drive(drive, Path.cwd())
    return (queries.checkpoint_drive(store, number) if of_checkpoint else None) or cfg.checkpoint.drive


Work = Callable[[Emit, threading.Event, Prompter], run.RunResult]
VERIFY_TITLE = "checkpoint verify"     # its job's title: a verification stopped leaves nothing to resume


def _as_job(cfg: Config, store: Store, title: str, drive: str, emit: Emit, cancel: threading.Event | None,
            prompter: Prompter | None, job_id: int | None, work: Work) -> Outcome:
    """`work` as a job on `drive`: recorded, failures notified. Its questions are answered from the
    UI or `rabtui jobs answer`, and on the terminal of a `prompter` that asks on one."""
    recorder = jobs.JobRecorder(store, "checkpoint", drive, title, job_id=job_id, cancel=cancel)

    try:
        # refused by a restore running alone (dir_lock.py): it mounts and unmounts the media uncounted
        with StateDirLock(cfg.state_dir, "a checkpoint burn" if title == "checkpoint" else f"a {title}"), _media_in_use(cfg, recorder.recording(emit), recorder.cancel):
            result = work(recorder.recording(emit), recorder.cancel, recorder.prompter(prompter))
    except RabtuiError as exc:         # cancelled: the plan was not accepted, say
        recorder.finish(exc.job_status, exc.exit_code, str(exc))
        if exc.job_status == "failed" and not isinstance(exc, UsageError):
            exc.undelivered = _notify(cfg, f"{title} failed: {exc}")
        raise
    except KeyboardInterrupt:
        recorder.finish("cancelled", EXIT_FAILED, "interrupted")
        raise
    except BaseException as exc:
        recorder.finish("failed", EXIT_FAILED, f"{type(exc).__name__}: {exc}")
        raise
    status = {"completed": "completed", "aborted": "cancelled"}.get(result.status, "failed")
    recorder.finish(status, result.exit_code, result.message)
    undelivered = []
    if result.status != "completed":   # an aborted one too: the checkpoint is left unfinished
        undelivered = _notify(cfg, f"{title} {result.number} {result.status}: {result.message}",
                              level="failed" if status == "failed" else "warning", number=result.number,
                              failed_discs=result.failed, skipped_discs=result.skipped)
    return Outcome(result.number, result.status, result.verified, result.skipped, result.message,
                   result.exit_code, undelivered, result.unchecked)


def _media_in_use(cfg: Config, emit: Emit, cancel: threading.Event | None):
    """The media with a `device` mounted where their disk is plugged in, and counted as in use by
    this process for the block, before it takes its own locks (mounting.mounted): a backup, cleanup
    or restore that mounted one and ends meanwhile leaves it mounted for the checkpoint to read, and
    the last of them to end unmounts it. `cancel` stops a mount that hangs, and a wait for another's."""
    return mounting.all_mounted(cfg.media, emit, cfg.state_dir, reader=True, cancel=cancel)


def _notify(cfg: Config, message: str, level: str = "failed", **data) -> list[str]:
    """A checkpoint left unfinished is worth a message: it may have run detached, or from cron."""
    return notify.send(cfg, notify.make_event("checkpoint_failed", level, message, **data))


def _these(discs: int) -> str:
    return "this disc" if discs == 1 else f"these {discs} discs"


def burn(cfg: Config, store: Store, emit: Emit, cancel: threading.Event | None, prompter: Prompter | None, *,
         now: list[str] | None = None, disc: str | None = None, drive: str | None = None, new: bool = False,
         confirm: bool = True, job_id: int | None = None) -> Outcome:
    """Plan, then write and verify the discs of a new checkpoint. `confirm`: ask whether to write
    the plan (a job the UI starts was started from the plan shown there)."""
    drive = drive_for(cfg, store, drive)

    def work(emit, cancel, prompter):
        check_pages(store.conn)     # each disc carries a copy of the database, a damaged page and all
        # the drive, and the planning of a new checkpoint whatever the drive, are taken before the
        # check for an unfinished checkpoint: two burns started at once would both find none, and
        # record one each (on one drive, the second one it cannot write)
        with locks.checkpoints_lock(cfg.state_dir).acquire(shared=True), locks.drive_lock(cfg.state_dir, drive):
            with locks.new_checkpoint_lock(cfg.state_dir):
                number = _check_and_record(cfg, store, drive, emit, cancel, prompter, now=now, disc=disc, new=new,
                                           confirm=confirm)
            return run.burn_checkpoint(cfg, store, number, drive=drive, emit=emit, cancel=cancel, prompter=prompter,
                                       drive_held=True)

    return _as_job(cfg, store, "checkpoint", drive, emit, cancel, prompter, job_id, work)


def _check_and_record(cfg: Config, store: Store, drive: str, emit: Emit, cancel: threading.Event, prompter: Prompter,
                      *, now: list[str] | None, disc: str | None, new: bool, confirm: bool) -> int:
    open_cp = queries.unfinished_checkpoint(store, checkpoint_status.FINISHED)
    if open_cp and not new:
        raise UsageError(f"checkpoint {open_cp} is not finished",
                         hint=f"go on with `rabtui checkpoint resume {open_cp}`, give it up with"
                              f" `rabtui checkpoint abandon {open_cp}`, or make a new one with `burn --new`")
    # until it is recorded (then retention keeps what it reads), a cleanup deletes none of the
    # backups it reads from
    with locks.reading(cfg.state_dir, [s.id for s in cfg.sources]):
        computed = prepare.compute(cfg, store, asked=asked_dirs(cfg, store, now), disc=disc, emit=emit,
                                   prompter=prompter, cancel=cancel)
        planmod.check_max_discs(computed.plan, cfg.checkpoint.max_discs, computed.disc_type)
        if confirm:
            summary = computed.summary()
            question = Question(PLAN_QUESTION, f"Write {_these(summary['discs'])} of"
                                f" {summary['disc_type']}?", (YES, NO), {"summary": summary})
            if prompter.ask(question, cancel) != YES:
                raise Cancelled("the plan was not accepted: nothing was written")
        return prepare.record(cfg, store, computed, drive=drive, emit=emit, cancel=cancel)


def _there(store: Store, number: int) -> None:
    """Refuses a checkpoint that does not exist before a job is recorded: nothing ran, and no failed
    job is left on the dashboard (as a backup of an unknown source leaves none). A detached job,
    recorded already, says it as its outcome."""
    if not queries.has_checkpoint(store, number):
        raise UsageError(f"there is no checkpoint {number}")


def to_resume(store: Store) -> int:
    """The newest unfinished checkpoint, which a resume goes on with; UsageError when there is none
    (the UI asks before it starts a job that could only fail)."""
    return checkpoint_status.latest_unfinished(store)


def _to_verify(store: Store, number: int | None) -> int:
    n = number if number is not None else queries.newest_checkpoint(store)
    if n is None:
        raise UsageError("there is no checkpoint yet")
    return n


def resume(cfg: Config, store: Store, emit: Emit, cancel: threading.Event | None, prompter: Prompter | None, *,
           number: int | None = None, drive: str | None = None, job_id: int | None = None) -> Outcome:
    """Go on with an unfinished checkpoint (default: the newest) at its first unverified disc."""
    drive = drive_for(cfg, store, drive, number, of_checkpoint=True)
    if job_id is None:
        _there(store, number or to_resume(store))

    def work(emit, cancel, prompter):
        check_pages(store.conn)
        n = number or to_resume(store)
        return run.burn_checkpoint(cfg, store, n, drive=drive, emit=emit, cancel=cancel, prompter=prompter)

    return _as_job(cfg, store, "checkpoint resume", drive, emit, cancel, prompter, job_id, work)


def verify(cfg: Config, store: Store, emit: Emit, cancel: threading.Event | None, prompter: Prompter | None, *,
           number: int | None = None, disc: int | None = None, drive: str | None = None,
           job_id: int | None = None) -> Outcome:
    """Check the discs of a checkpoint (default: the newest) again, or only disc `disc`."""
    drive = drive_for(cfg, store, drive, number, of_checkpoint=True)
    if job_id is None:
        _there(store, _to_verify(store, number))

    def work(emit, cancel, prompter):
        n = _to_verify(store, number)
        return run.verify_checkpoint(cfg, store, n, disc=disc, drive=drive, emit=emit, cancel=cancel,
                                     prompter=prompter)

    return _as_job(cfg, store, VERIFY_TITLE, drive, emit, cancel, prompter, job_id, work)


def abandon(cfg: Config, store: Store, number: int) -> str:
    """Give up an unfinished checkpoint so that a new one can start; says what was done. Refused
    while a restore runs alone (dir_lock.py), as a burn is."""
    with StateDirLock(cfg.state_dir, f"the abandoning of checkpoint {number}"):
        return checkpoint_status.abandon(cfg, store, number)
