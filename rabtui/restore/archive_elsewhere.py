"""What the copy a restore chose lacks of an archive directory. An archive keeps every file it saved,
but each medium holds only what was saved onto it (a file made and deleted on the source between
two visits of one medium is on the other one only; retention leaves a file on one medium, or on
the discs), so the newest copy of an archive directory may lack files other copies hold. The
restore reads the one copy it chose: these are named, with where they are, never left out in
silence (`--backup`/`--checkpoint` choose a copy exactly, and say nothing of the others)."""

from __future__ import annotations

from rabtui import fmt
from rabtui.checkpoint.content import MARKS
from rabtui.config import Config, Source
from rabtui.restore.copies import Copy, configured
from rabtui.state import catalog
from rabtui.state.store import Store

SHOWN = 3       # names given per copy


def _files(store: Store, source: Source, rel: bytes, copy: Copy) -> set[bytes]:
    """The paths of the files at or below `rel` that `copy` holds, in archive directories."""
    if copy.kind == "backup":
        paths = set(catalog.contents(store, copy.backup, source.archive_paths, rel))
    else:
        paths = {bytes(r["path"]) for r in store.all(
            "SELECT DISTINCT path, sha256 FROM disc_files WHERE number=? AND source=? AND (path=? OR substr(path, 1, ?)=?)",
            (copy.checkpoint, source.id, rel, len(rel) + 1, rel + b"/")) if r["sha256"] not in MARKS}
    return {p for p in paths if _in_archive(source, p)}


def _in_archive(source: Source, path: bytes) -> bool:
    best = None
    for d in source.directories:
        top = catalog.rel_path(d.path)
        if (not top or path == top or path.startswith(top + b"/")) and (best is None or len(top) > len(best[0])):
            best = (top, d.kind)
    return best is not None and best[1] == "archive"


def _how(store: Store, source: Source, copy: Copy) -> str:
    if copy.kind == "disc":
        return f"--checkpoint {copy.checkpoint}"
    name = copy.backup["name"]
    return f"--backup {copy.backup['id'] if catalog.named_twice(store, source.id, name) else name}"


def lacking(cfg: Config, store: Store, source: Source, rel: bytes, chosen: Copy, copies: list[Copy]) -> list[str]:
    """One line per other copy holding files of an archive directory at or below `rel` that
    `chosen` lacks (each file said once, with the newest copy holding it)."""
    below = rel + b"/" if rel else b""
    if not _in_archive(source, rel) and not any(d.kind == "archive" and catalog.rel_path(d.path).startswith(below)
                                                 for d in source.directories):
        return []
    have = _files(store, source, rel, chosen)
    out = []
    for c in copies:
        if c is chosen or (c.kind == "backup" and not configured(cfg, c.medium)):
            continue
        more = sorted(_files(store, source, rel, c) - have)
        if not more:
            continue
        have.update(more)
        shown = ", ".join("/" + fmt.name(p) for p in more[:SHOWN])
        shown += f" and {len(more) - SHOWN} more" if len(more) > SHOWN else ""
        is_, they, them = ("is", "it is", "it") if len(more) == 1 else ("are", "they are", "them")
        out.append(f"{fmt.count(len(more), 'file')} the archive saved below /{fmt.name(rel)} {is_} not in"
                   f" {chosen.describe()}: {they} in {c.describe()} (first: {shown}); restore {them} from there"
                   f" with {_how(store, source, c)}")
    return out
