"""Hard links made again where the discs could not keep them: the names of one file the checkpoint
recorded as one (on two discs, cut into parts, empty: as_recorded); and after an entry came off a
disc a second time (disc_refused.py): xorriso
links the names of one file only among what one run extracts, so a name below a directory that
came off again alone is a file of its own. The disc holds which names are one file: they share
their data (`report_lba`; files of size 0 share theirs too, and are left as they are). Each other
name of such a file is linked again to the name that came off again, in place of its own copy;
the directories holding them keep their modes and times (one the disc holds read-only is opened for
the link where the restoring user may not write in it)."""

from __future__ import annotations

import contextlib
import os
import secrets
import stat

from rabtui import fmt
from rabtui.checkpoint.content import MARKS
from rabtui.checkpoint.xorriso import ACLS_AS_READ
from rabtui.filecopy import read_xattrs
from rabtui.checkpoint.xorriso_output import parse_report_lba
from rabtui.restore.disc_checks import in_tree
from rabtui.restore.disc_drive import address
from rabtui.restore.links_apart import same_content


def lba_argv(dev: str, start: bytes) -> list[str]:
    """Where the data of each file at or below the image path `start` begins (parse_report_lba)."""
    return ["xorriso", "-no_rc", *ACLS_AS_READ, "-indev", address(dev), "-backslash_codes", "encode_results",
            "-iso_rr_pattern", "off", "-find", os.fsdecode(start), "-type", "f", "-exec", "report_lba", "--", "-end"]


def families(lines: list[bytes], start: bytes) -> list[list[bytes]]:
    """The image paths below `start` of each file with several names (data shared, size not 0)."""
    by_data: dict[tuple[int, int], list[bytes]] = {}
    top = start.rstrip(b"/") + b"/"
    for line in lines:
        got = parse_report_lba(line)
        if got is not None and got[2] and (got[0] == start or got[0].startswith(top)):
            by_data.setdefault((got[1], got[2]), []).append(got[0])
    return [sorted(names) for names in by_data.values() if len(names) > 1]


def relink(run, dev: str, start: bytes, target: bytes, again: list[bytes], sc) -> None:
    """link_again for what came off again (`again`), the families as the disc lists them (`run`:
    restore/disc_extract.py's, an xorriso run with a reader of its stdout); where they cannot be listed,
    the names stay apart (links_apart.py names them)."""
    lines: list[bytes] = []
    if not run(lba_argv(dev, start), lines.append).ok:
        return
    around: dict[bytes, os.stat_result] = {}
    link_again(families(lines, start), start, target, again, sc, around)
    set_back(around, sc)


def as_recorded(rows, rel: bytes, is_file: bool, top: bytes, sc) -> list[tuple[str, bytes, str]]:
    """The names of each file the checkpoint recorded as one (`link_group`, each part of a cut file
    holding it too) linked again where they came off as files of their own: on two discs, each
    joined from its own parts, or empty (whose data on a disc tells no link). `top`: the restored
    item `rel`, its directories given back their modes and times. [(kind, name, why)] of the names
    that could not be linked."""
    # each name's content as the catalog has it: a cut file's parts are cut at its own offsets,
    # and only its size tells, its joined content compared
    groups: dict[int, dict[bytes, list]] = {}
    for r in rows:
        if r["link_group"] is not None and r["sha256"] not in MARKS:
            said = groups.setdefault(r["link_group"], {}).setdefault(bytes(r["path"]), [False, 0, None])
            said[0] = said[0] or bool(r["parts"] and r["parts"] > 1)
            said[1] += r["size"] or 0
            said[2] = None if said[0] else r["sha256"]
    around: dict[bytes, os.stat_result] = {}
    out = []
    for paths in groups.values():
        if len(paths) < 2:
            continue
        first, *others = paths
        content = paths[first]
        keep = sc.path(os.path.join(top, in_tree(rel, first, is_file)))
        kept = _file(keep)
        if kept is None:
            continue
        for path in others:
            staged = os.path.join(top, in_tree(rel, path, is_file))
            st = _file(sc.path(staged))
            if st is None or st.st_ino == kept.st_ino:
                continue
            why = None
            # a link shares owner, mode, ACLs and xattrs: one name would take the other's silently
            if paths[path] != content or _attrs(st) != _attrs(kept) \
                    or sorted(read_xattrs(keep)) != sorted(read_xattrs(sc.path(staged))) \
                    or content[0] and not _alike(keep, sc.path(staged)):
                why = "its content, size, time, mode, owner, ACL or xattrs are not that file's as it came off the discs"
            else:
                try:
                    link_in(keep, kept, staged, sc, around)
                except OSError as exc:
                    why = f"the link could not be made: {exc.strerror or exc}"
            if why:
                out.append(("hard link", path, f"one file with /{fmt.name(first)} as backed up, {why};"
                                               f" restored as a separate file"))
    set_back(around, sc)
    return out


