"""Verifying a written disc until it passes or the operator decides: retry, rewrite it on a new
disc, skip or abort. A verification this machine cannot carry out (an OS error: its state directory
or TMPDIR, open files, memory; an xorriso reading the disc killed, or short of those:
xorriso_output.MachineFailed) or a hung drive leaves the disc unjudged, in its state; another disc
put in is asked about again; a disc that fails is marked failed.
"""

from __future__ import annotations

import os
import time

from rabtui import faults
from rabtui.checkpoint import (backed_up_attrs, burn, dir_attrs, disc_tree, kept_off, layout, media_away, read_from,
                               unchecked, xorriso)
from rabtui.checkpoint.questions import WRONG, Aborted, ask_failed, insert_question
from rabtui.checkpoint.status import set_disc
from rabtui.checkpoint.verify import verify_disc
from rabtui.checkpoint.verify_result import VerifyResult
from rabtui.checkpoint.verify_scratch import scratch_place
from rabtui.errors import Stalled
from rabtui.events import ABORT, ERROR, LOG, RETRY, REWRITE, SKIP, Event, Question
from rabtui.state.store import Store


def _read_from(store: Store, number: int, disc: int, drive: str) -> str:
    """The drive a written disc is read from: an images: drive without the disc's image reads the
    image the disc recorded (written into another folder, by a run given another --drive)."""
    vid = layout.volid(number, disc)
    if not xorriso.is_image_drive(drive) or os.path.lexists(xorriso.image_path(drive, vid)):
        return drive
    row = store.one("SELECT image FROM discs WHERE number=? AND disc=?", (number, disc))
    if row["image"] and os.path.basename(row["image"]) == f"{vid}.iso" and os.path.exists(row["image"]):
        return "images:" + os.path.dirname(row["image"])
    return drive


