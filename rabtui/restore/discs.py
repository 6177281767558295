"""Reading checkpoint discs for restore and rebuild-state: the volume id check (a wrong disc is
refused), extraction with xorriso's osirrox, symlinks given their owner and time, and joining
files cut into `NAME.partNN-of-MM`."""

from __future__ import annotations

import os
import re
import shutil
import stat

from pathlib import Path

from rabtui import fmt, proc
from rabtui.checkpoint import shortpath
from rabtui.checkpoint.content import LINK_MARK
from rabtui.checkpoint.xorriso import parse_lsdl_link
from rabtui.config import Config, Source
from rabtui.errors import WorkFailed
from rabtui.events import ABORT, LOG, READY, WARNING, Emit, Event, Question
from rabtui.state.store import Store

PART_RE = re.compile(rb"^(.*)\.part(\d+)-of-(\d+)$")


def xorriso_volid_argv(dev: str) -> list[str]:
    return ["xorriso", "-indev", dev, "-pvd_info"]


def xorriso_extract_argv(dev: str, disc_path: bytes, target: bytes, as_root: bool | None = None,
                         list_links: bool = False) -> list[str]:
    """Extraction into a private staging directory: hard links, ACLs and xattrs (every namespace
    as root) from the disc's AAIP, device files, zero runs of 64 KiB or more as holes.
    `list_links`: then each extracted symlink is printed on stdout (parse_lsdl_link), for its
    owner: osirrox makes symlinks as the extracting user, with the time of extraction."""
    as_root = os.geteuid() == 0 if as_root is None else as_root
    path = os.fsdecode(disc_path)
    argv = ["xorriso", "-osirrox", ("device_files" if as_root else "on") + ":sparse=65536",
            "-hardlinks", "on", "-acl", "on", "-xattr", "any" if as_root else "user",
            "-iso_rr_pattern", "off", "-indev", dev, "-extract", path, os.fsdecode(target)]
    if list_links:
        argv += ["-backslash_codes", "encode_results", "-find", path, "-type", "l", "-exec", "lsdl", "--"]
    return argv


def parse_volid(output: bytes) -> str | None:
    m = re.search(rb"^Volume Id\s*:\s*(.*?)\s*$", output, re.M)
    return m.group(1).decode("utf-8", "replace") if m else None


def disc_volid(dev: str) -> str | None:
    done = proc.run(xorriso_volid_argv(dev), capture=True, timeout=300)
    return parse_volid(done.stdout + "\n".join(done.stderr_tail).encode()) if done.ok else None


def disc_in_drive(cfg: Config, store: Store, number: int, disc: int, volid: str) -> tuple[str, str | None]:
    """(where disc `volid` is read from, the volume id found there: None when nothing readable)."""
    drive = cfg.checkpoint.drive
    if not drive.startswith("images:"):
        return drive, disc_volid(drive)
    dev = os.path.join(drive[len("images:"):], f"{volid}.iso")
    if not os.path.exists(dev):
        row = store.one("SELECT image FROM discs WHERE number=? AND disc=?", (number, disc))
        if row and row["image"]:
            dev = row["image"]
    return dev, disc_volid(dev) if os.path.exists(dev) else None


def _disc_device(cfg: Config, store: Store, number: int, disc: int, volid: str, prompter, cancel) -> str:
    while True:
        dev, got = disc_in_drive(cfg, store, number, disc, volid)
        if got == volid:
            return dev
        why = f"the disc in {dev} is {got}" if got else f"no readable disc at {dev}"
        if prompter is None:
            raise WorkFailed(f"wrong disc: {why}, not {volid}")
        answer = prompter.ask(Question("insert_disc", f"{why}. Insert checkpoint {number} disc {disc}"
                                       f" (volume id {volid}), then answer ready.", (READY, ABORT),
                                       {"volid": volid, "found": got}), cancel)
        if answer != READY:
            raise WorkFailed(f"restore aborted: disc {volid} refused or missing ({why})")


def extract_from_checkpoint(cfg: Config, store: Store, source: Source, number: int, rel: bytes,
                            staging: bytes, prompter, cancel, emit: Emit) -> bytes:
    """Extract `rel` (a file or a directory) of checkpoint `number` into `staging`, asking for each
    disc that holds part of it; split files are joined. Returns the restored item's path there."""
    rows = store.all(
        "SELECT f.*, d.volid FROM disc_files f LEFT JOIN discs d ON d.number=f.number AND d.disc=f.disc"
        " WHERE f.number=? AND f.source=? AND (f.path=? OR substr(f.path, 1, ?)=?)"
        " ORDER BY f.disc, f.path, f.part",
        (number, source.id, rel, len(rel) + 1, rel + b"/"))
    if not rows:
        raise WorkFailed(f"checkpoint {number} holds nothing at /{fmt.name(rel)} of {source.id}",
                         hint="if the state database was lost: rabtui rebuild-state")
    is_file = all(bytes(r["path"]) == rel for r in rows)
    top = os.path.join(staging, b"item")
    with shortpath.alias(Path(os.fsdecode(staging))) as short:   # the disc's deepest paths fit below it
        _extract(cfg, store, source, number, rel, rows, is_file, os.path.join(short, b"item"), prompter, cancel, emit)
    parts: dict[bytes, list] = {}
    for r in rows:
        if r["parts"] and r["parts"] > 1:
            parts.setdefault(bytes(r["path"]), []).append(r)
    for path, prs in parts.items():
        under = path[len(rel):].lstrip(b"/")
        base_dir = top if is_file else os.path.join(top, os.path.dirname(under))
        _join_parts(base_dir, os.path.basename(path), prs, emit)
    if is_file:
        return os.path.join(top, os.path.basename(rel)) if parts else \
            os.path.join(top, os.path.basename(bytes(rows[0]["disc_path"])))
    return top


