"""Reading checkpoint discs for restore and rebuild-state: each disc's part extracted into a tree of
its own (disc_extract.py), the files cut into `NAME.partNN-of-MM` joined (disc_parts.py), every file
checked against the catalog and the trees merged. The disc in the drive (its volume id, a wrong disc
refused): disc_drive.py."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat

from pathlib import Path
from typing import NoReturn

from rabtui import faults, fmt
from rabtui.checkpoint import dir_attrs, kept_off, shortpath
from rabtui.checkpoint.content import LINK_MARK, SPECIAL_MARK
from rabtui.config import Config, Source
from rabtui.errors import WorkFailed
from rabtui.restore import disc_owners, disc_parts, disc_refused, links_again
from rabtui.restore.disc_extract import disc_top, extract_each_disc, why_full
from rabtui.restore.links_apart import links_apart
from rabtui.restore.written import kind_of
from rabtui.restore.disc_checks import check_file, disc_name, in_tree, own_time, refuse_damaged, unrecorded
from rabtui.events import Emit
from rabtui.state.store import Store

PART_RE = re.compile(rb"^(.*)\.part(\d+)-of-(\d+)$")


NEVER_WRITTEN = ("planned", "skipped")      # states of a disc nothing was written onto


def extract_from_checkpoint(cfg: Config, store: Store, source: Source, number: int, rel: bytes,
                            staging: bytes, prompter, cancel, emit: Emit,
                            apart: list[tuple[str, bytes, str]] | None = None,
                            dir_modes: dict[bytes, int] | None = None) -> bytes:
    """Extract `rel` (a file or a directory) of checkpoint `number` into `staging`, asking for each
    disc that holds part of it. Each disc goes into a tree of its own, so that only what the
    catalog says are parts of a cut file are joined (a file of the source may have a part's name);
    then every regular file is checked against the catalog's sha256 (a damaged disc, or another
    server's disc of the same volume id, fails the restore), and the trees are merged. Files that
    may have been hard links of one file on the source, cut apart between discs, are added to
    `apart` as (kind, name, why): they come back as separate files; so are the directories that
    did not come off as the disc holds them (disc_dirs), and the xattrs with an empty value that
    could not be set again (kept_off.py: the discs do not hold them). Into `dir_modes`: the modes of the
    directories opened up there (opened_dirs), by their path below the restored item. Returns the
    restored item's path there."""
    rows = store.all(
        "SELECT f.*, d.volid, d.state, d.written FROM disc_files f LEFT JOIN discs d ON d.number=f.number AND d.disc=f.disc"
        " WHERE f.number=? AND f.source=? AND (f.path=? OR substr(f.path, 1, ?)=?)"
        " ORDER BY f.disc, f.path, f.part",
        (number, source.id, rel, len(rel) + 1, rel + b"/"))
    if not rows:
        raise WorkFailed(f"checkpoint {number} holds nothing at /{fmt.name(rel)} of {source.id}",
                         hint="if the state database was lost: rabtui rebuild-state")
    # a disc xorriso could not write, or a killed run left half written, and an abandoned checkpoint's
    # disc of those or not written at all: none has the time it was written whole
    unwritten = sorted({(r["disc"], r["volid"], r["state"]) for r in rows if r["state"] in NEVER_WRITTEN
                        or (r["state"] in ("abandoned", "failed", "interrupted") and r["written"] is None)})
    if unwritten:     # no disc to ask for
        disc, volid, state = unwritten[0]
        abandoned = state == "abandoned"
        raise WorkFailed(f"checkpoint {number}: disc {disc} ({volid}), which holds /{fmt.name(rel)} of {source.id}"
                         f" or part of it, was never written ({f'checkpoint {number} abandoned' if abandoned else state})",
                         hint=("" if abandoned else f"rabtui checkpoint resume {number} writes it; or ")
                         + "restore from a backup or another checkpoint")
    is_file = all(bytes(r["path"]) == rel for r in rows)
    top = os.path.join(staging, b"item")
    with shortpath.alias(Path(os.fsdecode(staging))) as short, shortpath.Shortcuts() as sc:
        # the disc's deepest paths fit below `short`; sc.path() makes a deeper one usable
        trees = {disc: os.path.join(short, b"%d" % disc) for disc in sorted({r["disc"] for r in rows})}
        off: list[tuple[str, bytes, str]] = []    # directories not as the discs hold them
        closed: dict[int, dict[bytes, int]] = {disc: {} for disc in trees}   # opened_dirs.open_up's
        unheld: dict[bytes, disc_owners.Listed] = {}     # owners the file system refused
        extract_each_disc(cfg, store, source, number, rel, rows, is_file, trees, prompter, cancel, emit,
                          os.path.dirname(staging), off, closed, unheld)
        faults.point("restore.discs_read")
        parts: dict[bytes, list] = {}
        for r in rows:
            if r["parts"] and r["parts"] > 1:
                parts.setdefault(bytes(r["path"]), []).append(r)
        off[:] = _named_once(off, rows)
        bad: list[tuple[bytes, str]] = []
        for path, prs in parts.items():
            under = in_tree(rel, path, is_file)
            try:
                found = disc_parts.join_parts(trees, under, prs, sc, emit, cancel)
            except OSError as exc:
                _not_joined(path, len(prs), os.path.dirname(staging), exc)
            if not found:   # the whole file, in the tree of its first part
                own_time(os.path.join(trees[min(prs, key=lambda p: p["part"])["disc"]], under), prs[0], sc)
            bad += found
        for r in rows:
            if not (r["parts"] and r["parts"] > 1):
                under = os.path.basename(bytes(r["disc_path"])) if is_file else in_tree(rel, bytes(r["path"]), False)
                extracted = os.path.join(trees[r["disc"]], under)
                if r["sha256"] in (LINK_MARK, SPECIAL_MARK) and not os.path.lexists(sc.path(extracted)):
                    off += _not_extracted(r, off, disc_name(r))
                    continue
                found = check_file(extracted, r, sc, cancel, closed[r["disc"]].get(under), unheld.get(extracted))
                if not found:
                    own_time(extracted, r, sc)
                bad += found
        bad += unrecorded(trees, rows, rel, is_file, parts, sc)
        if bad:
            refuse_damaged(number, bad)
        first, *others = trees.values()
        kept: dict[bytes, tuple[int, int]] = {}
        for tree in others:
            _merge(tree, first, sc, kept)
        for under, ns in kept.items():   # the directories' times, as extracted from the disc
            with contextlib.suppress(PermissionError):   # another user's, without CAP_FOWNER: named (disc_refused)
                os.utime(sc.path(os.path.join(first, under) if under else first), ns=ns, follow_symlinks=False)
        os.rename(first, os.path.join(short, b"item"))
        # the xattrs with an empty value, which the discs do not hold
        failed = kept_off.set_again(os.path.join(short, b"item"), rel, is_file,
                                    kept_off.below(store, number, source.id, rel), sc)
        if not is_file:   # those named already (disc_dirs), or opened up (their ACL's user:: changed), passed over
            passed = {name for _kind, name, _why in off} | {os.path.join(rel, u) if u else rel
                                                             for modes in closed.values() for u in modes}
            failed += _dirs_as_recorded(store, number, disc_top(rows, rel, source.id), rel,
                                        os.path.join(short, b"item"), sc, passed)
        if failed and apart is None:
            raise WorkFailed(f"checkpoint {number}: {failed[0][2]}")
        if apart is not None:
            apart += failed
        # the directories that came off again alone, an xattr of theirs refused (disc_refused.py)
        redone = frozenset(name for kind, name, _ in off if kind == "attribute" and not is_file
                           and os.path.isdir(sc.path(os.path.join(short, b"item", name[len(rel):].lstrip(b"/"))))
                           and not os.path.islink(sc.path(os.path.join(short, b"item", name[len(rel):].lstrip(b"/")))))
        # names of one file the discs held apart, or xorriso did not link (empty ones)
        off += [] if is_file else links_again.as_recorded(rows, rel, is_file, os.path.join(short, b"item"), sc)
        if apart is not None and (len(trees) > 1 or redone):
            apart += links_apart(rows, rel, is_file, os.path.join(short, b"item"), sc, redone)
        if apart is not None:
            apart += off
        if dir_modes is not None:    # a directory on several discs is kept from the first (_merge)
            for modes in closed.values():
                for under, mode in modes.items():
                    dir_modes.setdefault(under, mode)
    if is_file:
        return os.path.join(top, os.path.basename(rel)) if parts else \
            os.path.join(top, os.path.basename(bytes(rows[0]["disc_path"])))
    return top



def _dirs_as_recorded(store: Store, number: int, top: bytes, rel: bytes, item: bytes, sc,
                      passed: set[bytes]) -> list[tuple[str, bytes, str]]:
    """[(kind, name, why)] of each directory restored at `item` (the directory `rel`, `top` on the
    discs) whose ACLs and xattrs are not as the checkpoint recorded them (dir_attrs.py; nothing when
    it recorded none), those named in `passed` (by their path below /) left out."""
    recorded = dir_attrs.load(store, number)
    if recorded is None:
        return []
    kept = kept_off.by_disc_path(store, number)
    as_root = os.geteuid() == 0
    out = []
    for dirpath, _dirs, _files, _fd in os.fwalk(sc.path(item)):
        under = dirpath[len(sc.path(item)):].lstrip(b"/")
        disc_path = top + b"/" + under if under else top
        name = os.path.join(rel, under) if under else rel
        if name in passed:
            continue
        why = dir_attrs.restored_differs(dirpath, disc_path, recorded, kept.get(disc_path, set()), as_root)
        if why:
            out.append(("directory", name, why))
    return out


def _not_extracted(r, named: list[tuple[str, bytes, str]], volid: str) -> list[tuple[str, bytes, str]]:
    """(kind, name, why) of a symlink or special file of the catalog that did not come off the
    disc: a device node an extraction as a user other than root leaves out (osirrox makes none),
    one a privilege was lacking for (named already: disc_refused.py)."""
    kind, path = kind_of(r["mode"]), bytes(r["path"])
    if any((k, n) == (kind, path) for k, n, _ in named):
        return []
    if kind == "device" and os.geteuid() != 0:
        return [(kind, path, f"not made: {disc_refused.DEVICE_WHY}")]
    return [(kind, path, f"did not come off {volid}")]


def _named_once(off: list[tuple[str, bytes, str]], rows) -> list[tuple[str, bytes, str]]:
    """`off` with each owner or xattr the file system refused (disc_owners.give, disc_refused.py)
    and each directory not as the discs hold it (disc_dirs) named once: a directory on several discs is restored as it came
    off the first (_merge), and the parts of a cut file are named by the file's name."""
    whole = {os.path.join(os.path.dirname(bytes(r["path"])), os.path.basename(bytes(r["disc_path"]))): bytes(r["path"])
             for r in rows if r["parts"] and r["parts"] > 1}
    out, seen = [], set()
    for kind, name, why in off:
        if kind in ("owner", "directory", "attribute", "mode", "time"):
            name = whole.get(name, name) if kind != "directory" else name
            if (kind, name) in seen:
                continue
            seen.add((kind, name))
        out.append((kind, name, why))
    return out



def _not_joined(path: bytes, parts: int, where: bytes, exc: OSError) -> NoReturn:
    """The parts of a cut file, off the discs in a staging directory in `where`, could not be
    joined: why (its file system full, for one), as a restore's failure."""
    full = why_full(where) if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None
    why = full or (os.strerror(exc.errno) if exc.errno else str(exc))
    raise WorkFailed(f"could not join the {parts} parts of /{fmt.name(path)} that came off the discs: {why}",
                     hint=f"what comes off the discs is put in {fmt.name(where)} first: make room there (the whole"
                          " file beside its parts), then restore again" if full else None) from None



def _merge(src: bytes, dst: bytes, sc, kept: dict[bytes, tuple[int, int]]) -> None:
    """Move the tree `src` (one disc's) into `dst`: what `dst` lacks is renamed into it, a
    directory on both is merged. `kept`: the times of each directory of `dst` changed, before."""
    stack = [b""]
    while stack:
        under = stack.pop()
        for name in sorted(os.listdir(sc.path(os.path.join(src, under) if under else src))):
            r = os.path.join(under, name) if under else name
            s, d = sc.path(os.path.join(src, r)), sc.path(os.path.join(dst, r))
            try:
                old = os.lstat(d)
            except FileNotFoundError:
                if under not in kept:
                    st = os.stat(os.path.dirname(d))
                    kept[under] = (st.st_atime_ns, st.st_mtime_ns)
                os.rename(s, d)
                continue
            if stat.S_ISDIR(old.st_mode) and stat.S_ISDIR(os.lstat(s).st_mode):
                stack.append(r)
            else:
                raise WorkFailed(f"{fmt.name(r)} came off two discs of the checkpoint", hint="please report this")
