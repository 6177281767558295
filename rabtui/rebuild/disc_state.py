"""What the state recorded of a checkpoint's entries when its discs were written, read back from
the copy of the state database each disc holds (rabtui/rabtui.db): each entry's mode, owner,
symlink target and hard links, which the catalog on the disc does not hold, the xattrs kept off
the discs (checkpoint/kept_off.py: an empty value) and the ACLs and xattrs of the directories
(checkpoint/dir_attrs.py). A checkpoint rebuilt from its discs keeps them, so that its discs are
verified against them (and restores from them check them) as those of a checkpoint never lost
are. A copy written before rabtui kept them gives nothing: the verification then says what it
could not check. A copy that cannot be read gives nothing either, and says why
(`Recorded.unread`), as one that holds no record of the checkpoint does (another's copy put
there: taken as read, it would record nothing, unsaid): the rebuild tries the checkpoint's other
discs and warns of what later restores lack (checkpoints.py)."""

from __future__ import annotations

import json
import os
import re
import sqlite3
from datetime import datetime
from urllib.parse import quote

from rabtui import faults, temp_dirs
from rabtui.errors import Stalled
from rabtui.media import checkpoint_numbers
from rabtui.rebuild.disc_text import extract
from rabtui.state.store import ID_REACH

DB_ON_DISC = b"/rabtui/rabtui.db"

# disc -> path on the disc -> (size, mtime, sha256) as the catalog has them (the sha256 as digest()
# holds it), then what it lacks: (mode, symlink target, hard-link group, uid, gid, device numbers,
# xattr sum), in one tuple (a disc may hold a million files)
class Recorded(dict[int, dict[bytes, tuple]]):
    # (source, original path, path on the discs, name) of each xattr kept off the discs
    kept_off: list[tuple[str, bytes, bytes, bytes]] = []
    # None: the copy recorded no ACLs and xattrs of the directories; else (source, original path,
    # path on the discs, st_mode, name, value) of each
    dir_attrs: list[tuple[str, bytes, bytes, int, bytes, bytes]] | None = None
    unread: str | None = None     # why the copy could not be read (None: it was)
    # when the checkpoint was made (README.txt gives it to the second only), its discs' lower bound
    # and (source, path) -> why each directory was in it, as the copy records them
    created: float | None = None
    lower_bound: int | None = None
    reasons: dict[tuple[str, str], str] = {}
    # the filler of its discs: prefix on the disc (b"add/3") -> (source, configured path) of the
    # directory put there whole
    fillers: dict[bytes, tuple[str, str]] = {}
    # (source, path) -> (name, medium, path, started, finished, id) of the backup each directory of
    # the checkpoint was taken from
    taken: dict[tuple[str, str], tuple[str, str, str, float, float | None, int | None]] = {}
    # (source, medium, name) of each backup the state the copy was made of knew: one it does not
    # know was made after the checkpoint
    known: set[tuple[str, str, str]] = set()
    # medium id -> the label the state the copy was made of knew it by
    labels: dict[str, dict] = {}
    # disc -> its state when the copy was made: the copy on disc k, staged as disc k was about to
    # be written, says which discs before it were verified (checkpoints.py: which discs were written)
    disc_states: dict[int, str] = {}
    # the checkpoints the state the copy was made of had abandoned (those before this one)
    abandoned: set[int] = set()


def _unread(why: str) -> Recorded:
    out = Recorded()
    out.unread = why
    return out


