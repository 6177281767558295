"""Reading checkpoint discs for restore and rebuild-state: extraction with xorriso's osirrox,
symlinks given their owner and time, and joining files cut into `NAME.partNN-of-MM`
(disc_parts.py). The disc in the drive (its volume id, a wrong disc refused): disc_drive.py."""

from __future__ import annotations

import contextlib
import errno
import os
import re
import stat

from pathlib import Path
from typing import NoReturn

from rabtui import faults, fmt
from rabtui.checkpoint import acl_dirs, dir_attrs, disc_tree, kept_off, layout, shortpath, xorriso
from rabtui.checkpoint.content import LINK_MARK, SPECIAL_MARK
from rabtui.checkpoint.xorriso_output import parse_lsdl
from rabtui.config import Config, Source
from rabtui.errors import Stalled, WorkFailed
from rabtui.media import opened_dirs
from rabtui.restore import disc_dirs, disc_owners, disc_parts, disc_refused, link_xattrs, links_again
from rabtui.restore.disc_drive import address, disc_device
from rabtui.restore.links_apart import links_apart
from rabtui.restore.written import kind_of
from rabtui.restore.disc_checks import (check_file, disc_name, extract_hint, in_tree, own_time, refuse_damaged,
                                        tree_bounded, unrecorded)
from rabtui.events import LOG, Emit, Event
from rabtui.state.store import Store
from rabtui.restore.staging import ACLS

PART_RE = re.compile(rb"^(.*)\.part(\d+)-of-(\d+)$")


NEVER_WRITTEN = ("planned", "skipped")      # states of a disc nothing was written onto
WITHOUT_ACL = b"rabtui: those without an ACL"   # printed between the entries with an ACL and the others


def xorriso_extract_argv(dev: str, disc_path: bytes, target: bytes, as_root: bool | None = None,
                         list_links: bool = False) -> list[str]:
    """Extraction into a private staging directory: hard links, ACLs and xattrs (every namespace
    as root) from the disc's AAIP, device files, zero runs of 64 KiB or more as holes. Then each
    entry but symlinks is printed on stdout (parse_lsdl), those with an ACL before WITHOUT_ACL and
    the others after it, for their owners (disc_owners.py) and the ACLs the kernel gave those
    without one. `list_links`: then each extracted symlink, for its owner: osirrox makes symlinks
    as the extracting user, with the time of extraction. Last, the ACLs of the directories that
    have one (acl_dirs), and every directory (disc_dirs). It goes on past an entry it cannot
    restore, and names it on stderr (disc_refused.py); names in its messages encoded as in its
    listings."""
    as_root = os.geteuid() == 0 if as_root is None else as_root
    path = os.fsdecode(disc_path)
    argv = ["xorriso", "-no_rc", "-abort_on", "NEVER", "-backslash_codes", "encode_output",
            "-osirrox", ("device_files" if as_root else "on") + ":sparse=65536",
            "-hardlinks", "on", "-acl", "on", "-xattr", "any" if as_root else "user",
            "-iso_rr_pattern", "off", "-indev", address(dev), "-extract", path, os.fsdecode(target),
            "-find", path, "-has_acl", "-not", "-type", "l", "-exec", "lsdl", "--", "-print", WITHOUT_ACL.decode(),
            "-find", path, "-has_no_acl", "-not", "-type", "l", "-exec", "lsdl", "--"]
    if list_links:
        argv += ["-find", path, "-type", "l", "-exec", "lsdl", "--"]
    return argv + acl_dirs.find_argv(path) + disc_dirs.list_argv(path)


