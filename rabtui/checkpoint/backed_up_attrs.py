"""What a disc must hold that its catalog does not record, compared with the backup it was written
from on the medium: each entry's ACLs and xattrs (each part of a file cut into parts holds those of
the whole file), and each directory's own mode, owner and time. Only metadata is read there (lstat
and xattrs), never content. An entry the medium no longer holds as recorded (the medium not
mounted, the backup gone, the union holding a newer version) is passed over. The directories of
an archive directory are compared with those of the backups' own trees they were written from
(own_dirs.py: the union's are rabtui's, not the source's); those of a checkpoint planned before
that was recorded are passed over. What else is passed over is said in the verification's result
(unchecked.py)."""

from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
import struct
from dataclasses import dataclass

from rabtui.checkpoint import acl_names, kept_off, own_dirs
from rabtui.checkpoint.as_backed_up import attributes_differ, listed_time_differs, of_kind
from rabtui.checkpoint.content import MARKS
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.marks import DIR_MARK
from rabtui.checkpoint.own_dirs import OwnDirs
from rabtui.checkpoint.read_from import PART_SUFFIX_LEN
from rabtui.checkpoint.xorriso_output import ACL_KEY
from rabtui.media import below
from rabtui.mtimes import seconds

ACL_NAMES = (b"system.posix_acl_access", b"system.posix_acl_default")
_TAGS = {0x01: "user:", 0x02: "user:", 0x04: "group:", 0x08: "group:", 0x10: "mask:", 0x20: "other:"}
_NAMED = (0x02, 0x08)


@dataclass
class Origin:
    prefix: bytes     # the directory's path on the disc
    root: bytes       # where it was read on the medium
    archive: bool
    own: OwnDirs | None = None    # an archive's: where its directories were read
    away: str | None = None       # why nothing is read at `root` (media_away.py): it counts as absent


def origins(plan_json: dict, disc: int, away: dict[str, str] | None = None) -> list[Origin]:
    """The directories a disc was written from, longest prefix first (filler only of this disc).
    `away`: the media not read (medium id -> why: media_away.py)."""
    away = away or {}
    out = [Origin(os.fsencode(d["prefix"]), os.fsencode(d["root"]), d["kind"] == "archive", own_dirs.from_plan(d),
                  away.get(d["medium"]))
           for d in plan_json["dirs"] if d.get("role") != "filler" or d.get("disc") == disc]
    return sorted(out, key=lambda o: -len(o.prefix))


def where(found: list[Origin], disc_path: bytes) -> tuple[bytes, bytes, Origin] | None:
    """(root on the medium, path below it, origin) of an entry of the disc; None also when its
    medium is not read (Origin.away)."""
    for o in found:
        if disc_path == o.prefix:
            return None if o.away else (o.root, b"", o)
        if disc_path.startswith(o.prefix + b"/"):
            return None if o.away else (o.root, disc_path[len(o.prefix) + 1:], o)
    return None


def dir_where(found: list[Origin], disc_path: bytes) -> tuple[bytes, bytes, Origin] | None:
    """`where` a directory of the disc was read: an archive's that its union holds in the backup's
    own tree it was read from (own_dirs.py); None when none holds it (the union's, rabtui's own, is
    all there is) or one that may have is gone (OwnDirs.of's `sure`), or the union lacks it (kept
    data's: as the backup that saved what is below it has it, read_from.py)."""
    at = where(found, disc_path)
    if at is None or at[2].own is None:
        return at
    if _kept_datas(at):
        return None
    mine = at[2].own.of(at[1], sure=True)
    return None if mine is None else (mine[0], mine[1], at[2])


def gone_since_plan(found: list[Origin], disc_path: bytes) -> bytes | None:
    """The data/ folder of a backup deleted since the plan in which an archive's directory of the
    disc was perhaps read (OwnDirs.gone_before); None when none is, or it is kept data's."""
    at = where(found, disc_path)
    if at is None or at[2].own is None or _kept_datas(at):
        return None
    return at[2].own.gone_before(at[1])


def _kept_datas(at: tuple[bytes, bytes, Origin]) -> bool:
    """Is the directory of an archive at `at` (where) one its union lacks (kept data's)? They are not
    compared: the disc holds them as the kept backup that saved what is below them has them."""
    st = _lstat(at[0], at[1])
    return os.path.isdir(at[0]) and (st is None or not stat.S_ISDIR(st.st_mode))


