"""The ACLs (named entries, default ACL) and xattrs of a checkpoint's directories, recorded in the
state when it is planned (`disc_dir_attrs`; the copy of the state on each disc carries them, and
rebuild-state reads them there: rebuild/disc_state.py). The catalog holds no directory that is not
empty, and the mode of one shows only its ACL's mask: without the record a disc whose directories'
ACLs or xattrs were changed could be told from a good one only with the backup at hand. Each
directory of a disc is compared with the record on verification (one without a row had none), and
each directory restored from the discs is compared with it too.

A disc is written from the backup as it is when it is written, and checked against the record: a
directory whose ACLs or xattrs were changed on the medium after the plan fails every disc written
of it, so such a failure is named as that (`changed_since`), and no rewrite is offered for it. So
does a file whose xattrs recorded as kept off the discs, empty (kept_off.py), were removed or given
a value (`kept_off_changed_since`)."""

from __future__ import annotations

import os
from typing import Iterable

from rabtui.checkpoint.backed_up_attrs import ACL_NAMES, Origin, dir_where, row_held, with_acl_text, xattrs, xattrs_differ
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.xorriso_output import ACL_KEY

STAGED = b"rabtui"     # README and rabtui/ of a disc are no directory of the checkpoint's
ON_DISC = ("missing on the disc", "on the disc, not recorded", "differs from the one recorded")
RESTORED = ("not restored", "restored, not recorded", "restored other than recorded")


def record(store, number: int, entries: Iterable[tuple[str, bytes, bytes, int, bytes, bytes]]) -> None:
    """Write (source, original path, path on the discs, st_mode, name, value) of each xattr of the
    checkpoint's directories, and that they were recorded."""
    store.conn.executemany("INSERT OR IGNORE INTO disc_dir_attrs(number, source, path, disc_path, mode, name, value)"
                           " VALUES (?,?,?,?,?,?,?)", [(number, *e) for e in entries])
    store.execute("UPDATE checkpoints SET dirs_recorded=1 WHERE number=?", (number,))


Recorded = dict[bytes, dict[bytes, bytes]]


def load(store, number: int) -> Recorded | None:
    """Path on the discs -> the directory's xattrs as backed up, its ACLs' text under ACL_KEY (as
    backed_up_attrs.xattrs gives them); None when the checkpoint recorded none (made before)."""
    row = store.one("SELECT dirs_recorded FROM checkpoints WHERE number=?", (number,))
    if row is None or not row[0]:
        return None
    found: dict[bytes, tuple[int, dict[bytes, bytes]]] = {}
    for r in store.all("SELECT disc_path, mode, name, value FROM disc_dir_attrs WHERE number=?", (number,)):
        found.setdefault(bytes(r[0]), (r[1], {}))[1][bytes(r[2])] = bytes(r[3])
    return {path: with_acl_text(attrs, mode) for path, (mode, attrs) in found.items()}


def subject(disc_path: bytes) -> bool:
    """Is this directory of a disc one of the checkpoint's (or above them: xorriso made those bare)?"""
    return disc_path != STAGED and not disc_path.startswith(STAGED + b"/")


def differs(disc_path: bytes, on_disc: dict[bytes, bytes], recorded: Recorded, off: set[bytes]) -> str | None:
    """What of the ACLs and xattrs of a directory of the disc (`on_disc`, as the disc lists them)
    is not as recorded; its xattrs kept off the disc (`off`, with an empty value) must not be on it."""
    return xattrs_differ(on_disc, _expected(disc_path, recorded, off), off, ON_DISC)


def restored_differs(path: bytes, disc_path: bytes, recorded: Recorded, off: set[bytes], as_root: bool) -> str | None:
    """What of the ACLs and xattrs of a directory restored from the discs at `path` is not as
    recorded, those kept off the discs (`off`, set again) too: of every namespace as root, else of
    user. only (what another user restores)."""
    held = xattrs(os.path.dirname(path), os.path.basename(path))
    if held is None:
        return None
    expected = _expected(disc_path, recorded, off)
    if not as_root:
        held, expected = _user_only(held), _user_only(expected)
    return xattrs_differ(held, expected, words=RESTORED)


def changed_since(disc_path: bytes, recorded: Recorded, off: set[bytes], found: list[Origin]) -> str | None:
    """What of the ACLs and xattrs of a directory of the disc its backup on the medium (`found`:
    where the disc was read) no longer holds as recorded when the checkpoint was planned; None
    when it holds them so, or cannot be read."""
    at = dir_where(found, disc_path)
    held = None if at is None else xattrs(at[0], at[1])
    return None if held is None else _changes(_expected(disc_path, recorded, off), held, off)


def kept_off_changed_since(r: Row, off: set[bytes], found: list[Origin]) -> str | None:
    """What of a file's xattrs recorded as kept off the discs (`off`, of the whole file `r` is or is
    a part of), empty when the checkpoint was planned, its backup on the medium no longer holds so
    (removed, given a value); None when it holds them so, or no longer holds the file as recorded."""
    held = row_held(r, found)
    if held is None:
        return None
    return _changes(dict.fromkeys(off, b""), {name: held[name] for name in off if name in held}, off)


def _changes(was: dict[bytes, bytes], held: dict[bytes, bytes], off: set[bytes]) -> str | None:
    """What differs between the ACLs and xattrs recorded (`was`) and those held now, said."""
    changes = [_change(name, was.get(name), held.get(name), name in off)
               for name in sorted((set(was) | set(held)) - set(ACL_NAMES)) if was.get(name) != held.get(name)]
    return "; ".join(changes) or None


def _change(name: bytes, was: bytes | None, now: bytes | None, kept_off: bool) -> str:
    if name != ACL_KEY:
        how = "added" if was is None else "removed" if now is None else "changed"
        how = "(recorded empty) given a value" if kept_off and now else how
        return f"xattr {os.fsdecode(name)} {how}"
    before, after = _lines(was), _lines(now)
    moved = [f"+{x}" for x in after if x not in before] + [f"-{x}" for x in before if x not in after]
    kinds = {"default ACL" if x[1:].startswith("default:") else "ACL" for x in moved}
    return f"{' and '.join(sorted(kinds, reverse=True)) or 'ACL'} changed ({', '.join(moved)})"


def _lines(acl: bytes | None) -> list[str]:
    return os.fsdecode(acl).splitlines() if acl else []


def _expected(disc_path: bytes, recorded: Recorded, off: set[bytes]) -> dict[bytes, bytes]:
    """The directory's xattrs as recorded, with those kept off the discs (empty)."""
    return {**recorded.get(disc_path, {}), **dict.fromkeys(off, b"")}


def _user_only(attrs: dict[bytes, bytes]) -> dict[bytes, bytes]:
    return {n: v for n, v in attrs.items() if n.startswith((b"user.", b"system.posix_acl_")) or n == ACL_KEY}
