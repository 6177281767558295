"""A checkpoint's recorded status and its discs' states, as the runs set them and the screens show them.

A job that dies leaves its disc "writing": with no live job holding the drive, that reads as
"interrupted" (`shown_discs`), and the next run records it so. A checkpoint that cannot be
finished is abandoned: its verified discs stay verified (their files restore from them), the
others become "abandoned", and burn and resume refuse it. When every disc is verified the
checkpoint is completed and its directories' trigger counters are reset.
"""

from __future__ import annotations

import os

from rabtui.state import locks
from rabtui.state import changes
from rabtui.checkpoint import burn, numbering, triggers, xorriso
from rabtui.config import Config
from rabtui.errors import UsageError
from rabtui.events import DISC, Emit, Event
from rabtui.state.store import Store

FINISHED = ("completed", "abandoned")


def latest_unfinished(store: Store) -> int:
    row = store.one("SELECT number FROM checkpoints WHERE status NOT IN (?, ?) ORDER BY number DESC LIMIT 1",
                    FINISHED)
    if row is None:
        raise UsageError("there is no unfinished checkpoint to resume")
    return row["number"]


def shown_discs(store: Store, number: int, status: str) -> tuple[str, list[dict]]:
    """The checkpoint's status and its discs as the screens show them: what a job that is gone
    left "burning" / "writing" reads "interrupted"."""
    rows = [dict(r) for r in store.all("SELECT * FROM discs WHERE number=? ORDER BY disc", (number,))]
    # every run that writes it holds its lock (the drive's is held by runs of other checkpoints too)
    if locks.checkpoint_lock(store.state_dir, number).is_held():
        return status, rows
    for r in rows:
        if r["state"] == "writing":
            r["state"], r["message"] = "interrupted", "the job ended while writing this disc"
    return ("interrupted" if status == "burning" else status), rows


def record_interrupted(store: Store, number: int, why: str) -> None:
    store.execute("UPDATE discs SET state='interrupted', message=? WHERE number=? AND state='writing'", (why, number))


def abandon(cfg: Config, store: Store, number: int) -> str:
    """Give up checkpoint `number` so that a new one can start; returns what was done."""
    cp, _plan_json = burn.load_plan(store, number)
    unverified = store.one("SELECT COUNT(*) FROM discs WHERE number=? AND state != 'verified'", (number,))[0]
    # a complete one with a disc not verified: rebuild-state found it and not all of it checked, or
    # verify found a disc bad later
    if cp["status"] == "completed" and not unverified:
        raise UsageError(f"checkpoint {number} is complete; there is nothing to abandon")
    if cp["status"] == "abandoned":
        return f"checkpoint {number} was already abandoned"
    drive = cp["drive"] or cfg.checkpoint.drive
    # refused while a job writes it
    with locks.checkpoints_lock(cfg.state_dir).acquire(shared=True), locks.drive_lock(cfg.state_dir, drive), \
            locks.checkpoint_lock(cfg.state_dir, number):
        with store.transaction() as conn:
            record_abandoned(conn, number)
        left = _images_left(store, number, drive)
    not_noted = numbering.note_abandoned(cfg, store, number)
    kept = [r["disc"] for r in store.all("SELECT disc FROM discs WHERE number=? AND state='verified' ORDER BY disc",
                                         (number,))]
    which = f"disc {kept[0]} stays" if len(kept) == 1 else f"discs {', '.join(map(str, kept))} stay"
    return (f"checkpoint {number} abandoned; "
            + (f"{which} verified: their files can be restored from them"
               " (a file cut into parts only with all its parts)" if kept else "no disc of it was verified")
            + "; its directories stay due for the next checkpoint"
            + (f"; not verified, so no disc to burn: {', '.join(left)}" if left else "") + not_noted)