def acl_text(value: bytes, prefix: str = "", writable: bool = False) -> list[str]:
    """A system.posix_acl_* value as `getfacl` (and xorriso) writes it, a name for each id this
    system knows (bytes not UTF-8 as surrogates: os.fsencode gives the name's bytes back).
    `writable`: as xorriso takes it, the id in place of a name it cannot take (acl_names.py)."""
    out = []
    for k in range(4, len(value) - 7, 8):
        tag, perm, ident = struct.unpack_from("<HHI", value, k)
        who = ""
        if tag in _NAMED:
            try:
                who = (pwd.getpwuid(ident).pw_name if tag == 0x02 else grp.getgrgid(ident).gr_name)
            except KeyError:
                who = str(ident)
            if writable and acl_names.unwritable(who):
                who = str(ident)
        bits = "".join(c if perm & b else "-" for c, b in zip("rwx", (4, 2, 1)))
        out.append(f"{prefix}{_TAGS.get(tag, '?:')}{who}:{bits}")
    return out


def mode_acl(mode: int) -> list[str]:
    """The access ACL that a mode makes (user::, group::, other::), as `getfacl` writes it."""
    return [f"{w}::" + "".join(c if mode & (b << s) else "-" for c, b in zip("rwx", (4, 2, 1)))
            for w, s in (("user", 6), ("group", 3), ("other", 0))]


def xattrs(root: bytes, rel: bytes) -> dict[bytes, bytes] | None:
    """An entry's xattrs as the kernel gives them, and under ACL_KEY the text of its ACLs (as
    xorriso lists them); None when they cannot be read."""
    try:
        out = below.xattrs(root, rel) if rel else below.xattrs(os.path.dirname(root), os.path.basename(root))
        mode = below.lstat(root, rel).st_mode if rel else os.lstat(root).st_mode
    except OSError as exc:
        return {} if exc.errno in (errno.ENOTSUP, errno.EOPNOTSUPP) else None
    return with_acl_text(out, mode)


def with_acl_text(out: dict[bytes, bytes], mode: int) -> dict[bytes, bytes]:
    """An entry's xattrs (`out`) and, under ACL_KEY, the text of its ACLs as xorriso lists them
    (an access ACL that says no more than the mode `mode`, beside a default one, as that mode)."""
    access, default = out.get(b"system.posix_acl_access"), out.get(b"system.posix_acl_default")
    if access or default:
        text = acl_text(access) if access else []
        if not text:     # the access ACL the mode makes, as xorriso shows it with a default one
            text = mode_acl(mode)
        out[ACL_KEY] = os.fsencode("\n".join(text + (acl_text(default, "default:") if default else [])))
    return out


def _lstat(root: bytes, rel: bytes) -> os.stat_result | None:
    try:
        return below.lstat(root, rel) if rel else os.lstat(root)
    except OSError:
        return None


def _label(name: bytes) -> str:
    return "ACL" if name == ACL_KEY else f"xattr {os.fsdecode(name)}"


# what xattrs_differ says of one not on the disc, not in the backup, or not as it is there
AS_BACKED_UP = ("missing on the disc", "not backed up", "differs from the backup's")


def xattrs_differ(on_disc: dict[bytes, bytes], backed_up: dict[bytes, bytes], off: set[bytes] = frozenset(),
                  words: tuple[str, str, str] = AS_BACKED_UP) -> str | None:
    """The first ACL or xattr that is not on the disc as backed up; None when all are. ACLs are
    compared as text (ACL_KEY): the system.posix_acl_* xattrs beside them on a disc are xorriso's
    copies, of the access ACL only. Those of `off` are recorded as kept off the disc, with an
    empty value: they must be so (kept_off.differs)."""
    if off:
        backed_up = dict(backed_up)
        if why := kept_off.differs(on_disc, backed_up, off):
            return why
    for name in sorted((set(on_disc) | set(backed_up)) - set(ACL_NAMES) | {ACL_KEY}):
        if name not in on_disc and name not in backed_up:
            continue
        if name not in on_disc:
            return f"{_label(name)} {words[0]}"
        if name not in backed_up:
            return f"{_label(name)} {words[1]}"
        if on_disc[name] != backed_up[name]:
            return f"{_label(name)} {words[2]}"
    return None


def _as_recorded(r: Row, st: os.stat_result) -> bool:
    return of_kind(r, st.st_mode) and seconds(st) == r.mtime and size_as_recorded(r, st)


