"""A disc's entries against the backup on the medium and the plan's record: their ACLs and xattrs,
each directory's own mode, time and owner, the xattrs kept off the discs, and what changed in the
backup after the plan (verify.py reads the disc and calls these)."""

from __future__ import annotations

import os
import stat
from typing import Container, Iterable

from rabtui.checkpoint import acl_mask, backed_up_attrs, content, dir_attrs, unchecked, xattr_sum
from rabtui.checkpoint.as_backed_up import attributes_differ, hard_links, of_kind
from rabtui.checkpoint.backed_up_attrs import Origin
from rabtui.checkpoint.marks import DIR_MARK, MARKS
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.read_from import whole_path
from rabtui.checkpoint.verify_result import (ATTRS, CONTENT_CHANGED, KIND_CHANGED, LINKS_CHANGED, XATTRS_CHANGED,
                                             VerifyResult, attrs_changed)
from rabtui.checkpoint.xorriso_output import ACL_KEY
from rabtui.media import below
from rabtui.mtimes import seconds


def compare_backed_up(rows: list[Row], dirs: dict[bytes, tuple[int, float | None, tuple[int, int] | None]],
                       attrs: dict[bytes, dict[bytes, bytes]], origins: list[Origin], res: VerifyResult,
                       dates: dict[bytes, str | None] | None = None,
                       kept: dict[bytes, set[bytes]] | None = None, dirs_recorded: bool = False,
                       by_length: dict[bytes, list[tuple[int, int]]] | None = None) -> None:
    """Each entry's ACLs and xattrs, and each directory's own mode, time and owner (`dirs`: as the
    disc gives them, None where it does not; `dates`: times as listed), against the backup on the
    medium; those recorded as kept off the disc (`kept`), against the record too; those the disc
    lists by their lengths alone (`by_length`), by their lengths."""
    if not origins:
        return
    kept = kept or {}
    recorded = {r.disc_path for r in rows}
    entries: list[bytes] = []      # passed over (unchecked.passed_over)
    directories: list[bytes] = []
    for r in rows:
        if r.disc_path not in res.why:
            res.note(r.disc_path, backed_up_attrs.row_differs(r, attrs.get(r.disc_path, {}), origins, entries,
                                                                kept.get(whole_path(r), set()),
                                                                (by_length or {}).get(r.disc_path, ())))
    for path, (mode, mtime, owner) in sorted(dirs.items()):
        if path not in res.why:
            res.note(path, backed_up_attrs.dir_differs(path, mode, mtime, owner, attrs.get(path, {}), origins,
                                                         path in recorded, (dates or {}).get(path), directories,
                                                         kept.get(path, set())))
    res.unchecked += unchecked.passed_over(entries, directories, dirs_recorded)


def compare_recorded(rows: list[Row], dirs: dict, attrs: dict[bytes, dict[bytes, bytes]],
                      kept: dict[bytes, set[bytes]], dir_record: dir_attrs.Recorded | None, res: VerifyResult) -> None:
    """Each directory's ACLs and xattrs (`dirs`: those of the disc) against the record, and the
    xattrs kept off the disc: none of them on it, whether the backup is at hand or not."""
    if dir_record is not None:
        for path in sorted(dirs):
            if dir_attrs.subject(path):
                res.note(path, dir_attrs.differs(path, attrs.get(path, {}), dir_record, kept.get(path, set())))
    for r in rows:
        on_disc = attrs.get(r.disc_path, {})
        for name in sorted(n for n in kept.get(whole_path(r), ()) if n in on_disc):
            res.note(r.disc_path, f"xattr {os.fsdecode(name)} on the disc, though recorded as kept off it (its"
                                    " value was empty)")


def changed_since_plan(rows: list[Row], dirs: dict, origins: list[Origin], kept: dict[bytes, set[bytes]],
                        dir_record: dir_attrs.Recorded | None, res: VerifyResult) -> None:
    """The directories of the disc that failed whose ACLs or xattrs, and its files that failed whose
    xattrs kept off the discs, changed in the backup after the plan recorded them: said as that,
    into `res.changed`, instead of as the difference found."""
    if not origins:
        return
    found: dict[bytes, str | None] = {}
    if dir_record is not None:
        for path in sorted(p for p in res.why if p in dirs and dir_attrs.subject(p)):
            found[path] = dir_attrs.changed_since(path, dir_record, kept.get(path, set()), origins)
    for r in rows:
        if r.disc_path in res.why and r.disc_path not in dirs and kept.get(whole_path(r)):
            found[r.disc_path] = dir_attrs.kept_off_changed_since(r, kept[whole_path(r)], origins)
    for path, what in found.items():
        if what:
            res.changed[path] = what
            res.why[path] = f"{what} in the backup on the medium after the checkpoint was planned"


