"""Checking a written disc: its volume id, every block readable, xorriso's MD5 of the session and
of each file, and then each file read back from the disc against the sha256 in the catalog.

The read-back extracts the disc with osirrox into a scratch directory and hashes what came out,
so a changed byte in any file is found even where the MD5 tags were changed with it; each entry's
time, mode, owner (as root), symlink target, device numbers (where the plan recorded them)
and hard links are compared with what was backed up,
and an entry the catalog does not hold fails the disc (as_backed_up.py); device nodes, which only
root makes, are compared as the disc lists them for another user (their numbers too). Without room to extract
it, each file is read back as a stream (verify_stream.py), and the disc's listing gives the kinds, modes, owners,
symlink targets, device numbers and extra entries, the times to the minute or the day (as it shows them), and
hard links as files sharing their data. So too when the extraction fails where nothing can be
written in the state directory (closed to this user, read-only): this machine's failure, not the disc's.
An xorriso killed, or short of file descriptors or memory, as it reads the disc (its volume id, its
check, its listings, its extraction, each file streamed) judges no disc (xorriso_output.MachineFailed,
an OSError, as verify_loop.py takes it); an extraction that made nothing of a disc it could not
read fails it, and so does a tree that holds more entries than were written on the disc (one that
loops, which xorriso would load until its memory ran out: disc_tree.py).
Either way, each entry's ACLs and xattrs as the disc lists them (and read back from it where it
lists only their size: disc_xattrs.py), and each directory's own mode, owner and (extracted) time,
are compared with the backup on the medium and the plan's record (verify_attrs.py). What cannot
be compared (that backup not at hand, a checkpoint rebuilt from its discs) is said in the result,
and a disc that passes then is verified "but not checked: ..." (unchecked.py).
"""

from __future__ import annotations

import errno
import itertools
import os
import shutil
import stat
from contextlib import ExitStack
from pathlib import Path

from rabtui import faults, proc, proc_records
from rabtui.checkpoint import (acl_dirs, closed_dirs, content, dir_attrs, disc_tree, disc_xattrs, layout, shortpath,
                               unchecked, verify_attrs, verify_listing, verify_scratch, verify_stream, xorriso,
                               xorriso_output)
from rabtui.checkpoint.backed_up_attrs import Origin, unreachable
from rabtui.checkpoint.as_backed_up import extracted_differs, hard_links, of_kind, unexpected
from rabtui.checkpoint.content import LINK_MARK, MARKS, SPECIAL_MARK
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.verify_result import VerifyResult
from rabtui.events import LOG, PROGRESS, WARNING, Emit, Event
from rabtui.mtimes import seconds


def read_volid(indev: str, cancel, silence: float | None = None) -> tuple[str | None, str]:
    """(the volume id of the disc at `indev`, None where none is read; why not). A drive that
    answers nothing for `silence` seconds (default xorriso.DRIVE_SILENCE) raises Stalled, as any other
    reading of the disc: a hung drive leaves the disc unjudged, it does not end the run."""
    exe = proc.which("xorriso")
    try:
        done = disc_tree.run(xorriso.volid_argv(exe, indev), capture=True, cancel=cancel,
                             silence=silence or xorriso.DRIVE_SILENCE, busy=True)
    except disc_tree.TreeTooLarge as exc:   # which disc this is: another one, of more entries, is no bad disc
        disc_tree.volid_unread(exc, exe, indev, cancel, silence or xorriso.DRIVE_SILENCE)
        raise
    lines = [x.decode("utf-8", "replace") for x in proc_records.split_records(done.stdout)]
    xorriso_output.raise_machine_failure(done, "reading the disc's volume id", lines)
    found = xorriso_output.parse_volid(lines) if done.ok else None
    if done.ok and xorriso_output.is_blank(lines):
        return None, xorriso.blank(indev.removeprefix("stdio:"))
    return found, xorriso_output.failures(lines)


class _NothingExtracted(Exception):
    """xorriso failed before it made the disc's root in the scratch: nothing came off the disc."""


def verify_disc(drive: str, volid: str, rows: list[Row], place: Path, **kw) -> VerifyResult:
    """Verify the disc `volid` in `drive`, extracting it (and the xattrs values xorriso does not
    print) in a private directory of this run in `place` (verify_scratch.scratch); the keywords
    are _verify's. Where not even that directory can be made (its file system full, out of inodes), or the short
    alias it is extracted through (the temporary directory's: shortpath.alias), the disc is read
    back as a stream."""
    with ExitStack() as stack:
        try:
            top = stack.enter_context(verify_scratch.scratch(place))
        except OSError as exc:
            return _verify(drive, volid, rows, None, unmade=verify_scratch.unmade(place, exc), **kw)
        return _verify(drive, volid, rows, top / "disc", **kw)


