"""Which discs of a checkpoint rebuild-state records as written, and so whether the checkpoint is
complete. A disc is written when it was read (inserted in a real drive; in an `images:` drive,
its image is in the folder) or when the copy of the state read says it was: the copy on a disc
is made as that disc is about to be written, and names the discs verified before it. Any other
may never have been written (a burn killed or stopped before it, then abandoned or not): it is
recorded as not written ("planned"), and the checkpoint as unfinished ("aborted"), its
directories as due as they were, as the burn that stopped left them. Taken for written, the
checkpoint would be complete, its directories not due for `max_days`, with discs that do not
exist."""

from __future__ import annotations

import os
import sqlite3

from rabtui.checkpoint import layout, status, xorriso
from rabtui.rebuild.report import Report
from rabtui.state.store import Store

WRITTEN, NOT_WRITTEN = "written", "planned"
FOUND = "found by rebuild-state; verify again"


def said(recorded) -> set[int]:
    """The discs the copy of the state `recorded` says were written."""
    return {k for k, st in getattr(recorded, "disc_states", {}).items() if st in ("verified", "written")}


def known(number: int, ndiscs: int, image_dir: str | None, inserted: set[int], recorded) -> set[int]:
    """The discs of checkpoint `number` (of `ndiscs`) known written: `inserted` (read in a real
    drive), those whose image is in `image_dir`, and those the copy `recorded` says were."""
    there = {k for k in range(1, ndiscs + 1)
             if image_dir and os.path.exists(os.path.join(image_dir, f"{layout.volid(number, k)}.iso"))}
    return (set(inserted) | said(recorded) | there) & set(range(1, ndiscs + 1))


def state(written: bool, image_dir: str | None, created: float) -> tuple[str, float | None, str]:
    """(state, when written, message) of a disc rebuild-state records."""
    if written:
        return WRITTEN, created, FOUND
    return (NOT_WRITTEN, None, "not found by rebuild-state: " + ("no image of it in the folder" if image_dir
                                                                 else "not read")
            + ", and no disc read says it was written")


def settle(conn: sqlite3.Connection, number: int) -> None:
    """Checkpoint `number` complete when none of its discs is left not written nor failed its
    verification (no good copy: a burn stops there too): its directories then have it as their
    last checkpoint (unless a later one is); unfinished otherwise."""
    if conn.execute("SELECT 1 FROM discs WHERE number=? AND state IN (?, 'failed')", (number, NOT_WRITTEN)).fetchall():
        conn.execute("UPDATE checkpoints SET status='aborted' WHERE number=?", (number,))
        return
    status.complete_rebuilt(conn, number)


def also_written(store: Store, number: int, disc: int) -> None:
    """Disc `disc` of checkpoint `number` (recorded from another of its discs) read in the drive."""
    with store.transaction() as conn:
        conn.execute("UPDATE discs SET state=?, written=(SELECT created FROM checkpoints WHERE number=?), message=?"
                     " WHERE number=? AND disc=? AND state=?", (WRITTEN, number, FOUND, number, disc, NOT_WRITTEN))
        settle(conn, number)


def say_unfinished(store: Store, report: Report, drive: str) -> None:
    """Each checkpoint read with discs not known written or that failed their verification, said
    with what to do (of the drive it was read in, else `drive`)."""
    for number in sorted(set(report.checkpoints)):
        for r in store.all("SELECT disc, volid, message FROM discs WHERE number=? AND state='failed' ORDER BY disc",
                           (number,)):
            report.lacking.append(
                f"checkpoint {number}: disc {r['volid']} failed its verification, no good copy ({r['message']}):"
                " recorded as failed, the checkpoint as unfinished, its directories as due as they were;"
                f" `rabtui checkpoint verify {number} --disc {r['disc']}` checks it again (a good image put back in"
                f" its place), `rabtui checkpoint abandon {number}` gives it up (its discs verified stay usable)")
        left = [r["disc"] for r in store.all("SELECT disc FROM discs WHERE number=? AND state=? ORDER BY disc",
                                             (number, NOT_WRITTEN))]
        if not left:
            continue
        row = store.one("SELECT discs, drive FROM checkpoints WHERE number=?", (number,))
        last, read_in = row["discs"], row["drive"] or drive
        images = xorriso.is_image_drive(read_in)
        some = len(left) > 1
        report.notes.append(
            f"checkpoint {number}: disc{'s' if some else ''} {', '.join(map(str, left))} of {last} "
            + (f"not written: no image of {'them' if some else 'it'} in {xorriso.images_dir(read_in)},"
               if images else "not read,")
            + f" and no disc read says {'they were' if some else 'it was'}: recorded as not written, the"
            " checkpoint as unfinished (a burn stopped before), its directories as due as they were;"
            + ("" if images else f" if written, run `rabtui rebuild-state` again and insert its last disc,"
               f" {layout.volid(number, last)}; else")
            + f" `rabtui checkpoint abandon {number}` gives it up (its discs written stay usable)")
