"""What a checkpoint disc says of itself, read back by rebuild-state: its catalog (rabtui/catalog.tsv.gz,
or the plain catalog.tsv of older discs) and its README.txt (when the checkpoint was made, which
backup each directory was taken from, the labels of the media of the server that made it). The formats are those the checkpoint writes
(rabtui/checkpoint/layout.py)."""

from __future__ import annotations

import gzip
import io
import json
import os
import re
import zlib
from datetime import datetime, timezone
from pathlib import Path
from typing import Callable, Iterable, Iterator

from rabtui import faults, proc, temp_dirs
from rabtui.checkpoint.layout import CATALOG_NAMES, GZIP_MAGIC, MADE_BY, catalog_text, escape_path, \
    shown_before
from rabtui.checkpoint.placement import prefix_of
from rabtui.errors import Stalled, WorkFailed
from rabtui.events import Emit, no_emit
from rabtui.rebuild.record import MAX_INT
from rabtui.restore.disc_extract import xorriso_extract_argv
from rabtui.restore.discs import PART_RE


def catalog_rows(text: bytes, disc: int | None = None) -> Iterator[dict]:
    """Rows of a disc's rabtui/catalog.tsv, one at a time (of disc `disc` only, if given): disc,
    path on the disc, size, mtime, sha256 (a header line, if any, is skipped). Names may carry
    backslash escapes (\\t \\n \\\\ \\xHH). `text` may be the catalog file compressed as the discs
    hold it: it is read as it is decompressed. A catalog damaged (a row no checkpoint writes, the
    compressed file cut short) raises WorkFailed, naming the line: that disc is not read, the others are."""
    raw = io.BytesIO(text)
    n = 0
    try:
        for n, line in enumerate(gzip.GzipFile(fileobj=raw, mode="rb") if text[:2] == GZIP_MAGIC else raw, 1):
            line = line.rstrip(b"\n")
            if not line.strip() or line.startswith(b"#"):
                continue
            cols = line.split(b"\t")
            if len(cols) < 4 or not cols[0].strip().isdigit():
                continue
            if disc is not None and _number(cols[0], n) != disc:
                continue
            yield _row(cols, n)
    except (OSError, EOFError, zlib.error) as exc:     # gzip.BadGzipFile is an OSError
        raise WorkFailed(f"its catalog cannot be read after line {n}: {type(exc).__name__}: {exc}") from None


def _number(text: bytes, n: int) -> int:
    try:
        return int(text)
    except ValueError:     # more digits than Python converts
        raise WorkFailed(f"its catalog cannot be read: line {n}: the disc number {text[:20]!r}... is too long"
                         ) from None


def _row(cols: list[bytes], n: int) -> dict:
    try:
        size, mtime = int(cols[2]), int(float(cols[3]))
        sha = cols[4].decode().strip() if len(cols) > 4 else ""
        path = _unescape(cols[1]).lstrip(b"/")      # a \\x not followed by two hex digits: ValueError
    except (ValueError, OverflowError) as exc:      # UnicodeDecodeError is a ValueError
        raise WorkFailed(f"its catalog cannot be read: line {n}: {exc}") from None
    if not (0 <= size <= MAX_INT and -MAX_INT <= mtime <= MAX_INT):
        raise WorkFailed(f"its catalog cannot be read: line {n}: a size or time no file has")
    return {"disc": _number(cols[0], n), "disc_path": path, "size": size, "mtime": mtime,
            "sha256": sha if sha and sha != "-" else None}


def parse_catalog_tsv(text: bytes) -> list[dict]:
    """The rows of catalog_rows, all of them."""
    return list(catalog_rows(text))


class Catalog:
    """A catalog's rows, read from its file (compressed or not, as read_disc_catalog_file gives it)
    each time they are gone through: a disc may hold a million files, their rows are not held."""

    def __init__(self, text: bytes):
        self.text = text

    def __iter__(self) -> Iterator[dict]:
        return catalog_rows(self.text)

    def of_disc(self, disc: int) -> Iterator[dict]:
        return catalog_rows(self.text, disc)


