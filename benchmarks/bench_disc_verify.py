"""`rabtui checkpoint verify` of one disc of FILES small files, in one directory or PER_DIR to a
directory, on tmpfs: what the verification's listing of the disc's entries costs (run as root, it
lists them where the disc holds a symlink: one is added).

    .venv/bin/python benchmarks/bench_disc_verify.py [--files N] [--per-dir K] [--tree DIR ...] [--rounds R]

The disc is burnt (and verified) once by the last tree named (bench_disc_restore.burnt); then each
rounds, each tree in turn verifies it again, as its own process (wall time, its own CPU, its peak
RSS), and lists its entries alone (verify_listing.listing in a process of its own, wall time).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_disc_restore import burnt  # noqa: E402
from bench_rebuild import ROOT, RUNNER, TMPFS  # noqa: E402

LISTING = """
import sys, time
from rabtui.checkpoint import verify_listing
from rabtui.checkpoint.verify_result import VerifyResult
res = VerifyResult(volid="RAB1D01")
t0 = time.perf_counter()
got = verify_listing.listing("xorriso", "stdio:" + sys.argv[1], "RAB1D01", res, None, None, {}, {})
print(f"{time.perf_counter() - t0:.1f} s ({len(got or {})} entries{', ' + '; '.join(res.messages) if res.messages else ''})")
"""


def verify(tree: Path, config: Path, out: Path, limit: float) -> str:
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-c", RUNNER, str(out), "--config", str(config), "checkpoint", "verify", "1", "--yes"]
    env = {**os.environ, "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=tree, env=env, capture_output=True, text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return f"stopped after {limit:.0f} s"
    wall = time.perf_counter() - t0
    if done.returncode:
        return f"exit {done.returncode} after {wall:.1f} s: {done.stdout[-300:]}{done.stderr[-300:]}"
    ran = json.loads(out.read_text())
    listed = subprocess.run([sys.executable, "-c", LISTING, str(config.parent / "iso" / "RAB1D01.iso")], cwd=tree,
                            env=env, capture_output=True, text=True, timeout=limit)
    return (f"{wall:.1f} s wall, {ran['cpu']:.1f} s CPU, {ran['maxrss_kb'] / 1024:.0f} MiB;"
            f" listing alone {listed.stdout.strip() or listed.stderr[-300:]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--per-dir", type=int, help="files to a directory (default: all in one)")
    parser.add_argument("--limit", type=float, default=900)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--tree", action="append", default=[], help="a rabtui tree to compare (default: this one)")
    args = parser.parse_args()
    trees = [Path(t).resolve() for t in args.tree] or [ROOT]
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-disc-verify-", dir=TMPFS))
    try:
        config, _src = burnt(work, args.files, trees[-1], args.per_dir, link=True)
        for _ in range(args.rounds):
            for tree in trees:
                print(f"{tree}: {verify(tree, config, work / 'runner.json', args.limit)}"
                      f" (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
