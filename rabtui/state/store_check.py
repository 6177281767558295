"""Is the state database usable? Told apart before it is opened: a missing or empty file (a new
database), a damaged one (not SQLite, shorter than its header says, rabtui's tables missing), and a
state_dir that is read-only or full. Each is refused with its reason and the way out, never a
traceback and never an empty database standing in for a lost one ("never backed up").
"""

from __future__ import annotations

import os
import sqlite3
import stat
import time
from pathlib import Path

from rabtui import file_openers, fmt, privacy, proc_table
from rabtui.errors import WorkFailed


class StateUnusable(WorkFailed):
    """The state database cannot be used as it is: damaged, or its directory is full or read-only."""


REBUILD_HINT = ("the media and discs are not touched; `rabtui rebuild-state` keeps this database aside"
                " and recreates it from them")
SQLITE_MAGIC = b"SQLite format 3\x00"
MIN_FREE_BYTES = 4 << 20    # below this a backup's catalog cannot be written: refuse before it starts
MIN_FREE_INODES = 64        # the -wal and -shm, locks, a job's log, a checkpoint's files
SETTLE_TRIES, SETTLE_PAUSE = 10, 0.05   # a header ahead of the file's size, judged again for 0.5 s
WRITE_BACK_WAIT = 30       # seconds another process's writing back of the WAL is waited for (as SQLite's busy timeout)
WAL_HEADER = 32            # a -wal of its header alone holds no page
# every table of the first schema, so in every database rabtui made: one missing was dropped, and
# made anew it would be empty (the catalog's paths gone, `find` and `diff` would find nothing changed);
# the tables added since (changes, others, disc_xattrs_off, disc_dir_attrs) an older database lacks
CORE_TABLES = ("meta", "media", "backups", "backup_steps", "backup_dirs", "dir_state", "jobs", "events", "prompts",
               "paths", "versions", "checkpoints", "checkpoint_dirs", "discs", "disc_files", "health",
               "schedule_runs")
# databases this process has opened (see check_usable), each with whether a -wal holding
# transactions lay beside it then (see _wal_beside)
_OPENED_HERE: dict[str, bool] = {}


def _db(path: Path | None) -> str:
    return f"the state database {path}" if path else "the state database"


def damaged(path: Path | None, why: str) -> StateUnusable:
    return StateUnusable(f"{_db(path)} is damaged: {why}", hint=REBUILD_HINT)


def state_failure(exc: BaseException, path: Path | None) -> StateUnusable:
    """An SQLite error as the operator sees it: what failed, and the way out."""
    text = str(exc)
    emptied = emptied_under_its_users(path)
    if emptied:   # the connections opened before say "malformed", a new one "locked": one reason for both
        return damaged(path, emptied)
    if "locked" in text or "busy" in text:
        holders = file_openers.openers(path) if path is not None else []
        if holders:     # an operator's sqlite3 left in a transaction, say: run again fails again
            return StateUnusable(f"{_db(path)} is busy: {text}",
                                 hint=f"open in {proc_table.named(holders)}: one of them held it too long;"
                                      " run again once it lets go (a sqlite3 shell left in a transaction: end"
                                      " that transaction)")
        if os.geteuid() != 0 and path is not None:     # /proc shows a user its own processes' files only
            return StateUnusable(f"{_db(path)} is busy: {text}",
                                 hint="none of this user's processes has it open now: another user's may hold it"
                                      f" (an operator's sqlite3 run as root, say; `fuser -v {path}` as root names"
                                      " it); run again once it lets go")
        return StateUnusable(f"{_db(path)} is busy: {text}",
                             hint="another rabtui process held it too long; run again")
    if "disk is full" in text and path is not None and _free(path.parent) >= MIN_FREE_BYTES:
        # the state directory has room: what was full holds SQLite's temporary files (the tables of a
        # backup's catalog that outgrow its cache), in a directory of its own
        temp = temp_dir()
        return StateUnusable(f"{_db(path)} cannot be written: {text}; {path.parent} has room ({_free(path.parent) >> 20}"
                             f" MiB free): is {temp}, where SQLite keeps its temporary files, full?",
                             hint=f"free space in {temp}, or point SQLITE_TMPDIR at a directory with room; then run again")
    if "disk is full" in text or "disk I/O error" in text or "readonly" in text:
        where = path.parent if path else "the state directory"
        return StateUnusable(
            f"{_db(path)} cannot be written: {text} (is {where} full or read-only"
            + (", or is its disk failing? see the kernel's log: dmesg)" if "I/O error" in text else "?)"),
            hint="free space there or make it writable; if the database was damaged, " + REBUILD_HINT)
    return _wal_beside(path, text) or damaged(path, text)