def _unescape(b: bytes) -> bytes:
    if b"\\" not in b:
        return b
    try:
        from rabtui.checkpoint.layout import unescape_path

        return unescape_path(b.decode("utf-8"))
    except (ImportError, UnicodeDecodeError):
        pass
    out = bytearray()
    i = 0
    while i < len(b):
        c = b[i:i + 1]
        if c == b"\\" and i + 1 < len(b):
            n = b[i + 1:i + 2]
            if n == b"x" and i + 3 < len(b):
                out += bytes([int(b[i + 2:i + 4], 16)])
                i += 4
                continue
            out += {b"t": b"\t", b"n": b"\n", b"\\": b"\\", b"r": b"\r"}.get(n, n)
            i += 2
            continue
        out += c
        i += 1
    return bytes(out)


def originals(rows: Iterable[dict]) -> list[tuple[str, bytes, int | None, int | None] | None]:
    """Per row of a checkpoint's catalog: data/<source>/<path>[.partNN-of-MM] -> (source, path, part,
    parts); filler (add/) -> None. A name like a part is one only when it is one of a whole set as
    the checkpoint cuts a file: parts 1 to MM (at least 2), one per disc on consecutive discs, of one
    time; a file of the source that is only named so (a set split by hand, on one disc) stays itself."""
    return [orig for _r, orig in each_original(rows)]


def each_original(rows: Iterable[dict]) -> Iterator[tuple[dict, tuple[str, bytes, int | None, int | None] | None]]:
    """(row, what originals gives for it), one at a time; `rows` are gone through twice."""
    sets: dict[tuple[bytes, int], list[tuple[int, int, int]]] = {}
    for r in rows:
        m = PART_RE.match(r["disc_path"])
        if m and r["disc_path"].startswith(b"data/"):
            sets.setdefault((m.group(1), int(m.group(3))), []).append((int(m.group(2)), r["disc"], r["mtime"]))
    whole = {key for key, found in sets.items() if _cut(key[1], sorted(found))}
    for r in rows:
        top = r["disc_path"].split(b"/", 2)
        if len(top) < 3 or top[0] != b"data":
            yield r, None
            continue
        m = PART_RE.match(top[2])
        if m and (b"data/" + top[1] + b"/" + m.group(1), int(m.group(3))) in whole:
            yield r, (os.fsdecode(top[1]), m.group(1), int(m.group(2)), int(m.group(3)))
        else:
            yield r, (os.fsdecode(top[1]), top[2], None, None)


def _cut(parts: int, found: list[tuple[int, int, int]]) -> bool:
    """(part, disc, mtime) sorted: a whole set of `parts` parts on consecutive discs, of one time."""
    # the count first: a file of the source may be named "x.part1-of-1000000000000000000"
    return (2 <= parts == len(found) and [p for p, _, _ in found] == list(range(1, parts + 1))
            and [d for _, d, _ in found] == list(range(found[0][1], found[0][1] + parts))
            and len({t for _, _, t in found}) == 1)


def read_disc_catalog(dev: str, emit: Emit = no_emit) -> bytes:
    """The catalog's text from a disc: rabtui/catalog.tsv.gz, or the plain one of older discs."""
    return catalog_text(read_disc_catalog_file(dev, emit))


def extract(dev: str, name: bytes, target: str, silence: float | None, limit: float = 600) -> proc.Completed:
    """xorriso extracting `name` of the disc at `dev` to `target`: stopped (Stalled) after
    `silence` seconds without output or work (a hung drive: checkpoint.io_timeout), else after
    `limit` seconds in all."""
    return proc.run(xorriso_extract_argv(dev, name, os.fsencode(target)), timeout=None if silence else limit,
                    silence=silence, busy=True)


