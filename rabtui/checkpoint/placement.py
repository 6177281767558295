"""A computed checkpoint (prepare.compute) and where each of its entries goes on the discs: its
directory's prefix there, its disc and part, and the row that records it (with the sha256 read
from the media); the records of the xattrs kept off the discs and of the directories, and the
room they take.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from rabtui.checkpoint import not_read, plan as planmod, read_from, reserve
from rabtui.checkpoint.content import DirContent
from rabtui.checkpoint.layout import Row, escape_path
from rabtui.events import PROGRESS, Emit, Event
from rabtui.state.store import Store


@dataclass
class Computed:
    disc_type: str
    disc_sectors: int
    plan: planmod.Plan
    data: list[DirContent]
    filler: list[DirContent]
    reasons: dict[str, list[str]] = field(default_factory=dict)

    def summary(self) -> dict:
        p = self.plan
        return {
            "disc_type": self.disc_type, "disc_bytes": self.disc_sectors * 2048,
            "discs": len(p.discs), "lower_bound": p.lower_bound, "files": p.files,
            "data_bytes": p.data_bytes, "content_bytes": sum(d.total_bytes for d in self.data),
            "reserved_bytes_per_disc": p.reserve_sectors * 2048,
            "per_disc": p.summary(),
            "directories": [{"key": d.key, "kind": d.kind, "files": len(d.paths), "bytes": d.total_bytes,
                             "backup_id": d.backup_id, "backup": d.backup_name, "medium": d.medium,
                             "reasons": self.reasons.get(d.key, []), **not_read.plan_fields(d)}
                            for d in self.data],
            "filler": [{"add": p.filler_numbers[ci], "key": self.filler[ci].key, "disc": k + 1,
                        "backup": self.filler[ci].backup_name, "medium": self.filler[ci].medium}
                       for k, dp in enumerate(p.discs) for ci in dp.filler],
        }


def prefix_of(source: str, path: str) -> bytes:
    rel = os.fsencode(path.strip("/"))
    return b"data/" + source.encode() + (b"/" + rel if rel else b"")


def placed(c: Computed) -> Iterator[tuple[DirContent, bytes, int, int, planmod.Part | None]]:
    """Every entry of the plan where it goes: (its directory, the directory's prefix on a disc,
    its index there, its disc (0-based), and the part of it for a file cut into parts)."""
    p = c.plan
    parts_of: dict[tuple[int, int], list[planmod.Part]] = {}
    for part in p.parts:
        parts_of.setdefault((part.group, part.index), []).append(part)
    for gi, d in enumerate(c.data):
        prefix = prefix_of(d.source, d.path)
        where = p.placement[gi]
        for i in range(len(d.paths)):
            if where[i] != planmod.SPLIT:
                yield d, prefix, i, where[i], None
            else:
                for part in parts_of[(gi, i)]:
                    yield d, prefix, i, part.disc, part
    for k, dp in enumerate(p.discs):
        for ci in dp.filler:
            d = c.filler[ci]
            prefix = b"add/%d" % p.filler_numbers[ci]
            for i in range(len(d.paths)):
                yield d, prefix, i, k, None


def row_of(d: DirContent, prefix: bytes, i: int, disc: int, part: planmod.Part | None) -> Row:
    """The row of a planned entry; its sha256 the mark of what is not a regular file, else None."""
    rel = d.paths[i]
    src_path = d.rel + b"/" + rel if d.rel else rel
    disk = d.disks.get(i) or os.path.join(os.fsencode(d.root), rel)
    if part is None:
        return Row(disc + 1, d.source, src_path, prefix + b"/" + rel, d.sizes[i], d.mtimes[i], d.marks[i], disk=disk,
                   mode=d.modes[i], link=d.links.get(i), owner=d.owners[i], rdev=d.rdevs.get(i),
                   xattr_sum=d.xattr_sums.get(i), trusted_sum=d.trusted_sums.get(i))
    return Row(part.disc + 1, d.source, src_path, prefix + b"/" + planmod.part_name(rel, part.part, part.parts),
               part.length, d.mtimes[i], None, part.part, part.parts, offset=part.offset, disk=disk,
               mode=d.modes[i], owner=d.owners[i], xattr_sum=d.xattr_sums.get(i), trusted_sum=d.trusted_sums.get(i))


def checksummed_rows(store: Store, c: Computed, emit: Emit, cancel) -> tuple[list[Row], list[dict]]:
    """Every file of the checkpoint with its disc and sha256 (read from the medium); and of each
    file cut into parts, what README.txt gives of it (_joined_sum): the sha256 of the whole file,
    taken in the same read of its parts (placed yields them in order, one after the other)."""
    p = c.plan
    rows: list[Row] = []
    joined: list[dict] = []
    whole = None    # the hash of the file whose parts are being read
    total = sum(d.total_bytes for d in c.data) + sum(c.filler[ci].total_bytes for ci in p.filler_numbers)
    done = 0
    started = time.time()

    def progress(name: bytes) -> None:
        rate = done / max(time.time() - started, 1e-6)
        emit(Event(PROGRESS, data={"done_bytes": done, "total_bytes": total, "rate": rate,
                                   "percent": 100.0 * done / total if total else 100.0,
                                   "current": os.fsdecode(name)}))

    groups: dict[tuple[int, int], int] = {}   # (its directory, inode) of a file with hard links -> its group
    for d, prefix, i, k, part in placed(c):
        row = row_of(d, prefix, i, k, part)
        if i in d.inodes:         # each part of a cut file too: a restore links the joined names again
            row.link_group = groups.setdefault((id(d), d.inodes[i]), len(groups) + 1)
        if part is not None and part.part == 1:
            whole = hashlib.sha256()
        if row.sha256 is None:
            progress(row.disc_path[len(prefix) + 1:])
            row.sha256 = read_from.sha256_as_scanned(store, d.source, d.medium, d.path, d.kind, row.disk,
                                                     d.paths[i], row, d.sizes[i], cancel, whole if part else None)
            done += row.size
        if part is not None and part.part == part.parts:
            joined.append(_joined_sum(prefix + b"/" + d.paths[i], whole, rows[-part.parts + 1:] + [row]))
        rows.append(row)
    return rows, joined


def _joined_sum(disc_path: bytes, whole, parts: list[Row]) -> dict:
    """What the plan records of a file cut into parts (`parts`: its rows, in order), for README.txt
    (layout.joined_lines): its path on the discs (without a part's suffix) as the catalog writes it,
    the sha256 of the whole file, the discs of its parts."""
    return {"path": escape_path(disc_path), "sha256": whole.hexdigest(), "discs": sorted({r.disc for r in parts})}


def _recorded_dirs(c: Computed) -> Iterator[tuple[DirContent, bytes]]:
    """Each directory of the checkpoint and of the filler placed, with its prefix on the discs."""
    yield from ((d, prefix_of(d.source, d.path)) for d in c.data)
    yield from ((c.filler[ci], b"add/%d" % c.plan.filler_numbers[ci]) for dp in c.plan.discs for ci in dp.filler)


def _paths(d: DirContent, prefix: bytes, rel: bytes) -> tuple[bytes, bytes]:
    """(original path, path on the discs) of the entry `rel` of the directory `d` (b"": itself)."""
    if not rel:
        return d.rel, prefix
    return (d.rel + b"/" + rel if d.rel else rel), prefix + b"/" + rel


def records_bytes(data: list[DirContent], filler: list[DirContent]) -> int:
    """The most the rows recording the xattrs kept off the discs and those of the directories
    (kept_off_of, dir_attrs_of) may take in the state copy on each disc (reserve.records_room, each
    table's); those of a filler candidate, as if it were placed at the longest add/N."""
    widest = b"add/%d" % max(99, len(filler))
    off, dirs = [], []
    for d, prefix in [*((d, prefix_of(d.source, d.path)) for d in data), *((d, widest) for d in filler)]:
        for rel, names in d.kept_off.items():
            off.extend(reserve.row_payloads(d.source, *_paths(d, prefix, rel), name) for name in names)
        for rel, (_mode, attrs) in d.dir_attrs.items():
            dirs.extend(reserve.row_payloads(d.source, *_paths(d, prefix, rel), name, value) for name, value in attrs)
    return reserve.records_room(off) + reserve.records_room(dirs)


def kept_off_of(c: Computed) -> Iterator[tuple[str, bytes, bytes, bytes]]:
    """(source, original path, path on the discs, name) of each xattr with an empty value of the
    checkpoint's directories and of the filler placed (kept_off.py)."""
    for d, prefix in _recorded_dirs(c):
        for rel, names in d.kept_off.items():
            for name in names:
                yield d.source, *_paths(d, prefix, rel), name


def dir_attrs_of(c: Computed) -> Iterator[tuple[str, bytes, bytes, int, bytes, bytes]]:
    """(source, original path, path on the discs, st_mode, name, value) of each xattr of the
    directories of the checkpoint and of the filler placed (dir_attrs.py)."""
    for d, prefix in _recorded_dirs(c):
        for rel, (mode, attrs) in d.dir_attrs.items():
            for name, value in attrs:
                yield d.source, *_paths(d, prefix, rel), mode, name, value
