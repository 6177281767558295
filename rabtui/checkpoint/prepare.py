"""From due directories to a recorded checkpoint: content, plan, checksums, database rows.

`compute()` plans without writing anything (`rabtui checkpoint plan`), refusing what xorriso
cannot write; `record()` numbers the checkpoint and writes `checkpoints`, `checkpoint_dirs`,
`discs` (all `planned`) and `disc_files` (with the sha256 of every file, read from the media), and
the catalog of the whole checkpoint. Where each entry goes, and its row: placement.py.
"""

from __future__ import annotations

import gzip
import json
import os
import time
from collections import Counter
from pathlib import Path

from rabtui import fmt, privacy
from rabtui.checkpoint import (as_backed_up, content, continuation, dir_attrs, disc_names, isosize, kept_off,
                               plan as planmod, triggers)
from rabtui.checkpoint.content import DirContent
from rabtui.checkpoint import not_read, numbering, reserve
from rabtui.checkpoint.layout import CATALOG_ON_DISC, Row, catalog_lines, escape_path, volid, write_catalog
from rabtui.checkpoint.placement import (Computed, checksummed_rows, dir_attrs_of, kept_off_of, placed, prefix_of,
                                         records_bytes, row_of)
from rabtui.config import Config
from rabtui.config.disc_types import parse_disc
from rabtui.errors import UsageError, WorkFailed
from rabtui.events import LOG, STEP, WARNING, Emit, Event, no_emit
from rabtui.state.store import Store

DB_ROW_BYTES = 140          # a disc_files row in the database copy, besides its paths (measured: ~250 in all)


