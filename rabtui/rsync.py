"""rsync: the argv of one directory's transfer, and the parser of what rsync prints (pure functions).

rsync runs with `-ii --out-format=%i|%l|%M|%n`: one line per item, including the unchanged files
that `--link-dest` hard-linked (`hf` with blank flags), so one pass of that stream gives the
catalog, the counts and the sizes. `%M` is printed in the local time of the rsync process, so we
run it with TZ=UTC; LC_ALL=C keeps numbers and escapes stable. rsync escapes unprintable bytes in
names (and a backslash that would look like an escape) as `\\#ooo`; `unescape` turns them back
into bytes.
"""

from __future__ import annotations

import calendar
import re
from dataclasses import dataclass
from typing import Iterator, Sequence

OUT_FORMAT = "%i|%l|%M|%n"
ENV = {"LC_ALL": "C", "TZ": "UTC"}

BASE_OPTIONS = (
    "-aH",
    "--numeric-ids",
    "--info=progress2",
    "--no-h",
    "--outbuf=L",
    "-ii",
    f"--out-format={OUT_FORMAT}",
    "--stats",
)
# A local sender names each file as it starts on it ("send_files(N, path)", escaped as %n is) and
# as it is done: a file it cannot read to the end (a FIFO put in its place blocks its open) is
# named when rsync is stopped (backup/rsync_stream.py). A remote sender is not asked: rsync 3.5.0
# does not pass the flag on, and a blocked sender's messages stay in its buffer.
SENDER_NAMES = "--debug=send1"
# A dry run that lists each file and, for each further name of a file of the list, its first name
# (`hf+++++++++ name => first`): the source's hard links among the files listed (links_apart.py)
LISTING_OPTIONS = ("-aH", "--numeric-ids", "--no-h", "-n", "-ii", "--out-format=%i %n%L")
# Sparse files stay sparse on the medium: rsync writes runs of zeros as holes. Unchanged files are
# hard links to the base's copy and keep its holes.
SPARSE = "--sparse"


def build_argv(
    source: str,
    dest: str,
    *,
    rsh: str | None = None,
    excludes: Sequence[str] = (),
    link_dest: str | None = None,
    compare_dest: str | None = None,
    rsync: str | Sequence[str] = "rsync",
    acls: bool = True,
    xattrs: bool = True,
    io_timeout: int | None = None,
    one_file_system: bool = False,
    bwlimit: str | None = None,
    rsync_path: str | None = None,
    extra: Sequence[str] = (),
    exact_times: bool = False,
    files_from: str | None = None,
    hard_links: bool = True,
    listing: bool = False,
) -> list[str]:
    """The rsync command of one directory (DESIGN.md, step 5).

    `source` is what `ssh.endpoint.rsync_location` gives ("user@host:/path/" or "/path/"), `dest` the
    directory in the backup (with a trailing slash). `link_dest` (standard kind) and
    `compare_dest` (archive kind: the medium's union tree) are absolute paths. `acls` and `xattrs`
    (the source's keys) add `-A` and `-X`: rsync then also keeps file capabilities
    (security.capability) and, run as root on both ends, the trusted.* and security.* namespaces.

    `rsync` is the local command (a program, or the words of a local source's `rsync_path`); the
    source's transfer options give `io_timeout` (--timeout), `one_file_system` (-x), `bwlimit`,
    `rsync_path` (the remote side's command, --rsync-path) and `extra` (its checked rsync_options).

    `exact_times` (a medium that keeps nanoseconds) makes rsync's quick check compare times to the
    nanosecond: by default it compares whole seconds, and a file rewritten within the second the
    last backup read it, its size unchanged, would be linked to that backup's stale copy.
    `files_from` (a local file of NUL-separated paths relative to `source`, or "-": read from
    rsync's standard input) limits the transfer to those paths and what is below them.
    `hard_links` False drops -H: an archive directory keeps each name as a file of its own,
    because with -H and --compare-dest rsync (3.5.0) leaves out a new name of a file the archive
    holds, or hangs. `listing`: a dry run that only lists (LISTING_OPTIONS).
    """
    argv = [rsync] if isinstance(rsync, str) else list(rsync)
    base = list(LISTING_OPTIONS if listing else BASE_OPTIONS)
    if not hard_links:
        base[base.index("-aH")] = "-a"
    argv += [*base, *fidelity_options(acls=acls, xattrs=xattrs)]
    if one_file_system:
        argv.append("-x")
    argv += transfer_options(exact_times=exact_times, io_timeout=io_timeout, bwlimit=bwlimit, rsync_path=rsync_path)
    argv += extra
    if rsh:
        argv += remote_shell(rsh)
    elif not listing:
        argv.append(SENDER_NAMES)
    # each pattern as written: rsync reads an exclude starting with "+ " as an include, "- " as a
    # prefix and "!" as clearing the list (undoing the exclude that keeps a medium out of its source)
    argv += [f"--exclude=- {pattern}" for pattern in excludes]
    if link_dest:
        argv.append(f"--link-dest={link_dest}")
    if compare_dest:
        argv.append(f"--compare-dest={compare_dest}")
    if files_from:
        # --files-from turns -a's recursion off: -r brings it back below the listed paths (a listing
        # wants the listed names only)
        argv += [*([] if listing else ["-r"]), "--from0", f"--files-from={files_from}"]
    argv += ["--", _slash(source), _slash(dest)]
    return argv