def read_disc_catalog_file(dev: str, emit: Emit = no_emit, silence: float | None = None) -> bytes:
    """The catalog's file from a disc as it is there: rabtui/catalog.tsv.gz (compressed), or the
    plain one of older discs. `silence`: as for extract."""
    said = []
    with temp_dirs.private() as tmp:     # one a killed run left goes with the next
        for name in CATALOG_NAMES:
            target = os.path.join(tmp, os.path.basename(name))
            done = extract(dev, b"/" + name, target, silence)
            faults.point("rebuild.catalog_extracted")
            if done.ok and os.path.exists(target):
                return Path(os.fsdecode(target)).read_bytes()
            said.append(failures_said(done))
    # the reason of the one that is there (a damaged disc's read error), not the other's absence
    there = [s for s in said if "Cannot find path" not in s]
    raise WorkFailed(f"no rabtui/catalog.tsv.gz or rabtui/catalog.tsv readable on {dev}: {(there or said)[0]}")


def failures_said(done: proc.Completed, limit: int = 200) -> str:
    """Why xorriso could not extract a file: its FAILURE and SORRY lines (not the notes after them),
    the first first (the cause: a read error), cut at a word past `limit` characters; else its exit code."""
    said = "; ".join(x.split(" : ", 2)[-1] for x in done.stderr_text().splitlines()
                     if " : FAILURE : " in x or " : SORRY : " in x)
    return (said if len(said) <= limit else said[:limit].rsplit(" ", 1)[0] + " ...") or f"exit {done.returncode}"


def read_disc_readme(dev: str, silence: float | None = None) -> bytes | None:
    """README.txt of a disc, None when it cannot be read (`silence`: as for extract)."""
    with temp_dirs.private() as tmp:
        target = os.path.join(tmp, b"README.txt")
        try:
            done = extract(dev, b"/README.txt", target, silence)
        except Stalled:
            return None
        return Path(os.fsdecode(target)).read_bytes() if done.ok and os.path.exists(target) else None


def readme_made(readme: bytes, number: int) -> float | None:
    """When checkpoint `number` was made, from its README.txt's first line."""
    m = re.match(rb"rabtui checkpoint (\d{1,19}), made (\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) UTC\n", readme)
    if not m or int(m.group(1)) != number:
        return None
    try:
        return datetime.strptime(m.group(2).decode(), "%Y-%m-%d %H:%M:%S").replace(tzinfo=timezone.utc).timestamp()
    except ValueError:      # a date no clock gives (month 13): a README edited or damaged, its date not known
        return None


def readme_backup(readme: bytes, source: str, path: str) -> int | None:
    """The id of the backup the README's line of data directory source:path names: the line of its
    prefix on the discs and its path, each escaped by the rule of the disc (_readme_rule), so that
    no other directory's line is taken for it (one whose escaped path reads as this path, or whose
    path holds "  =  source:path")."""
    data = readme.split(b"\nFiller on this disc", 1)[0]
    shown = _readme_rule(readme)
    prefix, name = prefix_of(source, path), os.fsencode(path)
    line = f"  {shown(prefix)}  =  {source}:{shown(name)}  (".encode("utf-8", "surrogateescape")
    m = re.search(b"^" + re.escape(line) + rb"[a-z]+, backup (\d{1,19}), discs ", data, re.M)
    if m and int(m.group(1)) <= MAX_INT:     # none other can name a backup of the database
        return int(m.group(1))
    return None


def _readme_rule(readme: bytes) -> Callable[[bytes], str]:
    """How the README writes a path, told by what its closing part (after the directories, which
    cannot reach it) says of it: escaped by fmt.escaped's rule (layout.escape_path), by the rule of
    discs written before format characters were escaped (shown_before), or, older, as it is."""
    tail = readme.rsplit(b"\nAlso on this disc:\n", 1)[-1]
    if b"invisible character (U+202E" in tail:
        return escape_path
    if b"In paths (here too)" in tail:
        return lambda name: escape_path(name, shown_before)
    return os.fsdecode


def readme_media(readme: bytes | None) -> dict[str, dict] | None:
    """The labels of the media of the server that made the disc, as its README.txt names them
    (layout.MADE_BY); None when it names none (a disc written before, or a line edited)."""
    m = re.search(rb"^" + re.escape(MADE_BY.encode()) + rb"(\{[^\n]*\})$", readme or b"", re.M)
    try:
        media = json.loads(m.group(1)) if m else None
    except (ValueError, RecursionError):
        return None
    if not isinstance(media, dict):
        return None
    return {mid: label for mid, label in media.items() if isinstance(label, dict)}
