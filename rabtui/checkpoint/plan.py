"""Packing files onto discs: 2048-byte sectors plus the ISO metadata each file and directory costs.

Pure and fast (200,000 files well under a second): files are parallel lists (paths, sizes), the
work is one pass in path order that fills disc after disc, so that a directory lands on as few
discs as possible. When the next file does not fit, the gap left on the disc is filled from the
files that follow (a bounded look-ahead), which keeps the number of discs at the lower bound on
realistic sets. A file larger than a disc is cut into parts on consecutive discs, named
`NAME.partNN-of-MM`. While the plan has more discs than its lower bound, the last disc is emptied
into the others' free space where it can be (a file may push a smaller one to a third disc), for
at most TIGHTEN_SECONDS. Space still left is then offered to filler directories (`add/N`), whole.

Every disc reserves room for README.txt, rabtui/ (config and database copy) and the catalog of
the whole checkpoint, whose size grows with the plan: the reserve is computed from the plan.
"""

from __future__ import annotations

import time
from array import array
from typing import Iterable, Sequence

from rabtui.checkpoint.discfill import EMPTY_DIR, DiscFill, entry_estimate, entry_of
from rabtui.checkpoint.isosize import MD5_PER_FILE, SECTOR, file_records, link_records, record_sizes
from rabtui.checkpoint.packing import SPLIT, DiscPlan, Group, Part, Plan
from rabtui.checkpoint.reserve import rows_bytes, catalog_bytes_of, reserve_for
from rabtui.checkpoint.tighten import empty_last_disc, repack_small

LOOKAHEAD = 4000           # files examined to fill the gap at the end of a disc
MIN_PART_SECTORS = 64      # do not start a cut file on a disc with less room than this
TIGHTEN_SECONDS = 0.3      # time the planner may spend emptying its last disc into the others
EMPTY = DiscFill(DiscPlan())  # what a directory chain costs on a fresh disc (never written to)


DISCS_MAX = SPLIT - 1     # Plan.placement holds a file's disc in 16 bits, SPLIT for one cut into parts