def transfer_options(*, exact_times: bool = False, io_timeout: int | None = None, bwlimit: str | None = None,
                     rsync_path: str | None = None) -> list[str]:
    """The flags a backup and a restore onto the source both pass: times compared to the nanosecond
    (`exact_times`, see build_argv), and the source's io_timeout, bwlimit and rsync_path."""
    argv = ["--modify-window=-1"] if exact_times else []
    if io_timeout is not None:
        argv.append(f"--timeout={io_timeout}")
    if bwlimit is not None:
        argv.append(f"--bwlimit={bwlimit}")
    if rsync_path is not None:
        argv.append(f"--rsync-path={rsync_path}")
    return argv


def remote_shell(rsh: str) -> list[str]:
    """rsync's options for a source reached by the command `rsh`: the paths go to the source's rsync
    over rsync's own protocol (-s, rsync 3.0.0 on), not on the remote shell's command line, whose
    quoting (rsync 3.2.4 on) drops a line break: "/srv/a\\nb" would read "/srv/ab". The source's
    rsync_path ("sudo rsync") is still run by that shell."""
    return ["-s", "-e", rsh]


def glob_escaped(path: str) -> str:
    """`path` as the source's rsync, sent it over SSH, is to take it: that rsync expands the
    wildcards of a path holding one (rsync_read_location), so they and the backslashes are escaped
    then, and it matches itself only, or stays as sent, with its escapes (not there)."""
    return re.sub(r"([*?[\\])", r"\\\1", path) if re.search(r"[*?[]", path) else path


def fidelity_options(*, acls: bool = True, xattrs: bool = True) -> list[str]:
    """What `-aH` leaves out of "everything the file system holds": ACLs, xattrs, holes."""
    return [*(["-A"] if acls else []), *(["-X"] if xattrs else []), SPARSE]


def _slash(path: str) -> str:
    return path if path.endswith("/") else path + "/"


# --- parsing ---------------------------------------------------------------------------------------

_ESCAPE = re.compile(rb"\\#([0-7]{3})")


def unescape(name: bytes) -> bytes:
    """rsync's `\\#ooo` escapes back to the bytes of the name."""
    if b"\\#" not in name:
        return name
    return _ESCAPE.sub(lambda m: bytes((int(m.group(1), 8),)), name)


# "     12345678  37%   12.34MB/s    0:01:02 (xfr#1, to-chk=4/8)": to-chk=LEFT/ALL counts the items
# considered; ir-chk while the incremental file list is still growing
_PROGRESS = re.compile(rb" *(\d[\d,]*) +(\d+)% +([\d.]+)([kMGTP]?)B/s +(\d+):(\d\d):(\d\d)"
                       rb"(?: +\(xfr#\d+, (to|ir)-chk=(\d+)/(\d+)\))?")
_STATS_LINE = re.compile(
    rb"^(Number of files|Number of created files|Number of deleted files|"
    rb"Number of regular files transferred|Total file size|Total transferred file size|"
    rb"Literal data|Matched data|File list size|Total bytes sent|Total bytes received): ([\d,]+)", re.M
)
_RATE_UNIT = {b"": 1, b"k": 1024, b"M": 1024**2, b"G": 1024**3, b"T": 1024**4, b"P": 1024**5}
# %M up to the minute -> seconds since the epoch: files of a tree share few minutes. Minutes
# outside [-2**31, 2**31) are not kept, so that the backup's stream meets them on its way for the
# minutes not kept, the only one where it asks whether a time is `far`
MINUTES: dict[bytes, int] = {}
# %M's seconds (one digit or two) as numbers, looked up: int() of a bytes object took ten times as
# long, and the stream converts the seconds of every file
SECONDS = {b"%0*d" % (width, n): n for width in (1, 2) for n in range(10 ** width)}
_MINUTES_KEPT = 50_000
_FAR = (-2**31, 2**31)


