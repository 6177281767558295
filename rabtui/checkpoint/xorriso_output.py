"""What xorriso prints, read: its `-pkt_output` packets, the progress of a write, the check of a
written disc, the media, the volume id, and the listings of an image (`lsdl` under
`-backslash_codes encode_results`, `report_lba`, `getfattr`/`getfacl`) that verification compares
with the backup; and what tells a run of it failed for this machine (killed, short of file
descriptors or memory), which judges no disc. The command lines that make it print them are in xorriso.py."""

from __future__ import annotations

import os
import re
import time
from dataclasses import dataclass, field
from typing import Iterable, Sequence

_PKT = re.compile(r"^([RIM]):([01]): ?(.*)$", re.S)
_UPDATE = re.compile(r"UPDATE\s*:\s*Writing:\s+(\d+)s\s+([\d.]+)%")
_SPACE = re.compile(r"Media space\s*:\s*(\d+)s")
_AFTER = re.compile(r"After commit\s*:\s*(\d+)s")
_STATUS = re.compile(r"Media status\s*:\s*(.+)")
_MISMATCH = re.compile(r"MD5 MISMATCH:\s*'(.*)'\s*$")
_REGION = re.compile(r"Media region\s*:\s*(\d+)\s*,\s*(\d+)\s*,\s*(\S+)\s*(\S*)")
_BLANK = re.compile(r"^Media status\s*:\s*is blank")
_VOLID = re.compile(r"Volume [Ii]d\s*:\s*'?([^']*)'?")
# `-exec lsdl` under encode_results: a name is single-quoted, its quotes written as '"'"' and
# control and 8-bit bytes as backslash codes, so the line holds nothing unquoted but the fields
_WORD = rb"(?:'[^']*'|\"'\")+"
WORD = _WORD    # a quoted name (unquoted gives its bytes)
_WORD_PART = re.compile(rb"'([^']*)'|\"'\"")
_LSDL = re.compile(rb"([-dlpcbs])([-rwxsStT]{9})\+?\s+\d+\s+(\d+)\s+(\d+)\s+\S+\s+([^'\"]*?)\s(" + _WORD + rb")"
                   rb"(?: -> (" + _WORD + rb"))?")
_KINDS = {b"-": 0o100000, b"d": 0o040000, b"l": 0o120000, b"p": 0o010000, b"c": 0o020000, b"b": 0o060000,
          b"s": 0o140000}


def payload(line: bytes | str) -> tuple[str, str]:
    """(channel, text) of one `-pkt_output on` line; channel '' when it is not one."""
    if isinstance(line, bytes):
        line = line.decode("utf-8", "replace")
    m = _PKT.match(line)
    return (m.group(1), m.group(3)) if m else ("", line)


def parse_update(text: str) -> dict | None:
    """`xorriso : UPDATE : Writing:  12225s  78.6%  fifo 0%  buf 50%` -> sectors and percent."""
    m = _UPDATE.search(text)
    if not m:
        return None
    return {"sectors": int(m.group(1)), "percent": float(m.group(2))}


_CODE = re.compile(rb"\\([0-7]{3}|[ntrabfve\\])")
_SIMPLE = {b"n": b"\n", b"t": b"\t", b"r": b"\r", b"a": b"\a", b"b": b"\b", b"f": b"\f", b"v": b"\v",
           b"e": b"\x1b", b"\\": b"\\"}


def _decoded(m: re.Match) -> bytes:
    code = m.group(1)
    return _SIMPLE[code] if len(code) == 1 else bytes((int(code, 8) & 0xFF,))


def unescape_output(text: str) -> bytes:
    """Undo xorriso's encode_output: \\n \\t \\\\ and \\ooo octal codes, back to the name's bytes (a
    backslash before anything else stays as it is)."""
    raw = text.encode("utf-8", "surrogateescape")
    return _CODE.sub(_decoded, raw) if b"\\" in raw else raw


def unquoted(word: bytes) -> bytes:
    """A name as xorriso quotes it in a listing or (under encode_output) a message (`WORD`), as bytes."""
    return _unquoted(word)


def _unquoted(word: bytes) -> bytes:
    return b"".join(unescape_output(p.group(1).decode("ascii", "surrogateescape")) if p.group(1) is not None
                    else b"'" for p in _WORD_PART.finditer(word))


