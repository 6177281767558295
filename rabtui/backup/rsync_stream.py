"""rsync's output for one directory, read as it comes: sizes, catalog rows, progress and log events."""

from __future__ import annotations

import errno
import os
import re
import stat
import time
from pathlib import Path

from rabtui import fmt, rsync, rsync_exit, rsync_stderr
from rabtui.media import below
from rabtui.backup import unreadable, xattrs_again
from rabtui.backup.catalog_update import CatalogSpool, dir_prefix
from rabtui.backup.sizes import DirSizes
from rabtui.events import ITEM, LOG, PROGRESS, Emit, Event

EVENT_EVERY = 0.1      # seconds between two PROGRESS (and two ITEM) events
STDERR_LOG_LINES = 500
_F, _D, _DOT, _H, _PLUS, _C = ord("f"), ord("d"), ord("."), ord("h"), ord("+"), ord("c")
_NEW, _CHANGED, _ABSENT, _SAME, _LINKED, _BASE_OTHER = (rsync.NEW, rsync.CHANGED, rsync.ABSENT, rsync.SAME, rsync.LINKED,
                                                     rsync.BASE_OTHER)
# the sender's line for the directory it could not enter, from the line's start: the path of a file
# it could not read may hold the same words (and the directory's path, through directories so named)
_CHANGE_DIR = re.compile(rb'^rsync: (?:\[sender\] )?change_dir "(.*)" failed: ([^"\n]*)$')


