"""Xattrs with an empty value (`setfattr -n user.x -v ""`), which a checkpoint carries beside its
discs instead of on them. libisofs (1.5.4) encodes such a value into a node's AAIP so that it
cannot decode it again whenever another pair follows it in the order the kernel lists them: with
`-hardlinks on` xorriso stops at the `-map` of that file ("Error with decoding AAIP info for ACL
or xattr"), `-md5 on` stops the write, and without either the file's xattrs are all lost from the
disc; one listed alone is dropped. No -setfattr or -setfattr_list can mend the node afterwards
(each decodes what it holds first).

So such an entry is mapped with `-hardlinks off -acl off -xattr off` (xorriso.BARE_MAP: libisofs
reads neither ACL nor xattrs of it then, and hard links are still found when the disc is written),
and given its other xattrs and its ACL from lists, as a part of a cut file is (cut_attrs.py). The
empty ones are recorded in the state (`disc_xattrs_off`: entry, name), which every disc carries a
copy of (a rebuild from the discs reads them there: rebuild/disc_state.py); a restore from the
discs sets them again, and a verification compares them with the backup instead of calling them
missing from the disc."""

from __future__ import annotations

import os
from typing import Iterable



def empty_names(attrs: Iterable[tuple[bytes, bytes]]) -> list[bytes]:
    """The names of the xattrs (name, value pairs) whose value is empty."""
    return [n for n, v in attrs if not v]


def carried(attrs: Iterable[tuple[bytes, bytes]]) -> list[tuple[bytes, bytes]]:
    """The xattrs a disc holds of these: all but those with an empty value."""
    return [(n, v) for n, v in attrs if v]


def record(store, number: int, entries: Iterable[tuple[str, bytes, bytes, bytes]]) -> None:
    """Write (source, original path, path on the discs, name) of each xattr kept off the discs."""
    store.conn.executemany("INSERT OR IGNORE INTO disc_xattrs_off(number, source, path, disc_path, name)"
                           " VALUES (?,?,?,?,?)", [(number, *e) for e in entries])


def disc_paths(store, number: int) -> set[bytes]:
    """The paths on the discs (absolute, as xorriso names them) of the entries that have some."""
    return {b"/" + bytes(r[0]) for r in store.all("SELECT DISTINCT disc_path FROM disc_xattrs_off WHERE number=?",
                                                    (number,))}


def by_disc_path(store, number: int) -> dict[bytes, set[bytes]]:
    """Path on the discs -> the names of its xattrs kept off them."""
    out: dict[bytes, set[bytes]] = {}
    for r in store.all("SELECT disc_path, name FROM disc_xattrs_off WHERE number=?", (number,)):
        out.setdefault(bytes(r[0]), set()).add(bytes(r[1]))
    return out


def below(store, number: int, source: str, rel: bytes) -> list[tuple[bytes, bytes]]:
    """(original path, name) of those of the entry `rel` of `source` and of every entry below it."""
    rows = store.all("SELECT path, name FROM disc_xattrs_off WHERE number=? AND source=? AND"
                     " (path=? OR substr(path, 1, ?)=?) ORDER BY path, name",
                     (number, source, rel, len(rel) + 1, rel + b"/"))
    return [(bytes(r[0]), bytes(r[1])) for r in rows]


def set_again(item: bytes, rel: bytes, is_file: bool, kept: list[tuple[bytes, bytes]], sc) -> list[tuple[str, bytes, str]]:
    """Give the entries restored from the discs at `item` (the restored `rel`; a file: in the
    directory `item`) the xattrs of `kept` (below()) with their empty value; [(kind, name, why)]
    of those that could not be."""
    failed = []
    for path, name in kept:
        under = os.path.basename(path) if is_file else path[len(rel):].lstrip(b"/")
        target = os.path.join(item, under) if under else item
        try:
            os.setxattr(sc.path(target), name, b"", follow_symlinks=False)
        except OSError as exc:
            failed.append(("attribute", path, f"xattr {os.fsdecode(name)} (an empty value, which the discs do not"
                                              f" hold): {exc.strerror}"))
    return failed


def differs(on_disc: dict[bytes, bytes], backed_up: dict[bytes, bytes], off: set[bytes]) -> str | None:
    """What of the xattrs recorded as kept off the disc (`off`) is not so: one the disc holds, or
    one the backup holds with a value (or not at all). Those that are so are taken out of both
    dicts, for the comparison of the others."""
    for name in sorted(off):
        if name in on_disc:
            return f"xattr {os.fsdecode(name)} on the disc, though recorded as kept off it (its value was empty)"
        if backed_up.get(name, b"") != b"" or name not in backed_up:
            return f"xattr {os.fsdecode(name)} (recorded empty) differs from the backup's"
        del backed_up[name]
    return None
