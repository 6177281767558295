"""Room kept on every disc of a checkpoint: the fixed ISO parts, README.txt, rabtui/ (config and
database copy) and the catalog of the whole checkpoint (gzip-compressed), which grows with every
file planned (one catalog line and one `disc_files` row in the database copy per file)."""

from __future__ import annotations

import re
from typing import Sequence

from rabtui.checkpoint.isosize import FIXED_SECTORS, PADDING_SECTORS, SECTOR
from rabtui.checkpoint.layout import escape_path
from rabtui.checkpoint.packing import Group

# The catalog goes on discs gzip-compressed (layout.CATALOG_ON_DISC). Its size is not known before
# the checksums are, so the room kept is an upper bound: a row's sha256 stays about 32 bytes of
# entropy, size, mtime and disc up to 16 more; a path is counted whole (escaped): names of random
# printable characters hardly compress and make the checksums dearer (real names, sorted by
# directory, compress several-fold); the directory prefix repeated on each row costs a
# back-reference; GZ_FIXED holds the gzip header and the code tables of a small catalog.
# prepare.record checks the bound before anything is recorded (tests/test_catalog_gz.py checks it
# on generated names).
GZ_ROW = 48
GZ_NAME_RATIO = 1.0
GZ_FIXED = 512
SAFETY_SECTORS = 64        # margin against small errors of the metadata model

# A row recording an xattr in the state copy on each disc (disc_xattrs_off, disc_dir_attrs) is a
# record of the table (source, both paths, name, value; number and mode) and an entry of its primary
# key's index (number, path on the discs, name). RECORD_FIXED and KEY_FIXED hold what SQLite adds to
# each (cell pointer, sizes, rowid, the record's header, the integers), for paths up to 8 KiB.
# Records are appended by rowid: their pages are full but for a fragment at the end (RECORD_SLACK);
# index entries come nearly in key order (a checkpoint's number is above those recorded before, and
# each directory is read in the order of its names), but not quite ('/' sorts after '-' and '.'):
# their pages are counted four fifths full (KEY_SLACK). A
# record or key longer than SQLite keeps on its page (about 1,000 bytes of an index entry on a 4 KiB
# page, 4,061 of a record) goes on in overflow pages, the last one partly empty (RECORD_PAGE).
# Measured on a copy read back from a disc (tests/test_checkpoint_record_reserve.py): 2,760 rows of
# 60-80-byte paths take 282 bytes each (173 the record, 109 the key, pages 87-95 % full); counted 346.
RECORD_FIXED = 40
KEY_FIXED = 32
RECORD_SLACK = (17, 16)
KEY_SLACK = (5, 4)
RECORD_SPILL = 1000
RECORD_PAGE = 4096


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
        total += rows_bytes(g, len(g.prefix) + 1, db_row_bytes)
    return total


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


def record_bytes(source: str, path: bytes, disc_path: bytes, name: bytes, value: bytes = b"") -> int:
    """The most one row recording an xattr (of the entry at `path`, `disc_path` on the discs) may
    take in the state copy."""
    key = len(disc_path) + len(name)
    row = len(source.encode()) + len(path) + key + len(value)
    spills = (key > RECORD_SPILL) + (row > RECORD_SPILL)
    return ((RECORD_FIXED + row) * RECORD_SLACK[0] // RECORD_SLACK[1] + (KEY_FIXED + key) * KEY_SLACK[0] // KEY_SLACK[1]
            + RECORD_PAGE * spills)


def reserve_for(catalog_bytes: int, extra_bytes: int) -> int:
    """Sectors kept on every disc for the fixed ISO parts, README, rabtui/ and the catalog."""
    files = -(-(catalog_bytes + extra_bytes) // SECTOR) + 16   # + their own records and README slack
    return FIXED_SECTORS + PADDING_SECTORS + SAFETY_SECTORS + files
