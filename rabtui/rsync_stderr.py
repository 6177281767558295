"""What rsync's error lines say of single paths: one it could not read on the source (a file it
could not open, a directory it could not list, an entry it could not look at), and one whose data
it discarded for a read error there (backup/unreadable.py and backup/redone.py act on them), a
copy of a base's file it gave up for want of room, and a symlink, FIFO or device node it could not
make on the medium (backup/unmade_entries.py)."""

from __future__ import annotations

import re

from rabtui.rsync import unescape

# the sender's lines for a path on the source it could not read: a file it could not open, a
# directory it could not list, an entry it could not stat (not "file has vanished": that one is
# gone). Untagged from an rsync older than 3.2.4; the name as rsync escapes it, its own quotes unescaped
_UNREADABLE = re.compile(rb'^rsync: (?:\[sender\] )?(?:send_files failed to open "(.*)"'
                         rb'|opendir "(.*)" failed|readlink_stat\("(.*)"\) failed): [^"]*$')


def unreadable_path(line: bytes) -> bytes | None:
    """The path (as the sender names it, unescaped) of one of rsync's error lines that says it could
    not read that path on the source; None for any other line."""
    found = unreadable_entry(line)
    return found and found[0]


UNREAD_FILE, UNREAD_DIR, UNREAD_ENTRY = "file", "dir", "entry"


def unreadable_entry(line: bytes) -> tuple[bytes, str] | None:
    """unreadable_path's path, and what it is: UNREAD_FILE a regular file rsync could not open,
    UNREAD_DIR a directory it could not list, UNREAD_ENTRY an entry it could not look at (of any
    kind: a directory perhaps)."""
    m = _UNREADABLE.match(line.rstrip(b"\r\n"))
    if m is None:
        return None
    kind = UNREAD_FILE if m.group(1) is not None else UNREAD_DIR if m.group(2) is not None else UNREAD_ENTRY
    return unescape(next(g for g in m.groups() if g is not None)), kind


# The receiver's line for a file whose data did not match the sender's checksum: a read error on
# the source zero-filled part of it (the sender said "read errors mapping"), so the sender spoiled
# the checksum. The file was itemized all the same and is not kept; it is asked for once more
# ("WARNING: ... (will try again)."), and when that fails too, it is not in the transfer ("ERROR").
# The name as the itemized lines name it (relative to the transfer's root), escaped as they are.
_DISCARDED = re.compile(rb"^(ERROR|WARNING): (.*) failed verification -- update discarded( \(will try again\))?\.$")


def discarded(line: bytes) -> bytes | None:
    """The name (unescaped) of the file one of rsync's error lines says it discarded, for it did not
    match what the source sent (for good or to try again); None for any other line."""
    found = discarded_try(line)
    return found and found[0]


def discarded_try(line: bytes) -> tuple[bytes, bool] | None:
    """discarded's name, and whether rsync tries it again (False: discarded for good)."""
    m = _DISCARDED.match(line.rstrip(b"\r\n"))
    if m is None or (m.group(1) == b"ERROR") == bool(m.group(3)):
        return None
    return unescape(m.group(2)), bool(m.group(3))


# The sender's line for a file it read with an error (what follows it zero-filled: the file is
# discarded, above), and rsync's last line of a run that left something out (its exit 23).
_READ_ERRORS = re.compile(rb'^rsync: (?:\[sender\] )?read errors mapping "(.*)": [^"]*$')
_LEFT_OUT = re.compile(rb"^rsync error: some files/attrs were not transferred \(see previous errors\) \(code 23\) at ")


def read_errors(line: bytes) -> bytes | None:
    """The path (as the sender names it, unescaped) of a file rsync's line says it read with an
    error; None for any other line."""
    m = _READ_ERRORS.match(line.rstrip(b"\r\n"))
    return unescape(m.group(1)) if m else None


def left_out(line: bytes) -> bool:
    """Is it rsync's last line of a run that left something out (exit 23), naming nothing?"""
    return _LEFT_OUT.match(line) is not None


# The generator's line for its copy of the --link-dest base's (or the --compare-dest union's) file,
# a file whose attributes alone changed (`cf`), written whole into a temporary name (".NAME.XXXXXX",
# the name cut or left out when long) that did not fit on the medium: rsync (3.5.0) removes it and
# sends the file instead, written with its holes (--sparse); the line and its exit 23 are all that
# stays of it. Where that transfer fails too, rsync says so on a line of its own.
_COPY_GIVEN_UP = re.compile(rb'^rsync: \[generator\] write "/(?:.*/)?\.[^/]*": '
                            rb'(?:No space left on device|Disk quota exceeded) \(\d+\)$')


def copy_given_up(line: bytes) -> bool:
    """Does one of rsync's error lines say its copy of a base's file did not fit (and so it sent
    the file instead)?"""
    return _COPY_GIVEN_UP.match(line.rstrip(b"\r\n")) is not None


# The generator's line for a symlink, FIFO, socket or device node it could not make on the medium
# (exFAT holds none: exfat-fuse's mknod leaves an empty regular file there and fails "File exists").
# The path is the destination's, in full; a symlink's target follows it.
_UNMADE = re.compile(rb'^rsync: (?:\[generator\] )?(?:mknod "(.*)"|symlink "(.*)" -> ".*") failed: [^"]*$')


def unmade_entry(line: bytes) -> bytes | None:
    """The destination path (unescaped) of a symlink or special file one of rsync's error lines says
    it could not make; None for any other line."""
    m = _UNMADE.match(line.rstrip(b"\r\n"))
    return unescape(next(g for g in m.groups() if g is not None)) if m else None
