"""rebuild-state keeps what it can prove: a disc of an `images:` drive is verified again, the way a
burn verifies it (volume id, every block, the MD5s, every file read back against the catalog's
sha256), and only then recorded as verified, with what that could not check (a catalog read back
from the discs holds no mode, owner, ACL or xattr: rabtui.checkpoint.unchecked); an image that fails comes back `failed`, with the
reason (a half-written image, one changed since: `rabtui check` names it); one this machine could
not verify (an OS error: its state directory or TMPDIR, open files, memory) is not judged: it comes
back as `written`, named, and the others are verified; any other disc comes back as `written`."""

from __future__ import annotations

import threading
import time

from rabtui.checkpoint.layout import Row
from rabtui.checkpoint import dir_attrs, kept_off
from rabtui.checkpoint.verify import verify_disc
from rabtui.checkpoint.verify_scratch import scratch_place
from rabtui.checkpoint.burn import reason
from rabtui.config import Config
from rabtui.events import LOG, WARNING, Emit, Event
from rabtui.rebuild import disc_state
from rabtui.rebuild.disc_text import Catalog
from rabtui.state.store import Store


def reverify_images(cfg: Config, store: Store, number: int, rows: Catalog, emit: Emit,
                    cancel: threading.Event | None = None,
                    recorded: disc_state.Recorded | None = None
                    ) -> tuple[list[str], list[str], list[str], list[str]]:
    """Verify each disc image of checkpoint `number`; the volume ids that passed, those that failed,
    what the verification of those that passed could not check, and what kept this machine from
    verifying the others (each left written). The record of each entry is taken out of `recorded`
    as the rows of its disc are made."""
    cancel = cancel or threading.Event()
    passed, failed, gaps, unjudged = [], [], [], []
    # the parts of files cut into parts, as the catalog's rows were recorded: each a file of its own on
    # its disc, never hard-linked there to a part of another name of its file
    cut = {(r["disc"], bytes(r["disc_path"])): (r["part"], r["parts"]) for r in store.all(
        "SELECT disc, disc_path, part, parts FROM disc_files WHERE number=? AND part IS NOT NULL", (number,))}
    for disc in store.all("SELECT disc, volid FROM discs WHERE number=? AND image IS NOT NULL ORDER BY disc",
                          (number,)):
        alike: dict = {}
        on_disc = [_row(r, recorded or {}, alike, cut) for r in rows.of_disc(disc["disc"])]
        if recorded:
            recorded.pop(disc["disc"], None)   # what the catalog does not hold of the disc: never asked for
        if any(r.sha256 is None for r in on_disc):
            continue      # a catalog without checksums proves nothing about the files
        emit(Event(LOG, f"{disc['volid']}: verifying the image again"))
        try:
            res = verify_disc(cfg.checkpoint.drive, disc["volid"], on_disc, scratch_place(cfg.state_dir), emit=emit,
                              cancel=cancel, kept=kept_off.by_disc_path(store, number),
                              dir_record=dir_attrs.load(store, number), silence=cfg.checkpoint.io_timeout)
        except OSError as exc:   # this machine's (checkpoint/verify_loop.py), nothing of the disc
            said = (f"{disc['volid']} could not be verified again: {reason(exc)}; this machine failed, not the"
                    f" disc: it stays written, `rabtui checkpoint verify {number}` verifies it")
            emit(Event(WARNING, said))
            store.execute("UPDATE discs SET message=? WHERE number=? AND disc=?",
                          (f"found by rebuild-state; could not be verified again: {reason(exc)}", number, disc["disc"]))
            unjudged.append(said)
            continue
        if res.ok:
            store.execute("UPDATE discs SET state='verified', verified=?, message=? WHERE number=? AND disc=?",
                          (time.time(), "verified again by rebuild-state" + (", but not checked: " + "; ".join(
                              res.unchecked) if res.unchecked else ""), number, disc["disc"]))
            passed.append(disc["volid"])
            gaps += [gap for gap in res.unchecked if gap not in gaps]
        else:
            store.execute("UPDATE discs SET state='failed', message=? WHERE number=? AND disc=?",
                          (res.describe(), number, disc["disc"]))
            failed.append(disc["volid"])
    return passed, failed, gaps, unjudged


def _row(r: dict, recorded: disc_state.Recorded, alike: dict, cut: dict) -> Row:
    """A row of the disc's catalog, with what the state copy on the disc recorded of it (an owner
    many files have held once in `alike`) and, for a part of a file cut into parts, its place
    (`cut`: (disc, disc path) -> (part, parts))."""
    mode, link, group, uid, gid, rdev, xsum, tsum = disc_state.of(recorded, r["disc"], r["disc_path"], r["size"],
                                                                  r["mtime"], r["sha256"], take=True)
    part, parts = cut.get((r["disc"], r["disc_path"]), (None, None))
    return Row(disc=r["disc"], source="", path=r["disc_path"], disc_path=r["disc_path"], size=r["size"],
               mtime=r["mtime"], sha256=r["sha256"], part=part, parts=parts, mode=mode, link=link, link_group=group,
               owner=None if uid is None else alike.setdefault((uid, gid), (uid, gid)), rdev=rdev, xattr_sum=xsum,
               trusted_sum=tsum)
