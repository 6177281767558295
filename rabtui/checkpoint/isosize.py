"""How many 2048-byte sectors an ISO 9660 + Rock Ridge + Joliet image of a tree takes.

A model of what xorriso 1.5 (libisofs) writes with `-rockridge on -joliet on -md5 on
-compliance iso_9660_level=3:no_emul_toc -hardlinks on -acl on -xattr any -padding 0`
(xorriso.ISO_SETTINGS), measured on real trees with
`xorriso -print_size` (see benchmarks/bench_plan.py, which checks it against xorriso):

- every directory has an ISO 9660 extent and a Joliet extent, each a whole number of sectors;
  directory records never cross a sector boundary;
- an ISO record of a file is 33 bytes + its ISO name (the name plus ".;1", at most 33 bytes,
  padded to even) + the Rock Ridge fields (PX, TF, NM with the full name, AL with the MD5 index
  and the hard link mark): about 105 + len(name) bytes, plus the file's own xattrs and ACLs; a record is at most 254 bytes, the rest of a long name goes into a
  continuation area (CE) of the directory;
- a Joliet record is 34 + 2 bytes per character (names cut at 64 characters);
- four path tables (ISO L/M, Joliet L/M), each a whole number of sectors;
- the MD5 array: 16 bytes per file; a fixed part (system area, volume descriptors, root, tags);
- a symbolic link has no Joliet record; its target is a Rock Ridge SL entry (2 bytes per
  component plus its bytes, in fields of at most 255 bytes with 5 of header), which with the
  fields after it goes into the continuation area; a directory's continuation areas, like its
  records, never cross a sector boundary. libisofs takes no target of LINK_TARGET_MAX bytes or
  more, nor a component longer than 255 bytes.
"""

from __future__ import annotations

SECTOR = 2048
FIXED_SECTORS = 24          # empty image: system area, descriptors, root extents, path tables, MD5 tags
MD5_PER_FILE = 16           # checksum array entry
PADDING_SECTORS = 150       # xorriso's default -padding 300k, kept for CD read-ahead
MAX_RECORD = 254
# `-hardlinks on -acl on -xattr any` (xorriso.ISO_SETTINGS), measured against the plain settings:
# PX carries the inode number (44 bytes, not 36) and the AAIP field AL grows (files: 16 -> 30
# bytes, the MD5 index and the hard link mark; directories get one of 19), on every record.
AAIP_FILE = 22
AAIP_DIR = 28
DOT_RECORDS = 96 + 96 + 2 * 8   # "." and ".." of a directory (Rock Ridge; PX with the inode)
ROOT_EXTRA = 36             # the root's "." carries SP and ER
LINK_TARGET_MAX = 1023      # "Rock Ridge path too long" from 1024 bytes on (libisofs 1.5.4)
NAME_MAX = 255              # a name on a disc, a part of a cut file's name, a component of a link's target
SL_OVERFLOW = 32            # what goes into the continuation area with SL (measured: 19 to 23 bytes)


def aaip_allowance(attrs: list[tuple[bytes | str, bytes]]) -> int:
    """Bytes a file's xattrs and ACLs (name, value pairs as the kernel gives them) may add to its
    directory record and continuation area: AAIP cuts them into fields of at most 255 bytes, an ACL
    is written as text, and a record that grows past 254 bytes moves into a continuation area.
    Measured: a 6-entry ACL (52 bytes) adds 128 bytes, a 200-byte user.* value 281; twice the
    pairs plus 64 covers both with room to spare."""
    if not attrs:
        return 0
    return 2 * sum(len(n) + len(v) for n, v in attrs) + 64


# libisofs 1.5.4 decodes a file's AAIP with a budget of 1,000,000 bytes (iso_aa_get_attrs) and it
# does so for every file of a disc while it writes it (-md5 and -hardlinks add isofs. pairs): one
# over it stops the write ("Error with decoding AAIP info for ACL or xattr"), and a disc holding one
# could not be read back either. (Empty values, which it cannot decode either, are kept off the
# discs: kept_off.py.)
AAIP_DECODE_BUDGET = 1_000_000
AAIP_OWN_PAIRS = 256     # what the isofs. pairs xorriso adds (and an ACL's text form) may take more