def is_full(state_dir: Path) -> bool:
    """Whether the state directory has less room, or fewer inodes, than a run needs (check_usable)."""
    try:
        vfs = os.statvfs(state_dir)
    except OSError:
        return False
    return vfs.f_bavail * vfs.f_frsize < MIN_FREE_BYTES or bool(vfs.f_files and vfs.f_favail < MIN_FREE_INODES)


def _free(directory: Path) -> int:
    try:
        st = os.statvfs(directory)
    except OSError:
        return 0
    return st.f_bavail * st.f_frsize


def temp_dir() -> str:
    """Where SQLite keeps its temporary files: the first of these that is a directory it can write."""
    for d in (os.environ.get("SQLITE_TMPDIR"), os.environ.get("TMPDIR"), "/var/tmp", "/usr/tmp", "/tmp"):
        if d and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
            return d
    return "."


def _wal_beside(path: Path | None, text: str) -> StateUnusable | None:
    """A damaged database with a -wal beside it: SQLite replays whatever -wal it finds there, and one
    left by another database (this file put in place without its own) damages it. Said, with the way
    back for a database put there by hand; None when no -wal is there."""
    wal = Path(f"{path}-wal") if path else None
    if wal is None or _OPENED_HERE.get(os.path.realpath(path)) is False:
        # none held transactions when this process opened the database: what it holds now was
        # written through this database, by this process or another that had it open
        return None
    try:
        if wal.stat().st_size == 0:
            return None
    except OSError:
        return None
    return StateUnusable(
        f"{_db(path)} is damaged: {text}; a -wal file is beside it ({wal}), which SQLite replays onto it: if"
        " another database left it (this file put in place without its own -wal), that damaged it",
        hint=f"if you put this database file there yourself, move {wal} away and put the file there again;"
             f" otherwise {REBUILD_HINT}")


def refuse_changeable(state_dir: Path) -> None:
    """StateUnusable when a user other than root and this one can change the state directory or one
    above it (theirs, or writable and not sticky): they could put their own database in its place,
    or a symlink where rabtui writes a file there by name (a checkpoint's catalog: into /etc/shadow),
    as they can on a medium or an images folder, which are refused alike."""
    why = privacy.others_can_change(state_dir)
    if why:
        raise StateUnusable(f"the state directory {fmt.name(str(state_dir))}: {fmt.name(why)}, who could replace the"
                            " database or have rabtui write elsewhere through a symlink of theirs; nothing written",
                            hint="give it and the directories above it to this user or root (chown), closed to"
                                 " others (chmod go-w, or a sticky one: chmod +t)")


def _refuse_others_files(path: Path) -> None:
    """The database and the files SQLite keeps beside it must be this user's: one another user made
    first (in a state directory of theirs, or open to all: `check` says so) would be written into,
    every path of every host it records readable by them (a descriptor they hold reads on after
    SQLite, as root, gives the file to the database's owner), and they could change what it says."""
    for p in (path, *(Path(f"{path}{end}") for end in ("-wal", "-shm", "-journal"))):
        try:
            link = os.lstat(p)
            if stat.S_ISLNK(link.st_mode) and link.st_uid not in (0, os.geteuid()):
                raise StateUnusable(f"{p} is a symlink of user {privacy.user_named(link.st_uid)}: the state database"
                                    " is not written through it", hint="move it away (and see `rabtui check`)")
            owner = os.stat(p).st_uid      # followed, as SQLite opens it
        except OSError:
            continue
        if owner != os.geteuid():
            raise StateUnusable(f"{p} belongs to user {privacy.user_named(owner)}, not to this one: the state"
                                " database is not written into another user's file (they could read every"
                                " path it records, and change it)",
                                hint="a database of yours: move that file away (and see `rabtui check`); one of"
                                     " that user's (a dedicated user's state): run rabtui as that user")
        _refuse_linked_elsewhere(p)


