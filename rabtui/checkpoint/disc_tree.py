"""A disc's directory tree as xorriso loads it, bounded by what was written on the disc.

Each xorriso that reads a disc first loads its whole tree (`-indev`), saying `UPDATE : N nodes
read` every second. A tree that loops (a directory record pointing to a directory above it) is
loaded without end, xorriso's memory growing until it is killed or an allocation fails, which
alone would be taken for this machine's failure (xorriso_output.machine_failure) and leave the bad
disc unjudged run after run. So while a disc is verified (`bounded`), every xorriso reading it runs
through `run`, which stops it once it has read more entries than were written on the disc (with
slack), raising TreeTooLarge: the disc is failed (verify.py); a restore from the discs is bounded
so too (restore/disc_checks.py). A checkpoint rebuilt from its discs knows not their filler, but
rebuild-state counts the entries each disc's catalog lists (discs.entries), which bound its
verification and restores alike (most_of). Not bounded: rebuild-state's reading of a disc before
its catalog (its volume id, the catalog itself), and a checkpoint rebuilt before that count was
kept. A bound from the disc's size would be sound (each entry is a directory record of its own,
of at least 34 bytes, none crossing a block's end: at most 60 a block), but is of no use:
xorriso's memory grows with the depth of the tree it loads, a tree that loops on itself reaching
some 100 MB at 9,000 entries, where that bound is 123,000 entries for a 4 MiB image."""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterable

from rabtui import proc, proc_records
from rabtui.checkpoint import xorriso, xorriso_output

_NODES = re.compile(rb"UPDATE\s*:\s*(\d+)\s+nodes read")
SLACK_TIMES, SLACK = 2, 1000    # README, catalogs and the like that are no rows, and room to spare
_MOST: ContextVar[int | None] = ContextVar("disc_tree_most", default=None)


class TreeTooLarge(Exception):
    """xorriso read more of the disc's tree than was written: the disc is bad (no OSError, which
    would say this machine failed). `found_volid`: where it was raised while the volume id was
    read (`volid_read` False), the one the disc's table of contents gives, None without one."""

    volid_read = True
    found_volid: str | None = None


def most(disc_paths: Iterable[bytes]) -> int:
    """The entries xorriso may read of the tree of a disc holding the catalog's rows at
    `disc_paths`: most_of(entries)."""
    return most_of(entries(disc_paths))


def most_of(listed: int) -> int:
    """The entries xorriso may read of the tree of a disc whose catalog lists `listed` entries:
    twice those, and SLACK."""
    return SLACK_TIMES * listed + SLACK


def entries(disc_paths: Iterable[bytes]) -> int:
    """The entries of a disc's tree the catalog's rows at `disc_paths` make: each row and each
    directory above one."""
    dirs: set[bytes] = set()
    count = 0
    for disc_path in disc_paths:
        count += 1
        path = disc_path.strip(b"/")
        while b"/" in path:
            path = path.rpartition(b"/")[0]
            if path in dirs:
                break
            dirs.add(path)
    return count + len(dirs)


def listed(store, number: int, disc: int) -> int | None:
    """The entries the catalog on disc `disc` of checkpoint `number` lists, as rebuild-state
    counted them (None for a checkpoint rebuilt before they were counted, or never rebuilt)."""
    return store.one("SELECT entries FROM discs WHERE number=? AND disc=?", (number, disc))["entries"]


@contextmanager
def bounded(limit: int | None) -> Iterator[None]:
    """Within it, `run` stops an xorriso that reads more than `limit` entries (None: no bound)."""
    token = _MOST.set(limit)
    try:
        yield
    finally:
        _MOST.reset(token)


class _Watch:
    def __init__(self, limit: int):
        self.limit = limit

    def __call__(self, record: bytes) -> None:
        m = _NODES.search(record)
        if m and int(m.group(1)) > self.limit:
            raise TreeTooLarge(f"the disc's directory tree holds more entries than were written: it loops or is"
                               f" damaged (xorriso read {int(m.group(1))} entries of it, at most {self.limit}"
                               f" were looked for)")


def _both(watch: _Watch, given):
    if given is None:
        return watch

    def both(record: bytes) -> None:
        watch(record)
        given(record)
    return both


def run(argv: list[str], **kw) -> proc.Completed:
    """proc.run of an xorriso that reads the disc, stopped (TreeTooLarge) once it says it has read
    more nodes of the tree than `bounded` allows. It says so on its standard error, or with
    `-pkt_output on` on its standard output (read as records then, unless taken as data)."""
    limit = _MOST.get()
    if limit is None:
        return proc.run(argv, **kw)
    watch = _Watch(limit)
    kw["on_stderr"] = _both(watch, kw.get("on_stderr"))
    if kw.get("on_stdout_data") is None:
        kw["on_stdout"] = _both(watch, kw.get("on_stdout"))
    return proc.run(argv, **kw)


def volid_unread(exc: TreeTooLarge, exe: str, indev: str, cancel, silence: float) -> None:
    """`exc` raised as the volume id was read: its `found_volid` from the disc's table of contents
    (`-toc`, which reads no tree), None where that fails."""
    toc = proc.run(xorriso.media_argv(exe, indev), capture=True, cancel=cancel, silence=silence, busy=True)
    exc.volid_read = False
    exc.found_volid = xorriso_output.parse_toc_volid(
        [x.decode("utf-8", "replace") for x in proc_records.split_records(toc.stdout)]) if toc.ok else None
