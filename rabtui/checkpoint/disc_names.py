"""What a disc takes of names and paths, checked when a checkpoint is planned: a path too long for
a disc, a part of a cut file whose name is too long or that a file of its directory is named like,
are refused by name before anything is recorded or burnt; a filler candidate holding such a path
is left out."""

from __future__ import annotations

import os
import re

from rabtui import fmt
from rabtui.checkpoint import cut_attrs, isosize, plan as planmod, xorriso
from rabtui.checkpoint.content import DirContent
from rabtui.errors import UsageError
from rabtui.events import LOG, Emit, Event

# The longest path on a disc, "/" included: xorriso's limit less room for the directory that a
# disc is extracted into when it is verified (a short alias in the temporary directory).
DISC_PATH_MAX = xorriso.PATH_MAX - 32


def _too_long(prefix: bytes, rel: bytes, split: bool) -> bool:
    return 2 + len(prefix) + len(rel) + (len(planmod.part_name(b"", 1, 1)) if split else 0) > DISC_PATH_MAX


def check_disc_paths(prefix: bytes, d: DirContent, placement) -> None:
    """A path too long for a disc is refused before anything is recorded, with its name."""
    bad = [rel for i, rel in enumerate(d.paths) if _too_long(prefix, rel, placement[i] == planmod.SPLIT)]
    if bad:
        raise UsageError(
            f"{d.key}: {fmt.count(len(bad), 'path')} {fmt.are(len(bad))} too long for a disc ({DISC_PATH_MAX} bytes at most with"
            f" /{os.fsdecode(prefix)}/ before them), e.g. {os.fsdecode(bad[0])[:120]!r}...",
            hint="xorriso writes no longer paths; leave these out of the directory (exclude) or shorten them")


def check_part_names(d: DirContent, cut: dict[int, int]) -> None:
    """A file cut into parts (`cut`: its index -> the number of parts) is refused by name when a
    part's name is longer than a disc takes, or when a path of its directory is named like a part
    of it, NAME.partNN-of-MM: README.txt's recipe (`cat NAME.part[0-9][0-9]-of-MM > NAME`) would
    join that file too, and on the same disc it would take a part's place."""
    if not cut:
        return
    alike = [q for q in d.paths if b".part" in q]
    for q in d.paths:                        # directories on the way are paths of a directory too
        while b"/" in q:
            q = q.rpartition(b"/")[0]
            if b".part" in q:
                alike.append(q)
    for i, parts in cut.items():
        rel = d.paths[i]
        name = planmod.part_name(rel.rpartition(b"/")[2], parts, parts)
        if len(name) > isosize.NAME_MAX:
            raise UsageError(
                f"{d.key}: {os.fsdecode(rel)!r} is larger than a disc and is cut into parts, but the name of"
                f" its parts, {len(name)} bytes, is longer than the {isosize.NAME_MAX} a disc takes",
                hint="rename the file (a name of at most"
                     f" {isosize.NAME_MAX - len(planmod.part_name(b'', parts, parts))} bytes), or leave it out"
                     " of the directory (exclude)")
        if why := cut_attrs.refused(os.fsencode(d.root), rel):
            raise UsageError(f"{d.key}: {os.fsdecode(rel)!r} is larger than a disc and is cut into parts, but {why}:"
                             " xorriso cannot give it to the parts",
                             hint="shorten or remove that xattr on the source (and back it up again), leave the"
                                  " file out of the directory (exclude), or use discs that hold it whole")
        like = re.compile(re.escape(rel) + rb"\.part[0-9]+-of-[0-9]+")
        clash = sorted(q for q in alike if like.fullmatch(q))
        if clash:
            raise UsageError(
                f"{d.key}: {os.fsdecode(rel)!r} is larger than a disc and is cut into {parts} parts,"
                f" {os.fsdecode(planmod.part_name(rel, 1, parts))!r} and on, but {os.fsdecode(clash[0])!r}"
                f" beside it is named like one of them: joining the parts (cat NAME.part[0-9][0-9]-of-MM > NAME) would"
                f" take it in, and on the same disc it would take a part's place",
                hint=f"rename {os.fsdecode(clash[0])!r} on the source (and back it up again), or leave one"
                     " of the two out of the directory (exclude)")


def fits_on_disc(prefix: bytes, paths: list[bytes], emit: Emit, key: str) -> bool:
    """A filler candidate with a path too long for a disc is not used."""
    if any(_too_long(prefix, rel, False) for rel in paths):
        emit(Event(LOG, f"filler {key} left out: it holds paths too long for a disc"))
        return False
    return True