def parse_lsdl(line: bytes) -> tuple[bytes, int, bytes | None, tuple[int, int]] | None:
    """(image path, st_mode, a symlink's target, (uid, gid)) from one line of `list_argv`; None
    for another."""
    m = _LSDL.fullmatch(line.rstrip(b"\r\n"))
    if m is None:
        return None
    perms = m.group(2)
    mode = _KINDS[m.group(1)]
    for ch, bit in zip(perms, (0o400, 0o200, 0o100, 0o40, 0o20, 0o10, 0o4, 0o2, 0o1)):
        if ch not in b"-ST":
            mode |= bit
    mode |= (0o4000 if perms[2] in b"sS" else 0) | (0o2000 if perms[5] in b"sS" else 0) | \
        (0o1000 if perms[8] in b"tT" else 0)
    target = None if m.group(7) is None else _unquoted(m.group(7))
    return _unquoted(m.group(6)), mode, target, (int(m.group(3)), int(m.group(4)))


# a device node's line: its numbers where another entry's size is ("crw-r--r-- 1 0 0 1,3 ...")
_NODE = re.compile(rb"[cb][-rwxsStT]{9}\+?\s+\d+\s+\d+\s+\d+\s+(\d+),(\d+)\s")


def lsdl_rdev(line: bytes) -> int | None:
    """The numbers (as st_rdev) of a device node of one line of `list_argv`; None for another line."""
    m = _NODE.match(line)
    return None if m is None else os.makedev(int(m.group(1)), int(m.group(2)))


def lsdl_date(line: bytes) -> str | None:
    """The time of one line of `list_argv` as it shows it: 'Sep 13 12:26' (to the minute) or
    'Sep 13 2020' (to the day), its spaces made single; None for another line."""
    m = _LSDL.fullmatch(line.rstrip(b"\r\n"))
    return None if m is None else " ".join(m.group(5).decode("ascii", "replace").split())


_LBA = re.compile(rb"File data lba:\s*0\s*,\s*(\d+)\s*,\s*\d+\s*,\s*(\d+)\s*,\s*(" + _WORD + rb")")


def parse_report_lba(line: bytes) -> tuple[bytes, int, int] | None:
    """(image path, first block of its data, size) from a line of `report_lba` (its first extent);
    None for another line. The names of one file (hard links) share its data; so do files of size 0."""
    m = _LBA.fullmatch(line.rstrip(b"\r\n"))
    return None if m is None else (_unquoted(m.group(3)), int(m.group(1)), int(m.group(2)))


LSDL_MONTHS = ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec")


def lsdl_dates(t: int) -> tuple[str, str]:
    """The two ways `lsdl` shows a time `t` (UTC, as list_argv is run): to the minute (a recent
    one) and to the day."""
    g = time.gmtime(t)
    day = f"{LSDL_MONTHS[g.tm_mon - 1]} {g.tm_mday}"
    return f"{day} {g.tm_hour:02d}:{g.tm_min:02d}", f"{day} {g.tm_year}"


_FILE_HEAD = b"# file: "
_ATTR = re.compile(rb'([^=]+)="(.*)"')
_ACL_LINE = re.compile(rb"(?:default:)?(?:user|group|mask|other):[^:]*:[-rwx]{3}")
ACL_KEY = b"(acl)"      # the text of an ACL that says more than the mode (`getfacl` lines), among the xattrs
_TRIVIAL = re.compile(rb"user::...\ngroup::...\nother::...")


