"""What rsync's exit code and error lines mean for one directory's transfer: ok, warning (a partial
transfer, files vanished) or failed, with a reason the operator can act on (pure functions)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Sequence

from rabtui import fmt

EXIT_NAMES = {
    1: "syntax or usage error",
    2: "protocol incompatibility",
    3: "errors selecting input/output files or directories",
    4: "requested action not supported",
    5: "error starting the client-server protocol",
    6: "daemon unable to append to log file",
    10: "error in socket I/O",
    11: "error in file I/O",
    12: "error in the rsync protocol data stream",
    13: "errors with program diagnostics",
    14: "error in IPC code",
    15: "sibling process crashed",
    16: "sibling process was killed by a signal",
    19: "received SIGUSR1",
    20: "received SIGINT, SIGTERM or SIGHUP",
    21: "some error returned by waitpid()",
    22: "error allocating core memory buffers",
    23: "partial transfer due to error",
    24: "some files vanished before they could be transferred",
    25: "the --max-delete limit stopped deletions",
    30: "no data moved for io_timeout seconds (the link or the source stalled)",
    35: "timeout waiting for daemon connection",
    255: "the ssh connection failed",
}

NO_SPACE = "medium too small"


def stalled(io_timeout: int) -> str:
    """How a transfer is said that rabtui stopped, rsync silent and idle for `io_timeout` seconds
    (rsync's own --timeout is not heard from a process that no longer runs)."""
    return f"the transfer stalled: nothing from rsync for {io_timeout} s (io_timeout), rsync was stopped"


@dataclass(frozen=True)
class Outcome:
    state: str            # ok | warning | failed
    reason: str | None
    no_space: bool = False


def is_error_line(line: str) -> bool:
    """One of rsync's own error lines (not its closing "rsync error: ..." summary)."""
    return bool(line.strip()) and not line.startswith("rsync error:") and not line.startswith("rsync warning:")


def error_lines(stderr: Sequence[str], limit: int = 10) -> list[str]:
    """rsync's own error lines (not its closing "rsync error: ..." summary)."""
    return [line.strip() for line in stderr if is_error_line(line)][:limit]


def _says_full(line: str, error: str) -> bool:
    """Whether one of rsync's lines says a write on the medium failed with `error`: the receiver's
    (or generator's) line ending with it and its number, as rsync ends a line with the system's
    error. Not the sender's, nor one that only names a path holding the words (a file of the source
    so named that could not be read, or vanished)."""
    line = line.rstrip()
    return (not line.startswith("rsync: [sender]")
            and re.search(rf": {re.escape(error)} \(\d+\)$", line) is not None)


# rsync's line for an xattr the medium's file system refused, of a file by its temporary name
# (".name.XXXXXX" beside it) or of a directory or symlink by its own
_XATTR_UNHELD = re.compile(r'^rsync: \[receiver\] rsync_xal_set: [lf]?setxattr\("(.*)","[^"]*"\) failed: '
                           r'No space left on device \(\d+\)$')
_TEMP_NAME = re.compile(r"^\.(.+)\.[A-Za-z0-9]{6}$")


def _xattrs_unheld(stderr: Sequence[str]) -> list[str]:
    """The names of the entries whose xattrs the medium had no room for, where those are all that
    said "No space left on device": no full medium then, but a file system that holds less of an
    entry's xattrs than the source's. Empty otherwise."""
    names: dict[str, None] = {}
    for line in stderr:
        if _says_full(line, "No space left on device"):
            m = _XATTR_UNHELD.match(line.rstrip())
            if m is None:
                return []
            name = m.group(1).rpartition("/")[2]
            temp = _TEMP_NAME.match(name)
            names[temp.group(1) if temp else name] = None
    return list(names)


def interpret_exit(code: int, stderr: Sequence[str], errors_in_all: int | None = None) -> Outcome:
    """rsync's exit code -> ok / warning / failed with a reason the operator can act on.
    `errors_in_all`: rsync's error lines of the whole run, of which `stderr` (its tail) names some:
    the reason says how many there were, so that ten named do not read as ten in all."""
    if code == 0:
        return Outcome("ok", None)
    errors = error_lines(stderr)
    listed = ("; ".join(errors)) if errors else ""
    if errors_in_all is not None and errors_in_all > len(errors):
        listed += f" ({fmt.count(errors_in_all, 'error')} from rsync in all, {len(errors)} named here)"
    if code == 24:
        return Outcome("warning", "some files vanished during the transfer" + (f": {listed}" if listed else ""))
    unheld = _xattrs_unheld(stderr) if code == 23 else []
    if unheld:
        shown = ", ".join(fmt.name(n) for n in unheld[:5]) + (", ..." if len(unheld) > 5 else "")
        return Outcome("warning", f"xattrs of {fmt.count(len(unheld), 'entry')} not kept in this backup: the medium's file"
                                  f" system has no room for them (ext4 holds about 4 KiB of an entry's xattrs; XFS, btrfs"
                                  f" and tmpfs more): {shown}")
    # a medium out of room (or of inodes: rsync then says 23, each file it could not create) is full,
    # not a partial transfer
    if code in (11, 12, 23) and any(_says_full(line, "No space left on device") for line in stderr):
        return Outcome("failed", f"{NO_SPACE}: no space left on device", no_space=True)
    if code in (11, 12, 23) and any(_says_full(line, "Disk quota exceeded") for line in stderr):
        return Outcome("failed", f"{NO_SPACE}: disk quota exceeded", no_space=True)
    if code == 23:
        return Outcome("warning", "some files could not be transferred" + (f": {listed}" if listed else ""))
    name = EXIT_NAMES.get(code, "unknown error")
    if code == 255 or (code == 12 and any("ssh" in line.lower() or "connection" in line.lower() for line in stderr)):
        name = "the ssh connection failed" if code == 255 else "the connection broke (rsync protocol data stream)"
    if code < 0:
        name = f"killed by signal {-code}"
    return Outcome("failed", f"rsync exit {code}: {name}" + (f": {listed}" if listed else ""))
