"""rabtui backup against bare `rsync -aH --numeric-ids --link-dest` over the same loopback sshd.

    python benchmarks/bench_backup.py [--quick] [--reps N] [--dir DIR] [--skip-small]

Two generated trees: 20,000 files (~800 MB) and 200,000 small files. For each, alternating in
one run (the tool that goes first swaps every repetition): an initial backup, a no-change backup
and a backup after 200 files changed; each tool links to its own previous backup on its own
medium. Reports the medians of wall time and their ratio, the peak RSS of rabtui's Python process
(rsync and ssh not included), and what `du -s` (the size step of laravel-backup-server) costs on
the result. Results go to benchmarks/results/backup.md.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import resource
import sqlite3
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from results_file import write_kept  # noqa: E402

from rabtui import config as configmod  # noqa: E402
from rabtui import rsync  # noqa: E402
from rabtui.ssh import endpoint as ssh_endpoint
from tests.sshd import start_sshd  # noqa: E402

# Peak RSS from VmHWM (this process image only): ru_maxrss would carry over, across exec, the
# size of the benchmark process that forked it.
RUNNER = """
import json, sys
try:
    from rabtui.program import main
except ImportError:   # an earlier rabtui (bench_ab.py), from before program.py
    from rabtui.cli import main
code = main(sys.argv[2:])
hwm = next(int(l.split()[1]) for l in open("/proc/self/status") if l.startswith("VmHWM:"))
with open(sys.argv[1], "w") as f:
    json.dump({"code": code, "maxrss_kb": hwm}, f)