def _grown(need: int) -> int:
    """What a decoding buffer of 256 bytes, made 1.5 times larger until `need` fits, counts."""
    size = done = 256
    while size < need:
        size = int(size * 1.5)
    return size - done


def aaip_refused(attrs: list[tuple[bytes, bytes]]) -> str | None:
    """Why no disc can carry these xattrs of one file (name, value pairs as the kernel gives them,
    those with an empty value left out: kept_off.carried), None when one can. The budget is counted as libisofs counts it (aaip_decode_attrs: each pair
    with two bytes more, the growth of its name and value buffers and of its lists), a few hundred
    bytes short of the edge measured: none that xorriso stops on passes."""
    if not attrs:
        return None
    used = 1072 + AAIP_OWN_PAIRS + _grown(max(len(n) for n, _ in attrs) + 1) + _grown(max(len(v) for _, v in attrs) + 1)
    size = 2
    while size < len(attrs) + 3:
        size, used = int(size * 1.5), used + (int(size * 1.5) - size) * 24
    used += sum(len(n) + len(v) + 2 for n, v in attrs)
    if used >= AAIP_DECODE_BUDGET:
        return (f"its {len(attrs)} xattrs take {sum(len(n) + len(v) for n, v in attrs)} bytes, more than"
                f" libisofs reads back of one file (about {AAIP_DECODE_BUDGET} bytes as it counts them)")
    return None


def iso_name_len(name: bytes, is_dir: bool) -> int:
    if is_dir:
        return min(len(name), 31)
    n = len(name) + (2 if b"." in name else 3)
    return min(n, 33)


def record_sizes(name: bytes, is_dir: bool) -> tuple[int, int, int]:
    """(ISO record bytes, continuation bytes, Joliet record bytes) of one directory entry."""
    length = len(name)
    iso_len = iso_name_len(name, is_dir)
    base = 33 + iso_len + (0 if iso_len % 2 else 1)
    rec = base + (67 + AAIP_DIR if is_dir else 83 + AAIP_FILE) + length
    rec += rec & 1
    ce = 0
    if rec > MAX_RECORD:
        ce = rec - MAX_RECORD + 28
        rec = MAX_RECORD
    jol = 34 + 2 * min(_chars(name), 64)
    return rec, ce, jol


def file_records(name: bytes) -> tuple[int, int, int]:
    """`record_sizes(name, False)`, written out for speed (the planner calls it once per file)."""
    length = len(name)
    iso = length + 2 if b"." in name else length + 3
    if iso > 33:
        iso = 33
    rec = 116 + AAIP_FILE + iso + length + (0 if iso & 1 else 1)
    rec += rec & 1
    ce = 0
    if rec > MAX_RECORD:
        ce = rec - MAX_RECORD + 28
        rec = MAX_RECORD
    chars = length if name.isascii() else _chars(name)
    return rec, ce, 34 + 2 * (chars if chars < 64 else 64)


