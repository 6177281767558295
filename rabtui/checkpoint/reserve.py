"""Room kept on every disc of a checkpoint: the fixed ISO parts, README.txt, rabtui/ (config and
database copy) and the catalog of the whole checkpoint (gzip-compressed), which grows with every
file planned (one catalog line and one `disc_files` row in the database copy per file)."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Sequence

from rabtui.checkpoint.isosize import FIXED_SECTORS, PADDING_SECTORS, SECTOR
from rabtui.checkpoint.layout import JOINED_ROOM, escape_path, made_by_line
from rabtui.checkpoint.packing import Group
from rabtui.config import Config
from rabtui.media import mounts
from rabtui.state.store import Store

# The catalog goes on discs gzip-compressed (layout.CATALOG_ON_DISC). Its size is not known before
# the checksums are, so the room kept is an upper bound: a row's sha256 stays about 32 bytes of
# entropy, size, mtime and disc up to 16 more; a path is counted whole (escaped): names of random
# printable characters hardly compress and make the checksums dearer (real names, sorted by
# directory, compress several-fold); the directory prefix repeated on each row costs a
# back-reference (BACKREF bytes at most; the rest of a longer one is counted whole on each row, as
# names are: gzip's search may not find it again, escapes repeat within a row); GZ_FIXED holds the
# gzip header and the code tables of a small catalog.
# prepare.record checks the bound before anything is recorded (tests/test_catalog_gz.py checks it
# on generated names).
GZ_ROW = 48
GZ_NAME_RATIO = 1.0
GZ_FIXED = 512
BACKREF = 258              # the longest match deflate writes
SAFETY_SECTORS = 64        # margin against small errors of the metadata model

# A row recording an xattr in the state copy on each disc (disc_xattrs_off, disc_dir_attrs) is a
# record of the table (source, both paths, name, value; number and mode) and an entry of its primary
# key's index (number, path on the discs, name; the rowid). RECORD_FIXED and KEY_FIXED hold what
# SQLite adds to each payload (the record's header, the integers), RECORD_CELL and KEY_CELL what to
# each cell (its sizes, rowid, pointer). Pages are SQLite's default, PAGE bytes. Records are appended
# by rowid, each page filled in turn: a page ends when the next record does not fit, so it may keep
# nearly a record's length empty (five records of 830 bytes to a page leave 20 % of it), which is no
# fragment; the room is counted in pages (records_room, _filled_pages). Index entries come
# nearly in key order (a checkpoint's number is above those recorded before, and each directory is
# read in the order of its names), but not quite ('/' sorts after '-' and '.'): their pages are
# counted four fifths of that full (KEY_SLACK); interior pages hold a whole copy of a key each. A
# payload longer than a page keeps (4,061 bytes of a record, 1,002 of an index entry) goes on in
# overflow pages, the last one partly empty.
# Measured on copies read back from discs (tests/test_checkpoint_record_reserve.py).
PAGE = 4096
OVERFLOW_ROOM = PAGE - 4
TABLE_LOCAL = PAGE - 35                     # SQLite's maxLocal of a table leaf
INDEX_LOCAL = (PAGE - 12) * 64 // 255 - 23  # of an index page
MIN_LOCAL = (PAGE - 12) * 32 // 255 - 23    # what a spilled payload keeps on its page at least
RECORD_FIXED = 32
RECORD_CELL = 14
KEY_FIXED = 24
KEY_CELL = 9
KEY_SLACK = (5, 4)


_UNUSUAL = re.compile(rb"[^\x20-\x5b\x5d-\x7e]")    # anything but printable ASCII other than backslash


def _escaped_extra(paths: Sequence[bytes]) -> int:
    """Bytes the catalog's escaping adds to these paths (only unusual names cost a closer look)."""
    extra = 0
    for p in paths:
        if _UNUSUAL.search(p):
            extra += len(escape_path(p).encode()) - len(p)
    return extra


def catalog_bytes_of(groups: Sequence[Group], db_row_bytes: int = 0) -> int:
    """Bytes the catalog (and, with `db_row_bytes`, the database copy's rows) of these files take
    on every disc: each file is a catalog line and a `disc_files` row holding its paths."""
    total = 200   # header line
    for g in groups:
        total += rows_bytes(g, len(g.prefix) + 1, db_row_bytes) + prefix_extra(g.prefix, len(g.paths))
    return total


def prefix_extra(prefix: bytes, rows: int) -> int:
    """Bytes a directory's prefix on the discs takes in the compressed catalog beyond its own once
    (which the callers count): its escaping's, and on each of its `rows` rows what is past one
    back-reference."""
    shown = len(escape_path(prefix).encode()) + 1
    return shown - len(prefix) - 1 + rows * int(max(0, shown - BACKREF) * GZ_NAME_RATIO)


def catalog_room(prefix_rows: dict[bytes, int], rows: int, name_bytes: int) -> int:
    """The most the compressed catalog takes: `rows` rows below these prefixes (prefix -> its
    rows), their paths below them `name_bytes` long escaped (as catalog_bytes_of counts them)."""
    return (200 + sum(len(p) + 1 + prefix_extra(p, n) for p, n in prefix_rows.items())
            + gz_catalog_bytes(rows, name_bytes))


