"""Extraction of a checkpoint's item from each disc that holds part of it, each into a tree of its
own (discs.py joins cut files, checks and merges the trees): xorriso's osirrox, the ACLs the kernel
handed on dropped, directories' ACL masks, owners and symlinks' times given, what the file system
refused named."""

from __future__ import annotations

import contextlib
import os
import stat

from typing import NoReturn

from rabtui import fmt, temp_dirs
from rabtui.checkpoint import acl_dirs, disc_listing, disc_tree, layout, shortpath, xorriso
from rabtui.checkpoint.content import LINK_MARK
from rabtui.checkpoint.xorriso_output import lsdl_date, parse_lsdl
from rabtui.config import Config, Source
from rabtui.errors import Stalled, WorkFailed
from rabtui.media import opened_dirs
from rabtui.restore import disc_dirs, disc_owners, disc_refused, link_targets, link_xattrs, links_again
from rabtui.restore.disc_drive import address, disc_device
from rabtui.restore.disc_checks import extract_hint, tree_bounded
from rabtui.events import LOG, Emit, Event
from rabtui.state.store import Store
from rabtui.restore.staging import ACLS

WITHOUT_ACL = b"rabtui: those without an ACL"   # printed between the entries with an ACL and the others


def xorriso_extract_argv(dev: str, disc_path: bytes, target: bytes, as_root: bool | None = None,
                         list_links: bool = False, listing: bytes | None = None) -> list[str]:
    """Extraction into a private staging directory: hard links, ACLs and xattrs (every namespace
    as root) from the disc's AAIP, device files, zero runs of 64 KiB or more as holes. Then each
    entry but symlinks is printed on stdout (parse_lsdl), those with an ACL before WITHOUT_ACL and
    the others after it, for their owners (disc_owners.py) and the ACLs the kernel gave those
    without one. `list_links`: then each extracted symlink, for its owner: osirrox makes symlinks
    as the extracting user, with the time of extraction. Last, the ACLs of the directories that
    have one (acl_dirs), and every directory (disc_dirs). It goes on past an entry it cannot
    restore, and names it on stderr (disc_refused.py); names in its messages encoded as in its
    listings. `listing`: a disc_listing.command_file to list the entries with instead (after the
    ACLs of the directories): linear in their number, where these passes are not."""
    as_root = os.geteuid() == 0 if as_root is None else as_root
    path = os.fsdecode(disc_path)
    argv = ["xorriso", "-no_rc", "-abort_on", "NEVER", "-backslash_codes", "encode_output",
            "-osirrox", ("device_files" if as_root else "on") + ":sparse=65536",
            "-hardlinks", "on", "-acl", "on", "-xattr", "any" if as_root else "user",
            "-iso_rr_pattern", "off", "-indev", address(dev), "-extract", path, os.fsdecode(target)]
    if listing is not None:
        return argv + acl_dirs.find_argv(path) + ["-backslash_codes", "in_double_quotes:encode_output",
                                                  "-options_from_file", os.fsdecode(listing)]
    argv += ["-find", path, "-has_acl", "-not", "-type", "l", "-exec", "lsdl", "--", "-print", WITHOUT_ACL.decode(),
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


def extract_each_disc(cfg: Config, store: Store, source: Source, number: int, rel: bytes, rows, is_file: bool,
                      trees: dict[int, bytes], prompter, cancel, emit: Emit, where: bytes,
                      off: list[tuple[str, bytes, str]], kept: dict[int, dict[bytes, int]],
                      unheld: dict[bytes, disc_owners.Listed]) -> None:
    """Extract `rel` of checkpoint `number` (`is_file`, its catalog `rows`) from each disc that
    holds part of it into that disc's tree of `trees`, asking for the disc. `where`: the directory
    holding the staging directory (for a message when it is full). Into `off`: the directories
    that did not come off as the disc holds them (disc_dirs), and the entries whose owner the file
    system refused; into `kept`: the modes of those opened up (opened_dirs), by disc; into
    `unheld`: what the disc lists of those refused their owner."""
    by_disc: dict[int, list] = {}
    for r in rows:
        by_disc.setdefault(r["disc"], []).append(r)
    for disc, files in sorted(by_disc.items()):
        xtop = trees[disc]
        volid = files[0]["volid"] or layout.volid(number, disc)
        with tree_bounded(store, number, disc, volid):    # a WorkFailed naming the disc where its tree loops
            try:
                dev = disc_device(cfg, store, number, disc, volid, prompter, cancel)
            except WorkFailed as exc:     # what of the restore that disc holds, none of it read
                first = "/" + fmt.name(bytes(files[0]["path"]))
                exc.message += (f"; {volid} holds {fmt.count(len(files), 'entry')} of /{fmt.name(rel)} (first:"
                                f" {first}); nothing restored")
                exc.args = (exc.message,)
                raise
            emit(Event(LOG, f"reading {fmt.count(len(files), 'file')} from {volid}"))
            if is_file:  # the file itself, or its parts on this disc
                os.makedirs(xtop, exist_ok=True)
                jobs = [(bytes(r["disc_path"]), os.path.join(xtop, os.path.basename(bytes(r["disc_path"]))))
                        for r in files]
            else:  # the directory's subtree on this disc (merged with the other discs' afterwards)
                jobs = [(disc_top(files, rel, source.id), xtop)]
            link_mtimes = {b"/" + bytes(r["disc_path"]).lstrip(b"/"): r["mtime"]
                           for r in files if r["sha256"] == LINK_MARK}
            link_records = {b"/" + bytes(r["disc_path"]).lstrip(b"/"): bytes(r["link"])
                            for r in files if r["sha256"] == LINK_MARK and r["link"] is not None}
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
                    full = why_full(where)
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
                names = disc_listing.Names()
                done = None
                if not is_file and run(disc_listing.names_argv(address(dev), start), names.take).ok:
                    done = _extract_listed(run, dev, start, target, bool(link_mtimes), names, refusals,
                                           held, without_acl, acls, dirs, failed)
                if done is None:    # a file, or no listing to go by: the passes of -find -exec lsdl
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
                link_targets.put_back(start, target, link_records)    # before their times and owners
                # the symlinks' times while they are the restoring user's (without CAP_FOWNER, none after)
                link_xattrs.set_times(start, target, link_mtimes, held, volid, emit)
                off += disc_owners.give(start, target, held, rel, volid, unheld)
                if os.geteuid() == 0 and any(p == start or p.startswith(start.rstrip(b"/") + b"/") for p in link_mtimes):
                    off += link_xattrs.restore(address(dev), start, target, rel, volid, cancel,   # only root's hold xattrs
                                               cfg.checkpoint.io_timeout)


def _extract_listed(run, dev: str, start: bytes, target: bytes, list_links: bool, names, refusals,
                    held: dict, without_acl: list[bytes], acls: list[bytes], dirs: disc_dirs.Listed, failed):
    """The extracting run listing each directory of `names` from within it (disc_listing), its
    listing read into what the three `-find -exec lsdl` passes and disc_dirs' give; None when its
    command file cannot be written."""
    listing = disc_listing.Listing(start, names.dirs)
    with contextlib.ExitStack() as stack:
        try:
            commands = os.path.join(stack.enter_context(temp_dirs.private()), b"listing")
            with open(commands, "wb") as f:
                f.write(disc_listing.command_file(start, names.dirs))
        except OSError:     # no command file (the temporary directory full): the caller's passes instead
            return None
        done = run(xorriso_extract_argv(dev, start, target, list_links=list_links, listing=commands),
                   listing.take, refusals.take)
    if done.ok and not listing.complete():
        failed("its listing of the entries ended early")
    acls += listing.before
    for path, (line, mode, _target, owner) in listing.entries.items():
        if stat.S_ISLNK(mode) and not list_links:
            continue
        held[path] = (mode, owner)
        if stat.S_ISDIR(mode):
            dirs.dirs[path] = (mode, owner, lsdl_date(line))
        if not stat.S_ISLNK(mode) and path not in names.with_acl:
            without_acl.append(path)
    return done


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


def _xorriso_failure(lines: list[str]) -> str:
    """xorriso's first reason for failing (not its generic lines that follow), else its last words."""
    for mark in ("xorriso : FAILURE : ", " : FAILURE : ", " : SORRY : "):
        for line in lines:
            if mark in line:
                return line.split(mark, 1)[1]
    return "\n".join(lines)[-300:]


def why_full(path: bytes) -> str | None:
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