def sl_bytes(target: bytes) -> int:
    """Bytes of the Rock Ridge SL fields that hold a symlink's target (measured with xorriso 1.5.4:
    a 961-byte target of 481 components takes 1,473)."""
    comps = target.strip(b"/").split(b"/") if target.strip(b"/") else []
    body = len(target) + 2 * len(comps) + 2 - target.count(b"/")
    return body + 5 * (-(-body // 250) or 1)


def link_records(name: bytes, sl: int) -> tuple[int, int, int]:
    """(ISO record bytes, continuation bytes, Joliet record bytes) of a symlink whose target takes
    `sl` bytes of SL fields (sl_bytes): no Joliet record (Joliet holds no symlinks)."""
    rec, ce, _ = file_records(name)
    if rec + sl <= MAX_RECORD:
        return rec + sl + ((rec + sl) & 1), ce, 0
    return min(rec + 28, MAX_RECORD), ce + sl + SL_OVERFLOW, 0


def _chars(name: bytes) -> int:
    if name.isascii():
        return len(name)
    try:
        return len(name.decode("utf-8"))
    except UnicodeDecodeError:
        return len(name)


class DirExtent:
    """Sector-exact fill of one directory's ISO and Joliet extents (records never straddle sectors)."""

    __slots__ = ("iso_sectors", "iso_fill", "jol_sectors", "jol_fill", "ce_sectors", "ce_fill")

    def __init__(self, root: bool = False):
        self.iso_sectors = 1
        self.iso_fill = DOT_RECORDS + (ROOT_EXTRA if root else 0)
        self.jol_sectors = 1
        self.jol_fill = 68
        self.ce_sectors = 0
        self.ce_fill = SECTOR        # no continuation area yet: the first one starts a sector

    def add(self, rec: int, ce: int, jol: int) -> int:
        """Add one entry; returns how many sectors the extents grew by."""
        grew = 0
        self.iso_fill += rec
        if self.iso_fill > SECTOR:
            self.iso_sectors += 1
            self.iso_fill = rec
            grew += 1
        if jol:
            self.jol_fill += jol
            if self.jol_fill > SECTOR:
                self.jol_sectors += 1
                self.jol_fill = jol
                grew += 1
        if ce:
            self.ce_fill += ce
            if self.ce_fill > SECTOR:
                used = -(-ce // SECTOR)
                self.ce_sectors += used
                self.ce_fill = ce - (used - 1) * SECTOR
                grew += used
        return grew

    @property
    def sectors(self) -> int:
        return self.iso_sectors + self.jol_sectors + self.ce_sectors


def path_table_bytes(name: bytes) -> tuple[int, int]:
    """(ISO, Joliet) path table bytes of one directory."""
    iso_len = iso_name_len(name, True)
    return 8 + iso_len + (iso_len & 1), 8 + 2 * min(_chars(name), 64)


def data_sectors(size: int) -> int:
    return -(-size // SECTOR)


class TreeSize:
    """Accumulates the sectors of one image; add paths (bytes, relative, '/'-separated) in any order."""

    def __init__(self):
        self.dirs: dict[bytes, DirExtent] = {b"": DirExtent(root=True)}
        self.data = 0
        self.files = 0
        self.iso_pt = 10
        self.jol_pt = 10

    def add_dir(self, path: bytes) -> None:
        if path in self.dirs:
            return
        parent, _, name = path.rpartition(b"/")
        self.add_dir(parent)
        self.dirs[path] = DirExtent()
        rec, ce, jol = record_sizes(name, True)
        self.dirs[parent].add(rec, ce, jol)
        iso_pt, jol_pt = path_table_bytes(name)
        self.iso_pt += iso_pt
        self.jol_pt += jol_pt

    def add_file(self, path: bytes, size: int) -> None:
        parent, _, name = path.rpartition(b"/")
        self.add_dir(parent)
        rec, ce, jol = record_sizes(name, False)
        self.dirs[parent].add(rec, ce, jol)
        self.files += 1
        self.data += data_sectors(size)

    def add_link(self, path: bytes, target: bytes) -> None:
        parent, _, name = path.rpartition(b"/")
        self.add_dir(parent)
        self.dirs[parent].add(*link_records(name, sl_bytes(target)))
        self.files += 1

    def sectors(self, padding: int = 0) -> int:
        meta = sum(d.sectors for d in self.dirs.values())
        tables = 2 * (-(-self.iso_pt // SECTOR)) + 2 * (-(-self.jol_pt // SECTOR))
        md5 = -(-(self.files * MD5_PER_FILE) // SECTOR)
        return FIXED_SECTORS + meta + tables + md5 + self.data + padding