def set_back(around: dict[bytes, os.stat_result], sc) -> None:
    """The directories a link was made in given back their modes and times (`around`: as before)."""
    for path, st in around.items():
        if stat.S_IMODE(os.lstat(sc.path(path)).st_mode) != stat.S_IMODE(st.st_mode):    # opened by link_in
            os.chmod(sc.path(path), stat.S_IMODE(st.st_mode))
        os.utime(sc.path(path), ns=(st.st_atime_ns, st.st_mtime_ns), follow_symlinks=False)


def link_again(names: list[list[bytes]], start: bytes, target: bytes, again: list[bytes], sc,
               around: dict[bytes, os.stat_result]) -> None:
    """For each family of `names` (image paths below `start`, extracted at `target`) with a name at
    or below an entry of `again` (the paths there that came off again), link its other names to
    that one. `around`: the directories holding them, their times as they came off (taken here
    for those not in it; the caller sets them back)."""
    def came_off_again(path: bytes) -> bool:
        return any(path == a or path.startswith(a.rstrip(b"/") + b"/") for a in again)

    for family in names:
        if any(part in (b".", b"..") for n in family for part in n.split(b"/")):
            continue    # no such name comes off a disc into the staging directory
        paths = [target + n[len(start):] for n in family]
        fresh = [p for p in paths if came_off_again(p)]
        if not fresh:
            continue
        keep = sc.path(fresh[0])
        kept = _file(keep)
        if kept is None:
            continue
        for path in paths:
            with contextlib.suppress(OSError):    # no room for the name (a full staging directory):
                link_in(keep, kept, path, sc, around)       # left apart, named (links_apart.py)


def link_in(keep: bytes, kept: os.stat_result, path: bytes, sc, around: dict[bytes, os.stat_result]) -> None:
    """`path` (a regular file) made a name of the file `keep` (`kept`: its lstat) in place of its
    own; nothing where it is one already, or no regular file. `around`: as link_again's. Raises
    OSError where the link could not be made."""
    other = sc.path(path)
    st = _file(other)
    if st is None or st.st_ino == kept.st_ino:
        return
    parent = os.path.dirname(path)
    if parent not in around:
        around[parent] = os.lstat(sc.path(parent))
    try:
        _linked(keep, other)
    except PermissionError:     # a directory the disc holds read-only, restored without CAP_DAC_OVERRIDE
        os.chmod(sc.path(parent), stat.S_IMODE(around[parent].st_mode) | 0o300)
        _linked(keep, other)


def _attrs(st: os.stat_result) -> tuple:
    return st.st_size, int(st.st_mtime), st.st_mode, st.st_uid, st.st_gid     # discs hold times to the second


def _alike(a: bytes, b: bytes) -> bool:
    try:
        return same_content(a, b)
    except OSError:     # one the restoring user may not read (mode 0): not linked, named
        return False


def _linked(keep: bytes, other: bytes) -> None:
    """`other` made a name of the file `keep` in place of its own file."""
    tmp = os.path.join(os.path.dirname(other), b".rabtui-link-" + secrets.token_hex(6).encode())
    try:
        os.link(keep, tmp)
        os.rename(tmp, other)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _file(path: bytes) -> os.stat_result | None:
    """lstat of `path` where it is a regular file (one that did not come off, a device: None)."""
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return None
    return st if stat.S_ISREG(st.st_mode) else None
