"""Checkpoint numbers are never used twice. The state database knows the numbers it gave; should
it be lost while the discs are away (a real burner's discs are on a shelf, not in an images
folder that rebuild-state reads), a new checkpoint numbered 1 again would give a second set of
discs the volume ids of the first. So each medium keeps the numbers used so far, in
`<medium>/.rabtui-checkpoints` (JSON: {"used": [1, 2, ...]}), written when a checkpoint is
numbered (onto the media at hand) and by each backup (onto its medium: every medium of the
rotation learns them); the state directory's `checkpoints/<number>/` folders tell them too, and
so does the database rebuild-state replaces, as far as it can be read.
A new number comes after the highest of all these (rabtui/checkpoint/numbering.py). The numbers of
the checkpoints abandoned are kept alike, in `<medium>/.rabtui-abandoned` and in the state
directory (KEPT_ABANDONED), for rebuild-state."""

from __future__ import annotations

import errno
import json
import os
import sqlite3
import threading
from pathlib import Path
from typing import Iterable

from rabtui import file_replace, flock_turns, privacy
from rabtui.config import Config, Medium
from rabtui.errors import Cancelled
from rabtui.events import WARNING, Emit, Event
from rabtui.media.medium_layout import read_regular
from rabtui.state.store import Store, read_only

RECORD = ".rabtui-checkpoints"
# the checkpoints given up (`checkpoint abandon`), JSON {"abandoned": [3, ...]}, kept alike: a
# rebuild-state records them abandoned again (a number is never given twice: it names one checkpoint)
ABANDONED = ".rabtui-abandoned"
# the same kept beside the database, in the state directory: an abandonment made while no medium
# was at hand outlives the database with it, and each backup writes it onto its medium
KEPT_ABANDONED = "checkpoints-abandoned.json"
LARGEST = 10**9      # checkpoints; no shelf holds that many
RECORD_WAIT = 60.0     # seconds another writer may hold the record (it takes a moment): a stopped one is not waited for all night
_KEY = "checkpoint_numbers_used"     # meta: the highest number used before, of discs rebuild-state did not read


def read_record(medium_path: str | os.PathLike, record: str = RECORD, key: str = "used",
                ignored: list[str] | None = None) -> set[int]:
    """The numbers a medium's record holds (none when it has no record, or an unreadable one).
    `record`, `key`: ABANDONED, "abandoned" for the numbers of the checkpoints given up. Only a file
    of this user's (or of the directory's owner: a vfat medium mounted for another user shows all as
    theirs) is read: another user's, made first on a medium or in a state directory open to all but
    sticky, could give up checkpoints or use every number; `ignored` is told of it."""
    path = Path(medium_path) / record
    try:
        data = json.loads(read_regular(path, own=True))   # 100,000 numbers take 1 MB
    except privacy.NotOwn as exc:
        if ignored is not None:
            ignored.append(f"{path} is {exc.strerror}: not read")
        return set()
    except (OSError, ValueError, RecursionError):
        return set()
    used = data.get(key) if isinstance(data, dict) else None
    return {n for n in used if _number(n)} if isinstance(used, list) else set()


def _number(n) -> bool:
    """Whether `n` can be a checkpoint's number: a record edited by hand may hold anything, and a
    number past this one would overflow SQLite's integers or the volume id's 32 characters."""
    return isinstance(n, int) and not isinstance(n, bool) and 0 < n <= LARGEST