def _extract(cfg: Config, store: Store, source: Source, number: int, rel: bytes, rows, is_file: bool, xtop: bytes,
             prompter, cancel, emit: Emit) -> None:
    by_disc: dict[int, list] = {}
    for r in rows:
        by_disc.setdefault(r["disc"], []).append(r)
    for disc, files in sorted(by_disc.items()):
        volid = files[0]["volid"] or f"RAB{number}D{disc:02d}"
        dev = _disc_device(cfg, store, number, disc, volid, prompter, cancel)
        emit(Event(LOG, f"reading {len(files)} files from {volid}"))
        if is_file:  # the file itself, or its parts on this disc
            os.makedirs(xtop, exist_ok=True)
            jobs = [(bytes(r["disc_path"]), os.path.join(xtop, os.path.basename(bytes(r["disc_path"]))))
                    for r in files]
        else:  # the directory's subtree on this disc (directories merge across discs)
            first = bytes(files[0]["disc_path"])
            under = bytes(files[0]["path"])[len(rel):]
            disc_top = first[: len(first) - len(under)] if under and first.endswith(under) else \
                os.path.join(b"data", source.id.encode(), rel)
            jobs = [(disc_top, xtop)]
        link_mtimes = {b"/" + bytes(r["disc_path"]).lstrip(b"/"): r["mtime"]
                       for r in files if r["sha256"] == LINK_MARK}
        for disc_path, target in jobs:
            start = b"/" + disc_path.lstrip(b"/")
            owners: dict[bytes, tuple[int, int]] = {}

            def listed(line: bytes) -> None:
                link = parse_lsdl_link(line)
                if link is not None:
                    owners[link[0]] = link[1:]

            done = proc.run(xorriso_extract_argv(dev, start, target, list_links=bool(link_mtimes)),
                            on_stdout=listed, cancel=cancel)
            if not done.ok:
                raise WorkFailed(f"xorriso could not extract {fmt.name(disc_path)} from {volid}: "
                                 f"{done.stderr_text()[-300:]}")
            _set_link_attrs(start, target, link_mtimes, owners, volid, emit)


def _set_link_attrs(start: bytes, target: bytes, mtimes: dict[bytes, int], owners: dict[bytes, tuple[int, int]],
                    volid: str, emit: Emit) -> None:
    """Give the symlinks extracted from `start` (a disc path) into `target` their time (the
    catalog's, in whole seconds as on the disc) and, as root, their owner (from the disc)."""
    as_root = os.geteuid() == 0
    unknown: list[bytes] = []
    with shortpath.Shortcuts() as short:
        for disc_path, mtime in mtimes.items():
            if disc_path != start and not disc_path.startswith(start + b"/"):
                continue
            link = short.path(target + disc_path[len(start):])
            if not os.path.islink(link):
                continue
            if as_root:
                if disc_path in owners:
                    os.lchown(link, *owners[disc_path])
                else:
                    unknown.append(disc_path)
            os.utime(link, (mtime, mtime), follow_symlinks=False)
    if unknown:
        emit(Event(WARNING, f"{volid}: the owner of {len(unknown)} symlinks was not found on the disc, they"
                            f" keep the restoring user's, e.g. {fmt.name(unknown[0])}"))


def _join_parts(base_dir: bytes, name: bytes, prs: list, emit: Emit) -> None:
    prs.sort(key=lambda r: r["part"])
    pieces = [os.path.join(base_dir, os.path.basename(bytes(r["disc_path"]))) for r in prs]
    missing = [p for p in pieces if not os.path.exists(p)]
    if missing or len(prs) != prs[0]["parts"]:
        raise WorkFailed(f"{fmt.name(name)}: parts missing ({len(prs) - len(missing)} of {prs[0]['parts']})")
    final = os.path.join(base_dir, name)
    tmp = os.path.join(base_dir, b".rabtui-join-%d" % os.getpid())   # fits beside a 255-byte name
    with open(tmp, "wb") as f:
        for p in pieces:
            with open(p, "rb") as pf:
                shutil.copyfileobj(pf, f, 1 << 20)
    mode = stat.S_IMODE(os.stat(pieces[0]).st_mode)
    for p in pieces:
        os.unlink(p)
    os.replace(tmp, final)
    os.chmod(final, mode)
    os.utime(final, (prs[0]["mtime"], prs[0]["mtime"]))
    emit(Event(LOG, f"joined {len(prs)} parts of {fmt.name(name)}"))


