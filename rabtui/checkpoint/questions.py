"""The questions a checkpoint run asks the operator: insert a disc, a medium it reads from, what to do
after a failure; the operator's abort."""

from __future__ import annotations

from rabtui.checkpoint import layout
from rabtui.checkpoint.content import INSERT_MEDIUM, read_problem
from rabtui.errors import RabtuiError
from rabtui.events import ABORT, READY, RETRY, REWRITE, SKIP, Question
from rabtui.media.at_hand import medium_problem

INSERT = "insert_disc"
FAILED = "disc_failed"
WRONG = "wrong_disc"
YES_ANSWER = "yes"   # in a question's data: the answer --yes gives it on an images: drive (verify_loop.py)


class Aborted(Exception):
    """The operator answered abort."""

    job_status = "cancelled"


def need_sectors(cp: dict, plan_json: dict, disc: int) -> int:
    if "summary" not in plan_json:     # rebuilt: a whole disc
        return cp["disc_sectors"]
    per = plan_json["summary"]["per_disc"][disc - 1]
    return (per["data_bytes"] + per["filler_bytes"] + per["reserved_bytes"]) // 2048


def insert_question(cp: dict, plan_json: dict, disc: int, drive: str, note: str = "",
                    written: bool = False, choices=(READY, SKIP, ABORT)) -> Question:
    """The disc to insert: a blank one, big enough to write; or (`written`) the one written before,
    to read back."""
    number, n = cp["number"], cp["discs"]
    vid = layout.volid(number, disc)
    need = need_sectors(cp, plan_json, disc) * 2048 / 1e6
    room = "" if written else f", at least {need:.0f} MB"
    text = (f"Insert {'written' if written else 'blank'} disc {disc} of {n} for checkpoint {number}, volume {vid},"
            f" {cp['disc_type']}{room}, into {drive}")
    if note:
        text = f"{note}\n{text}"
    return Question(INSERT, text, tuple(choices),
                    {"number": number, "disc": disc, "discs": n, "volid": vid, "drive": drive,
                     "disc_type": cp["disc_type"], "need_bytes": int(need * 1e6)})


def medium_at_hand(cfg, store, cp, disc, medium_id: str, what: str, prompter, cancel) -> None:
    """The medium a disc reads from is mounted, with its own label: asked for until it is."""
    medium = cfg.medium(medium_id)
    while (why := read_problem(medium, store)) is not None:
        answer = prompter.ask(Question(
            INSERT_MEDIUM, f"Disc {disc} of checkpoint {cp['number']} reads {what} from medium {medium.id}: {why}."
                           f" Insert or mount medium {medium.id} at {medium.path}, then answer ready; abort to stop.",
            (READY, ABORT), {"medium": medium.id, "path": str(medium.path), "disc": disc}), cancel)
        if answer != READY:
            raise Aborted(f"aborted at disc {disc}: medium {medium.id} is not at hand")


def medium_away(cfg, store, media) -> str | None:
    """Why one of `media` (ids: read_from.media_read) cannot be read now; None when all can. What a
    disc lacks of the backup while its medium is away says nothing of the backup (run.py)."""
    for medium_id in media:
        try:
            why = medium_problem(cfg.medium(medium_id), store)
        except RabtuiError:
            why = f"medium {medium_id} is no longer in the config"
        if why:
            return why
    return None


def ask_failed(prompter, cancel, text: str, disc: int, choices=(RETRY, REWRITE, SKIP, ABORT), yes: str | None = None) -> str:
    return prompter.ask(Question(FAILED, text, tuple(choices), {"disc": disc} | ({YES_ANSWER: yes} if yes else {})),
                        cancel)