def gz_catalog_bytes(rows: int, name_bytes: int) -> int:
    """The most `rows` catalog rows whose paths below their prefix take `name_bytes` (escaped) take
    once compressed."""
    return GZ_FIXED + GZ_ROW * rows + int(name_bytes * GZ_NAME_RATIO)


def rows_bytes(g: Group, plen: int, db_row_bytes: int) -> int:
    n = len(g.paths)
    names = sum(map(len, g.paths))
    out = plen + gz_catalog_bytes(n, names + _escaped_extra(g.paths))
    if db_row_bytes:   # the row, its original and disc paths, the path index, a symlink's target
        # (less than its bytes in the ISO, g.links); pages are not full
        out += (db_row_bytes + 3 * plen) * n * 5 // 4 + (3 * names + sum(g.links.values())) * 5 // 4
    return out


def row_payloads(source: str, path: bytes, disc_path: bytes, name: bytes, value: bytes = b"") -> tuple[int, int]:
    """The most bytes the payloads of one row recording an xattr (of the entry at `path`,
    `disc_path` on the discs) take: its record's and its index entry's."""
    key = len(disc_path) + len(name)
    return RECORD_FIXED + len(source.encode()) + len(path) + key + len(value), KEY_FIXED + key


def records_room(rows: Sequence[tuple[int, int]]) -> int:
    """The most the rows (row_payloads of each) appended to one table take in the state copy."""
    if not rows:
        return 0
    table = _tree_pages([r for r, _ in rows], TABLE_LOCAL, RECORD_CELL)
    index = _tree_pages([k for _, k in rows], INDEX_LOCAL, KEY_CELL, index=True)
    return (table + index) * PAGE


def _local(payload: int, max_local: int) -> int:
    """What SQLite keeps of a payload on its b-tree page (the rest: overflow pages)."""
    if payload <= max_local:
        return payload
    kept = MIN_LOCAL + (payload - MIN_LOCAL) % OVERFLOW_ROOM
    return kept if kept <= max_local else MIN_LOCAL


def _tree_pages(payloads: Sequence[int], max_local: int, cell_extra: int, *, index: bool = False) -> int:
    """The most pages a b-tree takes for these payloads, added at its end (_filled_pages), and their
    overflow pages; an index's interior pages hold a copy of a key (and its overflow pages) per leaf."""
    cells, spills = [], []
    for p in payloads:
        local = _local(p, max_local)
        pages = -(-(p - local) // OVERFLOW_ROOM)
        cells.append(local + cell_extra + (4 if pages else 0) + 2)      # + its pointer
        spills.append(pages)
    cells.sort(reverse=True)
    leaves = _filled_pages(cells, PAGE - 8)
    if not index:
        return leaves + leaves // 200 + 2 + sum(spills)
    leaves = leaves * KEY_SLACK[0] // KEY_SLACK[1] + 1
    dividers = cells[:leaves]          # the widest keys at most, each with its child's number
    spills.sort(reverse=True)
    interior = _filled_pages([c + 4 for c in dividers], PAGE - 12) * KEY_SLACK[0] // KEY_SLACK[1] + 2
    return leaves + interior + sum(spills) + sum(spills[:leaves])


def _filled_pages(widest_first: Sequence[int], room: int) -> int:
    """The most pages cells (their sizes, widest first) fill when each page takes them in turn
    until the next does not fit: the room a page leaves is less than the next cell, one that
    begins the next page, so k full pages hold no more than the cells and the k widest of them."""
    total, full, widest = sum(widest_first), 0, 0
    for cell in widest_first:
        if (full + 1) * room > total + widest + cell:
            break
        full += 1
        widest += cell
    return full + 1


def reserve_for(catalog_bytes: int, extra_bytes: int) -> int:
    """Sectors kept on every disc for the fixed ISO parts, README, rabtui/ and the catalog."""
    files = -(-(catalog_bytes + extra_bytes) // SECTOR) + 16   # + their own records and README slack
    return FIXED_SECTORS + PADDING_SECTORS + SAFETY_SECTORS + files


def files_beside(cfg: Config, store: Store, paths: Sequence[str]) -> int:
    """README.txt, the config and the database copy as it is now (the rows of this checkpoint are
    counted per file by the planner, with `DB_ROW_BYTES`); `paths`: the checkpoint's directories."""
    db = store.one("PRAGMA page_count")[0] * store.one("PRAGMA page_size")[0]
    conf = cfg.path.stat().st_size if cfg.path and Path(cfg.path).is_file() else 0
    readme = readme_bytes(paths, made_by_line(mounts.made_by(cfg.media, store)))
    return readme + conf + db + (256 << 10)


def readme_bytes(paths: Sequence[str], made_by: str) -> int:
    """The most README.txt takes: its fixed text, a line per directory naming its prefix and its
    path (each escaped as layout writes them), the media line, the sha256 lines of files cut into
    parts (layout.joined_lines)."""
    lines = sum(300 + 2 * len(escape_path(os.fsencode(p)).encode()) for p in paths)
    return 8192 + lines + len(made_by.encode()) + JOINED_ROOM + 128