def drop_inherited_acls(start: bytes, target: bytes, without_acl: list[bytes]) -> None:
    """xorriso gives a directory its default ACL before it extracts what is inside, and the kernel
    hands that ACL on to each entry made there: those of `without_acl` (image paths below `start`,
    extracted at `target`) have no ACL on the disc, and get theirs removed."""
    for image_path in without_acl:
        staged = target + image_path[len(start):]
        for acl in ACLS:
            with contextlib.suppress(OSError):
                os.removexattr(staged, acl, follow_symlinks=False)


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
        "SELECT f.*, d.volid, d.state FROM disc_files f LEFT JOIN discs d ON d.number=f.number AND d.disc=f.disc"
        " WHERE f.number=? AND f.source=? AND (f.path=? OR substr(f.path, 1, ?)=?)"
        " ORDER BY f.disc, f.path, f.part",
        (number, source.id, rel, len(rel) + 1, rel + b"/"))
    if not rows:
        raise WorkFailed(f"checkpoint {number} holds nothing at /{fmt.name(rel)} of {source.id}",
                         hint="if the state database was lost: rabtui rebuild-state")
    unwritten = sorted({(r["disc"], r["volid"], r["state"]) for r in rows if r["state"] in NEVER_WRITTEN})
    if unwritten:     # no disc to ask for
        disc, volid, state = unwritten[0]
        raise WorkFailed(f"checkpoint {number}: disc {disc} ({volid}), which holds /{fmt.name(rel)} of {source.id}"
                         f" or part of it, was never written ({state})",
                         hint=f"rabtui checkpoint resume {number} writes it; or restore from a backup or another"
                              " checkpoint")
    is_file = all(bytes(r["path"]) == rel for r in rows)
    top = os.path.join(staging, b"item")
    with shortpath.alias(Path(os.fsdecode(staging))) as short, shortpath.Shortcuts() as sc:
        # the disc's deepest paths fit below `short`; sc.path() makes a deeper one usable
        trees = {disc: os.path.join(short, b"%d" % disc) for disc in sorted({r["disc"] for r in rows})}
        off: list[tuple[str, bytes, str]] = []    # directories not as the discs hold them
        closed: dict[int, dict[bytes, int]] = {disc: {} for disc in trees}   # opened_dirs.open_up's
        unheld: dict[bytes, disc_owners.Listed] = {}     # owners the file system refused
        _extract(cfg, store, source, number, rel, rows, is_file, trees, prompter, cancel, emit,
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


def _extract(cfg: Config, store: Store, source: Source, number: int, rel: bytes, rows, is_file: bool,
             trees: dict[int, bytes], prompter, cancel, emit: Emit, where: bytes,
             off: list[tuple[str, bytes, str]], kept: dict[int, dict[bytes, int]],
             unheld: dict[bytes, disc_owners.Listed]) -> None:
    """`where`: the directory holding the staging directory (for a message when it is full).
    Into `off`: the directories that did not come off as the disc holds them (disc_dirs), and the
    entries whose owner the file system refused; into `kept`: the modes of those opened up
    (opened_dirs), by disc; into `unheld`: what the disc lists of those refused their owner."""
    by_disc: dict[int, list] = {}
    for r in rows:
        by_disc.setdefault(r["disc"], []).append(r)
    for disc, files in sorted(by_disc.items()):
        xtop = trees[disc]
        volid = files[0]["volid"] or layout.volid(number, disc)
        with tree_bounded(store, number, disc, volid):    # a WorkFailed naming the disc where its tree loops
            dev = disc_device(cfg, store, number, disc, volid, prompter, cancel)
            emit(Event(LOG, f"reading {len(files)} files from {volid}"))
            if is_file:  # the file itself, or its parts on this disc
                os.makedirs(xtop, exist_ok=True)
                jobs = [(bytes(r["disc_path"]), os.path.join(xtop, os.path.basename(bytes(r["disc_path"]))))
                        for r in files]
            else:  # the directory's subtree on this disc (merged with the other discs' afterwards)
                jobs = [(disc_top(files, rel, source.id), xtop)]
            link_mtimes = {b"/" + bytes(r["disc_path"]).lstrip(b"/"): r["mtime"]
                           for r in files if r["sha256"] == LINK_MARK}
            for disc_path, target in jobs:
                start = b"/" + disc_path.lstrip(b"/")
                held: dict[bytes, tuple[int, tuple[int, int]]] = {}    # listed: (st_mode, owner)
                without_acl: list[bytes] = []
                acls: list[bytes] = []   # acl_dirs.find_argv's
                dirs = disc_dirs.Listed()

                acl_listed = [True]      # until WITHOUT_ACL

                def listed(line: bytes) -> None:
                    if dirs.take(line):
                        return
                    if line.rstrip(b"\r\n") == WITHOUT_ACL:
                        acl_listed[0] = False
                        return
                    entry = parse_lsdl(line)
                    if entry is None:
                        acls.append(line)
                        return
                    held[entry[0]] = (entry[1], entry[3])
                    if not acl_listed[0] and not stat.S_ISLNK(entry[1]) and (
                            entry[0] == start or entry[0].startswith(start.rstrip(b"/") + b"/")):
                        without_acl.append(entry[0])

                def failed(why: str) -> NoReturn:
                    full = _full(where)
                    if full:
                        raise WorkFailed(f"xorriso could not extract {fmt.name(disc_path)} from {volid}: {full}",
                                         hint=f"what comes off the discs is put in {fmt.name(where)} first: make room"
                                              " there, then restore again")
                    raise WorkFailed(f"xorriso could not extract {fmt.name(disc_path)} from {volid}: {why}",
                                     hint=extract_hint(why, number))

                def run(argv: list[str], on_stdout=None, on_stderr=None):
                    try:
                        return disc_tree.run(argv, on_stdout=on_stdout, on_stderr=on_stderr, cancel=cancel,
                                             env=xorriso.LIST_ENV, silence=cfg.checkpoint.io_timeout, busy=True)
                    except Stalled as exc:   # a hung drive
                        raise WorkFailed(f"xorriso could not extract {fmt.name(disc_path)} from {volid}: {exc}"
                                         f" (checkpoint.io_timeout)", hint=extract_hint(str(exc), number)) from None
                    except disc_refused.Unexpected as exc:     # stopped there: a disc it cannot read
                        failed(str(exc))

                refusals = disc_refused.Refusals()
                done = run(xorriso_extract_argv(dev, start, target, list_links=bool(link_mtimes)), listed,
                           refusals.take)
                if not done.ok:
                    if done.killed_by or not refusals.refused:
                        failed(f"xorriso was killed by signal {done.killed_by}" if done.killed_by
                               else _xorriso_failure(done.stderr_tail))
                    with shortpath.Shortcuts() as sc:
                        again: list[bytes] = []
                        off += disc_refused.extract_again(
                            refusals, dev, start, target, rel, [b"/" + bytes(r["disc_path"]).lstrip(b"/") for r in files],
                            volid, lambda argv, into: run(argv, on_stderr=into.take), failed, sc, held, unheld, again)
                        if again:
                            links_again.relink(run, dev, start, target, again, sc)
                opened = opened_dirs.open_up(target) if not is_file else {}
                drop_inherited_acls(start, target, without_acl)
                acl_dirs.give_masks(acl_dirs.masks(acls), start, target, opened)
                kept[disc].update(opened)
                unset = {name for kind, name, _ in off if kind in ("mode", "time")}    # named already
                off += [d for d in disc_dirs.differing(dirs, start, target, rel, volid, opened) if d[1] not in unset]
                # the symlinks' times while they are the restoring user's (without CAP_FOWNER, none after)
                link_xattrs.set_times(start, target, link_mtimes, held, volid, emit)
                off += disc_owners.give(start, target, held, rel, volid, unheld)
                if os.geteuid() == 0 and any(p == start or p.startswith(start.rstrip(b"/") + b"/") for p in link_mtimes):
                    off += link_xattrs.restore(address(dev), start, target, rel, volid, cancel,   # only root's hold xattrs
                                               cfg.checkpoint.io_timeout)


def disc_top(rows, rel: bytes, source: str) -> bytes:
    """The path on the discs of the directory `rel`, as its catalog rows (those below it) give it:
    data/SOURCE/PATH for a directory of the checkpoint's, add/N/... for one carried as filler."""
    for r in rows:
        path, on_disc = bytes(r["path"]), bytes(r["disc_path"])
        under = path[len(rel):]
        if not under:
            return on_disc
        if on_disc.endswith(under):
            return on_disc[: len(on_disc) - len(under)]
    return os.path.join(b"data", source.encode(), rel)


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


def _xorriso_failure(lines: list[str]) -> str:
    """xorriso's first reason for failing (not its generic lines that follow), else its last words."""
    for mark in ("xorriso : FAILURE : ", " : FAILURE : ", " : SORRY : "):
        for line in lines:
            if mark in line:
                return line.split(mark, 1)[1]
    return "\n".join(lines)[-300:]


def _not_joined(path: bytes, parts: int, where: bytes, exc: OSError) -> NoReturn:
    """The parts of a cut file, off the discs in a staging directory in `where`, could not be
    joined: why (its file system full, for one), as a restore's failure."""
    full = _full(where) if exc.errno in (errno.ENOSPC, errno.EDQUOT) else None
    why = full or (os.strerror(exc.errno) if exc.errno else str(exc))
    raise WorkFailed(f"could not join the {parts} parts of /{fmt.name(path)} that came off the discs: {why}",
                     hint=f"what comes off the discs is put in {fmt.name(where)} first: make room there (the whole"
                          " file beside its parts), then restore again" if full else None) from None


def _full(path: bytes) -> str | None:
    """"`path` is full", when its file system has less than 1 MiB left (for this user), or no inode
    (what `df -h` does not show). One that tells no size (ramfs: no blocks at all) is never called
    full, nor short of inodes one that counts none."""
    try:
        st = os.statvfs(path)
    except OSError:
        return None
    if st.f_files and not (st.f_ffree if os.geteuid() == 0 else st.f_favail):
        return f"{fmt.name(path)} is full: no inode left (df -i)"
    if st.f_blocks == 0:
        return None
    free = st.f_bfree if os.geteuid() == 0 else st.f_bavail
    return f"{fmt.name(path)} is full" if free * st.f_frsize < (1 << 20) else None


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
