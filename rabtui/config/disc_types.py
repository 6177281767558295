"""Disc types and their capacities in 2048-byte sectors."""

from __future__ import annotations

import re

SECTOR = 2048
MAX_SECTORS = 2**32 - 1    # ISO 9660 counts a volume's sectors in 32 bits

DISC_SECTORS = {
    "cd-650": 333_000,
    "cd-700": 359_849,
    "dvd+r": 2_295_104,
    "dvd-r": 2_298_496,
    "dvd+r-dl": 4_173_824,
    "dvd-r-dl": 4_171_712,
    "dvd-ram": 2_236_704,
    "bd-r-25": 11_826_176,
    "bd-r-25-unformatted": 12_219_392,
    "bd-r-50": 24_438_784,
}

_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 1000**2, "mb": 1000**2,
          "mib": 1024**2, "g": 1000**3, "gb": 1000**3, "gib": 1024**3, "s": SECTOR}


def parse_disc(name: str) -> tuple[str, int]:
    """`"cd-700"` or `"700MiB"` -> (display name, capacity in sectors); ValueError when unknown."""
    key = name.strip().lower()
    if key in DISC_SECTORS:
        return key, DISC_SECTORS[key]
    m = re.fullmatch(r"(-?\d+(?:\.\d+)?)\s*([a-z]*)", key)
    if not m or m.group(2) not in _UNITS:
        known = ", ".join(DISC_SECTORS)
        raise ValueError(f"unknown disc type {name!r} (known: {known}, or a size like \"700MiB\")")
    if m.group(1).startswith("-"):
        raise ValueError(f"disc size {name!r} cannot be negative")
    sectors = int(float(m.group(1)) * _UNITS[m.group(2)]) // SECTOR
    if sectors < 256:
        raise ValueError(f"disc size {name!r} is too small (at least 512 KiB)")
    if sectors > MAX_SECTORS:
        raise ValueError(f"disc size {name!r} is too large (an ISO 9660 image addresses less than 8 TiB)")
    return name.strip(), sectors