def xattrs_changed_since_plan(rows: list[Row], attrs: dict[bytes, dict[bytes, bytes]], unread: Container[bytes],
                              res: VerifyResult, origins: list[Origin]) -> None:
    """The entries whose xattrs on the disc (`attrs`: all of the disc's, as listed) are not those the
    plan summed (xattr_sum.py; its trusted.* ones where the plan and this process are root's), not
    found otherwise: where the backup they were read from (on the
    medium of `origins`, read now) holds xattrs other than summed too, set, changed or removed
    there as the disc was written, said so into `res.changed`, no rewrite offered; else (that
    backup not read: its medium away, the entry no longer there as recorded) not as recorded; so
    is one whose ACL the disc keeps otherwise than its xattr says (_acl_as_its_xattr). Those the
    disc lists without some value (`unread`: too long for xorriso to print) are passed over."""
    for r in rows:
        if r.xattr_sum is None or r.disc_path in res.why or r.disc_path in unread:
            continue
        on_disc = attrs.get(r.disc_path) or {}
        listed = [(n, v) for n, v in on_disc.items() if n != ACL_KEY]
        if (on_disc or r.xattr_sum) and xattr_sum.changed(r.xattr_sum, listed) or xattr_sum.trusted_changed(
                r.trusted_sum, listed):
            if _changed_on_medium(r, origins):
                res.changed[r.disc_path] = XATTRS_CHANGED
                res.note(r.disc_path, f"{XATTRS_CHANGED} in the backup on the medium after the checkpoint was planned")
            else:
                res.note(r.disc_path, "its xattrs on the disc are not those recorded when the checkpoint was planned")
        elif on_disc and not _acl_as_its_xattr(on_disc):
            res.note(r.disc_path, "its ACL on the disc is not the one its xattrs hold, recorded when the checkpoint"
                                  " was planned")


def _changed_on_medium(r: Row, origins: list[Origin]) -> bool:
    """Does the backup the entry `r` was read from hold xattrs other than the plan summed now? False
    where it is not read (backed_up_attrs.row_held: its medium away, it no longer as recorded)."""
    held = backed_up_attrs.row_held(r, origins)
    if held is None:
        return False
    listed = [(n, v) for n, v in held.items() if n != ACL_KEY]
    return xattr_sum.changed(r.xattr_sum, listed) or xattr_sum.trusted_changed(r.trusted_sum, listed)


def _acl_as_its_xattr(on_disc: dict[bytes, bytes]) -> bool:
    """Does an entry's ACL as the disc keeps it (ACL_KEY, what an extraction sets) say what its
    system.posix_acl_access xattr beside it, which the sum holds, does? A burn reads both at once;
    one changed alone on the disc (xorriso's -setfacl) leaves the other as it was."""
    lines = backed_up_attrs.acl_text(on_disc.get(acl_mask.ACCESS, b""))
    return on_disc.get(ACL_KEY) == (os.fsencode("\n".join(lines)) if len(lines) > 3 else None)


