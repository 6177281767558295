"""What the planner works on and makes: a Group of files to pack, each disc's DiscPlan, the Plan."""

from __future__ import annotations

from array import array
from dataclasses import dataclass, field

from rabtui.checkpoint.isosize import SECTOR

SPLIT = 0xFFFF                    # a file's disc in Plan.placement when it is cut into parts


@dataclass
class Group:
    """A directory to put on discs: files relative to it, in the order they should be laid out."""

    key: tuple[str, str]              # (source, path) or anything that names it
    prefix: bytes                     # where it goes on a disc, e.g. b"data/web1/etc"
    paths: list[bytes]                # relative to the directory, '/'-separated
    sizes: list[int]
    dirs: set[int] = field(default_factory=set)             # indexes of empty directories
    links: dict[int, int] = field(default_factory=dict)     # index of a symlink -> its target's SL bytes
    # index of a file with other names in the group (hard links) -> the index of its first name
    same: dict[int, int] = field(default_factory=dict)


@dataclass
class Part:
    group: int
    index: int                        # file index in the group
    part: int                         # 1..parts
    parts: int
    offset: int
    length: int
    disc: int                         # 0-based


@dataclass
class DiscPlan:
    data_sectors: int = 0             # file data + its metadata
    filler_sectors: int = 0
    files: int = 0
    groups: list[int] = field(default_factory=list)
    filler: list[int] = field(default_factory=list)   # indexes into the filler candidates


@dataclass
class Plan:
    disc_sectors: int
    reserve_sectors: int              # README + rabtui/ + catalog + fixed ISO parts, on every disc
    discs: list[DiscPlan]
    placement: list[array]            # per group: disc (0-based) of each file; 0xFFFF: cut into parts
    parts: list[Part]
    lower_bound: int
    total_sectors: int                # data + per-file metadata of all data files
    files: int
    catalog_bytes: int
    filler_numbers: dict[int, int] = field(default_factory=dict)   # candidate index -> N of add/N

    @property
    def usable_sectors(self) -> int:
        return self.disc_sectors - self.reserve_sectors

    @property
    def data_bytes(self) -> int:
        """The room the data files take on the discs (their sectors and records), as the discs' own
        `data_bytes` count it."""
        return sum(d.data_sectors for d in self.discs) * SECTOR

    def free_sectors(self, k: int) -> int:
        d = self.discs[k]
        return self.usable_sectors - d.data_sectors - d.filler_sectors

    def summary(self) -> list[dict]:
        out = []
        for k, d in enumerate(self.discs):
            used = self.reserve_sectors + d.data_sectors + d.filler_sectors
            out.append({
                "disc": k + 1, "files": d.files, "data_bytes": d.data_sectors * SECTOR,
                "filler_bytes": d.filler_sectors * SECTOR, "reserved_bytes": self.reserve_sectors * SECTOR,
                "free_bytes": max(0, self.disc_sectors - used) * SECTOR,
                "fill_percent": round(100.0 * used / self.disc_sectors, 1),
            })
        return out