class AttrsListing:
    """What `attrs_argv` prints, read a line at a time as it comes (a disc of many files lists a
    few lines of each, which are not held): `attrs`, image path (relative) -> {name: value} of its
    xattrs, and under ACL_KEY the lines of an ACL that says more than the mode (an entry without
    any left out); `oversized`, image path -> (length of the name, of the value) of each xattr
    listed without its value (disc_xattrs.py reads those)."""

    def __init__(self) -> None:
        self.attrs: dict[bytes, dict[bytes, bytes]] = {}
        self.oversized: dict[bytes, list[tuple[int, int]]] = {}
        self._path: bytes | None = None

    def take(self, line: bytes) -> None:
        line = line.rstrip(b"\r\n")
        if line.startswith(_FILE_HEAD):
            self._settle()
            self._path = unescape_output(line[len(_FILE_HEAD):].decode("ascii", "surrogateescape")).strip(b"/")
            return
        path = self._path
        if path is None:
            return
        if _ACL_LINE.fullmatch(line):
            # a name that is not ASCII is listed escaped (-backslash_codes): taken as getfacl gives it
            line = unescape_output(line.decode("ascii", "surrogateescape"))
            current = self.attrs.setdefault(path, {})
            current[ACL_KEY] = (current[ACL_KEY] + b"\n" if ACL_KEY in current else b"") + line
            return
        m = _ATTR.fullmatch(line)
        if m:
            self.attrs.setdefault(path, {})[unescape_output(m.group(1).decode("ascii", "surrogateescape"))] = \
                unescape_output(m.group(2).decode("ascii", "surrogateescape"))
        elif m := _OVERSIZED.fullmatch(line):
            self.oversized.setdefault(path, []).append((int(m.group(1)), int(m.group(2))))

    def _settle(self) -> None:
        """The entry listed last: its ACL taken out if it says no more than the mode (xorriso lists
        one for every entry; an entry's ACL lines all follow one of its heads)."""
        attrs = self.attrs.get(self._path)
        if attrs is not None and _TRIVIAL.fullmatch(attrs.get(ACL_KEY, b"")):
            del attrs[ACL_KEY]
            if not attrs:
                del self.attrs[self._path]

    def done(self) -> tuple[dict[bytes, dict[bytes, bytes]], dict[bytes, list[tuple[int, int]]]]:
        """(attrs, oversized)."""
        self._settle()
        return self.attrs, self.oversized


def _listed(lines: Iterable[bytes]) -> AttrsListing:
    listing = AttrsListing()
    for line in lines:
        listing.take(line)
    return listing


def parse_getfattr(lines: Iterable[bytes]) -> dict[bytes, dict[bytes, bytes]]:
    """AttrsListing's `attrs` of the lines of `attrs_argv`."""
    return _listed(lines).done()[0]


_OVERSIZED = re.compile(rb"# oversized: name (\d+) , value (\d+) bytes")


def parse_oversized(lines: Iterable[bytes]) -> dict[bytes, list[tuple[int, int]]]:
    """AttrsListing's `oversized` of the lines of `attrs_argv`."""
    return _listed(lines).done()[1]


@dataclass
class CheckResult:
    ok: bool = True
    mismatched: list[bytes] = field(default_factory=list)   # files whose MD5 does not match
    bad_regions: list[tuple[int, int, str]] = field(default_factory=list)
    md5_found: bool = False
    messages: list[str] = field(default_factory=list)


def parse_check(lines: Sequence[str], returncode: int) -> CheckResult:
    """Read the result of `check_argv`: bad blocks, MD5 mismatches, a wrong volume id."""
    res = CheckResult(ok=returncode == 0)
    for line in lines:
        _, text = payload(line)
        text = text.rstrip("\n")
        m = _MISMATCH.search(text)
        if m:
            res.mismatched.append(unescape_output(m.group(1)))
            res.ok = False
            continue
        m = _REGION.search(text)
        if m and m.group(3).startswith("-"):
            res.bad_regions.append((int(m.group(1)), int(m.group(2)), (m.group(3) + " " + m.group(4)).strip()))
            res.ok = False
            continue
        if "File contents and their MD5 checksums match" in text:
            res.md5_found = True
        elif "md5_mismatch" in text or "Mismatch detected" in text:
            res.ok = False
        elif "There is no MD5 checksum array" in text or "Not a single file with MD5" in text:
            res.ok = False
            res.messages.append("the disc carries no MD5 checksums")
        elif "FATAL" in text or "FAILURE" in text or "SORRY" in text:
            res.messages.append(text.replace("xorriso : ", "").strip())
    if not res.md5_found and not res.mismatched and res.ok:
        res.ok = False
        res.messages.append("xorriso did not confirm the MD5 checksums")
    return res