def _verify(drive: str, volid: str, rows: list[Row], scratch: Path | None, *, listed: int | None = None,
            **kw) -> VerifyResult:
    """_read_back, bounded by the disc's rows where its filler is known, else by the entries its
    catalog lists (`listed`: discs.entries of a checkpoint rebuilt from its discs) where those were
    counted (disc_tree.py)."""
    if kw.get("filler_known", True):
        limit = disc_tree.most(r.disc_path for r in rows)
    else:
        limit = None if listed is None else disc_tree.most_of(listed)
    try:
        with disc_tree.bounded(limit):
            return _read_back(drive, volid, rows, scratch, **kw)
    except disc_tree.TreeTooLarge as exc:
        found = volid if exc.volid_read else exc.found_volid
        return VerifyResult(volid=volid, found_volid=found, messages=[] if found not in (volid, None) else [str(exc)])


def _read_back(drive: str, volid: str, rows: list[Row], scratch: Path | None, *, emit: Emit, cancel,
            filler_known: bool = True, origins: list[Origin] | None = None,
            kept: dict[bytes, set[bytes]] | None = None, dir_record: dir_attrs.Recorded | None = None,
            silence: float | None = None, unmade: str | None = None) -> VerifyResult:
    """`scratch`: a new directory to extract the disc in, in this run's private one
    (verify_scratch.scratch); None where that could not be made, for `unmade`: the disc is read back as a stream.
    `filler_known`: `rows` hold the disc's filler (add/) too; a checkpoint rebuilt from its discs
    knows only their data/. `origins`: where its directories were read on the media, whose ACLs,
    xattrs and directories are compared with the disc's (backed_up_attrs.py). `kept`: path on the
    disc -> the names of its xattrs recorded as kept off the discs (kept_off.py). `dir_record`: the
    ACLs and xattrs of the checkpoint's directories as recorded (dir_attrs.py; None: not recorded).
    `silence`: seconds an xorriso reading the disc may print nothing (a hung drive) before it is
    stopped, raising Stalled."""
    res = VerifyResult(volid=volid)
    unjudged = () if filler_known else (b"add",)
    indev = xorriso.device_of(drive, volid)
    if xorriso.is_image_drive(drive):
        image = xorriso.image_path(drive, volid)
        try:
            os.stat(image)
        except OSError as exc:   # the image is the disc: one that cannot be reached fails it (verify_loop.py)
            gone = exc.errno in (errno.ENOENT, errno.ENOTDIR)
            res.messages.append(f"{image} does not exist" if gone else f"cannot read {image}: {exc.strerror}")
            return res
    res.found_volid, why = read_volid(indev, cancel, silence)
    if res.found_volid is None:
        if why:
            res.messages.append(why)
        return res
    if res.wrong_disc:
        return res
    exe = proc.which("xorriso")
    emit(Event(LOG, f"{volid}: reading every block and checking MD5 sums"))
    lines: list[str] = []
    done = disc_tree.run(xorriso.check_argv(exe, indev, volid),
                         on_stdout=lambda b: lines.append(b.decode("utf-8", "surrogateescape")), cancel=cancel,
                         silence=silence, busy=True)
    xorriso_output.raise_machine_failure(done, "checking the disc", lines)
    check = xorriso_output.parse_check(lines, done.returncode)
    res.mismatched += [p.lstrip(b"/") for p in check.mismatched]
    res.messages += [f"unreadable blocks {a}..{a + n - 1} ({q})" for a, n, q in check.bad_regions]
    res.messages += check.messages
    res.unchecked = unchecked.not_checked(rows, origins, filler_known, dir_record is not None)
    for gap in res.unchecked:
        emit(Event(WARNING, f"{volid}: not checked: {gap}"))
    origins = origins or []
    kept = kept or {}
    # the ACLs and xattrs of the disc's entries
    compared = origins or kept or dir_record is not None or any(r.xattr_sum is not None for r in rows)
    unlisted = len(res.messages)
    attrs, oversized = disc_xattrs.listed(exe, indev, volid, res.messages, cancel, silence) if compared else ({}, {})
    # each entry's xattrs against the plan's sum, where the disc listed them all, with their values
    summed = compared and len(res.messages) == unlisted
    if summed and (not origins or unreachable(origins)):
        for gap in unchecked.unsummed(rows, oversized):
            res.unchecked.append(gap)
            emit(Event(WARNING, f"{volid}: not checked: {gap}"))

    by_length: dict[bytes, list[tuple[int, int]]] = {}    # a symlink's, read back by no xorriso command

    def read_back(dirs) -> None:   # into `attrs`, the values the disc lists without them
        for path, why in disc_xattrs.complete(exe, indev, volid, attrs, oversized, rows, dirs, scratch, cancel,
                                              by_length, silence).items():
            res.note(path, why)
        if by_length and origins:
            res.unchecked.append(unchecked.by_length(by_length, disc_xattrs.LINKS_UNREAD))

    def by_stream(why: str) -> VerifyResult:
        # no room to extract the disc: each file's content is read from it as a stream and hashed
        # (what the extraction checks besides, the types of links and special files, is left to
        # xorriso's check of every block and MD5)
        emit(Event(LOG, f"{volid}: {why}; reading each file back as a stream and comparing it with the catalog"))
        if scratch is not None:
            verify_scratch.rmtree(scratch)
        bad, failed = verify_stream.read_back(exe, indev, volid, rows, emit, cancel, silence)
        res.mismatched += bad
        res.messages += failed
        dates: dict[bytes, str | None] = {}
        starts: dict[bytes, tuple[int, int]] = {}
        numbers: dict[bytes, int] = {}
        listing = verify_listing.listing(exe, indev, volid, res, cancel, silence, dates, starts, numbers)
        if listing is not None:
            verify_listing.compare_listed(rows, listing, res, dates, numbers)
            verify_listing.compare_shared_data(rows, starts, res)
            res.extra = unexpected(rows, ((path, stat.S_ISDIR(entry[0])) for path, entry in listing.items()),
                                   unjudged)
            dirs = {path: (mode, None, owner) for path, (mode, _t, owner) in listing.items() if stat.S_ISDIR(mode)}
            read_back(dirs)
            verify_attrs.compare_backed_up(rows, dirs, attrs, origins, res, dates, kept, dir_record is not None,
                                           by_length)
            verify_attrs.compare_recorded(rows, dirs, attrs, kept, dir_record, res)
            verify_attrs.changed_since_plan(rows, dirs, origins, kept, dir_record, res)
            if summed:
                verify_attrs.xattrs_changed_since_plan(rows, attrs, oversized, res, origins)
        if check.ok:
            verify_attrs.content_changed_since_plan(rows, res, cancel, origins)

        def on_disc(name: bytes) -> bool:
            done = disc_tree.run(xorriso.concat_argv(exe, indev, volid, [b"/" + name]),
                                 on_stdout_data=lambda data: None, cancel=cancel, silence=silence, busy=True)
            xorriso_output.raise_machine_failure(done, "reading files back from the disc")
            return done.ok

        if not on_disc(b"README.txt"):
            res.missing.append(b"README.txt")
        if not any(on_disc(name) for name in layout.CATALOG_NAMES):
            res.missing.append(layout.CATALOG_NAMES[0])
        res.ok = check.ok and not (res.mismatched or res.missing or res.extra or res.messages)
        return res

    if scratch is None:
        return by_stream(unmade or "no directory to extract the disc in")
    place = scratch.parent.parent      # where this run's private directory is
    try:
        scratch.mkdir()
    except OSError as exc:
        return by_stream(verify_scratch.unmade(place, exc))
    need = sum(r.size for r in rows) + (64 << 20)
    free = shutil.disk_usage(scratch).free
    if free < need:
        return by_stream(f"{free / 1e9:.1f} GB free in {place}, {need / 1e9:.1f} GB needed to extract the disc")
    aliased = ExitStack()
    try:
        short = aliased.enter_context(shortpath.alias(scratch))   # the disc's deepest paths fit below it
    except shortpath.Unusable as exc:    # the temporary directory full, out of inodes: a stream needs none
        return by_stream(exc.message)
    emit(Event(LOG, f"{volid}: reading every file back and comparing it with the catalog"))
    try:
        with aliased:
            disc_root = os.path.join(short, b"d")   # a new directory: xorriso never replaces the link itself
            # only root makes device nodes: another user's are compared as the disc lists them
            devices = os.geteuid() == 0
            listed = [] if devices else [r for r in rows if _maybe_device(r)]
            strip = disc_xattrs.write_strip_list(short, oversized)   # long values its file system may refuse
            acls: list[bytes] = []
            faults.point("verify.extracting")
            done = disc_tree.run(xorriso.extract_argv(exe, indev, volid, os.fsdecode(disc_root), devices, strip),
                                 on_stdout=acls.append, cancel=cancel, silence=silence, busy=True)
            faults.point("verify.extracted")
            if not done.ok and verify_scratch.out_of_room(scratch, acls, done.stderr_text()):
                raise verify_scratch.NoPlace(f"{place} filled up while the disc was extracted there")
            if not done.ok and (why := verify_scratch.unwritable(scratch, disc_root)):
                raise verify_scratch.NoPlace(f"{place} cannot be written to extract the disc ({why})")
            xorriso_output.raise_machine_failure(done, "extracting the disc", acls)   # the disc not judged
            if not done.ok:
                said = xorriso_output.failures(acls) or done.stderr_said(200)
                if not os.path.isdir(disc_root):
                    os.stat(short)      # the link it extracts through gone meanwhile: this machine's, an OSError
                    raise _NothingExtracted(f"nothing could be extracted from the disc (xorriso exit {done.returncode}):"
                                            f" {said}")
                res.messages.append(f"extracting the disc failed (exit {done.returncode}): {said}")
            acl_dirs.give_masks(acl_dirs.masks(acls), b"/", disc_root)
            opened = verify_scratch.opened_up(disc_root)
            _compare([r for r in rows if not (listed and _maybe_device(r))], disc_root, res, emit, cancel, opened)
            # osirrox gives no symlink its owner, which a restore as root sets from the disc's listing
            links = [r for r in rows if r.sha256 == LINK_MARK and r.owner is not None]
            numbers: dict[bytes, int] = {}
            listing = (verify_listing.listing(exe, indev, volid, res, cancel, silence, numbers=numbers)
                       if listed or links or not devices else None)
            if listing is not None:
                verify_listing.compare_listed(listed + links, listing, res, numbers=numbers)
                if not devices:     # the entries extracted are this user's: their owners as listed
                    verify_listing.compare_owners(rows, listing, res)
            nodes = ((p, False) for p, (mode, _t, _o) in (listing or {}).items()
                     if not devices and (stat.S_ISCHR(mode) or stat.S_ISBLK(mode)))
            dirs: dict[bytes, tuple[int, float | None, tuple[int, int] | None]] = {}
            res.extra = unexpected(rows, itertools.chain(_on_disc(disc_root, dirs, opened), nodes), unjudged)
            if not devices and listing is not None:     # this user's as extracted: their owners as listed
                dirs = {p: (m, t, listing[p][2] if p in listing else o) for p, (m, t, o) in dirs.items()}
            read_back(dirs)
            verify_attrs.compare_backed_up(rows, dirs, attrs, origins, res, kept=kept,
                                           dirs_recorded=dir_record is not None, by_length=by_length)
            verify_attrs.compare_recorded(rows, dirs, attrs, kept, dir_record, res)
            verify_attrs.changed_since_plan(rows, dirs, origins, kept, dir_record, res)
            if summed:
                verify_attrs.xattrs_changed_since_plan(rows, attrs, oversized, res, origins)
            if check.ok:
                verify_attrs.content_changed_since_plan(rows, res, cancel, origins)
            if not os.path.isfile(os.path.join(disc_root, b"README.txt")):
                res.missing.append(b"README.txt")
            if not any(os.path.isfile(os.path.join(disc_root, name)) for name in layout.CATALOG_NAMES):
                res.missing.append(layout.CATALOG_NAMES[0])
    except verify_scratch.NoPlace as exc:
        # its file system filled up meanwhile (another process's catalog grew there), or cannot be
        # written (closed to this user, read-only): the disc was not judged, and is read back as a
        # stream, which needs no room, once the scratch is gone
        no_place = exc.why
    except _NothingExtracted as exc:   # xorriso could not read the disc (damaged, truncated), there is nothing to compare
        res.messages.append(str(exc))
        no_place = None
    else:
        no_place = None
    finally:
        verify_scratch.rmtree(scratch)
    if no_place:
        return by_stream(no_place)
    seen = set()
    res.mismatched = [p for p in res.mismatched if not (p in seen or seen.add(p))]
    res.ok = not (res.mismatched or res.missing or res.extra or res.messages) and check.ok
    if not check.ok and not (res.mismatched or res.messages):
        res.messages.append("xorriso reported a problem with the disc")
    return res