def write_record(medium_path: str | os.PathLike, numbers: Iterable[int],
                 cancel: threading.Event | None = None, record: str = RECORD, key: str = "used",
                 *, replace: bool = False, turns: str | os.PathLike | None = None) -> None:
    """The medium's record made to hold `numbers` too (what it held stays; `replace`: only them, no
    record when there are none), atomically, 0600. Raises OSError when the medium cannot be
    written, or another process held the record for RECORD_WAIT; Cancelled as soon as `cancel` is
    set while waiting for it. `turns`: the directory whose flock the writers take turns on, when
    not the record's own (the state directory's own flock is state/dir_lock.py's)."""
    path = Path(medium_path) / record
    # one writer at a time, whatever process: a number written between another's read and its
    # rename was lost from the medium (the flock is on the medium's directory, its own file replaced)
    folder = os.open(turns or medium_path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        _lock_folder(folder, cancel or threading.Event())
        had = read_record(medium_path, record, key)
        used = set(numbers) if replace else had | set(numbers)
        if not used and replace:
            path.unlink(missing_ok=True)
            return
        if used == had and path.exists():
            return
        file_replace.replace_file(path, (json.dumps({key: sorted(used)}) + "\n").encode())
    finally:
        os.close(folder)


def note_on_medium(cfg: Config, store: Store, medium: Medium, cancel: threading.Event, emit: Emit) -> None:
    """The numbers used so far, onto the medium a backup checked (each medium of the rotation keeps
    them, so that a lost database never gives one again); a medium that cannot take them is warned
    of, and the backup goes on."""
    for record, key, numbers, what in ((RECORD, "used", on_this_server(cfg, store), "the checkpoint numbers used"),
                                       (ABANDONED, "abandoned", abandoned_here(store), "the checkpoints abandoned")):
        if not numbers:
            continue
        try:
            write_record(medium.path, numbers, cancel, record, key)
        except OSError as exc:
            emit(Event(WARNING, f"medium {medium.id}: cannot write {record} ({exc.strerror or exc});"
                                f" {what} are not kept there"))


def take_over(medium_path: str | os.PathLike, store: Store) -> None:
    """A disk taken over as a medium (`media label --force`: another server's, or one labelled
    before) keeps no abandonment of its old life: another server's numbers name other checkpoints,
    which a rebuild-state would give up as this server's; the disk says this server's only. The
    numbers used it names stay (one skipped is harmless, one given twice is what they guard
    against), this server's added. Raises OSError as write_record does."""
    write_record(medium_path, abandoned_here(store), record=ABANDONED, key="abandoned", replace=True)
    used = in_store(store) | in_state_dir(store.state_dir)
    if used:
        write_record(medium_path, used)


def _lock_folder(folder: int, cancel: threading.Event) -> None:
    if flock_turns.take(folder, RECORD_WAIT, cancel):
        return
    if cancel.is_set():
        raise Cancelled(f"cancelled while waiting to write {RECORD}")
    raise TimeoutError(errno.ETIMEDOUT, f"another process held it for more than {RECORD_WAIT:g} s,"
                                        " a stopped or hung one")


def in_state_dir(state_dir: str | os.PathLike) -> set[int]:
    """The numbers of the state directory's `checkpoints/<number>/` folders (each made once its
    number was given)."""
    try:
        names = os.listdir(Path(state_dir) / "checkpoints")
    except OSError:
        return set()
    return {int(n) for n in names if n.isascii() and n.isdigit() and _number(int(n))}


def in_store(store: Store) -> set[int]:
    """The numbers the database gave or learnt: its checkpoints, and the highest one used before
    that rebuild-state found recorded (their discs not read)."""
    return _known(store.conn)


def on_this_server(cfg: Config, store: Store) -> set[int]:
    """The numbers this server knows without its media: the database's and the state directory's."""
    return in_store(store) | in_state_dir(cfg.state_dir)


def used_in(db: Path) -> set[int]:
    """The numbers the database `db` knows, as far as it can be read (rebuild-state reads the one it
    replaces: media written before they kept the numbers have no record)."""
    return read_only(db, _known, set())


def _known(conn: sqlite3.Connection) -> set[int]:
    numbers = {r[0] for r in conn.execute("SELECT number FROM checkpoints").fetchall()}
    numbers |= {int(r[0]) for r in conn.execute("SELECT value FROM meta WHERE key=?", (_KEY,)).fetchall()
                if str(r[0]).isascii() and str(r[0]).isdigit()}
    return {n for n in numbers if _number(n)}


def abandoned_in(store: Store) -> set[int]:
    """The numbers of the checkpoints the database records abandoned."""
    return abandoned_of(store.conn)


def kept_abandoned(state_dir: str | os.PathLike, ignored: list[str] | None = None) -> set[int]:
    """The numbers of the checkpoints abandoned kept beside the database (KEPT_ABANDONED)."""
    return read_record(state_dir, KEPT_ABANDONED, "abandoned", ignored)


def abandoned_here(store: Store) -> set[int]:
    """The checkpoints this server gave up: as the database and the state directory record them."""
    return abandoned_in(store) | kept_abandoned(store.state_dir)


def abandoned_before(db: Path) -> set[int]:
    """The checkpoints the database `db` records abandoned, as far as it can be read."""
    return read_only(db, abandoned_of, set())


def abandoned_of(conn: sqlite3.Connection) -> set[int]:
    return {r[0] for r in conn.execute("SELECT number FROM checkpoints WHERE status='abandoned'").fetchall()
            if _number(r[0])}


def remember(store: Store, highest: int) -> None:
    """Keep `highest` as a number used before (by rebuild-state, from the media's records)."""
    store.execute("INSERT INTO meta(key, value) VALUES (?,?) ON CONFLICT(key) DO UPDATE SET value=excluded.value"
                  " WHERE CAST(meta.value AS INTEGER) < CAST(excluded.value AS INTEGER)", (_KEY, str(highest)))