def verify_loop(cfg, store, cp, plan_json, disc, drive, rows, emit, cancel, prompter,
                gaps: dict[int, list[str]] | None = None, *, saved_versions: bool = False,
                rewritten: bool = False) -> str:
    """Verify until it passes or the operator decides: 'verified', 'skipped', REWRITE; raises Aborted.
    Into `gaps`: what the verification of a disc that passed could not check (unchecked.py).
    The rewrite of a disc that failed is the answer --yes gives for an images: drive (YES_ANSWER), unless
    it was `rewritten` in this run already: the same answer would meet the same failure.
    `saved_versions`: first find where the archive's files of `rows` were read on the media
    (read_from.read_saved_versions), a part of each attempt that this machine may fail as well."""
    number = cp["number"]
    vid = layout.volid(number, disc)
    while True:
        emit(Event(LOG, f"verifying {vid}"))
        where = _read_from(store, number, disc, drive)
        stalled = False
        machine = None      # why this machine could not verify the disc
        doing = "reading the media it was written from"
        try:
            # each attempt: a medium may have been mounted (or another disk) while the operator was asked
            away = {} if plan_json.get("rebuilt") else media_away.away(cfg, store, plan_json)
            if saved_versions:   # an archive's files compared where they were read from
                read_from.read_saved_versions(store, number, plan_json, rows, cancel, strict=False, away=away)
            if not plan_json.get("rebuilt"):   # where each was read: a mismatch is checked there (verify_attrs)
                read_from.with_disk(plan_json, rows)
            doing = "reading it back"
            res = verify_disc(where, vid, rows, scratch_place(cfg.state_dir), emit=emit, cancel=cancel,
                              filler_known=not plan_json.get("rebuilt"), listed=disc_tree.listed(store, number, disc),
                              origins=None if plan_json.get("rebuilt") else backed_up_attrs.origins(plan_json, disc,
                                                                                                     away),
                              kept=kept_off.by_disc_path(store, number), dir_record=dir_attrs.load(store, number),
                              silence=cfg.checkpoint.io_timeout)
        except Stalled as exc:   # a hung drive
            stalled = True
            res = VerifyResult(volid=vid, found_volid=vid, messages=[f"cannot verify: {burn.reason(exc)}"])
        except OSError as exc:
            # what the disc's reading meets is in the result (verify.py); an OS error is this
            # machine's (its state directory or TMPDIR, open files, memory) and says nothing of the disc
            machine = burn.reason(exc)
            res = VerifyResult(volid=vid, found_volid=vid, messages=[f"cannot verify: {machine}"])
        if res.ok:
            faults.point("burn.verified")
            set_disc(store, number, disc, "verified", emit, unchecked.said(vid, res.unchecked), verified=time.time())
            if gaps is not None and res.unchecked:
                gaps[disc] = res.unchecked
            burn.unstage(cfg, number, disc)
            burn.eject(cfg, drive, emit, cancel)
            return "verified"
        if res.wrong_disc and xorriso.is_image_drive(where):
            # the image is the disc: one holding another disc means this disc is gone
            res.messages.append(f"the image {xorriso.image_path(where, vid)} holds disc {res.found_volid}")
            res.found_volid = vid
        if res.wrong_disc:   # another disc was put into the burner: this one may well be fine
            emit(Event(ERROR, res.describe()))
            q = insert_question(cp, plan_json, disc, drive, note=f"Wrong disc: {res.describe()}.",
                                written=True, choices=(RETRY, SKIP, ABORT))
            answer = prompter.ask(Question(WRONG, q.text, q.choices, q.data), cancel)
        elif machine is not None:   # not judged, as a stalled one, and no rewrite offered: the disc may well be fine
            said = f"{vid} could not be verified: {machine}"
            emit(Event(ERROR, said))
            answer = ask_failed(prompter, cancel, f"{said}\nThe disc was not judged and keeps its state: this machine"
                                                  f" failed while {doing}, not the disc. Fix that, then retry (a"
                                                  " disc left written is verified by the next run, never written anew).",
                                disc, choices=(RETRY, SKIP, ABORT))
        elif stalled:   # the disc was not judged: it keeps its state (a later run verifies it, never writes it anew)
            emit(Event(ERROR, res.describe()))
            choices = (RETRY, SKIP, ABORT) if plan_json.get("rebuilt") else (RETRY, REWRITE, SKIP, ABORT)
            answer = ask_failed(prompter, cancel, f"{res.describe()}\nThe disc was not judged: the drive (or the"
                                                  " images' file system) stopped answering. Free it (take the disc out"
                                                  " and put it back), then retry; after an abort the next run"
                                                  " verifies this disc.", disc, choices=choices)
        else:
            set_disc(store, number, disc, "failed", emit, res.describe())
            emit(Event(ERROR, res.describe()))
            if plan_json.get("rebuilt"):   # nothing to write it again from
                answer = ask_failed(prompter, cancel, f"{res.describe()}\nChecked again? (Rebuilt from its discs,"
                                                      f" it cannot be rewritten: `rabtui checkpoint abandon {number}`"
                                                      " gives up the discs it lacks.)", disc,
                                    choices=(RETRY, SKIP, ABORT))
            elif res.changed:   # written from the backup as it is now, checked against the plan: never passes
                answer = ask_failed(prompter, cancel, f"{res.describe()}\n{res.changed_since_plan(number)}", disc,
                                    choices=(RETRY, SKIP, ABORT))
            elif xorriso.is_image_drive(where) and not os.path.lexists(image := xorriso.image_path(where, vid)):
                # not one that fails (--yes rewrites those): taken away (burnt, kept elsewhere?), never made again unasked
                answer = ask_failed(prompter, cancel, f"{res.describe()}\nThe image {image} is missing (moved"
                                                      " elsewhere? verify it there: --drive images:FOLDER)."
                                                      f" Rewrite disc {disc} on a new disc?", disc,
                                    choices=(REWRITE, RETRY, SKIP, ABORT))
            else:
                again = "It failed again, written anew in this run. " if rewritten else ""
                answer = ask_failed(prompter, cancel, f"{res.describe()}\n{again}Rewrite disc {disc} on a new disc?",
                                    disc, choices=(REWRITE, RETRY, SKIP, ABORT), yes=None if rewritten else REWRITE)
        if answer == RETRY:
            continue
        if answer == REWRITE:
            return REWRITE
        if answer == SKIP:
            return "skipped"
        raise Aborted(f"aborted at disc {disc}")
