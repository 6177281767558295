"""One disc being filled, as the planner counts it: sector-exact directory extents, path tables,
the MD5 array, and every file's records and data (ISO 9660 + Rock Ridge + Joliet, isosize.py).

An entry of a Group is a file, an empty directory (extents of its own and path table entries,
like every directory) or a symlink (its target in the continuation area): `entry_of` says which,
`DiscFill.add_entry` counts it, `entry_estimate` bounds it before it is added. The names of one
file (hard links, Group.same) share its data on a disc (xorriso writes it once per image, by the
source's inode): the data is counted with the first of them a disc takes, the others cost records."""

from __future__ import annotations

from rabtui.checkpoint.isosize import (MD5_PER_FILE, SECTOR, DirExtent, file_records, link_records,
                                       path_table_bytes, record_sizes)
from rabtui.checkpoint.packing import DiscPlan, Group

EMPTY_DIR = -1     # the kind of an empty directory in entry_of (a symlink's is >= 0, a file's None)


class DiscFill:
    """One disc being filled: sector-exact directory extents, path tables, MD5 array."""

    __slots__ = ("plan", "dirs", "sectors", "iso_pt", "jol_pt", "files", "held")

    def __init__(self, plan: DiscPlan):
        self.plan = plan
        self.dirs: dict[bytes, DirExtent] = {b"": DirExtent(root=True)}
        self.sectors = 8   # path tables and MD5 array start with a sector each
        self.iso_pt = 10
        self.jol_pt = 10
        self.files = 0
        self.held: set = set()     # the files (entry_of's key) whose data this disc holds

    def copy(self) -> DiscFill:
        other = DiscFill.__new__(DiscFill)
        other.plan, other.sectors, other.iso_pt, other.jol_pt, other.files = (
            self.plan, self.sectors, self.iso_pt, self.jol_pt, self.files)
        other.held = set(self.held)
        other.dirs = {}
        for path, ext in self.dirs.items():
            e = other.dirs[path] = DirExtent.__new__(DirExtent)
            e.iso_sectors, e.iso_fill, e.jol_sectors, e.jol_fill, e.ce_sectors, e.ce_fill = (
                ext.iso_sectors, ext.iso_fill, ext.jol_sectors, ext.jol_fill, ext.ce_sectors, ext.ce_fill)
        return other

    def dir_cost(self, path: bytes) -> int:
        """Sectors that adding directory `path` (and its missing parents) would cost; 0 if present."""
        cost = 0
        while path not in self.dirs:
            parent, _, name = path.rpartition(b"/")
            cost += 3 + (len(name) + 300) // SECTOR
            path = parent
        return cost

    def add_dir(self, path: bytes) -> DirExtent:
        ext = self.dirs.get(path)
        if ext is not None:
            return ext
        parent, _, name = path.rpartition(b"/")
        pext = self.add_dir(parent)
        ext = self.dirs[path] = DirExtent()
        self.sectors += 2 + pext.add(*record_sizes(name, True))
        iso, jol = path_table_bytes(name)
        self.sectors += self._grow_tables(iso, jol, 0)
        return ext

    def _grow_tables(self, iso: int, jol: int, files: int) -> int:
        before = 2 * -(-self.iso_pt // SECTOR) + 2 * -(-self.jol_pt // SECTOR) + -(-self.files * MD5_PER_FILE // SECTOR)
        self.iso_pt += iso
        self.jol_pt += jol
        self.files += files
        after = 2 * -(-self.iso_pt // SECTOR) + 2 * -(-self.jol_pt // SECTOR) + -(-self.files * MD5_PER_FILE // SECTOR)
        return after - before

    def data_of(self, data: int, key) -> int:
        """The data sectors a file (entry_of's key) adds: none when another name of it is here."""
        return 0 if key is not None and key in self.held else data

    def add_entry(self, dir_path: bytes, name: bytes, data: int, kind: int | None, key=None) -> int:
        """Add an entry of `entry_of`; returns the sectors it cost."""
        if kind is None:
            data = self.data_of(data, key)
            if key is not None:
                self.held.add(key)
            return self.add_file_records(dir_path, *file_records(name), data)
        if kind == EMPTY_DIR:
            before = self.sectors
            self.add_dir(dir_path + b"/" + name)
            self.sectors += self._grow_tables(0, 0, 1)   # its catalog row counts as a file in the MD5 array
            return self.sectors - before
        return self.add_file_records(dir_path, *link_records(name, kind), 0)

    def add_file(self, dir_path: bytes, name: bytes, data: int) -> int:
        """Add a file; returns the sectors it cost (data + metadata)."""
        return self.add_file_records(dir_path, *file_records(name), data)

    def add_file_records(self, dir_path: bytes, rec: int, ce: int, jol: int, data: int) -> int:
        ext = self.dirs.get(dir_path)
        if ext is None:
            ext = self.add_dir(dir_path)
        grew = ext.add(rec, ce, jol) + data
        if self.files % (SECTOR // MD5_PER_FILE) == 0 and self.files:
            grew += 1   # the MD5 array needs one more sector
        self.files += 1
        self.sectors += grew
        return grew


def cost_estimate(name: bytes, data: int) -> int:
    """Upper estimate of a file's sectors on a disc whose directory is already there."""
    rec, ce, jol = file_records(name)
    return data + 1 + (1 if ce else 0) + (1 if jol + rec > 200 else 0)


def entry_estimate(d: DiscFill, dir_path: bytes, name: bytes, data: int, kind: int | None, key=None) -> int:
    """Upper estimate of what an entry costs on disc `d`, the directories it needs included."""
    if kind is None:
        return cost_estimate(name, d.data_of(data, key)) + d.dir_cost(dir_path)
    if kind == EMPTY_DIR:
        return d.dir_cost(dir_path + b"/" + name) + 6     # its parent's records and the path tables
    rec, ce, _ = link_records(name, kind)
    return 2 + -(-ce // SECTOR) + d.dir_cost(dir_path)


def entry_of(g: Group, i: int, prefix: bytes | None = None) -> tuple[bytes, bytes, int, int | None, tuple | None]:
    """(directory on the disc, name, data sectors, kind, key) of entry i of a group, below `prefix`
    (the group's own by default). kind: None for a file, EMPTY_DIR, or a symlink's SL bytes; key:
    the same for every name of a file with hard links (Group.same), else None."""
    pre = g.prefix if prefix is None else prefix
    dir_rel, _, name = g.paths[i].rpartition(b"/")
    kind = EMPTY_DIR if i in g.dirs else g.links.get(i)
    first = g.same.get(i)
    return ((pre + b"/" + dir_rel if dir_rel else pre), name, -(-g.sizes[i] // SECTOR), kind,
            None if first is None else (id(g), first))


def file_of(g: Group, i: int) -> tuple[bytes, bytes, int]:
    """(directory on the disc, name, data sectors) of file i of a group."""
    dir_rel, _, name = g.paths[i].rpartition(b"/")
    return (g.prefix + b"/" + dir_rel if dir_rel else g.prefix), name, -(-g.sizes[i] // SECTOR)
