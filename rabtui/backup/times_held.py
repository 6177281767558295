"""Times a medium's file system cannot hold. The kernel gives an entry the nearest time its file
system holds, without an error: ext4 from 1901-12-13 to 2446-05-10, ext4 of 128-byte inodes and XFS
without bigtime to 2038-01-19. rsync sets the source's time and says nothing. The entries a transfer
wrote with a time outside the 32-bit range (rsync.far, few) are looked at on the medium
afterwards, part by part (never through a symlink), and those it holds at another time are named."""

from __future__ import annotations

import os
import time

from rabtui import fmt
from rabtui.media import below
from rabtui.mtimes import PRINTED_SLACK

_SLACK = PRINTED_SLACK      # rsync prints a year past 9999 with the tens of its seconds only


def unheld(dest: os.PathLike, written: list[tuple[bytes, int]]) -> list[tuple[bytes, int, int]]:
    """(name, the source's time, the medium's) of each of `written` (name below `dest`, the time rsync
    gave it) that the medium holds at another time; one gone or unreadable is left."""
    dest_b = os.fsencode(dest) + b"/"
    out = []
    for name, seconds in written:
        try:
            held = below.lstat(dest_b, name).st_mtime_ns // 1_000_000_000
        except (OSError, ValueError):
            continue
        if abs(held - seconds) >= _SLACK:
            out.append((name, seconds, held))
    return out


def _date(seconds: int) -> str:
    try:
        return time.strftime("%Y-%m-%d", time.gmtime(seconds))     # any year (datetime: 1 to 9999)
    except (OverflowError, OSError, ValueError):
        return f"{seconds} s from 1970"


def said(found: list[tuple[bytes, int, int]]) -> str:
    name, seconds, held = found[0]
    return (f"{fmt.count(len(found), 'entry')} dated where the medium's file system holds no time: kept with the nearest"
            f" it holds (ext4: 1901-12-13 to 2446-05-10), and restored so: {fmt.name(name)} ({_date(seconds)} kept as"
            f" {_date(held)})" + "".join(f", {fmt.name(n)}" for n, _, _ in found[1:5]) + (", ..." if len(found) > 5 else ""))