def record_abandoned(conn, number: int) -> None:
    """Checkpoint `number` given up in the database: its discs not verified abandoned."""
    conn.execute("UPDATE checkpoints SET status='abandoned' WHERE number=?", (number,))
    conn.execute("UPDATE discs SET state='abandoned', message=? WHERE number=? AND state != 'verified'",
                 (f"checkpoint {number} abandoned", number))
    # once complete, it was its directories' last checkpoint: it is not any more
    if conn.execute("UPDATE dir_state SET last_checkpoint=NULL, last_checkpoint_time=NULL"
                    " WHERE last_checkpoint=?", (number,)).rowcount:
        changes.rebuild(conn)


def _images_left(store: Store, number: int, drive: str) -> list[str]:
    """On an images: drive, what the discs of checkpoint `number` that are not verified left: a
    write a killed run began (xorriso.writing_path) is removed; an image written whole, not
    verified or failed, is the operator's to judge, and named."""
    left = []
    for r in store.all("SELECT volid, image FROM discs WHERE number=? AND state != 'verified' ORDER BY disc",
                       (number,)):
        if xorriso.is_image_drive(drive):
            try:
                os.unlink(begun := xorriso.writing_path(drive, r["volid"]))
            except FileNotFoundError:
                pass
            except OSError as exc:
                left.append(f"{begun} (cannot be removed: {exc.strerror})")
        if r["image"] and os.path.isfile(r["image"]):
            left.append(r["image"])
    return left


def set_disc(store: Store, number: int, disc: int, state: str, emit: Emit, message: str = "", **cols) -> None:
    sets = ["state=?", "message=?"] + [f"{k}=?" for k in cols]
    store.execute(f"UPDATE discs SET {', '.join(sets)} WHERE number=? AND disc=?",
                  (state, message, *cols.values(), number, disc))
    emit(Event(DISC, message or f"disc {disc}: {state}", {"number": number, "disc": disc, "state": state}))


def complete_rebuilt(conn, number: int) -> None:
    """Checkpoint `number`, rebuilt from its discs (no plan), complete: its directories (as its
    discs' catalog and README.txt name them) have it as their last checkpoint, unless a later one is."""
    conn.execute("UPDATE checkpoints SET status='completed' WHERE number=?", (number,))
    created = conn.execute("SELECT created FROM checkpoints WHERE number=?", (number,)).fetchone()[0]
    for source, dpath in conn.execute("SELECT source, path FROM checkpoint_dirs WHERE number=? AND role='data'",
                                      (number,)).fetchall():
        conn.execute(
            "INSERT INTO dir_state(source, path, last_checkpoint, last_checkpoint_time) VALUES (?,?,?,?)"
            " ON CONFLICT(source, path) DO UPDATE SET last_checkpoint=excluded.last_checkpoint,"
            " last_checkpoint_time=excluded.last_checkpoint_time"
            " WHERE COALESCE(dir_state.last_checkpoint, 0) < excluded.last_checkpoint",
            (source, dpath, number, created))


def complete(store: Store, number: int, plan_json: dict) -> None:
    """All discs verified: the checkpoint is complete; reset its directories' triggers."""
    created = plan_json["created"]
    keys = []
    with store.transaction() as conn:
        conn.execute("UPDATE checkpoints SET status='completed' WHERE number=?", (number,))
        for d in plan_json["dirs"]:
            if d["role"] != "data":
                continue
            keys.append(f"{d['source']}:{d['path']}")
            conn.execute(
                "INSERT INTO dir_state(source, path, last_checkpoint, last_checkpoint_time, did_not_fit)"
                " VALUES (?,?,?,?,NULL) ON CONFLICT(source, path) DO UPDATE SET"
                " last_checkpoint=excluded.last_checkpoint, last_checkpoint_time=excluded.last_checkpoint_time,"
                " did_not_fit=NULL",
                (d["source"], d["path"], number, created),
            )
            changes.reset(conn, d["source"], d["path"], number, kind=d.get("kind"))
    triggers.clear_requests(store, keys)
