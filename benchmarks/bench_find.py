"""`rabtui find` from the catalog versus walking the backup trees with GNU find.

Part 1 (the goal): a catalog of 30 backups of 100,000 files (1% of the files change in each
backup, so versions grow with changes as the pipeline records them), find by name and by path glob.
Part 2 (the alternative): real hard-linked trees on disk (30 backups of N files, made with
`cp -al` like --link-dest would) searched with `find MEDIUM -name PATTERN`, against the catalog
of the same trees; runs alternate, medians reported.

    .venv/bin/python benchmarks/bench_find.py [--files 100000] [--backups 30] [--walk-files 20000]
"""

from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from results_file import write_kept  # noqa: E402

from rabtui.state import catalog
from rabtui.state.store import Store  # noqa: E402


def build_catalog(store: Store, files: int, backups: int, change: float = 0.01, seed: int = 1) -> list[bytes]:
    rnd = random.Random(seed)
    paths = [b"srv/data/d%03d/s%02d/file_%06d.%s" % (i % 500, i % 37, i, (b"conf", b"txt", b"jpg", b"log")[i % 4])
             for i in range(files)]
    conn = store.conn
    with store.transaction():
        conn.executemany("INSERT INTO paths(source, dir, path) VALUES ('web', '/srv/data', ?)", [(p,) for p in paths])
        for b in range(1, backups + 1):
            conn.execute("INSERT INTO backups(id, source, medium, name, path, status, started) VALUES"
                         " (?, 'web', 'm1', ?, ?, 'completed', ?)",
                         (b, "backup-202601%02d030000" % b, f"/m/web/{b}", 1_700_000_000 + b * 86400))
        conn.executemany("INSERT INTO versions(path_id, medium, size, mtime, first_backup, last_backup)"
                         " VALUES (?, 'm1', ?, 1700000000, 1, 1)", [(i + 1, 1000 + i % 5000) for i in range(files)])
        current = {i + 1: i + 1 for i in range(files)}     # path id -> version id (the live one)
        next_vid = files + 1
        for b in range(2, backups + 1):
            changed = set(rnd.sample(range(1, files + 1), int(files * change)))
            conn.execute("UPDATE versions SET last_backup=? WHERE last_backup=?", (b, b - 1))
            rows = []
            for pid in changed:
                conn.execute("UPDATE versions SET last_backup=? WHERE id=?", (b - 1, current[pid]))
                rows.append((pid, 2000 + b, 1700000000 + b))
                current[pid] = next_vid
                next_vid += 1
            conn.executemany("INSERT INTO versions(path_id, medium, size, mtime, first_backup, last_backup)"
                             f" VALUES (?, 'm1', ?, ?, {b}, {b})", rows)
    return paths


def timed(fn, repeat: int) -> list[float]:
    out = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        out.append(time.perf_counter() - t)
    return out


def part1(files: int, backups: int, repeat: int) -> list[str]:
    with tempfile.TemporaryDirectory() as tmp:
        store = Store(tmp)
        t = time.perf_counter()
        build_catalog(store, files, backups)
        built = time.perf_counter() - t
        nver = store.one("SELECT COUNT(*) AS n FROM versions")["n"]
        lines = [f"catalog: {files} files x {backups} backups -> {nver} versions (built in {built:.1f} s)", "",
                 "| query | matches | median | max |", "|---|---|---|---|"]
        for pattern in ("file_012345.txt", "nothing-like-this", "file_0123*", "*/d042/*", "*.conf"):
            res = []
            times = timed(lambda: res.append(len(catalog.find(store, pattern))), repeat)
            lines.append(f"| `find {pattern}` | {res[0]} versions | {statistics.median(times) * 1000:.0f} ms |"
                         f" {max(times) * 1000:.0f} ms |")
        store.close()
    return lines


def part2(files: int, backups: int, repeat: int) -> list[str]:
    tmp = Path(tempfile.mkdtemp(prefix="bench-find-"))
    try:
        medium = tmp / "medium" / "web"
        first = os.fsencode(medium / "backup-1" / "data")
        store = Store(tmp / "state")
        made = set()
        for p in build_catalog(store, files, backups):   # the same names on disk as in the catalog
            full = os.path.join(first, p)
            parent = os.path.dirname(full)
            if parent not in made:
                os.makedirs(parent, exist_ok=True)
                made.add(parent)
            with open(full, "wb") as f:
                f.write(b"x")
        for b in range(2, backups + 1):
            subprocess.run(["cp", "-al", str(medium / "backup-1"), str(medium / f"backup-{b}")], check=True)
        pattern = "file_001234.jpg"
        walk, cat = [], []
        for _ in range(repeat):   # alternate
            walk += timed(lambda: subprocess.run(["find", str(medium), "-name", pattern], capture_output=True,
                                                 check=True), 1)
            cat += timed(lambda: catalog.find(store, pattern), 1)
        store.close()
        mw, mc = statistics.median(walk), statistics.median(cat)
        return [f"trees on disk: {backups} hard-linked backups of {files} files ({backups * files} entries);"
                f" page cache warm after the first run", "",
                "| method | median | ratio |", "|---|---|---|",
                f"| GNU `find MEDIUM -name {pattern}` | {mw * 1000:.0f} ms | 1.0 |",
                f"| `rabtui find` (catalog) | {mc * 1000:.1f} ms | {mw / mc:.0f}x faster |"]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=100_000)
    ap.add_argument("--backups", type=int, default=30)
    ap.add_argument("--walk-files", type=int, default=20_000)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--out", default=str(Path(__file__).parent / "results" / "lifecycle.md"))
    a = ap.parse_args()
    lines = ["# Lifecycle benchmarks", "", f"Machine: {os.cpu_count()} cores, shared; Python {sys.version.split()[0]}.",
             "", "## find from the catalog (goal: under 1 s for 30 backups of 100,000 files)", ""]
    lines += part1(a.files, a.backups, a.repeat)
    lines += ["", "## find from the catalog versus walking the trees", ""]
    lines += part2(a.walk_files, a.backups, a.repeat)
    lines += ["", "The catalog is filled directly with the pipeline's update rules (unchanged files extend their",
              "version, changed ones get a new one), not by 30 real backups; the trees of part 2 have",
              "18,500 directories per backup (500 x 37), which is what makes the walk slow. The machine is",
              "shared with other test runs: absolute times are noisy, the ratio is the figure.", "",
              "Run: `.venv/bin/python benchmarks/bench_find.py`"]
    Path(a.out).parent.mkdir(parents=True, exist_ok=True)
    write_kept(Path(a.out), "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