"""


def make_tree(root: Path, files: int, avg_size: int, seed: int = 42) -> int:
    rng = random.Random(seed)
    per_dir = 200
    total = 0
    chunk = os.urandom(4 << 20)
    for i in range(files):
        d = root / f"d{i // per_dir:04d}"
        if i % per_dir == 0:
            d.mkdir(parents=True, exist_ok=True)
        size = rng.randint(avg_size // 4, avg_size * 7 // 4)
        offset = rng.randint(0, len(chunk) - size - 1) if size < len(chunk) else 0
        (d / f"f{i:06d}.bin").write_bytes(chunk[offset:offset + size])
        total += size
    return total


def change_files(root: Path, count: int, seed: int) -> None:
    rng = random.Random(seed)
    paths = sorted(root.rglob("*.bin"))
    for p in rng.sample(paths, count):
        size = p.stat().st_size
        p.write_bytes(os.urandom(size))


def _child_cpu() -> float:
    """User + system CPU seconds of our finished children and their descendants (the local side:
    rsync, ssh and, for rabtui, its Python process; the remote side runs under sshd)."""
    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    return r.ru_utime + r.ru_stime


def _disk_sectors() -> int:
    total = 0
    with open("/proc/diskstats") as f:
        for line in f:
            fields = line.split()
            total += int(fields[5]) + int(fields[9])    # sectors read, sectors written
    return total


TOOLS = ["rabtui", "bare", "flags"]


def drop_caches(longest: float = 20.0) -> None:
    """The same state for both tools: whatever is cached stays cached; dirty pages are written,
    and the disk is let finish what the run before left it (deleting a medium of 600,000 files
    kept it busy for seconds after `rm` returned: the tool that ran next paid for it)."""
    os.sync()
    deadline = time.monotonic() + longest
    before = _disk_sectors()
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = _disk_sectors()
        if now == before:
            return
        before = now


class Bench:
    def __init__(self, work: Path, sshd, src: Path, source_keys: str = ""):
        self.source_keys = source_keys     # more keys of the source's table, e.g. "acls = false"
        self.work = work
        self.sshd = sshd
        self.src = src
        self.state = work / "state"
        work.mkdir(parents=True, exist_ok=True)
        self.config_path = work / "rabtui.toml"
        self.env = {**os.environ, "XDG_CACHE_HOME": str(work / "cache")}   # rabtui's memory of logins
        self.reset(0)
        self.state.mkdir(parents=True, exist_ok=True)
        (self.state / "known_hosts").write_text(sshd.known_hosts_line())
        cfg = configmod.load(self.config_path, check_media=False)
        self.rsh = ssh_endpoint.rsync_rsh(cfg, cfg.source("src"))
        self.location = ssh_endpoint.rsync_location(cfg.source("src"), str(src))
        self.bare_n = 0

    def reset(self, rep: int) -> None:
        """Empty media for repetition `rep`. The media of the repetitions before are moved aside and
        stay until the tree is done: deleting them here (600,000 files) left the file system work
        that whichever tool ran next paid for, seconds of it. The configuration stays the same
        file, as an operator's does from one day to the next (rabtui starts a command line's login
        ahead while its configuration is unchanged)."""
        self.media = {tool: self.work / f"medium-{tool}" for tool in TOOLS}
        for tool, path in self.media.items():
            if path.exists():
                path.rename(self.work / f"medium-{tool}-{rep - 1}")
            path.mkdir(parents=True)
        if not self.config_path.exists():
            self.config_path.write_text(
                f'[rabtui]\nstate_dir = "{self.state}"\n'
                f'[[media]]\nid = "rab"\npath = "{self.media["rabtui"]}"\n'
                f'[[sources]]\nid = "src"\nhost = "{self.sshd.host}"\nport = {self.sshd.port}\n'
                f'user = "{self.sshd.user}"\nidentity_file = "{self.sshd.identity_file}"\n{self.source_keys}'
                f'[[sources.directories]]\npath = "{self.src}"\n'
            )
            self.config_path.chmod(0o600)
        for name in ("rabtui.db", "rabtui.db-wal", "rabtui.db-shm"):
            (self.state / name).unlink(missing_ok=True)
        # the labels rabtui keeps of the media it used (a medium emptied since would be refused)
        shutil.rmtree(self.state / "media", ignore_errors=True)
        self.prev: dict[str, Path | None] = {"bare": None, "flags": None}

    def run_rabtui(self, cwd: Path = ROOT) -> dict:
        """rabtui as imported from `cwd` (a checkout)."""
        out = self.work / "runner.json"
        argv = [sys.executable, "-c", RUNNER, str(out), "--config", str(self.config_path),
                "backup", "src", "--medium", "rab"]
        drop_caches()
        c0 = _child_cpu()
        t0 = time.perf_counter()
        began = time.time()
        done = subprocess.run(argv, capture_output=True, text=True, cwd=cwd, env=self.env)
        wall = time.perf_counter() - t0
        cpu = _child_cpu() - c0
        info = json.loads(out.read_text())
        if info["code"] != 0:
            raise SystemExit(f"rabtui backup failed: {done.stdout[-2000:]}{done.stderr[-2000:]}")
        db = sqlite3.connect(self.state / "rabtui.db")
        try:
            steps = dict(db.execute(
                "SELECT step, finished - started FROM backup_steps WHERE backup_id=(SELECT MAX(id) FROM backups)"))
            (step1_at,) = db.execute(
                "SELECT started FROM backup_steps WHERE step=1 AND backup_id=(SELECT MAX(id) FROM backups)").fetchone()
        finally:
            db.close()
        return {"wall": wall, "cpu": cpu, "maxrss_kb": info["maxrss_kb"], "step1": steps[1], "step7": steps[7],
                "startup": step1_at - began}

    def run_bare(self, tool: str = "bare") -> dict:
        """Bare rsync; tool "flags": with the output options rabtui gives rsync (every item
        itemized, progress2, stats, line-buffered), its output into /dev/null: what producing
        that output costs rsync itself, with no reader."""
        self.bare_n += 1
        # the same layout (and so the same path depth, which costs rsync time per file with
        # --link-dest) as rabtui's: <medium>/<source>/backup-N/data/<absolute path>/
        dest = self.media[tool] / "src" / f"backup-{self.bare_n:04d}" / "data" / str(self.src).lstrip("/")
        dest.parent.mkdir(parents=True, exist_ok=True)
        options = list(rsync.BASE_OPTIONS) if tool == "flags" else ["-aH", "--numeric-ids"]
        argv = ["rsync", *options, "-e", self.rsh]
        if self.prev[tool] is not None:
            argv.append(f"--link-dest={self.prev[tool]}")
        argv += [self.location, f"{dest}/"]
        drop_caches()
        c0 = _child_cpu()
        t0 = time.perf_counter()
        done = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        wall = time.perf_counter() - t0
        cpu = _child_cpu() - c0
        if done.returncode != 0:
            raise SystemExit(f"{tool} rsync failed ({done.returncode}): {done.stderr[-2000:]}")
        self.prev[tool] = dest
        return {"wall": wall, "cpu": cpu}

    def du(self) -> float:
        t0 = time.perf_counter()
        subprocess.run(["du", "-s", str(self.media["rabtui"])], capture_output=True, check=True)
        return time.perf_counter() - t0


def depth_check(src: Path, work: Path, reps: int) -> dict:
    """Local `rsync -aH --link-dest` no-change runs into a flat and into a deep destination (the
    depth of rabtui's layout): rsync looks each file up by its whole base path, so depth costs."""
    bases = {"flat": work / "depth/f", "deep": work / "depth/a/b/c/d/e/f/g"}
    out: dict[str, list] = {"flat": [], "deep": [], "flat_cpu": [], "deep_cpu": []}
    for path in bases.values():
        path.mkdir(parents=True)
        subprocess.run(["rsync", "-aH", f"{src}/", f"{path}/base/"], check=True)
    os.sync()
    for rep in range(reps):
        for kind in (("flat", "deep") if rep % 2 == 0 else ("deep", "flat")):
            base = bases[kind]
            c0, t0 = _child_cpu(), time.perf_counter()
            subprocess.run(["rsync", "-aH", "--numeric-ids", f"--link-dest={base}/base", f"{src}/", f"{base}/n{rep}/"],
                           check=True)
            out[kind].append(time.perf_counter() - t0)
            out[kind + "_cpu"].append(_child_cpu() - c0)
            print(f"[depth] rep {rep + 1} {kind} {out[kind][-1]:.2f} s", flush=True)
    subprocess.run(["rm", "-rf", str(work / "depth")])
    return {k: statistics.median(v) for k, v in out.items()}


def run_tree(name: str, files: int, avg: int, reps: int, work: Path, sshd, changed: int = 200,
             depth: bool = False) -> dict:
    src = work / f"src-{name}"
    t0 = time.perf_counter()
    size = make_tree(src, files, avg)
    print(f"[{name}] generated {files} files, {size / 1e6:.0f} MB in {time.perf_counter() - t0:.1f} s", flush=True)
    bench = Bench(work / f"run-{name}", sshd, src)
    os.sync()
    results: dict[str, dict[str, list]] = {
        k: {"rss": [], "step1": [], "step7": [], "startup": [], **{t: [] for t in TOOLS},
            **{"cpu_" + t: [] for t in TOOLS}}
        for k in ("initial", "no-change", "changed")}
    du_times: list[float] = []
    for rep in range(reps):
        bench.reset(rep + 1)
        order = TOOLS[rep % len(TOOLS):] + TOOLS[:rep % len(TOOLS)]
        for phase in ("initial", "no-change", "changed"):
            if phase == "changed":
                change_files(src, changed, seed=rep)
            for tool in order:
                r = bench.run_rabtui() if tool == "rabtui" else bench.run_bare(tool)
                results[phase][tool].append(r["wall"])
                results[phase]["cpu_" + tool].append(r["cpu"])
                if tool == "rabtui":
                    for key in ("step1", "step7", "startup"):
                        results[phase][key].append(r[key])
                    results[phase]["rss"].append(r["maxrss_kb"])
                print(f"[{name}] rep {rep + 1} {phase:9} {tool:6} {r['wall']:7.2f} s"
                      + (f"  peak RSS {r['maxrss_kb'] / 1024:.0f} MiB" if tool == "rabtui" else ""), flush=True)
        du_times.append(bench.du())
    subprocess.run(["rm", "-rf", str(work / f"run-{name}")])
    depth_result = depth_check(src, work, min(reps, 3)) if depth else None
    shutil.rmtree(src)
    return {"name": name, "files": files, "bytes": size, "reps": reps, "results": results, "du": du_times,
            "depth": depth_result}


def report(trees: list[dict], quick: bool) -> str:
    lines = [
        "# Backup: rabtui vs bare rsync",
        "",
        "`python benchmarks/bench_backup.py" + (" --quick" if quick else "") + "`: "
        "rabtui backup (`python -m rabtui backup`, whole process: start-up, step 1's SSH login "
        "(OpenSSH; the login stays open and rsync runs over it; nothing runs on the source), label check, rsync with `-ii --info=progress2 --stats`, parsing, catalog, sizes, backup.json) against "
        "bare `rsync -aH --numeric-ids --link-dest` over the same loopback sshd and the same ssh options, "
        "and against rsync given the same output options as rabtui gives it (`-ii --out-format=... "
        "--info=progress2 --no-h --outbuf=L --stats`, its output into /dev/null): what rsync itself pays "
        "for the itemized stream the design asks for. The three alternate (the first tool rotates each "
        "repetition). Medians of wall time in seconds; peak RSS is rabtui's Python process only (rsync and "
        "ssh excluded).",
        "",
        f"Machine: {os.cpu_count()} cores, shared; {time.strftime('%Y-%m-%d %H:%M')}.",
        "",
        "| tree | run | rabtui s | bare rsync s | ratio | overhead s | rsync with rabtui's output options s"
        " | rabtui / that | local CPU s rabtui / bare / with options | rabtui peak RSS |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for t in trees:
        for phase, r in t["results"].items():
            a, b, f = (statistics.median(r[tool]) for tool in TOOLS)
            rss = max(r["rss"]) / 1024
            ca, cb, cf = (statistics.median(r["cpu_" + tool]) for tool in TOOLS)
            lines.append(f"| {t['files']:,} files, {t['bytes'] / 1e6:,.0f} MB | {phase} | {a:.2f} | {b:.2f} |"
                         f" {a / b:.3f} | {a - b:+.2f} | {f:.2f} | {a / f:.3f} | {ca:.2f} / {cb:.2f} / {cf:.2f} |"
                         f" {rss:.0f} MiB |")
    lines += ["", "Where rabtui's extra time goes (medians, seconds):", "",
              "| tree | run | start-up: process start to step 1 | step 1: SSH login (bare rsync logs in too)"
              " | step 7: sizes + catalog + backup.json | `du -s` of the medium instead |",
              "|---|---|---|---|---|---|"]
    for t in trees:
        for phase, r in t["results"].items():
            lines.append(f"| {t['files']:,} files | {phase} | {statistics.median(r['startup']):.2f} |"
                         f" {statistics.median(r['step1']):.2f} |"
                         f" {statistics.median(r['step7']):.3f} | {statistics.median(t['du']):.2f} (3 backups) |")
    for t in trees:
        d = t.get("depth")
        if d:
            lines += ["", f"Path depth and --link-dest ({t['files']:,} files, local rsync, no-change, medians): "
                      f"flat destination {d['flat']:.2f} s ({d['flat_cpu']:.2f} s CPU), 7 directories deeper "
                      f"{d['deep']:.2f} s ({d['deep_cpu']:.2f} s CPU). rsync looks each file up by its whole base "
                      "path, so the depth of the layout (`<medium>/<source>/backup-N/data/<absolute path>`) is paid "
                      "per file; the bare rsync above uses the same layout as rabtui, so the comparison is fair."]
    lines += ["", "Raw times (s):", ""]
    for t in trees:
        for phase, r in t["results"].items():
            lines.append(f"- {t['files']:,} {phase}: " + ", ".join(
                f"{tool} {[round(x, 2) for x in r[tool]]}" for tool in TOOLS))
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small trees, one repetition (a smoke run)")
    parser.add_argument("--reps", type=int, default=None, help="repetitions (default 3, quick 1)")
    parser.add_argument("--dir", type=Path, default=None, help="work directory (default: a temp dir)")
    parser.add_argument("--skip-small", action="store_true", help="skip the 200,000 small files tree")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks/results/backup.md")
    args = parser.parse_args()
    reps = args.reps or (1 if args.quick else 3)
    # an installed copy starts from compiled modules; a work tree need not hold them
    # (PYTHONDONTWRITEBYTECODE), and compiling rabtui at every start would be charged to each backup
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(ROOT / "rabtui")], check=True)
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-", dir=args.dir))
    sshd = start_sshd(work / "sshd")
    try:
        trees = []
        if args.quick:
            trees.append(run_tree("big", 2_000, 40_000, reps, work, sshd))
            if not args.skip_small:
                trees.append(run_tree("small", 20_000, 1_000, reps, work, sshd, depth=True))
        else:
            trees.append(run_tree("big", 20_000, 40_000, reps, work, sshd))
            if not args.skip_small:
                trees.append(run_tree("small", 200_000, 1_000, reps, work, sshd, depth=True))
    finally:
        sshd.stop()
        shutil.rmtree(work, ignore_errors=True)
    text = report(trees, args.quick)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    write_kept(args.out, text)
    print(text)


if __name__ == "__main__":
    main()