class Stream:
    """Reads rsync's stdout a read at a time (many records each): the items with one regular
    expression scan, the last progress2 record only when an event is due, the --stats lines once
    they have begun."""

    def __init__(self, sizes: DirSizes, spool: CatalogSpool, emit: Emit, *, archive: bool, index: int, count: int,
                 basis: Path | None = None, sender_names: bool = True):
        self.sizes = sizes
        self.spool = spool
        self.emit = emit
        self.archive = archive
        self.dir = sizes.path
        self.prefix = dir_prefix(sizes.path)
        self.where = {"dir": sizes.path, "dir_index": index, "dirs": count}
        self._pending = b""          # from the last separator read: a record perhaps not whole yet
        self._last_item = float("-inf")
        self._last_progress = float("-inf")
        self._unshown: tuple[bytes, int] | None = None   # the last read with progress not yet shown
        self._stats = False
        self.stderr_logged = 0
        self.stderr_lines = 0
        self.errors = 0              # rsync's error lines (rsync_exit.is_error_line), logged or not
        self.top_missing: str | None = None   # why rsync could not enter the directory itself
        # the --link-dest or --compare-dest directory, and the directories of this transfer that are
        # symlinks there: rsync looks for their files through the symlinks (transfer_directory)
        self.basis = os.fsencode(basis) + b"/" if basis is not None else None
        self.via_symlinks: list[bytes] = []
        # an archive's directories that are files (FIFOs, ...) in its union: the source made them
        # directories since (an empty one holds no item that would make it one there)
        self.were_files: list[bytes] = []
        self._skipped: tuple[bytes, ...] = ()     # their items as the stream names them: "d/e/"
        self.linked: list[bytes] = []             # -H links made after the first of them was found
        # the files rsync copied from the --link-dest base's (`cf`: an attribute changed), without
        # its holes (holes_again.py)
        self.copied: list[bytes] = []
        # the symlinks and special files rsync made from the base's without their xattrs (xattrs_again.py)
        self.copied_others: list[bytes] = []
        # the entries written with a time a medium's file system may not hold, and that time (times_held.py)
        self.far_times: list[tuple[bytes, int]] = []
        # the last file named as written (its name in the directory, state, size): rsync names a file
        # as its data begins to come (the receiver, one file after another), so it may be under way
        self.last_written: tuple[bytes, int, int] | None = None
        # the files (names below the directory) rsync discarded at least once: read with an error
        # on the source, itemized all the same, perhaps again (redone.py)
        self.redone: set[bytes] = set()
        # what else rsync's error lines said: the files (full paths) it read with an error, and how
        # many lines said anything but that, a file to try again and its closing line of an exit 23
        self.read_errors: set[bytes] = set()
        self.not_retried = 0
        # rsync's copies of base's files that did not fit on the medium, each file sent instead
        # (rsync_stderr.copy_given_up): not counted in not_retried
        self.sent_instead = 0
        # the symlinks and special files (full paths on the medium) rsync could not make there (unmade_entries.py)
        self.unmade_entries: list[bytes] = []
        # the path of the file rsync's sender has started on and not finished (--debug=send1), as
        # the sender names it (the source's path of the directory, then the file's); looked for
        # only where the sender was asked to name them (`sender_names`: rsync.SENDER_NAMES)
        self.reading: bytes | None = None
        self.sender_names = sender_names
        self.heard = False           # anything on rsync's stdout: it has begun its list at least

    def data(self, chunk: bytes) -> None:
        self.heard = True
        data = self._pending + chunk
        # up to the last separator, which stays with the rest: a record is known by the one before it
        end = max(data.rfind(b"\n"), data.rfind(b"\r"))
        if end > 0:
            self._pending = data[end:]
            self._records(data, end)
        else:
            self._pending = data

    def finish(self) -> None:
        if self._pending:
            data, self._pending = self._pending, b""
            self._records(data, len(data))
        if self._unshown is not None:
            self._progress(*self._unshown)
        if self.stderr_lines > self.stderr_logged:
            self.emit(Event(LOG, f"{self.dir}: {self.stderr_lines - self.stderr_logged} more lines of rsync's error output"
                                 f" not logged (the first {self.stderr_logged} are above)"))

    def _records(self, data: bytes, end: int) -> None:
        """The records of data[:end], each whole. The loop runs once per file of the tree: it keeps
        to local names, and sizes, catalog rows and events are handed on once per read."""
        counts, nbytes, rows, same, others, linked_others = [0] * 5, [0] * 5, [], [], [], 0
        d, archive = self.dir, self.archive
        # each path as a bytearray (`prefix + name` is one then): sqlite3 binds a bytes parameter
        # only after looking it up as an object to adapt, which took 0.3 us more per staged file
        prefix = bytearray(self.prefix)
        add, add_same, add_other = rows.append, same.append, others.append
        states, state_of = rsync.FILE_STATES, rsync.file_state_of
        minutes, seconds_of, mtime, far = rsync.MINUTES, rsync.SECONDS, rsync.mtime, rsync.far
        basis, skipped = self.basis, self._skipped
        # names that hold rsync's escapes are rare: a read with no backslash at all (one byte,
        # found fast) searches no name for them (`in` on bytes first tries its operand as an int,
        # raising and clearing a TypeError, which took 0.2 us per file)
        escaped = data.find(b"\\", 0, end) >= 0
        for code, size, m, sec, name in rsync.item_matches(data, end):
            if skipped and name.startswith(skipped):
                continue    # below a directory that is copied again (a directory's line comes first)
            ftype = code[1]
            if ftype == _F:
                state = states.get(code)
                if state is None:
                    state = state_of(code)
                size = int(size)
                counts[state] += 1
                nbytes[state] += size
                if state == _ABSENT:
                    continue
                if state == _LINKED and skipped:
                    self.linked.append(name)    # perhaps to a file that is copied again (_copy_again)
            elif ftype == _D:
                if basis is not None and self._symlink_in_basis(name):
                    skipped = self._skipped
                continue
            else:
                if code[0] == _H and code[2] == _PLUS:
                    linked_others += 1          # a symlink or special file linked by -H
                    if skipped:
                        self.linked.append(name)    # as above
                if code[0] == _DOT:
                    continue
                # a symlink or special file, for the catalog's `others`: of a standard directory,
                # one hard-linked from the --link-dest base (`hL`) is the base's, unchanged; of an
                # archive directory, an item of its own too (linked into the union)
                minute = minutes.get(m)
                if escaped and b"\\#" in name:
                    name = rsync.unescape(name)
                if minute is not None:
                    seconds = minute + seconds_of[sec]
                else:
                    seconds = mtime(m, sec)
                    if far(seconds):
                        self.far_times.append((name, seconds))
                if code[0] == _C and xattrs_again.copied(code):
                    self.copied_others.append(name)
                add_other((d, prefix + name, ftype, _NEW if archive or code[0] != _H or code[2] == _PLUS
                           else _BASE_OTHER, seconds))
                if archive:
                    add((d, prefix + name, ftype, _NEW, int(size), seconds))
                continue
            minute = minutes.get(m)
            if escaped and b"\\#" in name:
                name = rsync.unescape(name)
            if minute is not None:
                seconds = minute + seconds_of[sec]
            else:
                seconds = mtime(m, sec)
                if far(seconds) and state != _SAME:    # linked from the base, which rsync found to have that time
                    self.far_times.append((name, seconds))
            if state == _SAME:
                add_same((d, prefix + name, size, seconds))
            else:
                add((d, prefix + name, ftype, state, size, seconds))
                if code[0] == _C:
                    self.copied.append(name)
        for state, count in enumerate(counts):
            if count:
                self.sizes.add_files(state, count, nbytes[state])
        if linked_others and self.sizes.hard_links is not None:
            self.sizes.hard_links += linked_others
        if counts[_NEW] or counts[_CHANGED]:
            for row in reversed(rows):
                if row[2] == _F and row[3] in (_NEW, _CHANGED):
                    self.last_written = (bytes(row[1][len(self.prefix):]), row[3], row[4])
                    break
        if rows or same or others:
            self.spool.add(d, rows, same, others)
        if self.sender_names:
            self._reading(data, end)
        if not self._stats:
            # --stats comes after every item; from its first line on, each read is scanned for its
            # lines (a name that holds these words costs only those scans)
            start = data.find(b"Number of files: ", 0, end)
            self._stats = start >= 0
        else:
            start = 0
        if self._stats:
            self.sizes.stats.update(rsync.stats_lines(data, start, end))
        now = time.monotonic()
        if data.rfind(b"\r", 0, end) >= 0:
            # progress2 records come as often as files: parse only those that will be shown
            if now - self._last_progress >= EVENT_EVERY:
                self._last_progress = now
                self._progress(data, end)
            else:
                self._unshown = (data, end)
        if (rows or same) and now - self._last_item >= EVENT_EVERY:
            self._last_item = now
            path, size = (rows[-1][1], rows[-1][4]) if rows else same[-1][1:3]
            name = path.decode("utf-8", "backslashreplace")
            self.emit(Event(ITEM, name, {"name": "/" + name, "size": size, **self.where}))

    def unwritten(self, dest: Path) -> None:
        """After a failed transfer into `dest`: the last file named as written, when `dest` does not
        hold it whole (rsync removed its part), taken out of the sizes."""
        if self.last_written is None:
            return
        rel, state, size = self.last_written
        try:
            st = below.lstat(os.fsencode(dest) + b"/", rel)
            held = stat.S_ISREG(st.st_mode) and st.st_size == size
        except OSError:
            held = False
        if not held:
            self.sizes.not_written(state, size)
        self.last_written = None

    def _symlink_in_basis(self, name: bytes) -> bool:
        """Whether the directory `name` (as the stream names it, with its slash) is a symlink in the
        basis; if so it is noted, and the items below it are left out from here on. One that is
        another file in an archive's union is noted in `were_files`."""
        rel = rsync.unescape(name).rstrip(b"/")
        if not rel or rel == b".":
            return False
        kind = _kind_in_basis(self.basis, rel)
        if kind != stat.S_IFLNK:
            if self.archive and kind not in (0, stat.S_IFDIR):
                self.were_files.append(rel)
            return False
        self.via_symlinks.append(rel)
        self._skipped += (name,)
        return True

    def _reading(self, data: bytes, end: int) -> None:
        """self.reading after the sender's last word in data[:end] on the file it works on."""
        started, finished = _record_at(data, b"send_files(", end), _record_at(data, b"sender finished ", end)
        if started < 0 and finished < 0:
            return
        if started > finished:
            line_end = data.find(b"\n", started, end)
            line = data[started + len(b"send_files("):end if line_end < 0 else line_end].rstrip(b"\r")
            self.reading = rsync.unescape(line.partition(b", ")[2].removesuffix(b")")) or None
        else:
            self.reading = None

    def reading_said(self) -> str:
        """The end of a stalled transfer's message: the file rsync's sender was reading, if one."""
        if not self.heard:    # -ii names the top directory as soon as the first part of the list is made
            return (" (nothing at all came from it, not the start of its file list: the source's rsync did not"
                    " start or answer, its rsync_path hung, or a hung file system at the directory)")
        if self.reading is None:
            return (" (a FIFO or a device put in a file's place after rsync listed it blocks rsync's read of it,"
                    " as does a hung file system on the source)")
        return (f" while it read {fmt.name(self.reading)} on the source (nothing came of it: a FIFO or a device"
                " put in a file's place, or a hung file system there)")

    def _progress(self, data: bytes, end: int) -> None:
        self._unshown = None
        progress = rsync.last_progress(data, end)
        if progress is not None:
            self.emit(Event(PROGRESS, "", {**progress.as_dict(), **self.where}))

    def err(self, record: bytes) -> None:
        if self.top_missing is None and b"change_dir" in record:
            m = _CHANGE_DIR.match(record)
            # named as rsync was sent it: its wildcards escaped over SSH
            if m and rsync.unescape(m.group(1)).rstrip(b"/") in {os.fsencode(self.dir), os.fsencode(rsync.glob_escaped(self.dir))}:
                self.top_missing = m.group(2).decode("utf-8", "backslashreplace")
        unreadable.note(self.sizes, record)
        if b'" failed: ' in record and (unmade := rsync_stderr.unmade_entry(record)) is not None:
            self.unmade_entries.append(unmade)
        self._retried(record)
        line = record.decode("utf-8", "backslashreplace")
        self.stderr_lines += 1
        self.errors += rsync_exit.is_error_line(line)
        if self.stderr_logged < STDERR_LOG_LINES:
            self.stderr_logged += 1
            self.emit(Event(LOG, f"{self.dir}: {line}", {"stream": "stderr"}))

    def _retried(self, record: bytes) -> None:
        found = rsync_stderr.discarded_try(record) if b" failed verification -- " in record else None
        if found is not None:
            self.redone.add(found[0])
            self.not_retried += not found[1]
            return
        path = rsync_stderr.read_errors(record) if b"read errors mapping" in record else None
        if path is not None:
            self.read_errors.add(path)
        elif rsync_stderr.copy_given_up(record):
            self.sent_instead += 1
        elif record.strip() and not rsync_stderr.left_out(record):
            self.not_retried += 1

    def only_retried(self) -> bool:
        """Did rsync's error lines say no more than that files it read with an error were tried
        again (each file it read so, one of them), and that the run left something out (exit 23)?"""
        top = os.fsencode(self.dir).rstrip(b"/") + b"/"
        return (not self.not_retried and bool(self.redone)
                and all(p.startswith(top) and p[len(top):] in self.redone for p in self.read_errors))


    def only_sent_instead(self) -> bool:
        """Did rsync's error lines say no more than that copies of base's files did not fit on the
        medium (each file sent instead), and that the run left something out (its exit 23)?"""
        return bool(self.sent_instead) and not self.not_retried and not self.read_errors and not self.redone

    def without_copies_given_up(self, tail: list[str]) -> list[str]:
        """rsync's last error lines, those of copies it gave up left out: none of them is a medium
        out of room, nor a file left out (rsync says so of the file it sent instead, if it failed)."""
        if not self.sent_instead:
            return tail
        return [line for line in tail if not rsync_stderr.copy_given_up(line.encode())]