# the names rabtui itself links the database and its -wal under, in the state directory: a rebuild's
# copy kept aside (actions/rebuild.py), a new database linked into place (store._create)
_OWN_LINKS = ("rabtui.db.before-rebuild-", ".rabtui.db.new-")


def _refuse_linked_elsewhere(p: Path) -> None:
    """A file of the database's with names besides those rabtui links it under: a hard link someone
    made at rabtui.db-shm (say) to a file of this user's elsewhere, /etc/shadow for root (a state
    directory open to all, where the kernel's protected_hardlinks is off), would be written over.
    In a directory where nobody else can make a name, the other names are this user's (a copy of the
    state directory made by `cp -al`)."""
    if privacy.others_can_name_in(p.parent) is None:
        return
    try:
        st = os.stat(p, follow_symlinks=False)
    except OSError:
        return
    if not stat.S_ISREG(st.st_mode) or st.st_nlink < 2:
        return
    names = 1
    try:
        with os.scandir(p.parent) as entries:
            for e in entries:
                if e.name.startswith(_OWN_LINKS) and e.inode() == st.st_ino:
                    names += e.stat(follow_symlinks=False).st_ino == st.st_ino
    except OSError:
        pass
    if names < st.st_nlink:
        raise StateUnusable(f"{p} has {st.st_nlink} names, {st.st_nlink - names} of them not rabtui's own (a hard"
                            " link to a file elsewhere, another user's doing where the state directory is open to"
                            " them): the state database is not written into it",
                            hint=f"a database of yours linked by hand: copy it instead (cp -p), then remove the"
                                 f" other names (find / -xdev -samefile {p}); else move {p} away")


