"""Burning a recorded checkpoint disc after disc, with prompts, verification and resume.

Each disc goes planned -> writing -> written -> verified (or failed / skipped) in `discs`. A run
starts at the first disc that is not verified, so `resume` after a killed process, a failed disc,
a skip or an abort simply runs again; a verified disc is never written again, a disc left written
but not verified is verified first. Before each disc the operator is asked to insert it (ready /
skip / abort); after a failure (xorriso's, or an OS error such as a full or unwritable image
directory): retry, rewrite on a new disc, skip or abort. A verification this machine cannot carry
out (an OS error: its state directory or TMPDIR, open files, memory; an xorriso reading the disc
killed, or short of those: xorriso_output.MachineFailed) or a hung drive leaves the
disc unjudged, in its state (verify_loop.py). When every disc is verified the checkpoint is completed
(checkpoint/status.py).
"""

from __future__ import annotations

import time
from contextlib import nullcontext
from dataclasses import dataclass, field

from rabtui import faults, fmt
from rabtui.state import changes, locks
from rabtui.checkpoint import burn, images_mount, layout, read_from, unchecked, xorriso
from rabtui.checkpoint.questions import (
    WRONG, Aborted, ask_failed, insert_question, medium_at_hand, medium_away, need_sectors,
)
from rabtui.checkpoint.status import complete, complete_rebuilt, record_interrupted, set_disc
from rabtui.checkpoint.verify_loop import verify_loop
from rabtui.config import Config
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS, Cancelled, UsageError, WorkFailed
from rabtui.events import (
    ABORT, ERROR, LOG, READY, RESULT, RETRY, REWRITE, SKIP, STEP, WARNING, Emit, Event, Prompter, Question,
)
from rabtui.state.store import Store


@dataclass
class RunResult:
    number: int
    status: str                     # completed | incomplete | aborted
    verified: list[int] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    failed: list[int] = field(default_factory=list)
    message: str = ""
    unchecked: dict[int, list[str]] = field(default_factory=dict)   # disc -> what its verification left out

    @property
    def exit_code(self) -> int:
        if self.status != "completed":
            return EXIT_FAILED
        return EXIT_WARNINGS if self.unchecked else EXIT_OK


def burn_checkpoint(cfg: Config, store: Store, number: int, *, drive: str | None = None, emit: Emit,
                    cancel, prompter: Prompter, drive_held: bool = False) -> RunResult:
    """Write (or go on writing) checkpoint `number`; takes the drive's lock (unless the caller
    holds it: `drive_held`) and the checkpoint's."""
    cp, plan_json = burn.load_plan(store, number)
    drive = drive or cp["drive"] or cfg.checkpoint.drive
    left = store.one("SELECT COUNT(*) FROM discs WHERE number=? AND state != 'verified'", (number,))[0]
    if cp["status"] == "completed" and not left:
        return RunResult(number, "completed", message=f"checkpoint {number} is already complete")
    if cp["status"] == "abandoned":
        raise UsageError(f"checkpoint {number} was abandoned and is not written any more",
                         hint="`rabtui checkpoint burn` makes a new checkpoint")
    _not_rebuilt(cp, plan_json)
    with locks.checkpoints_lock(cfg.state_dir).acquire(shared=True), \
            (nullcontext() if drive_held else locks.drive_lock(cfg.state_dir, drive)), \
            locks.checkpoint_lock(cfg.state_dir, number):
        if cp["status"] == "burning":   # we hold the drive's lock: the run that was burning it is gone
            _say_interrupted(store, number, emit)
        record_interrupted(store, number, "the job ended while writing this disc")
        store.execute("UPDATE checkpoints SET status='burning', drive=? WHERE number=?", (drive, number))
        result = RunResult(number, "incomplete")
        try:
            for row in store.all("SELECT * FROM discs WHERE number=? ORDER BY disc", (number,)):
                disc = row["disc"]
                if row["state"] == "verified":   # by an earlier run: what it could not check is in its record
                    result.verified.append(disc)
                    if gaps := unchecked.recorded(row["volid"], row["message"]):
                        result.unchecked[disc] = gaps
                    continue
                emit(Event(STEP, f"disc {disc} of {cp['discs']}", {"step": disc, "name": row["volid"],
                                                                   "state": "running"}))
                outcome = _one_disc(cfg, store, cp, plan_json, disc, drive, emit, cancel, prompter, result.unchecked)
                getattr(result, outcome).append(disc)
                faults.point("burn.disc_done")
                emit(Event(STEP, f"disc {disc}: {outcome}", {"step": disc, "name": row["volid"],
                                                            "state": "ok" if outcome == "verified" else "skipped"}))
        except (Aborted, Cancelled) as exc:
            result.status = _stopped(exc)
            store.execute("UPDATE checkpoints SET status=? WHERE number=?", (_recorded(exc), number))
            result.message = (f"checkpoint {number} stopped ({exc}); `rabtui checkpoint resume {number}`"
                              f" goes on at the first disc not verified")
            emit(Event(ERROR, result.message))
            return result
        except BaseException as exc:   # the screens must not show "writing" for a job that is gone
            record_interrupted(store, number, f"interrupted: {exc}")
            store.execute("UPDATE checkpoints SET status=? WHERE number=?", (_recorded(exc), number))
            raise
        if len(result.verified) == cp["discs"]:
            complete(store, number, plan_json)
            result.status = "completed"
            if result.unchecked:   # completed with warnings (exit 3), as `checkpoint verify` says them
                result.message = unchecked.result_message(number, result.verified, result.unchecked, written=True)
            else:
                result.message = (f"checkpoint {number}: " + ("its disc" if cp["discs"] == 1 else f"all {cp['discs']} discs")
                                  + " written and verified")
        else:   # a disc skipped: unfinished, as its job is failed; `burning` would read as a run killed
            store.execute("UPDATE checkpoints SET status='failed' WHERE number=?", (number,))
            left = sorted(set(range(1, cp["discs"] + 1)) - set(result.verified))
            result.message = (f"checkpoint {number}: discs {', '.join(map(str, left))} not verified;"
                              f" `rabtui checkpoint resume {number}` writes them")
        emit(Event(RESULT, result.message, {"number": number, "status": result.status, "verified": result.verified,
                                            "skipped": result.skipped, "unchecked": result.unchecked}))
        return result


