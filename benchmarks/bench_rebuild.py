"""rebuild-state after the state database is lost: the time and the peak memory of reading back a
checkpoint of many files (its catalog, the state copy on its discs, every disc verified again), as
a server that lost its disk needs it, on tmpfs.

    .venv/bin/python benchmarks/bench_rebuild.py [--files N] [--reps R] [--tree DIR ...]

A local source of N small files (200 to a directory) is backed up and burnt onto ISO images
(an `images:` drive, DVD-sized discs); then, R times, `rabtui checkpoint verify` of those discs
(with the database as the burn left it) and `rabtui rebuild-state` (the database removed) each run
as its own process (wall time, its own CPU, its peak RSS): the verification is the floor of what
reading the discs back costs. With `--tree`, the
same checkpoint is rebuilt by each rabtui tree named (a worktree of another commit), alternating,
so that two versions of the code compare on the same discs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TMPFS = Path("/dev/shm")

RUNNER = """
import json, resource, sys
from rabtui.program import main
code = main(sys.argv[2:])
r = resource.getrusage(resource.RUSAGE_SELF)
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
json.dump({"code": code, "cpu": r.ru_utime + r.ru_stime, "maxrss_kb": hwm}, open(sys.argv[1], "w"))
"""


def make_source(src: Path, files: int) -> None:
    for i in range(files):
        d = src / f"d{i // 200:05d}"
        if i % 200 == 0:
            d.mkdir(parents=True)
        (d / f"file-{i:07d}.txt").write_bytes(b"%d\n" % i)


def rabtui(tree: Path, config: Path, *args: str, out: Path) -> dict:
    argv = [sys.executable, "-c", RUNNER, str(out), "--config", str(config), *args]
    t0 = time.perf_counter()
    done = subprocess.run(argv, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    info = json.loads(out.read_text()) if out.exists() else {"code": done.returncode}
    if info["code"] not in (0, 3):
        raise SystemExit(f"rabtui {' '.join(args)} exited {info['code']}: {done.stdout[-1500:]}{done.stderr[-1500:]}")
    return {**info, "wall": wall, "stdout": done.stdout}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--tree", action="append", default=[], help="a rabtui tree to compare (default: this one)")
    args = parser.parse_args()
    trees = [Path(t).resolve() for t in args.tree] or [ROOT]
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-rebuild-", dir=TMPFS))
    try:
        src, medium, state, images = (work / n for n in ("src", "medium", "state", "iso"))
        for d in (medium, state, images):
            d.mkdir()
        make_source(src, args.files)
        config = work / "rabtui.toml"
        config.write_text(f'[rabtui]\nstate_dir = "{state}"\n\n[checkpoint]\ndisc = "dvd+r"\ndrive = "images:{images}"\n'
                          f'max_discs = 64\n\n[[media]]\nid = "m1"\npath = "{medium}"\n\n'
                          f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{src}"\n')
        config.chmod(0o600)
        out = work / "runner.json"
        t0 = time.perf_counter()
        rabtui(trees[0], config, "backup", "loc", "--medium", "m1", out=out)
        rabtui(trees[0], config, "checkpoint", "burn", "--now", "--yes", out=out)
        print(f"{args.files} files backed up and burnt in {time.perf_counter() - t0:.1f} s:"
              f" {len(list(images.glob('*.iso')))} disc images", flush=True)
        got: dict[str, list[dict]] = {}
        kept = work / "kept.db"
        shutil.copy(state / "rabtui.db", kept)      # folded: no command has it open
        for rep in range(args.reps):
            for tree in trees[rep % len(trees):] + trees[:rep % len(trees)]:
                for what, argv in (("checkpoint verify", ("checkpoint", "verify", "1", "--yes")), ("rebuild-state", ("rebuild-state",))):
                    for p in state.glob("rabtui.db*"):
                        p.unlink()
                    if what != "rebuild-state":
                        shutil.copy(kept, state / "rabtui.db")
                    r = rabtui(tree, config, *argv, out=out)
                    got.setdefault(f"{tree} {what}", []).append(r)
                    print(f"rep {rep + 1} {tree} {what}: {r['wall']:.1f} s wall, {r['cpu']:.1f} s CPU, peak RSS"
                          f" {r['maxrss_kb'] / 1024:.0f} MiB (exit {r['code']}; load {os.getloadavg()[0]:.1f})", flush=True)
        for what, rs in got.items():
            print(f"{what}: median {statistics.median(r['wall'] for r in rs):.1f} s wall,"
                  f" {statistics.median(r['cpu'] for r in rs):.1f} s CPU,"
                  f" {statistics.median(r['maxrss_kb'] for r in rs) / 1024:.0f} MiB peak RSS")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
