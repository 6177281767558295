"""Directories that xorriso 1.5.4 cannot write: libisofs miscounts their Rock Ridge continuation areas.

A directory record holds at most 254 bytes. A name (NM) or symlink target (SL) that does not fit
goes, with what follows it (AAIP: ACLs, xattrs, MD5 index), into the directory's continuation
area (CE), a run of 2048-byte blocks after its extent. libisofs 1.5.4 computes the size of that
area before it writes it (rockridge.c, susp_calc_nm_sl_al). When an entry's continuation data
would cross a block boundary, both the computation and the writer start it at the next block;
but the computation counts the block hops inside its NM and SL fields from the old, unaligned
position, each a 28-byte CE entry plus padding to a block, which the writer never makes. The area
is counted larger than it is written; once the surplus passes a block boundary, libisofs stops
the image it has begun (a real disc is then spoiled):

    libisofs: WARNING : Calculated and written ECMA-119 tree end differ: 38 <> 37
    libisofs: FATAL : Image is most likely damaged. Calculated/written tree end address mismatch.

It is a matter of sizes and order, not of a count: three symlinks with targets of 283, 1,021 and
223 bytes fail, three of 764 bytes pass and four fail, 28 of 107 bytes fail, and so do 20 files
with 250-byte names, while 2,000 links of 961 bytes pass. `-hardlinks`, ACLs, xattrs, MD5 and
Joliet change nothing (plain `-rockridge on` fails alike); AAIP data alone is counted right. A
directory whose continuation data fits one block (2,020 bytes) never crosses one, so is never hit.

`check` finds the directories of a disc that may be hit and writes each beforehand, with real
xorriso and the disc's settings, to /dev/null: a skeleton of the same names, kinds, targets,
xattrs and ACLs (empty files: contents do not count, only how many extents a file has).
`unwritable` does so for each disc of a plan, and `refusal` says what the operator can do.
"""

from __future__ import annotations

import os
import stat
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from rabtui import faults, file_attrs, fmt, proc, temp_dirs
from rabtui.checkpoint import acl_names, cut_attrs, isosize, kept_off, layout, xorriso, xorriso_output
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.shortpath import Shortcuts
from rabtui.checkpoint.xorriso import Entry
from rabtui.errors import Stalled, UsageError
from rabtui.events import WARNING, Emit, Event

CE_ENTRY = 28                      # a CE field, in the record or where the area hops to a new block
ONE_BLOCK = isosize.SECTOR - CE_ENTRY   # continuation data up to this never crosses a block
SECTION = 0xFFFFF800               # libisofs gives a larger file several extents, each a record
MISCOUNT = "Calculated and written ECMA-119 tree end differ"
SLACK = 8                          # bytes of doubt in the record's size (ISO name, ES field)
_SHADOWED = ("security.", "trusted.")   # namespaces a user cannot set: put as user.*, as long in AAIP


def _names_for(name: str) -> list[str]:
    return [name, "user." + name.partition(".")[2]] if name.startswith(_SHADOWED) else [name]


@dataclass
class Child:
    """One entry of a directory on the disc: its xorriso entry, and what its record is made of."""

    entry: Entry
    name: bytes
    mode: int                      # a part of a cut file: S_IFREG (it carries the file's ACL and xattrs)
    size: int = 0                  # bytes in the image
    target: bytes = b""            # of a symlink
    rdev: int = 0
    attrs: list[tuple[str, bytes]] = field(default_factory=list)


@dataclass
class Found:
    """Directories (image paths) that xorriso cannot write, and those it could not be tried on."""

    bad: dict[bytes, str] = field(default_factory=dict)
    untried: dict[bytes, str] = field(default_factory=dict)


@dataclass
class Unwritable:
    """A directory of a plan that xorriso cannot write."""

    owner: Any                     # the checkpoint's or filler directory holding it (content.DirContent)
    shown: str                     # its path on the source
    disc: int
    why: str                       # what xorriso said


def unwritable(discs: dict[int, tuple[list[Row], dict[bytes, Any]]], scratch: Path, emit: Emit,
               cancel=None, silence: float | None = None) -> list[Unwritable]:
    """`discs`: disc -> (its rows, the directory (content.DirContent) at each prefix on it). Those
    that could not be tried are said as warnings."""
    out = []
    for disc, (rows, owners) in sorted(discs.items()):
        roots = {prefix: os.fsencode(d.root) for prefix, d in owners.items()}
        found = check(layout.disc_entries(rows, roots, scratch), scratch, cancel, silence)
        for iso_dir, why in [*found.bad.items(), *found.untried.items()]:
            prefix = max((pre for pre in owners if (iso_dir + b"/").startswith(b"/" + pre + b"/")), key=len)
            below = iso_dir[len(prefix) + 2:]
            d = owners[prefix]
            shown = os.fsdecode(os.path.join(os.fsencode(d.path), below) if below else os.fsencode(d.path))
            if iso_dir in found.bad:
                out.append(Unwritable(d, shown, disc, why))
            else:
                emit(Event(WARNING, f"{d.key}: directory {shown!r} could not be tried beforehand, as every"
                                    f" directory that xorriso may stop on is ({why}); if xorriso stops on it,"
                                    f" disc {disc} is spoiled"))
    return out


