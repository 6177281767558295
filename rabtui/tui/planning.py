"""The per-disc fill plan shown before burning, computed from the newest complete backups.

The checkpoint engine's planner (`rabtui.checkpoint.plan.plan`) packs the groups; this module only
gathers what to pack: each due directory's newest complete state on the media (archive
directories: their merged `.archive` view) and the other directories as filler candidates.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from rabtui.config import Config
from rabtui.discs import parse_disc
from rabtui.store import COMPLETE_SQL, Store


@dataclass
class DiscBar:
    disc: int
    data_bytes: int
    filler_bytes: int
    reserved_bytes: int
    free_bytes: int
    files: int


@dataclass
class FillPlan:
    disc_name: str
    disc_bytes: int
    discs: list[DiscBar]
    lower_bound: int
    max_discs: int
    directories: list[tuple[str, str]]   # (source, path) of the data
    fillers: int
    note: str = ""


def _tree(root: Path) -> tuple[list[bytes], list[int]]:
    paths, sizes = [], []
    base = os.fsencode(root)
    for dirpath, dirnames, filenames in os.walk(base):
        dirnames.sort()
        rel = os.path.relpath(dirpath, base)
        for name in sorted(filenames):
            full = os.path.join(dirpath, name)
            try:
                st = os.lstat(full)
            except OSError:
                continue
            paths.append(name if rel == b"." else rel + b"/" + name)
            sizes.append(st.st_size)
    return paths, sizes


def directory_root(store: Store, cfg: Config, source_id: str, dir_path: str, kind: str) -> Path | None:
    """Where the newest complete state of a directory lies on the media."""
    row = store.one(f"SELECT * FROM backups WHERE source=? AND status IN {COMPLETE_SQL} ORDER BY started DESC LIMIT 1",
                    (source_id,))
    if row is None:
        return None
    rel = dir_path.lstrip("/")
    if kind == "archive":
        try:
            medium = cfg.medium(row["medium"])
            archive = medium.path / source_id / ".archive" / rel
            if archive.is_dir():
                return archive
        except Exception:
            pass
    data = Path(row["path"]) / "data" / rel
    return data if data.is_dir() else None


def fill_plan(cfg: Config, store: Store, due: list[tuple[str, str]] | None = None) -> FillPlan:
    from rabtui.checkpoint import plan as planmod

    disc_name, sectors = parse_disc(cfg.checkpoint.disc)
    dirs = [(s.id, d.path, d.kind) for s in cfg.sources for d in s.directories]
    chosen = [x for x in dirs if due is None or (x[0], x[1]) in due] if due else dirs
    groups, fillers, names = [], [], []
    for source_id, path, kind in dirs:
        root = directory_root(store, cfg, source_id, path, kind)
        if root is None:
            continue
        paths, sizes = _tree(root)
        group = planmod.Group((source_id, path), f"data/{source_id}{path}".encode(), paths, sizes)
        if (source_id, path, kind) in chosen:
            groups.append(group)
            names.append((source_id, path))
        else:
            fillers.append(group)
    if not groups:
        return FillPlan(disc_name, sectors * 2048, [], 0, cfg.checkpoint.max_discs, [], 0,
                        note="no complete backup of the directories yet")
    p = planmod.plan(groups, sectors, filler=fillers)
    bars = [DiscBar(s["disc"], s["data_bytes"], s["filler_bytes"], s["reserved_bytes"], s["free_bytes"], s["files"])
            for s in p.summary()]
    return FillPlan(disc_name, sectors * 2048, bars, p.lower_bound, cfg.checkpoint.max_discs, names,
                    sum(len(d.filler) for d in p.discs))