def compute(cfg: Config, store: Store, *, asked: set[str] | None = None, disc: str | None = None,
            emit: Emit = no_emit, prompter=None, cancel=None) -> Computed:
    """Plan the next checkpoint: every due directory (`asked` makes directories due), the others
    as filler candidates, oldest checkpoint first. Reads the media at hand (content.backup_at_hand:
    a directory on no mounted medium is asked for through `prompter`). A directory that xorriso
    would stop on is refused, a filler candidate left out (continuation.py: each directory that
    may be one is written beforehand to /dev/null, from a skeleton made and removed in the state
    directory); nothing else is written."""
    try:
        disc_type, sectors = parse_disc(disc or cfg.checkpoint.disc)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    sts = triggers.statuses(cfg, store, asked=asked)
    chosen = [s for s in sts if s.due]
    unknown = sorted((asked or set()) - {s.key for s in sts} - {"*"})
    unknown = [k for k in unknown if not k.endswith(":*")]
    if unknown:
        raise UsageError(f"not a configured directory: {', '.join(unknown)} (use SOURCE:PATH)")
    if not chosen:
        raise UsageError("no directory is due for a checkpoint",
                         hint="see `rabtui checkpoint status`; `rabtui checkpoint plan --now SOURCE:PATH` asks for one")
    keys = {s.key for s in chosen}
    others = [s for s in sts if s.key not in keys and s.backup_id]
    others.sort(key=lambda s: (s.last_checkpoint_time or 0.0, s.source, s.path))
    data = []
    for s in chosen:
        backup_id = content.backup_at_hand(cfg, store, s.source, s.path, emit=emit, prompter=prompter, cancel=cancel)
        d = _gathered(cfg, store, s.source, s.path, backup_id, emit, cancel)
        emit(Event(LOG, f"reading {s.key} from backup {d.backup_name} on medium {d.medium}"))
        if d.skipped:
            emit(Event(WARNING, f"{s.key}: {fmt.count(len(d.skipped), 'socket')} {fmt.are(len(d.skipped))} not put on discs (no tool can extract"
                                f" them; their program makes them anew), e.g. {os.fsdecode(d.skipped[0])}"))
        if d.kept_lost:
            emit(Event(WARNING, f"{s.key}: {fmt.count(len(d.kept_lost), 'file')} that kept data saved {fmt.are(len(d.kept_lost))} not in its backup as"
                                " the catalog records them (or, lost from the archive with their directory, in the"
                                " backup that saved them), and are not put on discs, e.g."
                                f" {os.fsdecode(d.kept_lost[0])}"))
        if d.kept_shadowed:
            emit(Event(WARNING, f"{s.key}: {fmt.count(len(d.kept_shadowed), 'file')} that kept data saved {fmt.are(len(d.kept_shadowed))} below a symlink or a file"
                                " that its backup holds in place of their directory (a restore refuses them too), and are"
                                f" not put on discs, e.g. {os.fsdecode(d.kept_shadowed[0])}"))
        if d.kept_clashing:
            emit(Event(WARNING, f"{s.key}: {fmt.count(len(d.kept_clashing), 'entry')} that kept data saved {fmt.are(len(d.kept_clashing))} where its backup"
                                " holds a directory, a symlink or a special file, or below a file that kept data saved"
                                " in place of their directory (a restore refuses them too), and are not put on discs,"
                                f" e.g. {os.fsdecode(d.kept_clashing[0])}"))
        beyond = [path for path, mtime in zip(d.paths, d.mtimes) if as_backed_up.beyond_disc(mtime)]
        if beyond:
            emit(Event(LOG, f"{s.key}: {fmt.count(len(beyond), 'entry')} {fmt.are(len(beyond))} dated outside the years 1900-2155 a disc holds:"
                            " written with the nearest time it holds, they get their own again (to the second)"
                            f" when restored from the discs, e.g. {os.fsdecode(beyond[0])}"))
        if d.unread or d.unread_unnamed:
            emit(Event(WARNING, not_read.warning(d)))
        data.append(d)
    filler = []
    for s in others:
        try:
            filler.append(_gathered(cfg, store, s.source, s.path,
                                    content.backup_at_hand(cfg, store, s.source, s.path), emit, cancel))
        except Exception as exc:  # a filler candidate that cannot be read is simply not used
            emit(Event(LOG, f"filler {s.key} left out: {exc}"))
    filler = [d for d in filler if disc_names.fits_on_disc(b"add/%d" % len(sts), d.paths, emit, d.key)]
    groups = [_group_of(d, prefix_of(d.source, d.path)) for d in data]
    fgroups, kept = [], []
    for d in filler:
        try:
            fgroups.append(_group_of(d, b"add"))
        except UsageError as exc:   # a filler candidate with a link no disc takes is not used
            emit(Event(LOG, f"filler {d.key} left out: {exc}"))
            continue
        kept.append(d)
    filler = kept
    recorded = records_bytes(data, filler)
    while True:
        # xattrs and ACLs are not placed file by file: every disc keeps room for all of them
        extra = (reserve.files_beside(cfg, store, [d.path for d in data + filler])
                 + sum(d.attr_bytes for d in data + filler)
                 + recorded + sum(not_read.readme_bytes(d) for d in data + filler))
        try:
            p = planmod.plan(groups, sectors, extra_reserve_bytes=extra, db_row_bytes=DB_ROW_BYTES, filler=fgroups)
        except ValueError as exc:
            raise UsageError(str(exc)) from None
        if not p.files:
            raise UsageError(f"nothing to write: {', '.join(d.key for d in data)} hold no files")
        for gi, d in enumerate(data):
            disc_names.check_disc_paths(prefix_of(d.source, d.path), d, p.placement[gi])
            disc_names.check_part_names(d, {pt.index: pt.parts for pt in p.parts if pt.group == gi})
        c = Computed(disc_type, sectors, p, data, filler, {s.key: s.reasons for s in chosen})
        bad = _unwritable(cfg, c, emit, cancel)
        refused = [b for b in bad if any(b.owner is d for d in data)]
        if refused:
            raise continuation.refusal(refused)
        if not bad:
            return c
        for b in bad:   # a filler directory is not needed: planned again without it
            emit(Event(LOG, f"filler {b.owner.key} left out: xorriso cannot write its directory {b.shown!r} ({b.why})"))
        kept = [j for j, d in enumerate(filler) if all(d is not b.owner for b in bad)]
        filler, fgroups = [filler[j] for j in kept], [fgroups[j] for j in kept]


def _unwritable(cfg: Config, c: Computed, emit: Emit, cancel) -> list[continuation.Unwritable]:
    """The directories of the plan that xorriso cannot write (continuation.py), disc by disc."""
    discs: dict[int, tuple[list[Row], dict[bytes, DirContent]]] = {}
    for d, prefix, i, k, part in placed(c):
        rows, owners = discs.setdefault(k + 1, ([], {}))
        rows.append(row_of(d, prefix, i, k, part))
        owners[prefix] = d
    folder = Path(cfg.state_dir) / "checkpoints"
    try:
        privacy.private_dir(folder)
    except OSError as exc:     # another user's (made first in a state directory open to all, sticky)
        raise WorkFailed(f"the state directory's {folder}: {exc.strerror or exc}; nothing was recorded",
                         hint="move it away (see `rabtui check`), then run again") from None
    return continuation.unwritable(discs, folder, emit, cancel, cfg.checkpoint.io_timeout)