def _maybe_device(r: Row) -> bool:
    """Is `r` a device node, or a special file of a checkpoint that kept no modes?"""
    return r.sha256 == SPECIAL_MARK and (r.mode is None or stat.S_ISCHR(r.mode) or stat.S_ISBLK(r.mode))


def _compare(rows: list[Row], base: bytes, res: VerifyResult, emit: Emit, cancel,
             modes: dict[bytes, int] | None = None) -> None:
    """`modes`: the modes the directories of `base` had before verify_scratch.opened_up gave
    their owner rwx."""
    total = sum(r.size for r in rows if r.sha256 not in MARKS)
    done = 0
    by_inode: dict[int, Row | list[Row]] = {}    # (device, inode) in one number: a disc may hold a million files
    real_dirs: set[bytes] = set()
    for r in rows:
        path = os.path.join(base, r.disc_path)
        if not _in_directories(base, r.disc_path, real_dirs):   # not read through a symlink of the disc's
            res.missing.append(r.disc_path)
            continue
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):   # a directory of the catalog a file on the disc
            res.missing.append(r.disc_path)
            continue
        if not of_kind(r, st.st_mode) or (r.sha256 not in MARKS and st.st_size != r.size):
            res.mismatched.append(r.disc_path)
            continue
        if modes and path in modes:
            st = closed_dirs.as_extracted(st, modes[path])
        differs = extracted_differs(st, lambda: os.readlink(path), r.mtime, r.mode, r.link, r.owner, rdev=r.rdev)
        if differs:
            res.mismatched.append(r.disc_path)
            res.why[r.disc_path] = differs
            continue
        if r.sha256 in MARKS:
            continue
        if r.mode is not None and not r.part:   # recorded with its hard links (link_group); a part is a file of its own
            key = st.st_dev << 64 | st.st_ino
            had = by_inode.setdefault(key, r)
            if isinstance(had, list):
                had.append(r)
            elif had is not r:
                by_inode[key] = [had, r]
        if not st.st_mode & stat.S_IRUSR:
            os.chmod(path, st.st_mode | stat.S_IRUSR)
        try:
            if content.sha256_file(path, cancel) != r.sha256:
                res.mismatched.append(r.disc_path)
        finally:
            if not st.st_mode & stat.S_IRUSR:
                os.chmod(path, st.st_mode)   # as it was for its other names, if it has any
        done += r.size
        emit(Event(PROGRESS, data={"done_bytes": done, "total_bytes": total,
                                   "percent": 100.0 * done / total if total else 100.0,
                                   "current": os.fsdecode(r.disc_path)}))
    for path, why in hard_links(by_inode).items():
        if path not in res.why:
            res.mismatched.append(path)
            res.why[path] = why