def refusal(bad: list[Unwritable]) -> UsageError:
    b = bad[0]
    more = f" (and {fmt.count(len(bad) - 1, 'more directory')})" if len(bad) > 1 else ""
    return UsageError(
        f"{b.owner.key}: xorriso cannot write directory {b.shown!r} on disc {b.disc}{more}: libisofs miscounts"
        f" the Rock Ridge continuation area of a directory whose symlinks have long targets or whose entries"
        f" have long names, and stops the disc it has begun ({b.why}); nothing was written",
        hint="leave some of those symlinks or long-named entries out of the directory (exclude), or move some"
             " of them into a subdirectory on the source and back it up again; a directory whose long names"
             " and targets take less than about 2,000 bytes in all is always written")


def check(entries: Sequence[Entry], scratch: Path, cancel=None, silence: float | None = None) -> Found:
    """Which directories of a disc (its command file's `entries`) xorriso cannot write. Only
    directories whose entries may overflow into one block or more of continuation data are
    tried; `scratch` holds their skeletons meanwhile. Stalled when a trial xorriso has neither
    written nor worked for `silence` seconds (checkpoint.io_timeout): hung, it held the command."""
    found = Found()
    with Shortcuts() as short:
        risky = [(d, kids) for d, kids in _directories(entries, short).items() if _may_miscount(kids, short)]
    if not risky:
        return found
    with temp_dirs.private(scratch) as trial:     # one a killed run left goes with the next trial there
        tried = []
        for k, (iso_dir, kids) in enumerate(risky):
            why = _skeleton(os.path.join(trial, b"%d" % k), kids)
            if why:
                found.untried[iso_dir] = why
            else:
                tried.append((iso_dir, [c.entry for c in kids]))
        faults.point("checkpoint.trial_made")
        _bisect(tried, os.fsdecode(os.path.join(trial, b"trial.xorriso")), found, cancel, silence)
    return found


def _directories(entries: Sequence[Entry], short: Shortcuts) -> dict[bytes, list[Child]]:
    """The entries of each directory that is itself an entry (at or below a checkpoint directory's
    root: everything in it has an entry), with their kinds, sizes and targets."""
    dirs = {e.iso.rstrip(b"/") for e in entries if e.kind == "dir"}
    out: dict[bytes, list[Child]] = {}
    for e in entries:
        parent, _, name = e.iso.rstrip(b"/").rpartition(b"/")
        if parent not in dirs:
            continue
        if e.kind == "cut":
            child = Child(e, name, stat.S_IFREG, size=e.length)
        else:
            st = os.lstat(short.path(e.disk))
            child = Child(e, name, st.st_mode, size=st.st_size, rdev=st.st_rdev)
            if stat.S_ISLNK(st.st_mode):
                child.target = os.readlink(short.path(e.disk))
        out.setdefault(parent, []).append(child)
    return out


def _may_miscount(kids: list[Child], short: Shortcuts) -> bool:
    """Whether libisofs may miscount this directory: some name or target goes into the continuation
    area, and all that goes there may pass one block. Reads the xattrs and ACLs only then."""
    if not any(_spills(c, True) for c in kids):
        return False
    for c in kids:
        if c.mode:
            c.attrs = file_attrs.read(short.path(c.entry.disk))
    total = 0
    for c in kids:
        aaip = isosize.aaip_allowance(c.attrs)
        if _spills(c, bool(c.attrs)):
            total += 5 + len(c.name) + _sl(c) + isosize.SL_OVERFLOW + aaip
        elif aaip:
            total += isosize.SL_OVERFLOW + aaip
        if total > ONE_BLOCK:
            return True
    return False


def _sl(c: Child) -> int:
    return isosize.sl_bytes(c.target) if stat.S_ISLNK(c.mode) else 0


