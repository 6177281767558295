"""What keeping ACLs, xattrs and holes costs rsync: `-A -X` and `--sparse` on the 20,000-file tree.

    python benchmarks/fidelity_cost.py [--files 20000] [--reps 5] [--dir /dev/shm]

rsync over the loopback sshd with rabtui's options (rsync.BASE_OPTIONS) without the fidelity
flags, with `-A -X`, with `--sparse`, and with both (what rabtui runs now), alternating; once for
new files (an empty destination) and once for unchanged ones (--link-dest to a full copy). Twice:
on the plain tree (the flags with nothing to keep) and with a 32-byte user.* xattr on every file
(as an SELinux label would be). Wall time and the local side's CPU time (less moved by other
work on a shared machine). On tmpfs by default. Writes benchmarks/results/fidelity_cost.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from results_file import write_kept  # noqa: E402

import bench_backup as bb  # noqa: E402
from rabtui import rsync  # noqa: E402
from tests.sshd import start_sshd  # noqa: E402

VARIANTS = {
    "without": [],
    "-A -X": rsync.fidelity_options()[:-1],
    "--sparse": [rsync.SPARSE],
    "-A -X --sparse": rsync.fidelity_options(),
}


def measure(bench: bb.Bench, work: Path, reps: int, base: Path | None) -> dict[str, dict[str, list[float]]]:
    env = {**os.environ, **rsync.ENV}
    dest = work / "dest"
    link = [f"--link-dest={base}"] if base else []
    names = list(VARIANTS)
    times: dict[str, list[float]] = {k: [] for k in names}
    cpu: dict[str, list[float]] = {k: [] for k in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            dest.mkdir(parents=True)
            argv = ["rsync", *rsync.BASE_OPTIONS, *VARIANTS[name], *link, "-e", bench.rsh, bench.location, f"{dest}/"]
            c0, t0 = bb._child_cpu(), time.perf_counter()
            done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
            times[name].append(time.perf_counter() - t0)
            cpu[name].append(bb._child_cpu() - c0)
            if done.returncode != 0:
                raise SystemExit(f"rsync failed ({done.returncode}): {done.stderr.decode('utf-8', 'replace')[-2000:]}")
            subprocess.run(["rm", "-rf", str(dest)], check=True)
        print(f"[{'unchanged' if base else 'new'}] rep {rep + 1}: "
              + ", ".join(f"{k} {v[-1]:.2f} s ({cpu[k][-1]:.2f} s CPU)" for k, v in times.items()), flush=True)
    return {"wall": times, "cpu": cpu}


def run_tree(work: Path, sshd, files: int, reps: int, xattrs: bool) -> dict[str, dict[str, dict[str, list[float]]]]:
    src = work / "src"
    bb.make_tree(src, files, 40_000)
    if xattrs:
        for path in src.rglob("*.bin"):
            os.setxattr(path, "user.label", b"system_u:object_r:var_t:s0\0\0\0\0\0\0")
    bench = bb.Bench(work / "run", sshd, src)
    base = work / "base"
    base.mkdir()
    subprocess.run(["rsync", "-aH", "-A", "-X", "--numeric-ids", "-e", bench.rsh, bench.location, f"{base}/"],
                   check=True)
    try:
        return {"new files": measure(bench, work, reps, None), "unchanged files": measure(bench, work, reps, base)}
    finally:
        subprocess.run(["rm", "-rf", str(src), str(base), str(work / "run")])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm") if os.path.isdir("/dev/shm") else None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "fidelity_cost.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-fidelity-", dir=args.dir))
    sshd_dir = Path(tempfile.mkdtemp(prefix="rabtui-bench-sshd-"))
    sshd = start_sshd(sshd_dir / "sshd")
    try:
        trees = {"plain": run_tree(work, sshd, args.files, args.reps, False),
                 "a user.* xattr on every file": run_tree(work, sshd, args.files, args.reps, True)}
    finally:
        sshd.stop()
        shutil.rmtree(sshd_dir, ignore_errors=True)
        subprocess.run(["rm", "-rf", str(work)])
    lines = [
        "# What keeping ACLs, xattrs and holes costs rsync",
        "",
        f"`python benchmarks/fidelity_cost.py --files {args.files} --reps {args.reps}`"
        f"{f' on {args.dir}' if args.dir else ''}, {datetime.now():%Y-%m-%d %H:%M}: rsync over the loopback "
        "sshd with rabtui's options, the variants alternating, output into /dev/null. Medians of wall "
        "time, and of the CPU time of the local side (the receiving rsync and ssh; the sender runs "
        "under sshd); the ratio is to the same options without the fidelity flags in the same run.",
        "",
        "| tree | files | time | " + " | ".join(VARIANTS) + " |",
        "|---|---|---|" + "---|" * len(VARIANTS),
    ]
    for tree, runs in trees.items():
        for run, measured in runs.items():
            for what, times in measured.items():
                med = {k: statistics.median(v) for k, v in times.items()}
                plain = med["without"]
                lines.append(f"| {tree} | {args.files:,} {run} | {what} | "
                             + " | ".join(f"{m:.2f} s ({m / plain:.3f})" for m in med.values()) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_kept(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
