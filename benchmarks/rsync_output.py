"""What rsync itself pays for the output the design asks of it, one part at a time.

    python benchmarks/rsync_output.py [--files 200000] [--reps 10] [--dir /dev/shm]

rsync alone, its output into /dev/null (no reader), over the loopback sshd, alternating: bare
`rsync -aH --numeric-ids`, with the options rabtui gives it (rsync.BASE_OPTIONS), without
`--info=progress2`, and with `-i` instead of `-ii` (no line for an unchanged file). Then the same
rsync read by rabtui: by the runner alone (`proc.run` with step 5's nap, the reads thrown away),
and by step 5 itself (`transfer.transfer_directory`: the scan, sizes, events, catalog rows into
the spool), in this process. Once for new files (an empty destination) and once for unchanged ones
(--link-dest to a full copy). On tmpfs by default: without disk waits, what the output costs shows
most clearly. Writes benchmarks/results/rsync_output.md.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
sys.path.insert(0, str(HERE))
from results_file import write_kept  # noqa: E402

import bench_backup as bb  # noqa: E402
from rabtui import config as configmod  # noqa: E402
from rabtui import proc, rsync  # noqa: E402
from rabtui.backup import transfer  # noqa: E402
from rabtui.media import medium_layout  # noqa: E402
from rabtui.backup.catalog_update import CatalogSpool  # noqa: E402
from rabtui.state.store import Store  # noqa: E402
from tests.sshd import start_sshd  # noqa: E402

VARIANTS = {
    "bare rsync": ["-aH", "--numeric-ids"],
    "rabtui's options": list(rsync.BASE_OPTIONS),
    "without --info=progress2": [o for o in rsync.BASE_OPTIONS if o != "--info=progress2"],
    "-i instead of -ii": ["-i" if o == "-ii" else o for o in rsync.BASE_OPTIONS],
}


READERS = ("read by the runner", "read by step 5")


def measure(bench: bb.Bench, work: Path, reps: int, base: Path | None, files: int) -> dict[str, list[float]]:
    env = {**os.environ, **rsync.ENV}
    cfg = configmod.load(bench.config_path, check_media=False)
    source = cfg.source("src")
    directory = source.directories[0]
    store = Store(work / "state")
    backup = work / "dest"
    dest = medium_layout.backup_data_path(backup, directory.path)
    link = [f"--link-dest={medium_layout.backup_data_path(base, directory.path)}"] if base else []
    names = [*VARIANTS, *READERS]
    times: dict[str, list[float]] = {k: [] for k in names}
    for rep in range(reps):
        for name in names[rep % len(names):] + names[:rep % len(names)]:
            dest.mkdir(parents=True)
            argv = ["rsync", *VARIANTS.get(name, rsync.BASE_OPTIONS), *link, "-e", bench.rsh, bench.location, f"{dest}/"]
            t0 = time.perf_counter()
            if name == "read by step 5":
                spool = CatalogSpool(store)
                spool.target(source="src", medium="rab", base_id=None)
                sizes = transfer.transfer_directory(
                    cfg, source, directory, cfg.media[0], backup, base_path=base, rsh=bench.rsh,
                    spool=spool, emit=lambda event: None, cancel=threading.Event())
                spool.flush()
                times[name].append(time.perf_counter() - t0)
                if sizes.state != "ok" or sizes.files != files or (base and sizes.modified):
                    raise SystemExit(f"step 5: {sizes.state} {sizes.message}, {sizes.files} files,"
                                     f" {sizes.modified} new or modified")
            else:
                if name == "read by the runner":
                    done = proc.run(argv, on_stdout_data=lambda data: None, env=rsync.ENV, nap=transfer.READ_EVERY)
                    errors = done.stderr_text()
                else:
                    done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
                    errors = done.stderr.decode("utf-8", "replace")
                times[name].append(time.perf_counter() - t0)
                if done.returncode != 0:
                    raise SystemExit(f"rsync failed ({done.returncode}): {errors[-2000:]}")
            subprocess.run(["rm", "-rf", str(backup)], check=True)
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
        base = work / "base"
        base_data = medium_layout.backup_data_path(base, str(src))
        base_data.mkdir(parents=True)
        subprocess.run(["rsync", "-aH", "--numeric-ids", "-e", bench.rsh, bench.location, f"{base_data}/"], check=True)
        runs = {"new files": measure(bench, work, args.reps, None, args.files),
                "unchanged files": measure(bench, work, args.reps, base, args.files)}
    finally:
        sshd.stop()
        shutil.rmtree(sshd_dir, ignore_errors=True)
        subprocess.run(["rm", "-rf", str(work)])
    lines = [
        "# rsync's own cost of rabtui's output options, and of reading them",
        "",
        f"`python benchmarks/rsync_output.py --files {args.files} --reps {args.reps}`"
        f"{f' on {args.dir}' if args.dir else ''}, {datetime.now():%Y-%m-%d %H:%M}: rsync over the loopback "
        "sshd, the variants alternating: the first four alone, their output into /dev/null; the last two "
        "with rabtui's options, read by rabtui's runner (reads thrown away) and by step 5 itself (scan, "
        "sizes, catalog rows into the spool). Medians of wall time; the ratio is to bare rsync in the same run.",
        "",
        "| files | " + " | ".join([*VARIANTS, *READERS]) + " |",
        "|---|" + "---|" * (len(VARIANTS) + len(READERS)),
    ]
    for run, times in runs.items():
        med = {k: statistics.median(v) for k, v in times.items()}
        bare = med["bare rsync"]
        lines.append(f"| {args.files:,} {run} | "
                     + " | ".join(f"{m:.2f} s ({m / bare:.3f})" for m in med.values()) + " |")
    write_kept(args.out, "\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