def far(seconds: int) -> bool:
    """Whether a time is one a medium's file system may not hold (ext4 from 1901-12-13 to
    2446-05-10, one of 128-byte inodes or XFS without bigtime to 2038-01-19): whether it did is
    looked at once the transfer is over (backup/times_held.py)."""
    return not _FAR[0] <= seconds < _FAR[1]


# One itemized line (`%i|%l|%M|%n`). Groups: code, size, %M up to the
# minute, its seconds, name. rsync escapes \r and \n in names, so a name ends at the line's end.
# It matches with the separator before the line: a pattern that begins with a literal is searched
# for that byte (fast) instead of being tried at every position, as "^" with re.M is.
# A year before 1000 comes padded with dashes (`-500`, `---1`: its sign is lost), one past 9999 with
# five digits, the seconds then cut to their tens (`10000/01/02-01:02:0`): a branch of their own
# after the years of four digits (one pattern for both took 5 % more of the scan: callgrind).
_ITEM = re.compile(rb"\n([<>ch.*][fdLDS][^|\n]{9})\|(\d+)\|"
                   rb"(\d{4}/\d\d/\d\d-\d\d:\d\d|[-\d]{4}\d?/\d\d/\d\d-\d\d:\d\d):(\d{1,2})\|([^\n]*)")


def _minute(m: bytes) -> int:
    minute = MINUTES.get(m)
    if minute is None:
        if m[4:5] == b"/" and m[0:1] != b"-":
            minute = calendar.timegm((int(m[0:4]), int(m[5:7]), int(m[8:10]), int(m[11:13]), int(m[14:16]), 0))
        else:
            year, _, rest = m.partition(b"/")
            minute = (_days(int(year.lstrip(b"-") or b"0"), int(rest[0:2]), int(rest[3:5])) * 86400
                      + int(rest[6:8]) * 3600 + int(rest[9:11]) * 60)
        if not far(minute):
            if len(MINUTES) >= _MINUTES_KEPT:
                MINUTES.clear()
            MINUTES[m] = minute
    return minute


def _days(year: int, month: int, day: int) -> int:
    """Days from 1970-01-01 to a date of the proleptic Gregorian calendar, of any year
    (calendar.timegm takes 1 to 9999 only)."""
    year -= month <= 2
    era = year // 400
    yoe = year - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    return era * 146_097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719_468


# An itemized line right after a progress2 record, with no separator between them. rsync ends a
# progress record with a newline only when it next writes, on the stream it writes to then: after
# one of its messages on stderr (a file it could not read, one that vanished) the next item comes
# glued to the record on stdout. _GLUED is the record (from its \r: nothing else in the stream holds
# one) up to such an item. Whether a read holds one is asked first, in one pass in C: kept of it
# only \r, \n and |, as R, N and P, a progress record (which holds no |) followed by an item is
# "RP" (0.05 us per file read; a regular expression at each record took 0.2 to 0.8); and only of a
# read with more | than its items hold (item_matches).
_GLUED = re.compile(rb"\r *\d[\d,]* +\d+% +[\d.]+[kMGTP]?B/s +\d+:\d\d:\d\d"
                    rb"(?: \(xfr#\d+, (?:to|ir)-chk=\d+/\d+\))? *(?=[<>ch.*][fdLDS])")
_AS_MARKS = bytes.maketrans(b"\r\n|", b"RNP")
_NOT_MARKS = bytes(sorted(set(range(256)) - set(b"\r\n|")))


def item_matches(data: bytes, end: int) -> list[tuple[bytes, bytes, bytes, bytes, bytes]]:
    """The itemized lines of data[:end], which ends with a whole record, as the raw groups of
    _ITEM (code, size, %M up to the minute, its seconds, escaped name): one scan of a read of the
    stream, other records (progress2, --stats) passed over. `items` converts them; the backup's
    scanner (backup/rsync_stream.py) converts them in its own loop, where a call per file would count."""
    found = _matches(data, end)
    # each item holds three |, none of them in another's: a read with no more (no name holding one)
    # holds no item glued to a record, and is not looked at for one (a count is cheaper)
    if data.count(b"|", 0, end) > 3 * len(found) and b"RP" in data.translate(_AS_MARKS, _NOT_MARKS):
        data = _GLUED.sub(rb"\g<0>\n", data[:end])
        found = _matches(data, len(data))
    return found


