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


def as_recorded(held: int, recorded: int) -> bool:
    """Is `held` (a file's mtime on a medium, in seconds) the time the catalog recorded for it from
    rsync's listing? The same second; past the year 9999, the same ten seconds rsync's print keeps."""
    return held == recorded or (max(held, recorded) >= YEAR_10000 and abs(held - recorded) < PRINTED_SLACK)
