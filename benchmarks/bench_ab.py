"""rabtui against an earlier rabtui and bare rsync: no-change (or initial) backups, alternating.

    git worktree add /tmp/before <revision>
    python benchmarks/bench_ab.py --before /tmp/before [--files 20000] [--reps 12] [--run initial] [--ssh-config]

A change that moves rabtui's own cost by a few percent is smaller than this machine's noise
between two runs of bench_backup.py; run against the code before it, in the same run, it shows.
Each checkout backs up the same tree over the same loopback sshd onto its own medium and state;
the three alternate (the first rotates each repetition). Writes benchmarks/results/backup_ab.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
from datetime import datetime
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(HERE))

import bench_backup as bb  # noqa: E402
from tests.sshd import start_sshd  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="a checkout of the earlier revision")
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--reps", type=int, default=12)
    parser.add_argument("--run", choices=("no-change", "initial"), default="no-change",
                        help="initial: every backup onto empty media")
    parser.add_argument("--now-source-keys", default="", metavar="TOML",
                        help='more keys for the source of the code now, e.g. "acls = false\\nxattrs = false"')
    parser.add_argument("--ssh-config", action="store_true",
                        help="rabtui runs with a ~/.ssh/config (about another host), which it reads with paramiko")
    args = parser.parse_args()
    initial = args.run == "initial"
    checkouts = {"before": args.before.resolve(), "now": ROOT}
    revs = {k: subprocess.run(["git", "-C", str(p), "log", "-1", "--format=%h"], capture_output=True,
                              text=True).stdout.strip() for k, p in checkouts.items()}
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-ab-"))
    sshd = start_sshd(work / "sshd")
    try:
        src = work / "src"
        bb.make_tree(src, args.files, 40_000 if args.files <= 20_000 else 1_000)
        keys = args.now_source_keys.replace("\\n", "\n")
        benches = {k: bb.Bench(work / f"run-{k}", sshd, src, source_keys=keys + "\n" if k == "now" and keys else "")
                   for k in checkouts}
        if args.ssh_config:
            home = work / "home"
            (home / ".ssh").mkdir(parents=True)
            (home / ".ssh" / "config").write_text("Host elsewhere\n  HostName 192.0.2.1\n  User backup\n")
            for bench in benches.values():
                bench.env["HOME"] = str(home)
        bare = benches["before"]
        if not initial:                           # the first backup: every later one is no-change
            for k, bench in benches.items():
                bench.run_rabtui(cwd=checkouts[k])
            bare.run_bare()
        tools = ["before", "now", "bare"]
        wall: dict[str, list[float]] = {t: [] for t in tools}
        cpu: dict[str, list[float]] = {t: [] for t in tools}
        for rep in range(args.reps):
            if initial:
                for bench in benches.values():
                    bench.reset(rep + 1)
            for tool in tools[rep % 3:] + tools[:rep % 3]:
                r = bare.run_bare() if tool == "bare" else benches[tool].run_rabtui(cwd=checkouts[tool])
                wall[tool].append(r["wall"])
                cpu[tool].append(r["cpu"])
            print(f"rep {rep + 1}: " + ", ".join(f"{t} {wall[t][-1]:.2f} s" for t in tools), flush=True)
    except BaseException:
        _clean(work)
        raise
    finally:
        sshd.stop()
    med = {t: statistics.median(wall[t]) for t in tools}
    lines = [
        f"## {args.files:,} files, {args.run}{', with a ~/.ssh/config' if args.ssh_config else ''}: "
        f"rabtui {revs['now']} against rabtui {revs['before']} and bare rsync",
        "",
        f"`python benchmarks/bench_ab.py --files {args.files} --reps {args.reps}"
        + (" --run initial" if initial else "") + (" --ssh-config" if args.ssh_config else "")
        + (f" --now-source-keys '{args.now_source_keys}'" if args.now_source_keys else "") + "`, "
        f"{datetime.now():%Y-%m-%d %H:%M}. Medians of {args.reps} alternations.",
        "",
        "| tool | wall s | local CPU s | ratio to bare rsync |",
        "|---|---|---|---|",
        *(f"| {t if t == 'bare' else 'rabtui ' + revs[t]} | {med[t]:.3f} | {statistics.median(cpu[t]):.2f} | "
          f"{med[t] / med['bare']:.3f} |" for t in tools),
        "",
        f"{revs['now']} / {revs['before']}: {med['now'] / med['before']:.3f}. Raw wall times (s): "
        + "; ".join(f"{t} {[round(x, 2) for x in wall[t]]}" for t in tools),
    ]
    out = HERE / "results" / "backup_ab.md"
    old = out.read_text() if out.exists() else "# Backup: one change at a time\n"
    out.write_text(old.rstrip() + "\n\n" + "\n".join(lines) + "\n")
    print("\n".join(lines), flush=True)
    _clean(work)   # millions of files: after the results are out


def _clean(work: Path) -> None:
    subprocess.run(["rm", "-rf", str(work)])


if __name__ == "__main__":
    main()