def plan(groups: Sequence[Group], disc_sectors: int, *, extra_reserve_bytes: int = 0, db_row_bytes: int = 0,
         filler: Sequence[Group] = ()) -> Plan:
    """Pack `groups` (in order) onto discs of `disc_sectors`; then offer space left to `filler`.

    With several directories, a second packing keeps a directory that fits one disc whole when
    the lower bound leaves room to spare; it is taken unless it needs more discs."""
    catalog = catalog_bytes_of(groups, db_row_bytes)
    reserve = reserve_for(catalog, extra_reserve_bytes)
    usable = disc_sectors - reserve
    if usable < 64:
        raise ValueError(f"a disc of {disc_sectors} sectors has no room left after the "
                         f"{reserve} sectors kept for README, rabtui/ and the catalog")
    least = -(-sum(_data_sectors(g, usable) for g in groups) // usable)
    if least > DISCS_MAX:   # at once: packed, a file of exabytes would be cut into parts until memory ran out
        raise _too_many(least, disc_sectors)
    deadline = time.perf_counter() + TIGHTEN_SECONDS
    result, state = _pack(groups, disc_sectors, reserve, catalog, keep_whole=False, deadline=deadline)
    if len(groups) > 1:
        whole, whole_state = _pack(groups, disc_sectors, reserve, catalog, keep_whole=True, deadline=deadline)
        if len(whole.discs) <= len(result.discs):
            result, state = whole, whole_state
    if filler and result.discs:
        _add_filler(result, state, filler, extra_reserve_bytes, db_row_bytes)
    return result


def _pack(groups: Sequence[Group], disc_sectors: int, reserve: int, catalog: int, *,
          keep_whole: bool, deadline: float) -> tuple[Plan, list]:
    usable = disc_sectors - reserve
    placement: list[array] = []
    parts: list[Part] = []
    discs: list[DiscPlan] = []
    state: list[DiscFill] = []
    nfiles = 0

    def new_disc() -> DiscFill:
        if len(discs) == DISCS_MAX:   # files that each fill most of a disc: more discs than their bound
            raise _too_many(DISCS_MAX + 1, disc_sectors)
        dp = DiscPlan()
        discs.append(dp)
        d = DiscFill(dp)
        state.append(d)
        return d

    cur = new_disc()
    data_total = 0
    meta_total = 0
    counted: set = set()     # the files with hard links whose data data_total holds, whole
    # Room that may be left empty without using more discs than the lower bound: spent on starting
    # a directory that fits one disc on a fresh disc rather than cutting it across two.
    estimates = [_group_estimate(g) for g in groups] if keep_whole else [0] * len(groups)
    total_est = sum(estimates)
    slack = -(-total_est // usable) * usable - total_est - usable // 50 if keep_whole else 0
    for gi, g in enumerate(groups):
        paths, sizes = g.paths, g.sizes
        n = len(paths)
        nfiles += n
        where = array("H", [SPLIT]) * n
        placement.append(where)
        used = bytearray(n)
        prefix = g.prefix
        last_rel = None
        dpath = prefix
        ext = None                    # the extent of `dpath` on the current disc, once it is there
        room = usable - cur.sectors
        if keep_whole and cur.files and estimates[gi] > room and estimates[gi] <= usable - 64 and room <= slack:
            slack -= room
            cur = new_disc()
        k = len(state) - 1
        cur.plan.groups.append(gi)
        special = g.dirs or g.links
        names: dict[int, list[int]] = {}      # a file with hard links: its first name -> all its names
        for i, first in g.same.items():
            names.setdefault(first, []).append(i)
        for i in range(n):
            p = paths[i]
            dir_rel, _, name = p.rpartition(b"/")
            data = -(-sizes[i] // SECTOR)
            if special and (i in g.dirs or i in g.links):
                # an empty directory or a symlink: counted as every disc holding it counts it
                entry = entry_of(g, i)
                rec, ce, jol = (record_sizes(name, True) if entry[3] == EMPTY_DIR else link_records(name, entry[3]))
                meta_total += rec + ce + jol + MD5_PER_FILE + (2 * SECTOR if entry[3] == EMPTY_DIR else 0)
                if used[i]:
                    continue
                if cur.sectors + entry_estimate(cur, *entry) > usable:
                    _fill_gap(g, i + 1, used, where, cur, usable, k)
                    cur = new_disc()
                    k = len(state) - 1
                    cur.plan.groups.append(gi)
                cur.add_entry(*entry)
                where[i] = k
                used[i] = 1
                last_rel = None
                continue
            rec, ce, jol = file_records(name)
            first = g.same.get(i)
            key = None if first is None else (id(g), first)
            meta_total += rec + ce + jol + MD5_PER_FILE
            if used[i]:
                data_total += _whole_data(data, key, counted)
                continue
            if dir_rel != last_rel:
                last_rel = dir_rel
                dpath = prefix + b"/" + dir_rel if dir_rel else prefix
                ext = cur.dirs.get(dpath)
            est = data + 1 + (1 if ce else 0) + (1 if jol + rec > 200 else 0)
            if est + 16 + EMPTY.dir_cost(dpath) > usable and _fresh_disc_cost(dpath, name, data) > usable:
                # larger than a disc, with its directories: cut into parts on consecutive discs
                data_total += data      # once for each name: xorriso shares no part between them
                cur = _place_parts(gi, i, dpath, name, sizes[i], usable, cur, state, parts, new_disc)
                k = len(state) - 1
                ext = cur.dirs.get(dpath)
                used[i] = 1
                continue
            data_total += _whole_data(data, key, counted)
            if cur.data_of(data, key) < data:
                est -= data
            if cur.sectors + est > usable or (ext is None and cur.sectors + est + cur.dir_cost(dpath) > usable):
                _fill_gap(g, i + 1, used, where, cur, usable, k)
                cur = new_disc()
                k = len(state) - 1
                cur.plan.groups.append(gi)
                ext = None
            if ext is None:
                ext = cur.add_dir(dpath)
            grew = ext.add(rec, ce, jol) + cur.data_of(data, key)
            if key is not None:
                cur.held.add(key)
            if cur.files & 127 == 0 and cur.files:
                grew += 1   # the MD5 array needs one more sector (16 bytes a file)
            cur.files += 1
            cur.sectors += grew
            where[i] = k
            used[i] = 1
            if first is not None:   # its other names beside it, where they fit: its data is written once
                _names_beside(g, names[first], used, where, cur, usable, k)
                ext = cur.dirs.get(dpath)
    total_sectors = data_total + meta_total // SECTOR
    if nfiles == 0:
        discs.clear()
    lower = -(-total_sectors // usable) if nfiles else 0
    result = Plan(disc_sectors=disc_sectors, reserve_sectors=reserve, discs=discs, placement=placement,
                  parts=parts, lower_bound=lower, total_sectors=total_sectors, files=nfiles,
                  catalog_bytes=catalog)
    while len(state) > max(lower, 1) and time.perf_counter() < deadline:
        if not empty_last_disc(result, state, groups, usable, deadline):
            break
    repack_small(result, state, groups, usable, deadline)
    for d in state:
        d.plan.data_sectors = d.sectors
        d.plan.files = d.files
    return result, state


def _too_many(least: int, disc_sectors: int) -> ValueError:
    return ValueError(f"the files take at least {least} discs of {disc_sectors * SECTOR / 1e6:.1f} MB, more than"
                      f" the {DISCS_MAX} a plan can number; nothing was planned")


def _fresh_disc_cost(dpath: bytes, name: bytes, data: int) -> int:
    """Sectors of a disc that holds this one file, exactly."""
    d = DiscFill(DiscPlan())
    d.add_file(dpath, name, data)
    return d.sectors


def _data_sectors(g: Group, usable: int) -> int:
    """Sectors of a directory's data, that of a file with hard links once (but for one larger than
    a disc: xorriso writes the parts cut out of it once for each name)."""
    same = g.same
    sectors = [-(-x // SECTOR) for x in g.sizes]
    return sum(x for i, x in enumerate(sectors) if same.get(i, i) == i or x > usable)


def _whole_data(data: int, key, counted: set) -> int:
    """The data sectors a file written whole adds to the lower bound: those of a file with hard
    links (entry_of's key) once, the first time."""
    if key is None:
        return data
    if key in counted:
        return 0
    counted.add(key)
    return data


def _names_beside(g: Group, names: list[int], used: bytearray, where: array, cur: DiscFill, usable: int,
                  k: int) -> None:
    """Put the names of a file not placed yet on the disc that holds its data, where they fit."""
    for j in names:
        if not used[j]:
            _put_where_it_fits(g, j, used, where, cur, usable, k)


def _put_where_it_fits(g: Group, j: int, used: bytearray, where: array, cur: DiscFill, usable: int, k: int) -> None:
    """Entry j of the group onto the disc `cur` (number k), if it fits there."""
    entry = entry_of(g, j)
    if cur.sectors + entry_estimate(cur, *entry) <= usable:
        cur.add_entry(*entry)
        where[j] = k
        used[j] = 1


def _group_estimate(g: Group) -> int:
    """Sectors of a directory's files with their records (its subdirectories not counted, but
    for the empty ones)."""
    names = sum(map(len, g.paths))
    meta = len(g.paths) * 160 + names * 2 + sum(g.links.values())
    return _data_sectors(g, 1 << 62) + meta // SECTOR + 2 * len(g.dirs) + 1


def _fill_gap(g: Group, start: int, used: bytearray, where: array, cur: DiscFill, usable: int, k: int) -> None:
    """Put later files of the same directory that still fit on the disc being closed."""
    paths, sizes = g.paths, g.sizes
    stop = min(len(paths), start + LOOKAHEAD)
    for j in range(start, stop):
        room = usable - cur.sectors
        if room < 2:
            return
        if used[j]:
            continue
        data = -(-sizes[j] // SECTOR)
        if data + 1 <= room:
            _put_where_it_fits(g, j, used, where, cur, usable, k)


def _place_parts(gi, i, dpath, name, size, usable, cur, state, parts, new_disc) -> DiscFill:
    """Cut one file into parts: the first fills what is left of this disc, the rest whole discs."""
    if usable - cur.sectors - cur.dir_cost(dpath) < MIN_PART_SECTORS + 8:
        cur = new_disc()
    pieces = []
    offset = 0
    while offset < size:
        room = usable - cur.sectors - cur.dir_cost(dpath) - 8
        if room < 1:
            raise ValueError(f"a disc has no room for a part of {name!r} below {dpath!r}")
        length = min(size - offset, room * SECTOR)
        cur.add_file(dpath, name + b".part00-of-00", -(-length // SECTOR))
        pieces.append((offset, length, len(state) - 1))
        if cur.plan.groups[-1:] != [gi]:
            cur.plan.groups.append(gi)
        offset += length
        if offset < size:
            cur = new_disc()
    for n, (off, length, disc) in enumerate(pieces, 1):
        parts.append(Part(gi, i, n, len(pieces), off, length, disc))
    return cur


def _add_filler(result: Plan, state: list[DiscFill], filler: Sequence[Group], extra: int, db_row_bytes: int) -> None:
    """Whole filler directories into the space left, first candidates first; the catalog grows
    on every disc with each one taken, so the reserve is re-checked against all discs."""
    usable = result.usable_sectors
    number = 0
    for ci, g in enumerate(filler):
        if not g.paths:
            continue
        rows = rows_bytes(g, len(b"add/00/") + 48, db_row_bytes)
        new_reserve = reserve_for(result.catalog_bytes + rows, extra)
        grow = new_reserve - result.reserve_sectors
        if any(usable - grow < d.sectors for d in state):
            continue
        cost = _group_cost(g)
        for k, d in enumerate(state):
            if d.sectors + cost <= usable - grow:
                number += 1
                before = d.sectors
                prefix = b"add/%d" % number
                for i in range(len(g.paths)):
                    d.add_entry(*entry_of(g, i, prefix))
                d.plan.filler.append(ci)
                d.plan.filler_sectors += d.sectors - before
                result.filler_numbers[ci] = number
                result.catalog_bytes += rows
                result.reserve_sectors = new_reserve
                usable = result.usable_sectors
                break
    for d in state:
        d.plan.data_sectors = d.sectors - d.plan.filler_sectors


def _group_cost(g: Group) -> int:
    """Sectors a whole directory takes on a disc of its own (an upper estimate)."""
    probe = DiscFill(DiscPlan())
    for i in range(len(g.paths)):
        probe.add_entry(*entry_of(g, i, b"add/00"))
    return probe.sectors - 8 + 4


def check_max_discs(p: Plan, max_discs: int, disc_name: str) -> None:
    from rabtui.errors import UsageError

    if len(p.discs) > max_discs:
        raise UsageError(
            f"the checkpoint needs {len(p.discs)} discs of {disc_name} (lower bound {p.lower_bound}), "
            f"more than max_discs = {max_discs}: nothing was written",
            hint="choose a larger disc type, raise max_discs (at most 64) or checkpoint fewer directories",
        )


def part_name(name: bytes, part: int, parts: int) -> bytes:
    return name + b".part%02d-of-%02d" % (part, parts)


LARGEST_FILE = str(2**63 - 1).encode()     # bytes: a file's size is a signed 64-bit number (off_t)


def parse_list(lines: Iterable[bytes]) -> Group:
    """A `SIZE PATH` list (as `find -printf "%s %p\\n"` prints it) as one group.

    The order of the list is kept: find lists a directory's files together, which is the
    locality the planner keeps."""
    paths: list[bytes] = []
    sizes: list[int] = []
    add_path, add_size = paths.append, sizes.append
    for number, line in enumerate(lines, 1):
        size, sep, path = line.rstrip(b"\n").partition(b" ")
        if not sep:
            if not size:
                continue
            raise ValueError(f"line {number}: not a 'SIZE PATH' line: {line[:80]!r}")
        if not size.isdigit():   # a size of bytes: no sign (int() takes "-5", " 5" and "1_0")
            raise ValueError(f"line {number}: not a 'SIZE PATH' line: {line[:80]!r}")
        digits = size.lstrip(b"0")     # (int() refuses more than 4,300 digits, naming a Python setting)
        if len(digits) > len(LARGEST_FILE) or (len(digits) == len(LARGEST_FILE) and digits > LARGEST_FILE):
            said = digits.decode() if len(digits) <= 30 else f"{digits[:12].decode()}... ({len(digits)} digits)"
            raise ValueError(f"line {number}: size {said}: larger than a file can be ({LARGEST_FILE.decode()} bytes)")
        add_size(int(size))
        if path[:1] == b"/":
            path = path.lstrip(b"/")
        elif path[:2] == b"./":
            path = path[2:]
        if not path:     # "10 ", "10 /": a size naming no file
            raise ValueError(f"line {number}: size {size.decode()} with no path: not a 'SIZE PATH' line: {line[:80]!r}")
        add_path(path)
    return Group(key=("list", ""), prefix=b"data", paths=paths, sizes=sizes)