def _refuse_closed_file(path: Path) -> None:
    """The database file closed to this user by its mode (a chmod by hand, the state directory put
    back from a copy): said as that, naming the file and its mode, not as a read-only state
    directory to mount read-write."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    lacks = [what for what, bit in (("read", os.R_OK), ("written", os.W_OK)) if not os.access(path, bit)]
    if lacks:
        raise StateUnusable(f"{_db(path)} cannot be {' or '.join(lacks)} by this user (its mode"
                            f" {stat.S_IMODE(mode):04o})",
                            hint=f"give it back to this user: chmod u+rw {path}; should it be damaged too,"
                                 f" {REBUILD_HINT}")


def check_usable(state_dir: Path, path: Path, full_ok: bool = False) -> bool:
    """Refuse a state_dir that is read-only or full (`full_ok`: not for being full: a restore goes
    on unrecorded), and a database file that is not one or is shorter than its own header says (a
    truncated file would otherwise read as "never backed up"). Returns whether the database existed
    (an absent or empty file is a new database)."""
    try:
        vfs = os.statvfs(state_dir)
    except OSError as exc:
        raise StateUnusable(f"the state directory {state_dir} cannot be read: {exc.strerror}") from None
    if vfs.f_flag & os.ST_RDONLY or not os.access(state_dir, os.W_OK | os.X_OK):
        raise StateUnusable(f"the state directory {state_dir} is read-only: rabtui records every run there",
                            hint="make it writable (mount it read-write); if the database was damaged, "
                                 + REBUILD_HINT)
    free = vfs.f_bavail * vfs.f_frsize
    if free < MIN_FREE_BYTES and not full_ok:
        raise StateUnusable(f"the state directory {state_dir} is full ({free // 1024} KiB free,"
                            f" {MIN_FREE_BYTES >> 20} MiB needed)",
                            hint="free space there, then run again; should the database be damaged: " + REBUILD_HINT)
    # out of inodes, SQLite cannot make the -wal and -shm ("unable to open database file"), nor rabtui
    # its locks and logs (f_files 0: a file system that makes inodes as it needs them)
    if vfs.f_files and vfs.f_favail < MIN_FREE_INODES and not full_ok:
        raise StateUnusable(f"the state directory {state_dir} is full ({vfs.f_favail} inodes free,"
                            f" {MIN_FREE_INODES} needed)", hint="remove files there, then run again")
    _refuse_others_files(path)
    _refuse_closed_file(path)
    # Closing any descriptor of a file drops every POSIX lock this process holds on it, SQLite's
    # included (another process would then take this one's connection for gone and remove the WAL
    # under it): the header is read only before this process's first connection to the database.
    key = os.path.realpath(path)
    first = key not in _OPENED_HERE
    if first:
        _OPENED_HERE[key] = _wal_holds_frames(path)
    try:
        st = path.stat()
    except FileNotFoundError:
        if path.is_symlink():
            # the database on a disk not mounted now: an empty one made there would stand in for it
            raise damaged(path, f"it is a symbolic link to {os.readlink(path)}, which is not there"
                                " (on a disk that is not mounted?)") from None
        return False
    except OSError as exc:
        raise damaged(path, f"cannot read it: {exc.strerror}") from None
    if not stat.S_ISREG(st.st_mode) and not stat.S_ISDIR(st.st_mode):
        # SQLite would read it as an empty database, or its reads would wait for a writer forever
        raise damaged(path, f"it is no file but a {fmt.file_kind(st.st_mode)}")
    _refuse_odd_companions(path)
    size = st.st_size
    if size == 0:
        # SQLite writes the header as it creates the file: an empty one where rabtui has run
        # before (it leaves its locks and logs) was truncated, not made new; unless another process
        # is putting a new one in place of an empty file of old (store._create, whose lock made
        # locks/ a moment before): judged again for 0.5 s
        if not _ran_in(state_dir):
            return False
        for _ in range(SETTLE_TRIES):
            time.sleep(SETTLE_PAUSE)
            if _size(path):
                break
        else:
            raise damaged(path, "it is empty (truncated?)")
    if not first:
        return True
    # Another process may be writing its WAL back into the file meanwhile (a checkpoint: the header
    # first, then the pages past the old end): a header ahead of the size is judged again a few
    # times before the file is called truncated; one truly cut short stays so.
    for _ in range(SETTLE_TRIES):
        problem = _header_problem(path)
        if problem is None:
            return True
        time.sleep(SETTLE_PAUSE)
    # One that ended while it did so (a daemon thread's checkpoint cut off by the end of its
    # process, a kill, a power cut) left those pages in the WAL, where SQLite reads them: the WAL is
    # written back (or, while another process writes it back, waited for) before the file is judged.
    deadline = time.monotonic() + WRITE_BACK_WAIT
    while _wal_holds_frames(path) and fold_wal(path, "PASSIVE") and time.monotonic() < deadline:
        time.sleep(SETTLE_PAUSE)
    problem = _header_problem(path)
    if problem is None:
        return True
    if _wal_holds_frames(path):
        # a write-back that the file system had no room for ends half-way, the file shorter than its
        # header says, and its pages are whole in the -wal: full, not damaged
        why = _write_back_failure(path)
        if why and "disk is full" in why:
            raise StateUnusable(
                f"the state directory {state_dir} is full: the last transactions of {path} wait in its -wal and"
                f" cannot be written back into it ({why})",
                hint="free space there, then run again; the database is whole (its -wal holds what its file"
                     " lacks): do not move the -wal away") from None
    raise damaged(path, problem)


def _refuse_odd_companions(path: Path) -> None:
    """The -wal, -shm and -journal SQLite keeps beside the database, where there, must be files: a
    directory or a FIFO there failed the commands that write, as "disk I/O error" or "attempt to
    write a readonly database" (the state directory called full, read-only or failing), and let
    those that only read go on. Nor may one be a symbolic link: SQLite opens none (one to another
    database's -wal would mix the two), and every command said only "unable to open database
    file", the database damaged, to be rebuilt."""
    for end in ("-wal", "-shm", "-journal"):
        companion = Path(f"{path}{end}")
        try:
            mode = companion.stat().st_mode
        except OSError as exc:
            if not companion.is_symlink():
                continue
            what = f"a symbolic link to {os.readlink(companion)}, which leads nowhere ({exc.strerror})"
        else:
            if companion.is_symlink():
                what = f"a symbolic link to {os.readlink(companion)}, which SQLite does not open"
            elif stat.S_ISREG(mode):
                continue
            else:
                what = f"no file but a {fmt.file_kind(mode)}"
        raise StateUnusable(f"{_db(path)} is damaged: its {end} file {companion} is {what}",
                            hint=f"move {companion} away, then run again; should the database be damaged too,"
                                 f" {REBUILD_HINT}")


def is_file(path: str | os.PathLike) -> bool:
    """Whether `path` leads to a regular file: SQLite's reads of a FIFO there would wait for ever."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return False


def emptied_under_its_users(path: Path | None) -> str | None:
    """A database file emptied (truncated) under the processes that have it open: the new
    connections of those processes wait on its WAL's locks and fail as if it were busy (SQLite says
    "database is locked", after its busy timeout). Said as damaged, as check_usable says it."""
    if path is None:
        return None
    try:
        if os.stat(path).st_size:
            return None
    except OSError:
        return None
    if _ran_in(path.parent):
        return "it is empty (truncated?)"
    return None


def _ran_in(state_dir: Path) -> bool:
    """Whether rabtui has run in `state_dir`: it leaves its locks and logs there."""
    return any((state_dir / d).exists() for d in ("locks", "logs"))


def _size(path: Path) -> int:
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _wal_holds_frames(path: Path) -> bool:
    try:
        return Path(f"{path}-wal").stat().st_size > WAL_HEADER
    except OSError:
        return False


def _header_problem(path: Path) -> str | None:
    """What makes the file no whole SQLite database by its own header, or None; its size is taken
    after its header is read."""
    try:
        with open(path, "rb") as f:
            header = f.read(100)
            size = os.fstat(f.fileno()).st_size
    except OSError as exc:
        return f"cannot read it: {exc.strerror}"
    if len(header) < 100 or not header.startswith(SQLITE_MAGIC):
        return "it is not an SQLite database"
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    # the header's page count holds only while its "valid for" counter matches the change counter
    if header[92:96] == header[24:28] and size < pages * page_size:
        return f"it is {size} bytes long, its header says {pages * page_size} (truncated?)"
    if page_size < 512 or size % page_size:
        return f"its size {size} is not a whole number of {page_size}-byte pages (truncated?)"
    return None


def check_tables(conn: sqlite3.Connection, path: Path, schema_version: int) -> None:
    """An existing database must hold rabtui's tables, of a schema this version knows: never fill a
    foreign or emptied file anew, nor one a newer rabtui made (its tables may mean other things)."""
    have = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    if not have:      # a database another process has just made and not filled yet: new
        return
    missing = [t for t in CORE_TABLES if t not in have]
    if missing:
        more = f" and {len(missing) - 4} more" if len(missing) > 4 else ""
        raise damaged(path, f"tables missing: {', '.join(missing[:4])}{more}")
    # fetchall: a cursor left open would hold its read transaction, and this connection would see
    # the database as it was at this moment for as long as it lives
    rows = conn.execute("SELECT value FROM meta WHERE key='schema_version'").fetchall()
    if not rows:
        raise damaged(path, "no schema version recorded")
    version = str(rows[0][0])
    if not (version.isascii() and version.isdigit() and 1 <= int(version)):
        raise damaged(path, f"its schema version {version[:40]!r} is no version of rabtui's")
    if int(version) > schema_version:
        raise StateUnusable(
            f"{_db(path)} was made by a newer rabtui (schema version {version}; this one knows {schema_version})",
            hint="run the rabtui that made it; to go on with this one instead, `rabtui rebuild-state` keeps the"
                 " database aside and recreates it from the media and the discs")


def _write_back_failure(path: Path) -> str | None:
    """Why SQLite cannot write the database's -wal back into its file now, or None."""
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error as exc:
        return str(exc)
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()
        return None
    except sqlite3.Error as exc:
        return str(exc)
    finally:
        conn.close()


def fold_wal(path: Path, mode: str = "TRUNCATE") -> bool:
    """The database's last transactions into its main file (TRUNCATE: its -wal emptied; PASSIVE: as
    far as no other process needs to let it), when SQLite can: a damaged one may not let it, and is
    then left as it is. Whether it could not because another process was writing them back."""
    if not is_file(path):      # SQLite would make a database where a symlink that leads nowhere points
        return False
    try:
        conn = sqlite3.connect(path)
    except sqlite3.Error:
        return False
    try:
        return conn.execute(f"PRAGMA wal_checkpoint({mode})").fetchone()[0] == 1
    except sqlite3.Error:
        return False
    finally:
        conn.close()
