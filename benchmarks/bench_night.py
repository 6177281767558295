"""The nightly window (issue 19), over the loopback sshd, on tmpfs, alternating, medians and ratios.

    python benchmarks/bench_night.py [SECTION ...] [--reps N] [--small]

Sections: cpu (rabtui's own CPU per file), slow (8 throttled sources at once against one after
another), busy (8 sources with max_parallel = 2 against bare rsyncs by `xargs -P 2`), peers
(rsnapshot, laravel-backup-server's steps by hand, bare rsync), year (a year of catalog, in
night_year.py). Each writes benchmarks/results/night-<section>.json; the report
(benchmarks/results/night.md) is made from all of them that exist.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from night_lab import ROOT, TMPFS, NightLab, load, make_tree, start_sshd  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _fresh(lab: NightLab) -> None:
    """No backups and no state: the next backup is an initial one."""
    for m in lab.media:
        shutil.rmtree(m)
        m.mkdir()
    for name in ("rabtui.db", "rabtui.db-wal", "rabtui.db-shm"):
        (lab.state / name).unlink(missing_ok=True)


def cpu(work: Path, sshd, reps: int, files: int) -> dict:
    """rabtui's own CPU per file: a backup of `files` small files against one of 10 files (the
    fixed cost: start-up, login, the database), initial (every file new) and again (every file
    unchanged), alternating which tree goes first."""
    trees = {"tiny": work / "tiny", "big": work / "big"}
    make_tree(trees["tiny"], 10, 1000)
    t0 = time.perf_counter()
    make_tree(trees["big"], files, 1000)
    print(f"[cpu] {files} files made in {time.perf_counter() - t0:.1f} s", flush=True)
    labs = {k: NightLab(work / f"lab-{k}", sshd) for k in trees}
    for k, lab in labs.items():
        lab.configure({"src": trees[k]})
    runs: dict[str, list[dict]] = {f"{k} {phase}": [] for k in trees for phase in ("new", "unchanged")}
    for rep in range(reps):
        order = ["tiny", "big"] if rep % 2 == 0 else ["big", "tiny"]
        for k in order:
            _fresh(labs[k])
        for phase in ("new", "unchanged"):
            for k in order:
                r = labs[k].rabtui("backup", "src", "--medium", "m1")
                r["load"] = load()
                runs[f"{k} {phase}"].append(r)
                print(f"[cpu] rep {rep + 1} {k:4} {phase:9} wall {r['wall']:.2f} s cpu {r['cpu']:.3f} s"
                      f" rss {r['maxrss_kb'] / 1024:.0f} MiB ({r['load']})", flush=True)
    out = {"files": files, "reps": reps, "runs": runs}
    for phase in ("new", "unchanged"):
        big = statistics.median(r["cpu"] for r in runs[f"big {phase}"])
        tiny = statistics.median(r["cpu"] for r in runs[f"tiny {phase}"])
        out[phase] = {"cpu_big": big, "cpu_tiny": tiny, "us_per_file": (big - tiny) / files * 1e6,
                      "rss_big_kb": max(r["maxrss_kb"] for r in runs[f"big {phase}"]),
                      "rss_tiny_kb": max(r["maxrss_kb"] for r in runs[f"tiny {phase}"])}
        print(f"[cpu] {phase}: {out[phase]['us_per_file']:.2f} us per file", flush=True)
    return out


SECTIONS = {"cpu": cpu}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", default=list(SECTIONS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--files", type=int, default=200_000)
    args = parser.parse_args()
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "rabtui")], check=True)
    for name in args.sections:
        work = Path(tempfile.mkdtemp(prefix=f"rabtui-night-{name}-", dir=TMPFS))
        sshd = start_sshd(work / "sshd")
        try:
            result = SECTIONS[name](work, sshd, args.reps, args.files)
        finally:
            sshd.stop()
            shutil.rmtree(work, ignore_errors=True)
        result["when"] = time.strftime("%Y-%m-%d %H:%M")
        RESULTS.mkdir(parents=True, exist_ok=True)
        (RESULTS / f"night-{name}.json").write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