def parse_media(lines: Sequence[str]) -> dict:
    """From `media_argv`: {'status': 'is blank', 'blank': True, 'free_sectors': N}."""
    out: dict = {"status": None, "blank": False, "free_sectors": None}
    for line in lines:
        _, text = payload(line)
        m = _STATUS.search(text)
        if m and out["status"] is None:
            out["status"] = m.group(1).strip()
            out["blank"] = "is blank" in out["status"]
        m = _SPACE.search(text)
        if m:
            out["free_sectors"] = int(m.group(1))
        m = _AFTER.search(text)
        if m and out["free_sectors"] is None:
            out["free_sectors"] = int(m.group(1))
    return out


def parse_volid(lines: Sequence[str]) -> str | None:
    """The medium's volume id; None without one, on a blank medium too (see is_blank)."""
    if is_blank(lines):
        return None
    for line in lines:
        _, text = payload(line)
        m = _VOLID.search(text)
        if m:
            return m.group(1).strip()
    return None


_SESSION = re.compile(r"ISO session\s*:\s*\d+\s*,\s*\d+\s*,\s*\d+s\s*,\s*(.*?)\s*$")


def parse_toc_volid(lines: Sequence[str]) -> str | None:
    """The volume id of the last session in what `media_argv` prints (its `-toc`, which reads no
    directory tree); None without one."""
    found = None
    for line in lines:
        m = _SESSION.search(payload(line)[1])
        if m:
            found = m.group(1) or None
    return found


def is_blank(lines: Sequence[str]) -> bool:
    """xorriso found a blank medium: a disc with nothing written on it, or as an image an empty
    file or a directory. It still gives a volume id, its default one for a new image (ISOIMAGE)."""
    return any(_BLANK.search(payload(line)[1]) for line in lines)


def _messages(lines: Iterable[bytes | str]) -> list[str]:
    """xorriso's messages (FATAL, FAILURE, SORRY) among its `-pkt_output` lines or its standard error's."""
    texts = (payload(x)[1].strip() for x in lines)
    return [t for t in texts if any(w in t for w in ("FATAL", "FAILURE", "SORRY"))]


def failures(lines: Iterable[bytes | str]) -> str:
    """What xorriso said went wrong among its `-pkt_output` lines (or its standard error's), in one
    line (the first 300 characters: the cause comes first)."""
    said = "; ".join(_messages(lines))
    return said if len(said) <= 300 else said[:300] + " ..."


# what says xorriso failed for this machine, not for the disc: an errno's text ending a message (no
# file descriptor, no memory); the loader that could not open or map its libraries (xorriso never
# ran); xorriso that could not allocate its own object, or libisoburn the read cache of the disc
# (isoburn_data_source_new fails on nothing else). Anchored: a name quoted in a message is none of these.
_MACHINE = re.compile(r"(Too many open files|Too many open files in system|Cannot allocate memory"
                      r"|Cannot create IsoDataSource object)$"
                      r"|^Creation of XorrisO object failed|^[^:]*: error while loading shared libraries: ")


class MachineFailed(OSError):
    """xorriso failed for this machine while it read a disc: the disc is not judged (an OSError, as
    verify_loop.py and rebuild-state take one)."""


def machine_failure(killed_by: str | None, said: Iterable[str], doing: str) -> str | None:
    """Why xorriso failed for this machine while `doing` ("checking the disc"), not for the disc it
    read: killed by a signal (the OOM killer, an operator, a limit of this machine; one stopped on a
    hung drive is Stalled instead), or short of file descriptors or memory as it says (`said`: its
    messages); or None. A disc xorriso reads and finds bad says none of this."""
    if killed_by:
        return f"xorriso was killed by signal {killed_by} while {doing}"
    for message in said:
        if _MACHINE.search(message.strip()):
            return f"xorriso failed while {doing}: {message.strip()}"
    return None


def raise_machine_failure(done, doing: str, lines: Iterable[bytes | str] = ()) -> None:
    """Raise MachineFailed where the xorriso run `done` (proc.run's; `lines`: the `-pkt_output`
    ones, where it printed its messages there) failed for this machine (machine_failure)."""
    if done.ok:
        return
    if why := machine_failure(done.killed_by, [*_messages(lines), *done.stderr_tail], doing):
        raise MachineFailed(why)