def _matches(data: bytes, end: int) -> list[tuple[bytes, bytes, bytes, bytes, bytes]]:
    # a record begins after \r or \n (scanning for both is slower than making them one); the
    # first one of the stream after nothing
    return _ITEM.findall(b"\n" + data.replace(b"\r", b"\n"), 0, end + 1)


def mtime(m: bytes, sec: bytes) -> int:
    """Seconds since the epoch of %M's minute `m` and seconds `sec` (UTC; one digit: their tens)."""
    return _minute(m) + (int(sec) if len(sec) == 2 else int(sec) * 10)


def items(data: bytes, end: int) -> Iterator[tuple[bytes, int, int, bytes]]:
    """(code, size, mtime, name) of every itemized line in data[:end] (see item_matches)."""
    for code, size, m, sec, name in item_matches(data, end):
        yield code, int(size), mtime(m, sec), unescape(name)


@dataclass
class Progress:
    done_bytes: int
    percent: int
    rate: float        # bytes per second
    eta: int           # seconds
    files_done: int | None = None    # items considered so far, of
    files_total: int | None = None   # the items to consider
    files_more: bool = False         # the file list is still being built: files_total will grow

    @property
    def total_bytes(self) -> int | None:
        """rsync's estimate of the whole transfer (it grows while the file list is being built)."""
        if self.percent <= 0:
            return None
        return self.done_bytes * 100 // self.percent

    def as_dict(self) -> dict:
        return {
            "done_bytes": self.done_bytes,
            "total_bytes": self.total_bytes,
            "percent": self.percent,
            "rate": self.rate,
            "eta": self.eta,
            "files_done": self.files_done,
            "files_total": self.files_total,
            "files_more": self.files_more,
        }


def last_progress(data: bytes, end: int) -> Progress | None:
    """The last progress2 record in data[:end]. Each begins after a \\r, which nothing else in
    the stream holds (names have theirs escaped)."""
    i = data.rfind(b"\r", 0, end)
    while i >= 0:
        m = _PROGRESS.match(data, i + 1, end)
        if m is not None:
            return _progress(m)
        i = data.rfind(b"\r", 0, i)
    return None


def _progress(m: re.Match) -> Progress:
    done, pct, rate, unit, h, mi, s, chk, left, total = m.groups()
    return Progress(
        done_bytes=int(done.replace(b",", b"")),
        percent=int(pct),
        rate=float(rate) * _RATE_UNIT.get(unit, 1),
        eta=int(h) * 3600 + int(mi) * 60 + int(s),
        files_done=int(total) - int(left) if total else None,
        files_total=int(total) if total else None,
        files_more=chk == b"ir",
    )


def stats_lines(data: bytes, start: int, end: int) -> list[tuple[str, int]]:
    """parse_stats_line of every record of data[start:end] that is one (after \\r or \\n)."""
    found = _STATS_LINE.findall(data.replace(b"\r", b"\n"), start, end)
    return [(key.decode(), int(value.replace(b",", b""))) for key, value in found]


# --- what the itemized code of a file means for a backup -----------------------------------------

SAME = 0        # hard-linked from the --link-dest base: unchanged
NEW = 1         # a new path: data written
CHANGED = 2     # a path that existed with another size/mtime/attributes: data written
LINKED = 3      # hard-linked to another file of this same transfer (-H): no data written
ABSENT = 4      # not in this backup (archive kind: already on the medium)
BASE_OTHER = 5  # a symlink or special file hard-linked from the --link-dest base: unchanged (not SAME,
                # which the catalog's spool takes for a regular file)


def file_state(code: bytes) -> int:
    """The state of a regular file's item code (`code[1] == ord('f')`)."""
    y = code[0]
    if y == 0x2E:            # "."  not created here (held by --compare-dest)
        return ABSENT
    if y == 0x68:            # "h"
        return LINKED if code[2] == 0x2B else SAME
    if y == 0x3E and code[2:] == b"+++++++++":   # ">f+++++++++"
        return NEW
    return CHANGED           # ">f.st......", "cf...p....." (local copy: attributes changed)


# file_state of the codes seen so far: a transfer has only a few different ones
FILE_STATES: dict[bytes, int] = {}
_STATES_KEPT = 4096


def file_state_of(code: bytes) -> int:
    state = FILE_STATES.get(code)
    if state is None:
        if len(FILE_STATES) >= _STATES_KEPT:
            FILE_STATES.clear()
        state = FILE_STATES[code] = file_state(code)
    return state
