"""A file's modification time as the catalog keeps it: the second it falls in, as rsync gives it."""

from __future__ import annotations

import os


def seconds(st: os.stat_result) -> int:
    """st's mtime floored to the second, from its nanoseconds. int(st.st_mtime) is not that: it cuts
    a time before 1970 toward zero (-1 for -1.5 s, where rsync gives -2), and the float rounds a
    time within some 120 ns of the next second up to it (1704067200.999999999 reads 1704067201.0)."""
    return st.st_mtime_ns // 1_000_000_000


# rsync prints a time past the year 9999 with the tens of its seconds only: the catalog holds that
YEAR_10000 = 253_402_300_800
PRINTED_SLACK = 10


# The first and last second a file system holds (the kernel gives a time beyond them the nearest,
# without an error): 32-bit times (ext2/ext4 of 128-byte inodes, XFS without bigtime), ext4's,
# XFS bigtime's. A medium copied onto one by the operator (cp -a, rsync -a, tar) holds a file of a
# time beyond it at that bound, where the catalog kept rsync's time: its content is the one saved.
OLDEST_HELD = -(1 << 31)
LATEST_HELD = ((1 << 31) - 1, 15_032_385_535, 16_299_260_425)


def as_recorded(held: int, recorded: int) -> bool:
    """Is `held` (a file's mtime on a medium, in seconds) the time the catalog recorded for it from
    rsync's listing? The same second; past the year 9999, the same ten seconds rsync's print keeps;
    a bound of a file system's times where the catalog recorded one beyond it (LATEST_HELD); before
    1970, the second after too, as rebuild-state wrote a time there before it floored it (int() of
    the float, toward zero: -1 for -1.5 s)."""
    return (held == recorded or (max(held, recorded) >= YEAR_10000 and abs(held - recorded) < PRINTED_SLACK)
            or (held in LATEST_HELD and recorded > held) or (held == OLDEST_HELD and recorded < held)
            or (held < 0 and recorded == held + 1))
