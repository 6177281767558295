"""What each entry of a disc must be, compared with what was backed up (the checkpoint's rows):
its time, mode and symlink target, its hard links, and nothing on the disc that the rows do not
hold. Used by the verification of a disc and by the restore from discs."""

from __future__ import annotations

import os
import stat
import time
from typing import Hashable, Iterable

from rabtui.checkpoint.content import DIR_MARK, LINK_MARK, SPECIAL_MARK
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.xorriso_output import lsdl_dates
from rabtui.mtimes import seconds

# the times a disc holds (Rock Ridge: years 1900..2155); xorriso writes the nearest for any other
DISC_TIMES = (-2_208_988_800, 5_869_583_999)


def beyond_disc(mtime: int) -> bool:
    """Is a time kept as `mtime` one that no disc holds (written as the nearest one it does)?"""
    return not DISC_TIMES[0] <= mtime <= DISC_TIMES[1]


def on_disc(link: bytes) -> bytes:
    """The target a disc's Rock Ridge record holds for a symlink to `link`: libisofs drops exactly one
    trailing slash ('sub/' is read back 'sub', 'x//y/' 'x//y'); '/', '//' and 'a//' are kept."""
    return link[:-1] if link.endswith(b"/") and not link.endswith(b"//") and link != b"/" else link


def of_kind(r: Row, st_mode: int) -> bool:
    """Is an entry of this mode of the kind the catalog has for `r`?"""
    if r.sha256 == DIR_MARK:
        return stat.S_ISDIR(st_mode)
    if r.sha256 == LINK_MARK:
        return stat.S_ISLNK(st_mode)
    if r.sha256 == SPECIAL_MARK:
        return not (stat.S_ISREG(st_mode) or stat.S_ISDIR(st_mode) or stat.S_ISLNK(st_mode))
    return stat.S_ISREG(st_mode)


def extracted_differs(st: os.stat_result, readlink, mtime: int, mode: int | None, link: bytes | None,
                      owner: tuple[int, int] | None, links_owned: bool = False, rdev: int | None = None) -> str | None:
    """`attributes_differ` for an entry extracted from a disc (`readlink()` reads its target, only
    for a symlink whose target was recorded): owners come off a disc only as root, and a symlink's
    not even then: compared when `links_owned` (a restore set them from the disc's listing). A
    device node's numbers too, where recorded (`rdev`)."""
    target = readlink() if stat.S_ISLNK(st.st_mode) and link is not None else None
    owned = (st.st_uid, st.st_gid) if os.geteuid() == 0 and (links_owned or not stat.S_ISLNK(st.st_mode)) else None
    if (stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode)) and (why := numbers_differ(st.st_rdev, rdev)):
        return why
    return attributes_differ(st.st_mode, seconds(st), target, mtime, mode, link, owned, owner)


def numbers_differ(found: int | None, rdev: int | None) -> str | None:
    """A device node's numbers as a disc holds them (`found`) against those backed up (`rdev`);
    None when alike, or either is not known."""
    if found is None or rdev is None or found == rdev:
        return None
    return f"device {os.major(found)},{os.minor(found)}, backed up {os.major(rdev)},{os.minor(rdev)}"


def attributes_differ(st_mode: int, st_seconds: int | None, target: bytes | None, mtime: int, mode: int | None,
                      link: bytes | None, st_owner: tuple[int, int] | None = None,
                      owner: tuple[int, int] | None = None) -> str | None:
    """What of an entry of a disc (its `st_mode`, its mtime's `st_seconds` (mtimes.seconds) and
    `st_owner`: None when not known, and a symlink's `target`) is not as it was backed up (`mtime`,
    `mode`, `link` and `owner`: None when not known); None when nothing. osirrox gives a symlink
    the time of extraction: its time is not compared; its target may be the disc's form (on_disc)."""
    if st_owner is not None and owner is not None and tuple(st_owner) != tuple(owner):
        return f"owner {st_owner[0]}:{st_owner[1]}, backed up {owner[0]}:{owner[1]}"
    if stat.S_ISLNK(st_mode):
        if link is not None and target not in (link, on_disc(link)):
            return f"symlink to {_shown(target)}, backed up to {_shown(link)}"
        return None
    if st_seconds is not None and st_seconds not in _disc_times(mtime):
        return f"mtime {_when(st_seconds)}, backed up {_when(mtime)}"
    if mode is not None and st_mode != mode:
        if stat.S_IFMT(st_mode) != stat.S_IFMT(mode):
            return f"mode {st_mode:o}, backed up {mode:o}"
        return f"mode {stat.S_IMODE(st_mode):04o}, backed up {stat.S_IMODE(mode):04o}"
    return None