def size_as_recorded(r: Row, st: os.stat_result) -> bool:
    """Is the entry `r` is read from (whose lstat is `st`) of the size recorded? A file a part was
    cut from as long as its parts, up to this one's end at least; what is no file, of any size."""
    if r.part:
        return st.st_size == r.offset + r.size if r.part == r.parts else st.st_size >= r.offset + r.size
    return r.sha256 in MARKS or st.st_size == r.size


def row_differs(r: Row, on_disc: dict[bytes, bytes], found: list[Origin],
                passed: list[bytes] | None = None, off: set[bytes] = frozenset(),
                by_length: list[tuple[int, int]] = ()) -> str | None:
    """What of a catalog entry's ACLs and xattrs (`on_disc`) is not as its backup holds them; those
    of a part of a cut file, as the whole file holds them. `by_length`: (name, value) lengths of
    xattrs the disc lists only so (disc_xattrs.LINKS_UNREAD), each taken as the backup's of those
    lengths. Into `passed`: the entry, when it is passed over though the backup it was read from
    is there (unchecked.py)."""
    held = row_held(r, found, passed)
    if held is not None and by_length:
        on_disc = dict(on_disc)
        for sizes in by_length:
            alike = [n for n, v in held.items() if (len(n), len(v)) == sizes and n not in on_disc]
            if alike:
                on_disc[alike[0]] = held[alike[0]]
    return None if held is None else xattrs_differ(on_disc, held, off)


def row_held(r: Row, found: list[Origin], passed: list[bytes] | None = None) -> dict[bytes, bytes] | None:
    """The ACLs and xattrs (as xattrs() gives them) of the catalog entry `r` in the backup it was
    read from (of a part of a cut file, the whole file's); None when the medium no longer holds it
    as recorded, then into `passed` when that backup is there."""
    at = where(found, r.disc_path)
    if at is None or not at[1]:
        return None
    root, rel = at[0], at[1][:-PART_SUFFIX_LEN] if r.part else at[1]
    if r.sha256 == DIR_MARK and at[2].own is not None and (mine := dir_where(found, r.disc_path)) is not None:
        root, rel = mine[0], mine[1]    # an archive's empty directory: written from a backup's own tree
    elif r.disk.endswith(b"/" + rel):     # read from the backup that first saved it (read_from.py)
        root = r.disk[:-len(rel) - 1]
    st = _lstat(root, rel)
    held = xattrs(root, rel) if st is not None and _as_recorded(r, st) else None
    if held is None and passed is not None and os.path.isdir(at[0]):
        passed.append(r.disc_path)
    return held


def dir_differs(disc_path: bytes, st_mode: int, st_seconds: int | None, owner: tuple[int, int] | None,
                on_disc: dict[bytes, bytes], found: list[Origin], recorded: bool,
                shown: str | None = None, passed: list[bytes] | None = None,
                off: set[bytes] = frozenset()) -> str | None:
    """What of a directory of the disc (its mode, time and owner: None when not known, and its
    ACLs and xattrs; `shown`: its time as the disc's listing shows it) is not as its backup holds it.
    `recorded`: the catalog holds it (an empty directory), whose mode, time and owner are compared
    with the catalog. Into `passed`: the directory, when it is passed over though the backup it
    was read from is there (an archive directory's where its backups' trees lack it, or planned
    before where they were read was recorded: the union's are not the source's)."""
    origin = where(found, disc_path)
    if origin is None or (origin[2].archive and (origin[2].own is None or _kept_datas(origin))):
        return None
    at = dir_where(found, disc_path)
    if at is None:     # an archive's that no backup's own tree holds
        if passed is not None and os.path.isdir(origin[0]):
            passed.append(disc_path)
        return None
    st = _lstat(at[0], at[1])
    if st is None or not stat.S_ISDIR(st.st_mode):
        if passed is not None and os.path.isdir(at[0]):
            passed.append(disc_path)
        return None
    if not recorded:
        why = attributes_differ(st_mode, st_seconds, None, seconds(st), st.st_mode, None, owner,
                                (st.st_uid, st.st_gid)) or listed_time_differs(shown, seconds(st))
        if why:
            return why
    held = xattrs(at[0], at[1])
    return None if held is None else xattrs_differ(on_disc, held, off)


def unreachable(found: list[Origin]) -> list[bytes]:
    """The roots not on a mounted medium, or on one not read (Origin.away): what is read there is
    not compared."""
    return [o.root for o in found if o.away or not os.path.isdir(o.root)]