def read(dev: str, number: int, state_dir: str | os.PathLike, silence: float | None = None) -> Recorded:
    """What the state copy on the disc at `dev` recorded of checkpoint `number`'s entries. The copy
    is read in a private directory of the state directory (as large as the database, which /tmp may
    not hold), and removed; one a killed run left goes with the next (or with a cleanup). `silence`:
    the seconds a hung drive's xorriso may go without output or work before it is stopped
    (checkpoint.io_timeout), the copy then unread."""
    with temp_dirs.private(state_dir) as tmp:
        target = os.fsdecode(os.path.join(tmp, b"rabtui.db"))
        try:
            done = extract(dev, DB_ON_DISC, target, silence, limit=3600)
            faults.point("rebuild.state_copy_extracted")
        except Stalled as exc:
            return _unread(f"xorriso could not extract {os.fsdecode(DB_ON_DISC)}: {exc} (checkpoint.io_timeout)")
        if not done.ok or not os.path.isfile(target):
            said = [x.split(" : ", 2)[-1] for x in done.stderr_text().splitlines()
                    if " : FAILURE : " in x or " : SORRY : " in x]
            return _unread(f"xorriso could not extract {os.fsdecode(DB_ON_DISC)}: "
                           + ("; ".join(said)[-200:] or f"exit {done.returncode}"))
        try:
            # immutable: no journal or lock files are made beside it, nothing is written
            conn = sqlite3.connect(f"file:{quote(target)}?immutable=1", uri=True)
            try:
                if not conn.execute("SELECT 1 FROM checkpoints WHERE number=?", (number,)).fetchall():
                    return _unread(f"{os.fsdecode(DB_ON_DISC)} holds no record of checkpoint {number} (the copy of"
                                   f" another checkpoint's state, or another server's?)")
                out = _files(conn, number)
                kept = _kept_off(conn, number)
                dirs = _dir_attrs(conn, number)
                created, lower_bound, plan = conn.execute(
                    "SELECT created, lower_bound, plan FROM checkpoints WHERE number=?", (number,)).fetchone()
                reasons = {(source, path): reason for source, path, reason in conn.execute(
                    "SELECT source, path, reason FROM checkpoint_dirs WHERE number=? AND role='data'", (number,))}
                taken = _taken(conn, number)
                known = {row for row in conn.execute("SELECT source, medium, name FROM backups")
                         if all(isinstance(x, str) for x in row)}
                labels = _labels(conn)
                states = {disc: state for disc, state in conn.execute(
                    "SELECT disc, state FROM discs WHERE number=?", (number,))
                    if isinstance(disc, int) and isinstance(state, str)}
                abandoned = checkpoint_numbers.abandoned_of(conn)
            finally:
                conn.close()
        except sqlite3.Error as exc:
            return _unread(f"{os.fsdecode(DB_ON_DISC)} is no database that can be read ({exc})")
        except (TypeError, ValueError, RecursionError) as exc:    # values rabtui never writes there
            return _unread(f"{os.fsdecode(DB_ON_DISC)} holds values of another kind than rabtui writes"
                           f" ({type(exc).__name__}: {str(exc)[:100]})")
    out.kept_off, out.dir_attrs = kept, dirs
    out.created = _when(created)
    out.lower_bound = lower_bound if isinstance(lower_bound, int) else None
    out.reasons = {key: reason for key, reason in reasons.items() if isinstance(reason, str)}
    out.fillers = _fillers(plan)
    out.taken, out.known = taken, known
    out.labels = labels
    out.disc_states = states
    out.abandoned = abandoned
    return out


def _labels(conn: sqlite3.Connection) -> dict[str, dict]:
    """The media's labels as the copy records them."""
    out = {}
    for medium, label in conn.execute("SELECT id, label FROM media"):
        try:
            parsed = json.loads(label) if isinstance(label, str) else None
        except (ValueError, RecursionError):
            parsed = None
        if isinstance(medium, str) and isinstance(parsed, dict):
            out[medium] = parsed
    return out


def _taken(conn: sqlite3.Connection, number: int) -> dict[tuple[str, str], tuple[str, str, str, float, float | None,
                                                                                  int | None]]:
    """The backup each directory of the checkpoint was read from, as the copy records it."""
    rows = conn.execute("SELECT cd.source, cd.path, b.name, b.medium, b.path, b.started, b.finished, b.id"
                        " FROM checkpoint_dirs cd JOIN backups b ON b.id=cd.backup_id AND b.source=cd.source"
                        " WHERE cd.number=?", (number,))
    return {(source, path): (name, medium, bpath, started, _when(finished), _id(bid))
            for source, path, name, medium, bpath, started, finished, bid in rows
            if all(isinstance(x, str) for x in (source, path, name, medium, bpath)) and _when(started) is not None}


def _id(value) -> int | None:
    """A backup's id as the copy records it; None for anything else."""
    return value if isinstance(value, int) and not isinstance(value, bool) and 0 < value < ID_REACH else None


def _blob(value) -> bytes:
    """A name or value as rabtui records it (a BLOB); TypeError for anything else: bytes() of a
    number is that many zero bytes (of a billion: all memory)."""
    if not isinstance(value, bytes):
        raise TypeError(f"{type(value).__name__} where rabtui records bytes")
    return value


def _when(value) -> float | None:
    """A time as the copy records it; None for anything else (text, an infinity, a year past 9999:
    a damaged copy, which would fail whatever shows or compares it)."""
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        datetime.fromtimestamp(value)
    except (OverflowError, ValueError, OSError):
        return None
    return value