def content_changed_since_plan(rows: list[Row], res: VerifyResult, cancel=None, origins: list[Origin] = ()) -> None:
    """The files of the disc whose content differs from the catalog, where the backup they were
    written from (`Row.disk`) holds other content now than the plan read, its size and mtime kept
    (the medium's copy changed in place: bit rot, or a hand): said as that, into `res.changed`.
    Only those files are read again; another version there (an archive's union), or none, tells
    nothing. So is an entry the backup holds otherwise than recorded now (held_otherwise: a file
    made a symlink, a chmod on the medium after the plan; an empty directory looked at where it was
    read, `origins` telling where: _read_at): the disc was written from it so, and a rewrite would
    be too. (A disc written before such a change holds the
    entry as recorded, and is not found to differ.)"""
    unread = _not_read(origins)
    for r in rows:
        if r.disk and unread and unread(r):
            continue
        if r.disc_path in res.mismatched and r.disk and r.mode is not None:
            at = _read_at(r, origins)
            try:
                held = below.lstat(*at) if at else None
            except OSError:
                held = None
            if held is not None and r.disc_path not in res.changed and (
                    r.disc_path in res.why or stat.S_IFMT(held.st_mode) != stat.S_IFMT(r.mode)
                    or not backed_up_attrs.size_as_recorded(r, held)):
                what = held_otherwise(r, held, os.path.join(*at))
                if what:
                    res.changed[r.disc_path] = what
                    res.why[r.disc_path] = said(r, held, what)
                continue
        if (r.disc_path not in res.mismatched or r.disc_path in res.why or not r.disk or r.sha256 is None
                or r.sha256 in MARKS):
            continue
        try:
            fd = os.open(r.disk, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
        except OSError:
            continue
        with open(fd, "rb") as f:     # closed, whether read or not
            try:
                st = os.fstat(f.fileno())
                if not stat.S_ISREG(st.st_mode) or seconds(st) != r.mtime or (not r.part and st.st_size != r.size):
                    continue
                own = os.dup(f.fileno())     # closed by what reads it
                now = content.sha256_range(own, r.offset, r.size) if r.part else content.sha256_file(own, cancel)
            except OSError:
                continue
        if now != r.sha256:
            res.changed[r.disc_path] = CONTENT_CHANGED
            res.why[r.disc_path] = f"{CONTENT_CHANGED} in the backup on the medium after the checkpoint was planned"
    _links_changed_since_plan(rows, res, unread)


def _not_read(origins: list[Origin]):
    """Is an entry's medium one not read (Origin.away: another disk at its path, its path changed
    in the config since)? What lies at its `disk` then is not the backup, and says nothing of it.
    None when every medium is read."""
    away = [o.prefix for o in origins if o.away]
    if not away:
        return None
    return lambda r: backed_up_attrs.where(origins, r.disc_path) is None and any(
        r.disc_path == p or r.disc_path.startswith(p + b"/") for p in away)


def _links_changed_since_plan(rows: list[Row], res: VerifyResult, unread=None) -> None:
    """The files of the disc that failed on their hard links (as_backed_up.hard_links) where the
    backup they were written from links them so now (linked_otherwise): said as changed since the
    plan. Their lstat there is made only when one failed so; none where `unread` (_not_read)."""
    failed = [r for r in rows if r.disc_path not in res.changed and "hard-linked to " in res.why.get(r.disc_path, "")]
    if not failed:
        return
    held = []
    for r in rows:
        if r.disk and r.sha256 not in MARKS and not r.part and not (unread and unread(r)):
            try:
                st = below.lstat(*os.path.split(r.disk))
            except OSError:
                continue
            held.append((r, inode_of(st), st.st_nlink))
    found = linked_otherwise(held)
    for r in failed:
        if r.disc_path in found:
            res.changed[r.disc_path] = LINKS_CHANGED
            res.why[r.disc_path] = f"{LINKS_CHANGED} in the backup on the medium after the checkpoint was planned"


def _read_at(r: Row, origins: list[Origin]) -> tuple[bytes, bytes] | None:
    """(root, path below it) where the entry `r` was read to write the disc: its `disk`; an empty
    directory's below its directory's root, an archive's in the backup's own tree that holds it
    (layout.disc_entries; None where that is not sure: own_dirs.OwnDirs.of)."""
    if r.sha256 != DIR_MARK:
        return os.path.split(r.disk)
    at = backed_up_attrs.where(origins, r.disc_path)
    if at is None or not at[1]:
        return None
    if at[2].own is None:
        return at[0], at[1]
    mine = at[2].own.of(at[1], sure=True)
    return None if mine is None else (mine[0], mine[1])


def said(r: Row, held: os.stat_result, what: str) -> str:
    """How the entry `r` found `what` (held_otherwise: its lstat `held`) is said to the operator."""
    if what == KIND_CHANGED:
        recorded = _kind(r.mode) if r.mode is not None else "another kind"
        return f"{_kind(held.st_mode)} now, {recorded} when the checkpoint was planned, in the backup on the medium"
    return f"{what} in the backup on the medium after the checkpoint was planned"


def held_otherwise(r: Row, st: os.stat_result, path: bytes) -> str | None:
    """What of the entry `r` is read from on the medium (`path`, whose lstat is `st`) is not as the
    plan recorded it: KIND_CHANGED, or attrs_changed's words for its mode, owner, time, size, (a
    symlink's) target and (a device node's) numbers, its "ACL" for a mode whose group bits alone
    differ where an ACL set or changed since shows its mask there (acl_mask.py); None when nothing.
    A disc written from it would fail its verification, whenever written (a device node's numbers
    as extracted by root, as the disc lists them for another user)."""
    if st.st_mode == r.mode and (r.owner is None or (st.st_uid, st.st_gid) == r.owner) and (
            not _target_changed(r, st, path) if stat.S_ISLNK(st.st_mode) else seconds(st) == r.mtime and (
                st.st_size == r.size and not r.part or backed_up_attrs.size_as_recorded(r, st))) and (
            r.rdev is None or st.st_rdev == r.rdev):
        return None     # as recorded, as nearly every entry is: said at once (one per entry a burn writes)
    if not of_kind(r, st.st_mode) or (r.mode is not None and stat.S_IFMT(st.st_mode) != stat.S_IFMT(r.mode)):
        return KIND_CHANGED
    which = _attrs_changed(r, st, path)
    if "mode" in which and acl_mask.changed_since(r.mode, st.st_mode, path):
        which[which.index("mode")] = "ACL"
    return attrs_changed(which) if which else None


def inode_of(st: os.stat_result) -> int:
    """The device and inode of an lstat in one number, as linked_otherwise takes them."""
    return st.st_dev << 64 | st.st_ino


def linked_otherwise(held: Iterable[tuple[Row, int, int]]) -> dict[bytes, str]:
    """Disc path -> how, for the files of a disc whose names the backup on the medium (`held`: each
    one's row, inode_of and st_nlink there) links otherwise than the plan recorded (link_group): a
    disc written from it holds them so and fails its verification (as_backed_up.hard_links), and so
    would any rewrite. A file of one name there and in no group shares its inode with no other, and
    is passed over."""
    by_inode: dict[int, Row | list[Row]] = {}
    for r, inode, nlink in held:
        if r.mode is not None and not r.part and r.sha256 not in MARKS and (nlink > 1 or r.link_group is not None):
            had = by_inode.setdefault(inode, r)
            if had is not r:
                by_inode[inode] = [*had, r] if isinstance(had, list) else [had, r]
    return {path: why.replace(" on the disc", "") for path, why in hard_links(by_inode).items()}


def _attrs_changed(r: Row, st: os.stat_result, path: bytes) -> list[str]:
    """Which of the mode, owner, time, size, target and device numbers of the entry `r` is read from (`path`, whose
    lstat is `st`) are not as the plan recorded them (as_backed_up.attributes_differ judges the mode
    and owner, as it judges the disc's). The time is the second the plan read there: not one a disc may hold in
    its place (a time past 2155 is the nearest it holds there, never on the medium): _time_as_recorded."""
    owner = (st.st_uid, st.st_gid) if r.owner is not None else None
    found = {"mode": attributes_differ(st.st_mode, None, None, r.mtime, r.mode, None),
             "owner": attributes_differ(st.st_mode, None, None, r.mtime, None, None, owner, r.owner),
             "time": not stat.S_ISLNK(st.st_mode) and not _time_as_recorded(r, st),
             "size": not backed_up_attrs.size_as_recorded(r, st), "target": _target_changed(r, st, path),
             "device numbers": r.rdev is not None and st.st_rdev != r.rdev}
    return [a for a in ATTRS if found[a]]


def _target_changed(r: Row, st: os.stat_result, path: bytes) -> bool:
    """Is the symlink `r` (at `path`, whose lstat is `st`) to another target than recorded? (Where
    one was recorded; a symlink unreadable there is taken as changed.)"""
    if not stat.S_ISLNK(st.st_mode) or r.link is None:
        return False
    try:
        return below.readlink(*os.path.split(path)) != r.link
    except OSError:
        return True


def _time_as_recorded(r: Row, st: os.stat_result) -> bool:
    """Is the second of `st`'s mtime the one the plan read for `r`? A time before 1970 recorded by a
    plan made before times were floored (int() cut -1.5 s to -1, not -2) is the second before it,
    as a disc's verification takes it (as_backed_up._disc_times)."""
    held = seconds(st)
    return held == r.mtime or (r.mtime <= 0 and held == r.mtime - 1)


def _kind(mode: int) -> str:
    return {stat.S_IFREG: "a file", stat.S_IFDIR: "a directory", stat.S_IFLNK: "a symlink",
            stat.S_IFIFO: "a FIFO", stat.S_IFSOCK: "a socket"}.get(stat.S_IFMT(mode), "a device node")