def _in_directories(base: bytes, path: bytes, known: set[bytes]) -> bool:
    """Is each directory on the way to `path` below `base` one (no symlink, which would lead onto
    this machine's files, nor a file)? `known`: those found to be, added to (each looked at once)."""
    ways = []
    up = path.rpartition(b"/")[0]
    while up and up not in known:
        ways.append(up)
        up = up.rpartition(b"/")[0]
    for d in reversed(ways):
        try:
            if not stat.S_ISDIR(os.lstat(os.path.join(base, d)).st_mode):
                return False
        except FileNotFoundError:
            return False
        known.add(d)
    return True


def _on_disc(base: bytes, dirs: dict | None = None, modes: dict[bytes, int] | None = None):
    """(path, is a directory) of every entry of a disc extracted at `base` (a symlink to a
    directory is none: os.fwalk lists it among the directories). Into `dirs`: each directory's
    (mode, time, owner: as root only), its mode as it was before verify_scratch.opened_up (`modes`)."""
    root = os.geteuid() == 0
    for dirpath, dirnames, filenames, fd in os.fwalk(base):
        under = dirpath[len(base):].lstrip(b"/")
        for name in dirnames + filenames:
            path = os.path.join(under, name) if under else name
            st = os.stat(name, dir_fd=fd, follow_symlinks=False)
            if dirs is not None and stat.S_ISDIR(st.st_mode):
                mode = (modes or {}).get(os.path.join(dirpath, name), st.st_mode)
                dirs[path] = (mode, seconds(st), (st.st_uid, st.st_gid) if root else None)
            yield path, stat.S_ISDIR(st.st_mode)