def _fillers(plan: str | None) -> dict[bytes, tuple[str, str]]:
    """add/N -> (source, path) of the filler directories the checkpoint's plan put on its discs."""
    try:
        dirs = json.loads(plan)["dirs"] if isinstance(plan, str) else []
    except (ValueError, TypeError, KeyError, RecursionError):
        return {}
    out = {}
    for d in dirs if isinstance(dirs, list) else []:
        if (isinstance(d, dict) and d.get("role") == "filler" and isinstance(d.get("source"), str)
                and isinstance(d.get("path"), str) and isinstance(d.get("prefix"), str)
                and re.fullmatch(r"add/\d+", d["prefix"])):
            out[d["prefix"].encode()] = (d["source"], d["path"])
    return out


def _files(conn: sqlite3.Connection, number: int) -> Recorded:
    """The entries the copy records, read from the cursor; the modes and owners many have held once.
    A device node's numbers and the sums of each entry's xattrs (xattr_sum.py) where the copy has
    them (NULL in one made before rabtui kept them, or of another kind than it writes: not compared)."""
    out = Recorded()
    alike: dict[int, int] = {}
    columns = {r[1] for r in conn.execute("PRAGMA table_info(disc_files)").fetchall()}
    later = ", ".join(c if c in columns else "NULL" for c in ("rdev", "xattr_sum", "trusted_sum"))
    for disc, path, size, mtime, sha, mode, link, group, uid, gid, rdev, xsum, tsum in conn.execute(
            "SELECT disc, disc_path, size, mtime, sha256, mode, link, link_group, uid, gid, " + later +
            " FROM disc_files WHERE number=? AND mode IS NOT NULL", (number,)):
        out.setdefault(disc, {})[_blob(path)] = (size, mtime, digest(sha), alike.setdefault(mode, mode),
                                                 None if link is None else _blob(link), group,
                                                 alike.setdefault(uid, uid), alike.setdefault(gid, gid),
                                                 rdev if type(rdev) is int else None,
                                                 xsum if isinstance(xsum, bytes) else None,
                                                 tsum if isinstance(tsum, bytes) else None)
    return out


def _dir_attrs(conn: sqlite3.Connection, number: int) -> list[tuple[str, bytes, bytes, int, bytes, bytes]] | None:
    """The ACLs and xattrs of the checkpoint's directories as the copy records them; None when it
    recorded none (made before rabtui did)."""
    columns = {r[1] for r in conn.execute("PRAGMA table_info(checkpoints)").fetchall()}
    if "dirs_recorded" not in columns:
        return None
    flag = conn.execute("SELECT dirs_recorded FROM checkpoints WHERE number=?", (number,)).fetchall()
    if not flag or not flag[0][0]:
        return None
    rows = conn.execute("SELECT source, path, disc_path, mode, name, value FROM disc_dir_attrs WHERE number=?",
                        (number,))
    return [(source, _blob(path), _blob(disc_path), mode, _blob(name), _blob(value))
            for source, path, disc_path, mode, name, value in rows]


def _kept_off(conn: sqlite3.Connection, number: int) -> list[tuple[str, bytes, bytes, bytes]]:
    """The xattrs kept off the discs as the copy records them; none in a copy made before rabtui
    kept them there (the discs then held no such xattr: it refused the checkpoint of its directory)."""
    if not conn.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='disc_xattrs_off'").fetchall():
        return []
    rows = conn.execute("SELECT source, path, disc_path, name FROM disc_xattrs_off WHERE number=?", (number,))
    return [(source, _blob(path), _blob(disc_path), _blob(name)) for source, path, disc_path, name in rows]


def of(recorded: Recorded, disc: int, disc_path: bytes, size: int, mtime: int, sha256: str | None,
       take: bool = False) -> tuple:
    """(mode, symlink target, hard-link group, uid, gid, device numbers, xattr sum, trusted.* xattr
    sum) recorded for the catalog's entry, all None
    where the copy holds none for it as the catalog has it; with `take`, the entry's record is
    taken out of `recorded` (what is no longer asked for is not held)."""
    on_disc = recorded.get(disc, {})
    found = on_disc.pop(disc_path, None) if take else on_disc.get(disc_path)
    return found[3:] if found is not None and found[:3] == (size, mtime, digest(sha256)) else (None,) * 8


_HEX_SHA256 = re.compile(r"[0-9a-f]{64}")


def digest(sha256: str | None) -> bytes | str | None:
    """A sha256 as its 32 bytes, in less than half the room of its text; a mark (content.MARKS),
    or whatever else a damaged copy holds, as it is."""
    return bytes.fromhex(sha256) if sha256 is not None and _HEX_SHA256.fullmatch(sha256) else sha256
