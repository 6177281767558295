"""The disc in the drive: its volume id read with xorriso (a drive that hangs, a tree that loops,
named), and the disc a restore needs asked for until it is there (a wrong disc is refused)."""

from __future__ import annotations

import os

from rabtui import proc
from rabtui.checkpoint import disc_tree, xorriso, xorriso_output
from rabtui.config import Config
from rabtui.errors import Stalled, WorkFailed
from rabtui.events import ABORT, READY, Question
from rabtui.restore.disc_checks import tree_bounded
from rabtui.state.store import Store


def address(dev: str) -> str:
    """xorriso's address of a disc: an image file as `stdio:` (xorriso refuses one below /dev else)."""
    return "stdio:" + dev if os.path.isfile(dev) else dev


def xorriso_volid_argv(dev: str) -> list[str]:
    return ["xorriso", "-no_rc", *xorriso.ACLS_AS_READ, "-indev", address(dev), "-pvd_info"]


def parse_volid(output: bytes) -> str | None:
    """The volume id of `xorriso -pvd_info`; None on a blank medium (xorriso_output.is_blank)."""
    return xorriso_output.parse_volid(output.decode("utf-8", "replace").splitlines())


def disc_volid(dev: str, silence: float, cancel=None) -> str | None:
    """The volume id of the disc at `dev` (read_volid's)."""
    return read_volid(dev, silence, cancel)[0]


def read_volid(dev: str, silence: float, cancel=None) -> tuple[str | None, str | None]:
    """(The volume id of the disc at `dev`, None when nothing readable is there; why not, where
    xorriso failed for this machine: killed by a signal, short of memory). A drive that
    answers nothing for `silence` seconds (checkpoint.io_timeout) raises Stalled (a WorkFailed)
    naming it: a hung drive is not the operator cancelling. Within disc_tree.bounded, a tree larger
    than that raises TreeTooLarge with the volume id of the disc's table of contents."""
    try:
        done = disc_tree.run(xorriso_volid_argv(dev), capture=True, cancel=cancel, silence=silence, busy=True)
    except Stalled as exc:
        raise Stalled(f"the drive {dev} did not answer as the volume id of the disc in it was read ({exc}:"
                      f" checkpoint.io_timeout)") from None
    except disc_tree.TreeTooLarge as exc:   # which disc this is: another one, of more entries, is no bad disc
        disc_tree.volid_unread(exc, proc.which("xorriso"), address(dev), cancel, silence or xorriso.DRIVE_SILENCE)
        raise
    if not done.ok:
        return None, xorriso_output.machine_failure(done.killed_by, done.stderr_tail, "reading the volume id")
    return parse_volid(done.stdout + "\n".join(done.stderr_tail).encode()), None


def disc_in_drive(cfg: Config, store: Store, number: int, disc: int, volid: str,
                  cancel=None) -> tuple[str, str | None]:
    """(where disc `volid` is read from, the volume id found there: None when nothing readable,
    a hung drive included). A WorkFailed where it is that disc and its tree loops (tree_bounded)."""
    with tree_bounded(store, number, disc, volid):
        dev, got, _hung = _read_disc(cfg, store, number, disc, volid, cancel)
    return dev, got


def _read_disc(cfg: Config, store: Store, number: int, disc: int, volid: str,
               cancel) -> tuple[str, str | None, str | None]:
    """disc_in_drive's, and why nothing was read when the drive hung (else None)."""
    drive = cfg.checkpoint.drive
    dev = drive
    if xorriso.is_image_drive(drive):
        dev = xorriso.image_path(drive, volid)
        if not os.path.exists(dev):
            row = store.one("SELECT image FROM discs WHERE number=? AND disc=?", (number, disc))
            if row and row["image"]:
                dev = row["image"]
        if not os.path.exists(dev):
            return dev, None, None
    try:
        return dev, disc_volid(dev, cfg.checkpoint.io_timeout, cancel), None
    except Stalled as exc:
        return dev, None, str(exc)
    except disc_tree.TreeTooLarge as exc:
        if exc.found_volid == volid:
            raise
        return dev, exc.found_volid, None


def disc_device(cfg: Config, store: Store, number: int, disc: int, volid: str, prompter, cancel) -> str:
    """Where disc `volid` is read from, once it is there: else `prompter` is asked to have it put
    in (refused: a WorkFailed); without one, a WorkFailed naming the disc found instead."""
    while True:
        dev, got, hung = _read_disc(cfg, store, number, disc, volid, cancel)
        if got == volid:
            return dev
        why = hung or (f"the disc in {dev} is {got}" if got else f"{dev} is {no_image}"
                       if xorriso.is_image_drive(cfg.checkpoint.drive) and (no_image := xorriso.no_image(dev))
                       else f"no readable disc at {dev}")
        if prompter is None:
            raise WorkFailed(f"{why}; checkpoint {number} disc {disc} ({volid}) was not read" if hung
                             else f"wrong disc: {why}, not {volid}")
        answer = prompter.ask(Question("insert_disc", f"{why}. Insert checkpoint {number} disc {disc}"
                                       f" (volume id {volid}), then answer ready.", (READY, ABORT),
                                       {"volid": volid, "found": got}), cancel)
        if answer != READY:
            raise WorkFailed(f"restore aborted: disc {volid} refused or missing ({why})")
