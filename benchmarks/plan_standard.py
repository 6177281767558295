"""`bench_plan.py --standard FILES`: what a checkpoint's plan reads of a standard directory
(content.scan) and checks (not_as_saved.found: its files, and its symlinks, FIFOs and device nodes)
on a synthetic medium on tmpfs (/dev/shm): one complete backup holding FILES files, one symlink for
each 100 of them and a FIFO for each 1,000, the catalog holding them all. Each tree's rabtui
(`--trees`) runs in its own process, alternating, medians reported; each run's counts must agree."""

from __future__ import annotations

import json
import os
import statistics
import tempfile
from pathlib import Path

STANDARD = r"""
import inspect, json, sys, time
from rabtui.checkpoint import content, not_as_saved
from rabtui.state.store import Store
store = Store(sys.argv[1])
backup = store.one("SELECT * FROM backups WHERE id=1")
t0 = time.perf_counter()
s = content.scan(sys.argv[2])
t1 = time.perf_counter()
kinds = {"modes": s.modes, "sockets": s.skipped} if "modes" in inspect.signature(not_as_saved.found).parameters else {}
refused = not_as_saved.found(store, backup, "/srv/data", [], s.paths, s.sizes, s.marks, s.mtimes, **kinds)
t2 = time.perf_counter()
print(json.dumps({"scan_s": t1 - t0, "check_s": t2 - t1, "entries": len(s.paths), "refused": len(refused)}))
"""


def build_standard(top: Path, n: int) -> tuple[Path, Path]:
    """(state dir, the directory's root in the backup) of a synthetic medium under `top`."""
    from rabtui.state.store import Store

    backup = top / "m1" / "web" / "backup-20261201030000"
    root = backup / "data" / "srv" / "data"
    files = [b"d%03d/s%02d/file_%06d.dat" % (i // 4000, (i // 200) % 20, i) for i in range(n)]
    for d in sorted({os.path.dirname(rel) for rel in files}):
        os.makedirs(os.path.join(os.fsencode(root), d), exist_ok=True)
    for i, rel in enumerate(files):
        path = os.path.join(os.fsencode(root), rel)
        with open(path, "wb") as f:
            f.write(b"x" * (i % 50))
        os.utime(path, (1_700_000_000, 1_700_000_000))
    entries = []
    for i in range(0, n, 100):
        rel = files[i][:-4] + b".lnk"
        os.symlink(os.path.basename(files[i]), os.path.join(os.fsencode(root), rel))
        entries.append((rel, ord("L")))
        if i % 1000 == 0:
            os.mkfifo(os.path.join(os.fsencode(root), files[i][:-4] + b".fifo"))
            entries.append((files[i][:-4] + b".fifo", ord("S")))
    store = Store(top / "state")
    with store.transaction() as conn:
        conn.execute("INSERT INTO backups(id, source, medium, name, path, status, started) VALUES"
                     " (1, 'web', 'm1', ?, ?, 'completed', 1700000000)", (backup.name, str(backup)))
        conn.executemany("INSERT INTO paths(id, source, dir, path) VALUES (?, 'web', '/srv/data', ?)",
                         [(i + 1, b"srv/data/" + rel) for i, rel in enumerate(files)])
        conn.executemany("INSERT INTO versions(path_id, medium, size, mtime, first_backup, last_backup)"
                         " VALUES (?, 'm1', ?, 1700000000, 1, 1)", [(i + 1, i % 50) for i in range(n)])
        conn.executemany("INSERT INTO others(source, dir, path, kind, medium, mtime, first_backup, last_backup)"
                         " VALUES ('web', '/srv/data', ?, ?, 'm1', 1700000000, 1, 1)",
                         [(b"srv/data/" + rel, kind) for rel, kind in entries])
    store.close()
    return top / "state", root


def _run(tree: Path, state: Path, root: Path) -> dict:
    from bench_plan import run_archive

    return run_archive(tree, state, root, STANDARD)


def standard_bench(n: int, trees: list[Path], runs: int) -> None:
    with tempfile.TemporaryDirectory(dir="/dev/shm") as tmp:
        state, root = build_standard(Path(tmp), n)
        load = os.getloadavg()[0]
        for tree in trees:
            _run(tree, state, root)     # warm-up
        got: dict[Path, list[dict]] = {t: [] for t in trees}
        for rep in range(runs):
            for tree in trees if rep % 2 == 0 else trees[::-1]:
                got[tree].append(_run(tree, state, root))
        load = (load + os.getloadavg()[0]) / 2
        for tree, rs in got.items():
            print(json.dumps({"tree": str(tree), "files": n, "runs": runs, "load": round(load, 1),
                              **{k: rs[-1][k] for k in ("entries", "refused")},
                              **{k: round(statistics.median(r[k] for r in rs), 3)
                                 for k in ("scan_s", "check_s", "wall_s")}}), flush=True)