def _spills(c: Child, attrs: bool) -> bool:
    """Whether the entry's name or its symlink's target may go into the continuation area. Its
    record: 33 bytes and the ISO name (padded even), then PX and TF (70), a device's PN (20), NM (5
    and the name), SL, AL (the MD5 index of a file, 30; else 19); a CE field (28) once anything
    goes to the continuation area, as AAIP of xattrs and ACLs does first; at most 254 bytes."""
    is_dir = stat.S_ISDIR(c.mode)
    iso = isosize.iso_name_len(c.name, is_dir)
    space = isosize.MAX_RECORD - (33 + iso + 1 - (iso & 1)) - SLACK
    fixed = 70 + (20 if stat.S_ISCHR(c.mode) or stat.S_ISBLK(c.mode) else 0)
    own = 5 + len(c.name) + _sl(c)
    if not attrs and fixed + own + (30 if stat.S_ISREG(c.mode) or not c.mode else 19) <= space:
        return False
    return fixed + CE_ENTRY + own > space


def _skeleton(folder: bytes, kids: list[Child]) -> str:
    """Make `folder` hold a stand-in of each entry, and point the entries at them; returns why not,
    or "" when each has the name, kind, size in extents, target and attributes of the original."""
    os.mkdir(folder, 0o700)
    for i, c in enumerate(kids):
        path = os.path.join(folder, b"%d" % i)
        m = c.mode
        try:
            if c.entry.kind == "cut":
                _sparse(path, _extents_size(c.size))
            elif stat.S_ISDIR(m):
                os.mkdir(path, 0o700)
            elif stat.S_ISLNK(m):
                os.symlink(c.target, path)
            elif stat.S_ISREG(m):
                _sparse(path, _extents_size(c.size))
            elif stat.S_ISCHR(m) or stat.S_ISBLK(m):
                os.mknod(path, m, c.rdev)
            else:
                os.mkfifo(path, 0o600)
        except OSError as exc:
            return f"cannot make a stand-in of {os.fsdecode(c.name)!r}: {exc.strerror}"
        why = file_attrs.give(path, c.attrs, _names_for)     # no others: an inherited default ACL, a label
        if why:
            return f"{os.fsdecode(c.name)!r}: its stand-in: {why}"
        if c.entry.kind == "cut":
            c.entry = Entry("cut", path, c.entry.iso, 0, _extents_size(c.size))
        else:   # one with an xattr of an empty value goes in as a disc's does (kept_off.py)
            c.entry = Entry(c.entry.kind, path, c.entry.iso, bare=bool(kept_off.empty_names(c.attrs))
                            or acl_names.by_id(c.attrs))
    return ""


def _extents_size(size: int) -> int:
    """A size with as many extents as `size` (0: none), reading as little as can be."""
    return 0 if size <= 0 else (size - 1) // SECTION * SECTION + 1


def _sparse(path: bytes, size: int) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, size)
    finally:
        os.close(fd)


def _bisect(dirs: list[tuple[bytes, list[Entry]]], cmdfile: str, found: Found, cancel,
            silence: float | None) -> None:
    """Write the directories together; if xorriso stops, halves until each one it stops on is named."""
    if not dirs:
        return
    why = _write(dirs, cmdfile, cancel, silence)
    if why is None:
        return
    if len(dirs) == 1:
        target = found.bad if MISCOUNT in why else found.untried
        target[dirs[0][0]] = why
        return
    half = len(dirs) // 2
    _bisect(dirs[:half], cmdfile, found, cancel, silence)
    _bisect(dirs[half:], cmdfile, found, cancel, silence)


def _write(dirs: list[tuple[bytes, list[Entry]]], cmdfile: str, cancel, silence: float | None) -> str | None:
    """None when xorriso writes these directories; else what it said."""
    entries = [e for _, kids in dirs for e in kids]
    try:     # the parts of cut files and the bare entries, given their stand-ins' ACL and xattrs as a disc's are
        cut_attrs.prepare(entries, Path(cmdfile + ".lists"))
    except ValueError as exc:
        return str(exc)
    with open(cmdfile, "w", encoding="ascii") as f:     # each directory is made as its entries go in
        f.write(xorriso.command_file("TRIAL", entries))
    said: list[str] = []

    def on_line(line: bytes) -> None:
        _, text = xorriso_output.payload(line)
        if MISCOUNT in text or (any(w in text for w in ("FATAL", "FAILURE", "SORRY")) and len(said) < 8):
            said.append(text.strip())

    try:
        done = proc.run(xorriso.trial_argv(proc.which("xorriso"), cmdfile), on_stdout=on_line, cancel=cancel,
                        silence=silence, busy=True)
    except Stalled as exc:     # no directory's fault: the machine's (a hung state directory, say)
        raise Stalled(f"the trial of the directories xorriso may stop on (written to /dev/null beforehand, from the"
                      f" state directory) did not end: {exc} (checkpoint.io_timeout) and was stopped;"
                      " nothing was written") from None
    miscount = [s for s in said if MISCOUNT in s]
    if done.ok and not miscount:
        return None
    return "; ".join(dict.fromkeys(miscount[:1] + said[:2])) or done.stderr_said(300) or \
        f"xorriso exit {done.returncode}"
