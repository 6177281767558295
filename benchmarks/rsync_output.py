"""What rsync itself pays for the output the design asks of it, one part at a time.

    python benchmarks/rsync_output.py [--files 200000] [--reps 10] [--dir /dev/shm]

rsync alone, its output into /dev/null (no reader), over the loopback sshd, alternating: bare
`rsync -aH --numeric-ids`, with the options rabtui gives it (rsync.BASE_OPTIONS), without
`--info=progress2`, and with `-i` instead of `-ii` (no line for an unchanged file). Once for new
files (an empty destination) and once for unchanged ones (--link-dest to a full copy). On tmpfs by
default: without disk waits, what the output costs shows most clearly. Writes
benchmarks/results/rsync_output.md.
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

import bench_backup as bb  # noqa: E402
from rabtui import rsync  # noqa: E402
from tests.sshd import start_sshd  # noqa: E402

VARIANTS = {
    "bare rsync": ["-aH", "--numeric-ids"],
    "rabtui's options": list(rsync.BASE_OPTIONS),
    "without --info=progress2": [o for o in rsync.BASE_OPTIONS if o != "--info=progress2"],
    "-i instead of -ii": ["-i" if o == "-ii" else o for o in rsync.BASE_OPTIONS],
}


def measure(bench: bb.Bench, work: Path, reps: int, base: Path | None) -> dict[str, list[float]]:
    env = {**os.environ, **rsync.ENV}
    times: dict[str, list[float]] = {k: [] for k in VARIANTS}
    names = list(VARIANTS)
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            dest = work / "dest" / "data"
            dest.mkdir(parents=True)
            argv = ["rsync", *VARIANTS[name], *([f"--link-dest={base}"] if base else []),
                    "-e", bench.rsh, bench.location, f"{dest}/"]
            t0 = time.perf_counter()
            done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
            times[name].append(time.perf_counter() - t0)
            if done.returncode != 0:
                raise SystemExit(f"rsync failed ({done.returncode}): {done.stderr[-2000:]}")
            subprocess.run(["rm", "-rf", str(work / "dest")], check=True)
        print(f"[{'no-change' if base else 'new'}] rep {rep + 1}: "
              + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), flush=True)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--reps", type=int, default=10)
    parser.add_argument("--dir", type=Path, default=Path("/dev/shm") if os.path.isdir("/dev/shm") else None)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "rsync_output.md")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-output-", dir=args.dir))
    sshd_dir = Path(tempfile.mkdtemp(prefix="rabtui-bench-sshd-"))
    sshd = start_sshd(sshd_dir / "sshd")
    try:
        src = work / "src"
        bb.make_tree(src, args.files, 1_000)
        bench = bb.Bench(work / "run", sshd, src)
        base = work / "base" / "data"
        base.mkdir(parents=True)
        subprocess.run(["rsync", "-aH", "--numeric-ids", "-e", bench.rsh, bench.location, f"{base}/"], check=True)
        runs = {"new files": measure(bench, work, args.reps, None),
                "unchanged files": measure(bench, work, args.reps, base)}
    finally:
        sshd.stop()
        shutil.rmtree(sshd_dir, ignore_errors=True)
        subprocess.run(["rm", "-rf", str(work)])
    lines = [
        "# rsync's own cost of rabtui's output options",
        "",
        f"`python benchmarks/rsync_output.py --files {args.files} --reps {args.reps}`"
        f"{f' on {args.dir}' if args.dir else ''}, {datetime.now():%Y-%m-%d %H:%M}: rsync alone over the "
        "loopback sshd, its output into /dev/null, the variants alternating. Medians of wall time; the "
        "ratio is to bare rsync in the same run.",
        "",
        "| files | " + " | ".join(VARIANTS) + " |",
        "|---|" + "---|" * len(VARIANTS),
    ]
    for run, times in runs.items():
        med = {k: statistics.median(v) for k, v in times.items()}
        bare = med["bare rsync"]
        lines.append(f"| {args.files:,} {run} | "
                     + " | ".join(f"{m:.2f} s ({m / bare:.3f})" for m in med.values()) + " |")
    args.out.write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