def _stopped(exc: Aborted | Cancelled) -> str:
    """A run's status when `exc` stopped it: aborted by the operator, else incomplete (a question
    nobody could answer: its job failed)."""
    return "aborted" if exc.job_status == "cancelled" else "incomplete"


def _recorded(exc: BaseException) -> str:
    """The checkpoint's status when `exc` stopped a run of it, as its job's: aborted when the operator
    (or a signal) stopped it, failed otherwise (a question nobody could answer, an error); either
    is resumed."""
    cancelled = isinstance(exc, KeyboardInterrupt) or getattr(exc, "job_status", "failed") == "cancelled"
    return "aborted" if cancelled else "failed"


def _not_rebuilt(cp: dict, plan_json: dict) -> None:
    if plan_json.get("rebuilt"):
        n = cp["number"]
        raise UsageError(f"checkpoint {n} was rebuilt from its discs (rebuild-state): they can be"
                         " verified, not written again",
                         hint="`rabtui checkpoint burn --now` makes a new checkpoint" if cp["status"] == "completed"
                         else f"`rabtui checkpoint abandon {n}` gives up the discs it lacks (those written stay"
                         " usable), then `rabtui checkpoint burn --now` makes a new checkpoint")


def _rebuilt_complete(store: Store, number: int) -> None:
    """A checkpoint rebuilt from its discs, unfinished only because a disc failed its verification,
    complete once every disc is verified."""
    if store.one("SELECT status FROM checkpoints WHERE number=?", (number,))["status"] != "aborted":
        return
    if store.one("SELECT COUNT(*) FROM discs WHERE number=? AND state != 'verified'", (number,))[0]:
        return
    with store.transaction() as conn:
        complete_rebuilt(conn, number)
        changes.rebuild(conn)


def _say_interrupted(store: Store, number: int, emit: Emit) -> None:
    discs = store.all("SELECT disc, state FROM discs WHERE number=? AND state IN ('writing', 'written')", (number,))
    what = "; ".join(f"disc {r['disc']} was {r['state']}" + (" (it is written again)" if r["state"] == "writing"
                                                            else " (it is verified first)") for r in discs)
    emit(Event(WARNING, f"found checkpoint {number} interrupted: the run that was burning it ended before it"
                        f" finished" + (f"; {what}" if what else ""), {"number": number}))


