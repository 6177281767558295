"""What one backup run writes about itself: its rows in the state database (`backups`,
`backup_steps`, `backup_dirs`, `dir_state`) and `backup.json` / `backup.log` in its directory.

`backup.json` is written `running` first and its final state last, by atomic replace, so a run
that crashed before it was complete is never `completed` on the medium; the room its final state
takes is kept from the first (`backup.json.tmp`), so that a medium filled by another source
meanwhile does not leave a complete backup `running` on the medium. A run writes its final state
before its database row: a run killed between the two ended as it says (complete, or failed), and
recovery records it so.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import tempfile
import time
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path

from rabtui import __version__, faults
from rabtui.backup import unreadable
from rabtui.backup.record_bound import encoded_within
from rabtui.backup.sizes import DirSizes, Totals
from rabtui.media import medium_layout
from rabtui.errors import EXIT_FAILED, EXIT_OK, EXIT_WARNINGS
from rabtui.state.store import ID_REACH, NEXT_BACKUP_ID_SQL, Store

STEPS = (
    "source reachable",
    "destination reachable",
    "destination directory",
    "pre-backup commands",
    "rsync",
    "post-backup commands",
    "sizes",
)


def iso_time(ts: float | None) -> str | None:
    """A time in backup.json: to the microsecond, so that rebuild-state knows which of two backups
    started in the same second (onto two media, each numbered 1 by a database made anew) came first."""
    return datetime.fromtimestamp(ts).astimezone().isoformat(timespec="microseconds") if ts else None


ROOM = 64 << 10      # bytes kept on the medium for a running backup's final backup.json (bounded to it)


def write_json_atomic(path: Path, data: dict, *, keep_room: bool = False) -> None:
    """`path` replaced by `data` as JSON, atomically: its temporary file beside it written, synced,
    renamed over it. A temporary file there already (the room kept) is written into in place, so
    that the write needs no new inode, nor new blocks for what fits, on a medium filled since by
    another source. `keep_room`: such a file is left for the next write, ROOM bytes long (a copy
    of this one padded with blanks); when it cannot be made, that write takes what it needs then.
    A directory another made there is never taken away with what it holds: it stays, and the
    record goes through a temporary file of another name. The record is cut to fit the room
    (record_bound.py), however long its texts and names."""
    tmp = path.with_name(path.name + ".tmp")
    text = encoded_within(data, ROOM)
    try:
        _write_synced(tmp, text)
    except IsADirectoryError:
        _replace_through_new(path, text)
        return
    os.replace(tmp, path)
    if keep_room:
        try:
            _write_synced(tmp, text.ljust(ROOM))
        except OSError:
            pass


def _write_synced(path: Path, content: bytes) -> None:
    """`content` written into the file at `path` (made if missing), over the blocks it holds: no
    truncation first, which would give them back to a medium others are filling."""
    _written(_open_own(path), content)


def _written(fd: int, content: bytes) -> None:
    """`content` written into the open file `fd` from its start, synced; `fd` closed."""
    try:
        view = memoryview(content)
        while view:
            view = view[os.pwrite(fd, view, len(content) - len(view)):]
        os.ftruncate(fd, len(content))
        os.fsync(fd)
    finally:
        os.close(fd)


def _replace_through_new(path: Path, content: bytes) -> None:
    """`path` replaced by `content` through a new temporary file beside it (a name no other entry
    has, made O_EXCL), which is removed if the replace fails."""
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        _written(fd, content)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def _open_own(path: Path) -> int:
    """The file at `path` opened to be written into, made if missing, private (0600). Only a file of
    its own (the room kept: this user's, one link) is written into: whatever else another put
    there (a symlink, a hard link to another file, a FIFO, which would hang the open, a file of
    another owner) is taken away, never written through, and a new file made in its place."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC
    try:
        fd = os.open(path, flags | os.O_NONBLOCK, 0o600)
    except OSError as exc:
        if exc.errno not in (errno.ELOOP, errno.ENXIO):    # ENXIO: a FIFO with no reader
            raise
    else:
        st = os.fstat(fd)
        if _ours(st):
            if st.st_mode & 0o077:     # renamed over backup.json, it gives the record its mode
                os.fchmod(fd, 0o600)
            os.set_blocking(fd, True)
            return fd
        os.close(fd)
    os.unlink(path)
    return os.open(path, flags | os.O_EXCL, 0o600)


def _ours(st: os.stat_result) -> bool:
    """A file this user's run made: regular, this user's, with no other name (not a hard link
    someone made to another file)."""
    return stat.S_ISREG(st.st_mode) and st.st_nlink == 1 and st.st_uid == os.geteuid()


LEFTOVER = medium_layout.RECORD_LEFTOVER


def remove_leftovers(backup_dir: Path) -> list[str]:
    """The temporary files of a backup.json that a run (or rebuild-state) killed while writing it
    left in `backup_dir` (the room kept, `backup.json.tmp`, and those made beside it,
    `backup.json.XXXXXXXX.tmp`), removed; only once that run is over. Only a regular file of this
    user's with one link, no longer than the room, holding a record or nothing is taken for one:
    anything else of such a name (a directory another made, a symlink) stays as it is. Returns the
    names removed."""
    removed: list[str] = []
    try:
        dir_fd = os.open(backup_dir, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC)
    except OSError:
        return removed
    try:
        for name in sorted(os.listdir(dir_fd)):
            try:
                if LEFTOVER.fullmatch(name) and _made_here(name, dir_fd):
                    os.unlink(name, dir_fd=dir_fd)
                    removed.append(name)
            except OSError:
                continue
    finally:
        os.close(dir_fd)
    return removed


def _made_here(name: str, dir_fd: int) -> bool:
    fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not _ours(st) or st.st_size > ROOM:
            return False
        return os.pread(fd, 1, 0) in (b"", b"{")
    finally:
        os.close(fd)


class RunRecord:
    def __init__(self, store: Store, *, source: str, medium: str, name: str, path: Path,
                 started: float, job_id: int | None):
        self.store = store
        self.source = source
        self.medium = medium
        self.name = name
        self.path = path
        self.started = started
        self.finished: float | None = None
        self.status = "running"
        self.reason: str | None = None
        self.cancelled_by: str | None = None    # a failed run's cancel: its job's or its whole run's (cancelled_by.py)
        self.link_dest: str | None = None
        self.link_dest_id: int | None = None
        self.dir_created = False
        self.final_written = False     # backup.json says the run complete (or its data kept)
        self.steps = [{"step": i + 1, "name": n, "state": "pending", "started": None, "finished": None,
                       "message": None} for i, n in enumerate(STEPS)]
        self.dirs: list[DirSizes] = []
        with store.transaction() as conn:
            cur = conn.execute(
                "INSERT INTO backups(id, source, medium, name, path, status, started, job_id, dir_made)"
                f" VALUES ({NEXT_BACKUP_ID_SQL}, ?,?,?,?, 'running', ?, ?, 0)",
                (source, medium, name, str(path), started, job_id),
            )
            self.id = cur.lastrowid
            conn.executemany(
                "INSERT INTO backup_steps(backup_id, step, name, state) VALUES (?,?,?, 'pending')",
                [(self.id, s["step"], s["name"]) for s in self.steps],
            )

    # --- steps -----------------------------------------------------------------------------------

    def step(self, n: int, state: str, message: str | None = None) -> None:
        s = self._mark(n, state, message)
        self.store.execute(
            "UPDATE backup_steps SET state=?, started=?, finished=?, message=? WHERE backup_id=? AND step=?",
            (state, s["started"], s["finished"], s["message"], self.id, n),
        )

    def _mark(self, n: int, state: str, message: str | None = None) -> dict:
        s = self.steps[n - 1]
        now = time.time()
        if state == "running":
            s["started"] = now
        else:
            s["finished"] = now
            s["started"] = s["started"] or now
        s["state"] = state
        if message is not None:
            s["message"] = message
        return s

    def made(self, path: Path) -> None:
        """The run made its directory (a new one: never one that was there), named as planned or
        not (same second: -2, -3 ...). Until the row says so, its name and path are only planned:
        an older backup there may bear them, which its recovery never takes for its own."""
        self.name, self.path = path.name, path
        self.store.execute("UPDATE backups SET name=?, path=?, dir_made=1 WHERE id=?", (path.name, str(path), self.id))

    def number_above(self, highest: int) -> int | None:
        """The run's id raised above `highest` (the highest id its source's backups on its medium
        record) before its backup.json is first written, if it is not above already; the id it had,
        else None. On a medium, each backup's id is above those of the backups made before it there:
        the undoing of a killed run, the link base and recovery go by those ids. A database that did
        not know them (rebuilt while the medium was away, or made anew after one was lost) numbers
        from its own highest id."""
        if self.id > highest:
            return None
        was = self.id
        with self.store.transaction() as conn:
            new = max(highest, conn.execute("SELECT MAX(id) FROM backups").fetchone()[0]) + 1
            if new >= ID_REACH:     # an id given by hand on the medium (or a database that took one)
                return None
            conn.execute("UPDATE backups SET id=? WHERE id=?", (new, was))
            conn.execute("UPDATE backup_steps SET backup_id=? WHERE backup_id=?", (new, was))
        self.id = new
        return was

    def set_link_dest(self, name: str | None, backup_id: int | None) -> None:
        self.link_dest, self.link_dest_id = name, backup_id
        self.store.execute("UPDATE backups SET link_dest=? WHERE id=?", (backup_id, self.id))

    # --- results ---------------------------------------------------------------------------------

    def save_dirs(self, durable: bool = False) -> Totals:
        """The directories' results and the totals recorded (`durable`: store.transaction)."""
        totals = Totals.of(self.dirs)
        with self.store.transaction(durable) as conn:
            conn.executemany(
                "INSERT OR REPLACE INTO backup_dirs(backup_id, path, kind, state, rsync_exit, total_bytes, new_bytes,"
                " files, new_files, changed_files, unreadable, whole_on_retry, source_bytes, excludes)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
                [(self.id, d.path, d.kind, d.state, d.rsync_exit, d.total_bytes, d.new_bytes, d.files,
                  d.new_files, d.changed_files, unreadable.count(d), int(d.whole_on_retry), d.source_bytes,
                  None if d.excludes is None else json.dumps(d.excludes)) for d in self.dirs],
            )
            conn.execute("DELETE FROM unreadable WHERE backup_id=?", (self.id,))
            for d in self.dirs:
                unreadable.record(conn, self.id, d.path, d.unreadable, d.unmade)
            conn.execute(
                "UPDATE backups SET total_bytes=?, new_bytes=?, files=?, new_files=? WHERE id=?",
                (totals.total_bytes, totals.new_bytes, totals.files, totals.new_files, self.id),
            )
        return totals

    def did_not_fit(self, dir_paths: list[str], when: float | None = None) -> None:
        when = when or time.time()
        with self.store.transaction() as conn:
            for path in dir_paths:
                conn.execute(
                    "INSERT INTO dir_state(source, path, did_not_fit) VALUES (?,?,?)"
                    " ON CONFLICT(source, path) DO UPDATE SET did_not_fit=excluded.did_not_fit",
                    (self.source, path, when),
                )

    def end(self, status: str, reason: str | None) -> None:
        """The end of a run that did not complete, in this record only (backup.json is written by
        write_json, the database by save_end): the steps that had not ended failed or skipped."""
        self.status, self.reason = status, reason
        self.finished = time.time()
        for s in self.steps:
            if s["state"] in ("pending", "running"):
                self._mark(s["step"], "skipped" if s["state"] == "pending" else "failed")

    def save_end(self, *, row_running: bool = False) -> None:
        """What `end` says, into the database. `row_running`: what its step 7 wrote could not be
        undone (history.undo_written), so its row stays `running`, as a killed run's, for the next
        run's recovery to undo it; backup.json says how it ended all the same."""
        with self.store.transaction() as conn:
            conn.executemany(
                "UPDATE backup_steps SET state=?, started=?, finished=?, message=? WHERE backup_id=? AND step=?",
                [(s["state"], s["started"], s["finished"], s["message"], self.id, s["step"]) for s in self.steps])
            conn.execute(
                "UPDATE backups SET status=CASE WHEN ? THEN status ELSE ? END, finished=?, reason=? WHERE id=?",
                (row_running, self.status, self.finished, self.reason, self.id))

    def complete(self, status: str, reason: str | None) -> None:
        """The end of a complete backup (or of kept data): backup.json first, then the database row.
        A run killed between the two is found `running` with that backup.json, which recovery
        records as it says (the catalog, the checkpoint trigger's changes and the archive links were
        written before either)."""
        self.status, self.reason = status, reason
        self.finished = time.time()
        self.write_json()
        self.final_written = True
        remove_leftovers(self.path)
        faults.point("backup.json_written")
        self.store.execute("UPDATE backups SET status=?, finished=?, reason=? WHERE id=?",
                           (status, self.finished, reason, self.id))

    # --- backup.json -----------------------------------------------------------------------------

    def json(self) -> dict:
        totals = Totals.of(self.dirs)
        totals.seconds = round((self.finished or time.time()) - self.started, 3)
        stopped = {"cancelled_by": self.cancelled_by} if self.cancelled_by and self.status == "failed" else {}
        return {
            "format": 1,
            "rabtui": __version__,
            "source": self.source,
            "medium": self.medium,
            "name": self.name,
            "backup_id": self.id,
            "status": self.status,
            "reason": self.reason,
            **stopped,
            "started": iso_time(self.started),
            "finished": iso_time(self.finished),
            "link_dest": self.link_dest,
            "steps": [{**s, "started": iso_time(s["started"]), "finished": iso_time(s["finished"])} for s in self.steps],
            "directories": [d.as_dict() for d in self.dirs],
            "totals": totals.as_dict(),
        }

    def write_json(self) -> None:
        """backup.json as the run stands; while it runs, with room kept for its final one."""
        if self.dir_created:
            write_json_atomic(self.path / "backup.json", self.json(), keep_room=self.status == "running")

    def transfer_ended(self) -> str | None:
        """backup.json as the run stands once its transfer ended whole (step 5 ended well): the mark
        by which the recovery of a run killed after it keeps its data (transfer_whole). Written
        through a new temporary file, the room kept for the final record left as it is (remade on
        a medium the transfer filled, it could be lost). Why it could not be written, if so."""
        try:
            _replace_through_new(self.path / "backup.json", encoded_within(self.json(), ROOM))
        except OSError as exc:
            return f"cannot write {self.path}/backup.json: {exc.strerror or exc}"
        return None


def transfer_whole(info: dict | None) -> bool:
    """Whether a run's backup.json (read as `info`) says it is still running with its transfer
    ended whole (RunRecord.transfer_ended): its rsyncs all ended well (exit 0, 24 or 23), the data
    is a whole copy of the source."""
    if not info or info.get("status") != "running" or not isinstance(info.get("steps"), list):
        return False
    return any(isinstance(s, dict) and s.get("step") == 5 and s.get("state") in ("ok", "warning")
               for s in info["steps"])


def find_abandoned(store: Store, source: str) -> list:
    """Rows of this source still `running`: the caller holds the source lock, so their process is gone."""
    return store.all("SELECT * FROM backups WHERE source=? AND status='running' ORDER BY id", (source,))


def running_rows(store: Store) -> list:
    """Every row still `running`, by source, medium and id: a backup going on, or a killed one's."""
    return store.all("SELECT * FROM backups WHERE status='running' ORDER BY source, medium, id")


def mark_abandoned(store: Store, backup_id: int, note: str) -> None:
    store.execute(
        "UPDATE backups SET status='abandoned', finished=COALESCE(finished, ?), reason=? WHERE id=?",
        (time.time(), note, backup_id),
    )
    end_steps(store, backup_id)


def end_steps(db, backup_id: int) -> None:
    """The steps of a run that ended without them (`db`: the store, or a transaction's connection):
    the one under way failed, those not begun skipped."""
    db.execute("UPDATE backup_steps SET state=CASE WHEN state='running' THEN 'failed' ELSE 'skipped' END"
               " WHERE backup_id=? AND state IN ('running', 'pending')", (backup_id,))


@dataclass
class BackupResult:
    backup_id: int | None
    source: str
    medium: str | None
    status: str           # completed | warnings | failed | cancelled
    path: Path | None
    total_bytes: int
    new_bytes: int
    reason: str | None
    exit_code: int        # EXIT_OK, EXIT_WARNINGS, EXIT_FAILED

    def as_dict(self) -> dict:
        d = asdict(self)
        d["path"] = str(self.path) if self.path else None
        return d


EXIT_OF = {"completed": EXIT_OK, "warnings": EXIT_WARNINGS, "failed": EXIT_FAILED, "cancelled": EXIT_FAILED}