def listed_time_differs(shown: str | None, mtime: int) -> str | None:
    """What of a time as a disc's listing shows it (xorriso_output.lsdl_date: to the minute or to the day;
    None: not shown) is not the time backed up."""
    if shown is None or any(shown in lsdl_dates(t) for t in _disc_times(mtime)):
        return None
    return f"mtime {shown}, backed up {_when(mtime)}"


def _disc_times(mtime: int) -> tuple[int, ...]:
    """The whole seconds a disc may hold for a time kept as `mtime`: kept cut toward zero (int()),
    a time before 1970 with a fraction (-1.5, kept -1) is on the disc as the second it falls in (-2)."""
    held = min(max(mtime, DISC_TIMES[0]), DISC_TIMES[1])
    return (held, held - 1) if mtime <= 0 and held > DISC_TIMES[0] else (held,)


def _when(t: int) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(t))


def _shown(target: bytes | None) -> str:
    return repr(os.fsdecode(target or b""))[:200]


def hard_links(by_inode: dict[Hashable, Row | list[Row]]) -> dict[bytes, str]:
    """Disc path -> what is wrong, for files hard-linked to each other on the disc (`by_inode`:
    the rows of the files extracted with their hard links, by inode: the row of a file with one
    name, a list of those of one with more) that were not so backed up (`link_group`), and for
    files backed up so that are not so on the disc."""
    out: dict[bytes, str] = {}
    on_disc: dict[int, dict[Hashable, Row]] = {}
    for key, linked in by_inode.items():
        if not isinstance(linked, list):
            linked = [linked]
        groups = {r.link_group for r in linked}
        if len(linked) > 1 and (None in groups or len(groups) > 1):
            for r in linked[1:]:
                out.setdefault(r.disc_path, f"hard-linked to {os.fsdecode(linked[0].disc_path)} on the disc,"
                                            " not so backed up")
        for r in linked:
            if r.link_group is not None:
                on_disc.setdefault(r.link_group, {}).setdefault(key, r)
    for inodes in on_disc.values():
        first, *others = inodes.values()
        for r in others:
            out.setdefault(r.disc_path, f"not hard-linked to {os.fsdecode(first.disc_path)} on the disc as backed up")
    return out


def unexpected(rows: list[Row], entries: Iterable[tuple[bytes, bool]],
               unjudged: tuple[bytes, ...] = ()) -> list[bytes]:
    """The entries of a disc (path, is a directory) that it should not hold: neither one of
    `rows`, nor a directory on the way to one, nor README.txt or what is in rabtui/. Of an extra
    directory only the directory is named. `unjudged`: top directories whose trees `rows` do not
    cover (add/ of a checkpoint rebuilt from its discs), passed over."""
    files = {r.disc_path for r in rows}
    dirs = {r.disc_path for r in rows if r.sha256 == DIR_MARK} | {b"rabtui", *unjudged}
    extra_dirs: set[bytes] = set(unjudged)
    for p in files:
        while b"/" in p:
            p = p.rpartition(b"/")[0]
            if p in dirs:
                break
            dirs.add(p)
    found: list[bytes] = []     # the entries are gone through as they come, not held
    for path, is_dir in entries:
        if is_dir:
            if path not in dirs:
                found.append(path)
                extra_dirs.add(path)
        elif path not in files and path != b"README.txt" and path.rpartition(b"/")[0] != b"rabtui":
            found.append(path)
    out: list[bytes] = []
    for path in sorted(found):
        up = path.rpartition(b"/")[0]
        while up and up not in extra_dirs:
            up = up.rpartition(b"/")[0]
        if not up:
            out.append(path)
    return out