def _one_disc(cfg, store, cp, plan_json, disc, drive, emit, cancel, prompter,
              gaps: dict[int, list[str]] | None = None, rewritten: bool = False) -> str:
    """Insert, check, write, verify one disc; returns 'verified' or 'skipped'; raises Aborted. Into
    `gaps`: what its verification could not check (verify_loop). `rewritten`: the disc failed its
    verification in this run and the operator chose to write it again."""
    number = cp["number"]
    _not_rebuilt(cp, plan_json)
    vid = layout.volid(number, disc)
    rows = read_from.load_rows(store, number, disc, to_write=True)
    need = need_sectors(cp, plan_json, disc)
    note = ""
    if store.one("SELECT state FROM discs WHERE number=? AND disc=?", (number, disc))["state"] == "written":
        # written before the last run ended, not verified yet (a kill during verification)
        answer = prompter.ask(insert_question(cp, plan_json, disc, drive, written=True,
                                              note=f"Disc {disc} was written but not verified; it is verified now.",
                                              choices=(READY, REWRITE, ABORT)), cancel)
        if answer == ABORT:
            raise Aborted(f"aborted at disc {disc}")
        if answer == READY:   # compared with where it was read, as right after it is written
            outcome = verify_loop(cfg, store, cp, plan_json, disc, drive, rows, emit, cancel, prompter, gaps,
                                  saved_versions=not plan_json.get("rebuilt"), rewritten=rewritten)
            if outcome != REWRITE:
                return outcome
            rewritten = True
        burn.eject(cfg, drive, emit, cancel)
        note = "Use a new blank disc."
    problem = None
    while True:   # insert a blank disc and write it
        # each attempt: a medium may have been unmounted while the operator was asked
        for medium_id, what in read_from.media_read(plan_json, rows).items():
            medium_at_hand(cfg, store, cp, disc, medium_id, what, prompter, cancel)
        question = insert_question(cp, plan_json, disc, drive, note)
        if problem:   # never answered for the operator (--yes): the same answer would meet the same disc
            question = Question(WRONG, question.text, question.choices, question.data)
        answer = prompter.ask(question, cancel)
        if answer == ABORT:
            raise Aborted(f"aborted at disc {disc}")
        if answer == SKIP:
            set_disc(store, number, disc, "skipped", emit, f"disc {disc} skipped")
            return "skipped"
        try:
            image = xorriso.image_path(drive, vid) if xorriso.is_image_drive(drive) else None
            problem = (images_mount.away(store, drive) or burn.check_blank(drive, need, cancel, cfg.checkpoint.io_timeout)
                       or burn.image_in_the_way(drive, vid, _image_written(store, number, disc, drive), cancel,
                                                cfg.checkpoint.io_timeout))
            if problem:
                note = problem
                continue
            set_disc(store, number, disc, "writing", emit, f"writing {vid}", image=image)
            faults.point("burn.before_write")
            moved = read_from.read_saved_versions(store, number, plan_json, rows, cancel)
            if moved:
                emit(Event(LOG, f"{fmt.count(moved, 'archive entry')} {fmt.are(moved)} read from the backups that hold them as"
                                " recorded: the union shows newer versions now"))
            _staging, cmdfile = burn.stage(cfg, store, number, disc, cp, plan_json, rows, cancel)
            burn.write_disc(drive, vid, cmdfile, emit=emit, cancel=cancel, total_sectors=need,
                            disc_sectors=cp["disc_sectors"], io_timeout=cfg.checkpoint.io_timeout)
        except (WorkFailed, OSError) as exc:
            why = burn.reason(exc)
            lasting = isinstance(exc, burn.ChangedSincePlan)
            if lasting and (away := medium_away(cfg, store, read_from.media_read(plan_json, rows))):
                # unmounted since it was found at hand: every file of it looks removed
                why = f"the medium it reads is not at hand ({away}); nothing was written: mount it, then retry"
                lasting = False
            set_disc(store, number, disc, "failed", emit, why)
            if lasting:   # a new disc would meet the same backup
                answer = ask_failed(prompter, cancel, f"Writing disc {disc} ({vid}) failed: {why}", disc,
                                    choices=(RETRY, SKIP, ABORT))
            else:
                answer = ask_failed(prompter, cancel, f"Writing disc {disc} ({vid}) failed: {why}", disc)
            if answer == RETRY or answer == REWRITE:
                note = ""
                if answer == REWRITE:
                    burn.eject(cfg, drive, emit, cancel)
                    note = "Use a new blank disc."
                continue
            if answer == SKIP:
                return "skipped"
            raise Aborted(f"aborted at disc {disc}")
        set_disc(store, number, disc, "written", emit, f"{vid} written", written=time.time(), image=image)
        images_mount.remember(store, drive)
        faults.point("burn.written")
        outcome = verify_loop(cfg, store, cp, plan_json, disc, drive, rows, emit, cancel, prompter, gaps,
                              rewritten=rewritten)
        if outcome == REWRITE:
            rewritten = True
            burn.eject(cfg, drive, emit, cancel)
            note = "Use a new blank disc."
            continue
        return outcome


