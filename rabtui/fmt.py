"""Sizes, ages and durations as the screens and the command line show them."""

from __future__ import annotations

import stat
import time
from typing import Callable

_UNITS = ("B", "KiB", "MiB", "GiB", "TiB", "PiB")


def size(n: int | float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in _UNITS:
        if abs(n) < 1024 or unit == _UNITS[-1]:
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return "-"


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(max(0, seconds))
    if seconds < 60:
        return f"{seconds}s"
    minutes, seconds = divmod(seconds, 60)
    if minutes < 60:
        return f"{minutes}m{seconds:02d}s"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours}h{minutes:02d}m"
    return f"{hours // 24}d{hours % 24:02d}h"


AHEAD = 60     # seconds: a time further ahead of now was given by a clock that was ahead (or is behind now)


def age(ts: float | None, now: float | None = None) -> str:
    if not ts:
        return "never"
    since = (now or time.time()) - ts
    return f"dated {duration(-since)} ahead" if since < -AHEAD else duration(since) + " ago"


def stamp(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def utc(ts: int) -> str:
    """A time to the second in UTC, as a file's mtime the catalog keeps is named in a message."""
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(ts))


def rate(bps: float | None) -> str:
    if not bps:
        return "-"
    return size(bps) + "/s"


_PLURALS = {"medium": "media", "directory": "directories", "entry": "entries", "copy": "copies"}


def count(n: int, noun: str) -> str:
    """`n` and `noun`, in the plural unless there is one: "1 disc", "3 discs", "2 media",
    "2 archive entries"."""
    if n == 1:
        return f"{n} {noun}"
    head, _, last = noun.rpartition(" ")      # "archive entry": its last word takes the plural
    return f"{n} {head}{' ' if head else ''}{_PLURALS.get(last, last + 's')}"


def are(n: int) -> str:
    """The verb of `count(n, ...)`: "1 file is", "2 files are"."""
    return "is" if n == 1 else "are"


def files(progress: dict) -> str:
    """The live file count of a progress event: "1,234 of 5,000 files" (items rsync has considered of
    those it has listed; "5,000+" while its list still grows), "" when the event has none."""
    done, total = progress.get("files_done"), progress.get("files_total")
    if done is None or not total:
        return ""
    more = "+" if progress.get("files_more") else ""
    return f"{done:,} of {total:,}{more} {'file' if total == 1 and not more else 'files'}"


def cut_middle(text: str, width: int) -> str:
    """`text` in at most `width` characters: its start and its end, with "…" for what is left out
    between them (names that share a long start differ at the end: web-frankfurt-01, -02)."""
    if len(text) <= width:
        return text
    head = (width - 1) // 2
    return text[:head] + "…" + text[len(text) - (width - 1 - head):]


def bar(fraction: float, width: int) -> str:
    fraction = min(1.0, max(0.0, fraction))
    full = int(round(fraction * width))
    return "█" * full + "░" * (width - full)


_C_ESCAPES = {0x07: "\\a", 0x08: "\\b", 0x09: "\\t", 0x0A: "\\n", 0x0B: "\\v", 0x0C: "\\f", 0x0D: "\\r"}


def escaped(text: str, escape: Callable[[str], str], shown: Callable[[str], bool] | None = None) -> str:
    """`text` with each character a person must not be shown as it is replaced by `escape(ch)`: the
    one rule of what the terminal, the screens and a disc's README.txt and catalog show of a name.
    Shown as they are: printable characters (str.isprintable). Escaped: controls (C0, DEL, C1, NEL),
    format characters (bidi overrides and isolates U+202A-E, U+2066-9, U+061C; zero-width U+200B-F,
    U+FEFF: "invoice\\u202efdp.exe" shows as "invoiceexe.pdf"), line and paragraph separators, spaces
    other than U+0020, surrogates (bytes that are not UTF-8, surrogate-escaped), private-use and
    unassigned code points (a later Unicode may make them any of those). `shown`: another rule, for
    reading what was written by one before."""
    if shown is None:
        if text.isprintable():
            return text
        shown = str.isprintable
    return "".join(ch if shown(ch) else escape(ch) for ch in text)


def raw_bytes(ch: str) -> bytes:
    """The bytes a character of a name decoded with surrogateescape stands for: a byte that is not
    UTF-8 as itself, another character as its UTF-8 (lone surrogates too)."""
    code = ord(ch)
    if 0xDC80 <= code <= 0xDCFF:                  # a byte that is not UTF-8
        return bytes((code - 0xDC00,))
    return ch.encode("utf-8", "surrogatepass")


def _octal(ch: str) -> str:
    return _C_ESCAPES.get(ord(ch)) or "".join(f"\\{b:03o}" for b in raw_bytes(ch))


def name(value: bytes | str) -> str:
    """A file name (or any text holding one) made safe for a terminal, as `ls -b` shows it: what
    `escaped` does not show as it is as C escapes (`\\n`, `\\r`) or octal (`\\033`, `\\342\\200\\256`), bytes
    that are not UTF-8 as octal (`\\377`). Printable text, accents and CJK included, is unchanged. A
    name given as bytes has its backslashes doubled too, as `ls -b` does (each name then has its own
    escaped form); text keeps them, so that a message whose names were escaped already is shown as
    it is. JSON output keeps the exact names instead."""
    if isinstance(value, bytes):
        return escaped(value.decode("utf-8", "surrogateescape").replace("\\", "\\\\"), _octal)
    return escaped(value, _octal)


def file_kind(mode: int) -> str:
    """What a file that is not a regular file is, as a message names it."""
    return ("FIFO" if stat.S_ISFIFO(mode) else "socket" if stat.S_ISSOCK(mode) else "symlink" if stat.S_ISLNK(mode)
            else "directory" if stat.S_ISDIR(mode) else "character device" if stat.S_ISCHR(mode)
            else "block device" if stat.S_ISBLK(mode) else "special file")


def lines(text: str) -> str:
    """A message of several lines for a terminal: each line as `name` shows it, the breaks kept."""
    return "\n".join(name(line) for line in text.split("\n"))