def _group_of(d: DirContent, prefix: bytes) -> planmod.Group:
    """The planner's view of a directory: its empty directories and its symlinks (whose targets,
    read from the medium, take room on a disc) marked. A target libisofs refuses is refused here,
    by name."""
    g = planmod.Group(key=(d.source, d.path), prefix=prefix, paths=d.paths, sizes=d.sizes)
    firsts: dict[int, int] = {}
    for i in sorted(d.inodes):      # one read elsewhere (kept data) is another file on the disc
        if i not in d.disks:
            g.same[i] = firsts.setdefault(d.inodes[i], i)
    shared = Counter(g.same.values())
    g.same = {i: first for i, first in g.same.items() if shared[first] > 1}
    bad = []
    for i, mark in enumerate(d.marks):
        if mark == content.DIR_MARK:
            g.dirs.add(i)
        elif mark == content.LINK_MARK:
            target = d.links.get(i, b"")    # none: gone meanwhile, the burn says so by name
            if len(target) > isosize.LINK_TARGET_MAX or any(len(c) > isosize.NAME_MAX for c in target.split(b"/")):
                bad.append((d.paths[i], len(target)))
            g.links[i] = isosize.sl_bytes(target)
    if bad:
        rel, n = bad[0]
        raise UsageError(
            f"{d.key}: {len(bad)} symlinks have a target no disc can hold (at most"
            f" {isosize.LINK_TARGET_MAX} bytes, names of at most {isosize.NAME_MAX} in it), e.g."
            f" {os.fsdecode(rel)[:200]!r} ({n} bytes)",
            hint="xorriso refuses such a link (\"Rock Ridge path too long\"); leave it out of the directory"
                 " (exclude) or point it somewhere shorter")
    return g


def _gathered(cfg: Config, store: Store, source: str, path: str, backup_id: int, emit: Emit, cancel) -> DirContent:
    """content.gather's, with what the backup could not read on the source."""
    d = content.gather(cfg, store, source, path, backup_id, emit, cancel)
    d.unread, d.unread_unnamed, d.unmade = not_read.of_backup(store, backup_id, path)
    return d


def checkpoint_dir(cfg: Config, number: int) -> Path:
    return Path(cfg.state_dir) / "checkpoints" / str(number)


def _own(d) -> dict:
    """An archive directory's `own` in the plan: where its directories are read (own_dirs.from_plan)."""
    return {"own": [os.fsdecode(p) for p in d.own]} if d.kind == "archive" else {}


