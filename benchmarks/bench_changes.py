"""What the changed-files trigger adds to step 7's catalog update (CatalogSpool.apply).

A catalog of N files backed up once on medium m1 (one version each, base backup 1), then a second
backup of the same N files of which a fraction changed: apply() with the trigger's counting, and
with it replaced by nothing, alternating, medians. Also the first backup onto a new medium (every
file written: the heaviest case for the counting, each a row looked up and found).

    .venv/bin/python benchmarks/bench_changes.py [--files 1000000] [--change 0.01] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rabtui.backup import catalog_update  # noqa: E402
from rabtui.state import changes  # noqa: E402
from rabtui.rsync import CHANGED, NEW, SAME  # noqa: E402
from rabtui.state.store import Store  # noqa: E402

DIR = "/srv/data"
F = ord("f")


def _paths(n: int) -> list[bytes]:
    return [b"srv/data/d%03d/s%02d/file_%07d" % (i % 500, i % 37, i) for i in range(n)]


def _backup_row(store: Store, bid: int, medium: str) -> None:
    store.execute("INSERT INTO backups(id, source, medium, name, path, status, started) VALUES"
                  " (?, 'web', ?, ?, '/x', 'completed', ?)", (bid, medium, f"backup-{bid}", 1_700_000_000 + bid))


def _setup(folder: Path, n: int) -> tuple[Store, list[bytes]]:
    store = Store(folder)
    paths = _paths(n)
    spool = catalog_update.CatalogSpool(store)
    _backup_row(store, 1, "m1")
    spool.target(source="web", medium="m1", base_id=None)
    for i in range(0, n, 10000):
        spool.add(DIR, [(DIR, p, F, NEW, 1000, 1_700_000_000) for p in paths[i:i + 10000]])
    spool.apply(1)
    return store, paths


def _apply(store: Store, paths: list[bytes], bid: int, medium: str, base: int | None, changed: set[int],
           counting: bool) -> float:
    _backup_row(store, bid, medium)
    spool = catalog_update.CatalogSpool(store)
    spool.target(source="web", medium=medium, base_id=base)
    for i in range(0, len(paths), 10000):
        spool.add(DIR, [(DIR, p, F, (CHANGED if j in changed else SAME) if base else NEW,
                    1000 + (bid if j in changed else 0), 1_700_000_000) for j, p in enumerate(paths[i:i + 10000], i)])
    saved = changes.record
    if not counting:
        changes.record = lambda *a, **k: None
    try:
        t0 = time.perf_counter()
        spool.apply(bid)
        return time.perf_counter() - t0
    finally:
        changes.record = saved


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=1_000_000)
    ap.add_argument("--change", type=float, default=0.01)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir="/dev/shm" if Path("/dev/shm").is_dir() else None) as tmp:
        store, paths = _setup(Path(tmp), args.files)
        step = max(1, int(1 / args.change))
        times = {True: [], False: []}
        bid, base = 1, 1
        for r in range(args.repeat):
            for counting in (r % 2 == 0, r % 2 == 1):
                bid += 1
                changed = set(range(bid % step, args.files, step))
                times[counting].append(_apply(store, paths, bid, "m1", base, changed, counting))
                base = bid
        first = {}
        for k, counting in enumerate((True, False)):
            bid += 1
            first[counting] = _apply(store, paths, bid, f"new{k}", None, set(), counting)
        rows = store.one("SELECT COUNT(*) FROM changes")[0]
        store.close()
    print(f"{args.files} files, {args.change:.1%} changed per backup, medians of {args.repeat}:")
    print(f"  apply with the counting:    {statistics.median(times[True]):.3f} s")
    print(f"  apply without the counting: {statistics.median(times[False]):.3f} s")
    print(f"  first backup onto a new medium (every file written): {first[True]:.3f} s with, "
          f"{first[False]:.3f} s without")
    print(f"  changes rows at the end: {rows}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