def _image_written(store: Store, number: int, disc: int, drive: str) -> str | None:
    """The image this disc has written (or begun to write), which a new attempt may replace."""
    row = store.one("SELECT state, image FROM discs WHERE number=? AND disc=?", (number, disc))
    if row["image"]:
        return row["image"]
    if row["state"] in ("writing", "interrupted", "failed", "written") and xorriso.is_image_drive(drive):
        return xorriso.image_path(drive, layout.volid(number, disc))   # recorded once written, before
    return None


def _not_to_verify(row, number: int, disc: int, rebuilt: bool) -> str:
    """Why disc `disc` (its row: planned, skipped or interrupted) is not verified, and what does it.
    One written before (`written` is kept) was then being written again: a rewrite of it after it
    failed, killed or skipped."""
    if rebuilt:
        return f"disc {disc} was never written; `rabtui checkpoint abandon {number}` gives it up"
    if row["written"] is None:
        return f"disc {disc} was never written; `rabtui checkpoint resume {number}` writes it"
    how = ("was skipped" if row["state"] == "skipped" else
           f"stopped before it ended ({row['message'] or 'no reason recorded'})" if row["state"] == "interrupted"
           else "has not begun")
    return (f"disc {disc} was written, then written again, which {how}: it is not verified;"
            f" `rabtui checkpoint resume {number}` writes it again")


def verify_checkpoint(cfg: Config, store: Store, number: int, *, disc: int | None = None, drive: str | None = None,
                      emit: Emit, cancel, prompter: Prompter) -> RunResult:
    """Re-check written discs later (asking for each); a mismatch offers a rewrite."""
    cp, plan_json = burn.load_plan(store, number)
    drive = drive or cp["drive"] or cfg.checkpoint.drive
    result = RunResult(number, "completed")
    with locks.checkpoints_lock(cfg.state_dir).acquire(shared=True), locks.drive_lock(cfg.state_dir, drive), \
            locks.checkpoint_lock(cfg.state_dir, number):
        discs = [disc] if disc else list(range(1, cp["discs"] + 1))
        if disc is not None and not 1 <= disc <= cp["discs"]:
            raise UsageError(f"checkpoint {number} has discs 1..{cp['discs']}, not {disc}")
        # no run writes it while we hold its lock: a disc left "writing" is the half of a killed run's
        record_interrupted(store, number, "the job ended while writing this disc")
        try:
            for k in discs:
                row = store.one("SELECT state, written, message FROM discs WHERE number=? AND disc=?", (number, k))
                if row["state"] == "abandoned":     # resume refuses it
                    emit(Event(LOG, f"disc {k} was never written (checkpoint {number} abandoned)"
                               if row["written"] is None else
                               f"disc {k} was not verified before checkpoint {number} was abandoned: not checked"))
                    result.skipped.append(k)
                    continue
                if row["state"] in ("planned", "skipped", "interrupted"):
                    emit(Event(LOG, _not_to_verify(row, number, k, bool(plan_json.get("rebuilt")))))
                    result.skipped.append(k)
                    continue
                answer = prompter.ask(insert_question(cp, plan_json, k, drive, written=True,
                                                      choices=(READY, SKIP, ABORT)), cancel)
                if answer == ABORT:
                    raise Aborted(f"aborted at disc {k}")
                if answer == SKIP:
                    result.skipped.append(k)
                    continue
                rows = read_from.load_rows(store, number, k)
                outcome = verify_loop(cfg, store, cp, plan_json, k, drive, rows, emit, cancel, prompter,
                                      result.unchecked, saved_versions=not plan_json.get("rebuilt"))
                if outcome == REWRITE:
                    result.unchecked.pop(k, None)
                    outcome = _one_disc(cfg, store, cp, plan_json, k, drive, emit, cancel, prompter, result.unchecked,
                                        rewritten=True)
                getattr(result, outcome).append(k)
        except (Aborted, Cancelled) as exc:
            result.status = _stopped(exc)
            result.message = f"verification of checkpoint {number} stopped: {exc}"
            emit(Event(ERROR, result.message))
            return result
        if plan_json.get("rebuilt"):    # its failed disc good now (a good image put back): complete
            _rebuilt_complete(store, number)
    bad = [k for k in discs if k not in result.verified]
    if bad:
        result.status = "incomplete"
        result.message = f"checkpoint {number}: discs {', '.join(map(str, bad))} not verified"
    elif result.unchecked:
        result.message = unchecked.result_message(number, discs, result.unchecked)
    else:
        result.message = f"checkpoint {number}: {'disc' if len(discs) == 1 else 'discs'} {', '.join(map(str, discs))} verified"
    emit(Event(RESULT, result.message, {"number": number, "status": result.status, "verified": result.verified,
                                        "unchecked": result.unchecked}))
    return result