def record(cfg: Config, store: Store, c: Computed, *, drive: str, emit: Emit = no_emit, cancel=None,
           now: float | None = None) -> int:
    """Number the checkpoint and write its rows; returns its number. Nothing is burnt yet."""
    planmod.check_max_discs(c.plan, cfg.checkpoint.max_discs, c.disc_type)
    emit(Event(STEP, "checksums of every file, read from the media", {"step": 1, "name": "checksums",
                                                                         "state": "running"}))
    rows, joined = checksummed_rows(store, c, emit, cancel)
    emit(Event(STEP, "checksums done", {"step": 1, "name": "checksums", "state": "ok"}))
    created = now or time.time()
    p = c.plan
    dirs = []
    for d in c.data:
        dirs.append({"source": d.source, "path": d.path, "kind": d.kind, "role": "data", "add": None,
                     "backup_id": d.backup_id, "medium": d.medium, "root": os.fsdecode(d.root),
                     "prefix": os.fsdecode(prefix_of(d.source, d.path)),
                     "reason": "; ".join(c.reasons.get(d.key, [])), **_own(d),
                     **not_read.plan_fields(d)})
    for k, dp in enumerate(p.discs):
        for ci in dp.filler:
            d = c.filler[ci]
            n = p.filler_numbers[ci]
            dirs.append({"source": d.source, "path": d.path, "kind": d.kind, "role": "filler", "add": n,
                         "disc": k + 1, "backup_id": d.backup_id, "medium": d.medium,
                         "root": os.fsdecode(d.root), "prefix": f"add/{n}", "reason": "filler", **_own(d),
                         **not_read.plan_fields(d)})
    on_disc: dict[str, set[int]] = {}
    prefixes = sorted((os.fsencode(d["prefix"]) for d in dirs), key=len, reverse=True)
    names = 0    # the catalog's paths below their directory's prefix, escaped
    below = dict.fromkeys(prefixes, 0)
    for r in rows:
        for pre in prefixes:
            if r.disc_path.startswith(pre + b"/"):
                on_disc.setdefault(os.fsdecode(pre), set()).add(r.disc)
                names += len(escape_path(r.disc_path[len(pre) + 1:]).encode())
                below[pre] += 1
                break
    rows.sort(key=lambda r: (r.disc, r.disc_path))
    plain = "".join(catalog_lines(rows)).encode("utf-8")
    gz = gzip.compress(plain, 6, mtime=0)
    room = reserve.catalog_room(below, len(rows), names)
    if len(gz) > room:   # the planner kept `room` on every disc (reserve.py): never burn past it
        raise WorkFailed(f"the compressed catalog takes {len(gz)} bytes, more than the {room} kept for it on"
                         f" each disc; nothing was recorded", hint="please report this, with the names involved")
    used = numbering.highest_used(cfg, store, drive)
    with store.transaction():
        row = store.one("SELECT COALESCE(MAX(number), 0) AS n FROM checkpoints")
        number = max(row["n"], used) + 1
        plan_json = {"created": created, "disc_type": c.disc_type, "disc_sectors": c.disc_sectors,
                     "reserve_sectors": p.reserve_sectors, "dirs": dirs, "summary": c.summary(),
                     "on_disc": {k: sorted(v) for k, v in on_disc.items()}, "joined": joined}
        store.execute(
            "INSERT INTO checkpoints(number, created, status, disc_type, disc_sectors, drive, discs, lower_bound, plan)"
            " VALUES (?,?, 'planned', ?,?,?,?,?,?)",
            (number, created, c.disc_type, c.disc_sectors, drive, len(p.discs), p.lower_bound,
             json.dumps(plan_json, default=str)),
        )
        for d in dirs:
            store.execute("INSERT OR REPLACE INTO checkpoint_dirs(number, source, path, role, backup_id, reason)"
                          " VALUES (?,?,?,?,?,?)",
                          (number, d["source"], d["path"], d["role"], d["backup_id"], d["reason"]))
        for k in range(len(p.discs)):
            store.execute("INSERT INTO discs(number, disc, volid, state) VALUES (?,?,?, 'planned')",
                          (number, k + 1, volid(number, k + 1)))
        store.conn.executemany(
            "INSERT INTO disc_files(number, disc, source, path, disc_path, size, mtime, sha256, part, parts, mode,"
            " link, link_group, uid, gid, rdev, xattr_sum, trusted_sum) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(number, r.disc, r.source, r.path, r.disc_path, r.size, r.mtime, r.sha256, r.part, r.parts, r.mode,
              r.link, r.link_group, *(r.owner or (None, None)), r.rdev, r.xattr_sum, r.trusted_sum) for r in rows],
        )
        kept_off.record(store, number, kept_off_of(c))
        dir_attrs.record(store, number, dir_attrs_of(c))
    numbering.note_number(cfg, store, number, emit)
    folder = checkpoint_dir(cfg, number)
    try:
        privacy.private_dir(folder.parent)      # checkpoints/: command files, catalogs, staging
        privacy.private_dir(folder)
        write_catalog(folder / "catalog.tsv", rows)
        tmp = folder / (CATALOG_ON_DISC + ".tmp")
        tmp.write_bytes(gz)
        os.replace(tmp, folder / CATALOG_ON_DISC)
    except OSError as exc:     # the state directory full, say: the first disc's staging writes them again
        raise WorkFailed(f"checkpoint {number} is recorded, but its catalog cannot be written into {folder}:"
                         f" {exc.strerror or exc}; nothing was burned",
                         hint=f"free space there, then `rabtui checkpoint resume {number}`") from None
    emit(Event(LOG, f"checkpoint {number}: {fmt.count(len(p.discs), 'disc')} of {c.disc_type} (lower bound {p.lower_bound}),"
                    f" {fmt.count(len(rows), 'file')}"))
    return number