def _record_at(data: bytes, head: bytes, end: int) -> int:
    """Where the last record of data[:end] that begins with `head` begins, or -1 (a name that holds
    it is within a record, not after a separator)."""
    i = data.rfind(head, 0, end)
    while i > 0 and data[i - 1] not in b"\n\r":
        i = data.rfind(head, 0, i)
    return i


def _kind_in_basis(basis: bytes, rel: bytes) -> int:
    """The file type (stat.S_IFMT) of `rel` (a directory of the stream) in the basis, 0 where it
    has none; S_IFLNK where it is a symlink or below one. Its parents were checked when the stream
    named them, so one lstat answers, unless the path is too long for one call (then part by part).
    When the answer is unsure (another error), it is a symlink: copied again with no basis, the
    directory is safe either way."""
    try:
        return stat.S_IFMT(os.lstat(basis + rel).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    except OSError as exc:
        if exc.errno != errno.ENAMETOOLONG:
            return stat.S_IFLNK
    try:
        if below.symlink_on_the_way(basis, rel + b"/") is not None:
            return stat.S_IFLNK
        return stat.S_IFMT(below.lstat(basis, rel).st_mode)
    except (FileNotFoundError, NotADirectoryError):
        return 0
    except OSError:
        return stat.S_IFLNK
