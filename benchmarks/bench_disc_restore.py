"""`rabtui restore --checkpoint` of one directory of FILES files from a checkpoint's disc, on tmpfs:
what xorriso's listings of the extraction cost where a directory holds very many entries.

    .venv/bin/python benchmarks/bench_disc_restore.py [--files N] [--tree DIR ...] [--limit S]

A local source of N files of a few bytes in one directory is backed up and burnt onto an ISO image
(an `images:` drive; the burn verifies the disc); then the directory is restored from that disc
by each rabtui tree named (a worktree of another commit), alternating, each as its own process
(wall time, its own CPU, its peak RSS), stopped after --limit seconds.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_rebuild import ROOT, RUNNER, TMPFS  # noqa: E402


def restore(tree: Path, config: Path, src: Path, to: Path, out: Path, limit: float) -> str:
    shutil.rmtree(to, ignore_errors=True)
    out.unlink(missing_ok=True)
    argv = [sys.executable, "-c", RUNNER, str(out), "--config", str(config), "restore", "loc", str(src),
            "--checkpoint", "1", "--to", str(to)]
    t0 = time.perf_counter()
    try:
        done = subprocess.run(argv, cwd=tree, env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True,
                              text=True, timeout=limit)
    except subprocess.TimeoutExpired:
        return f"stopped after {limit:.0f} s"
    wall = time.perf_counter() - t0
    if done.returncode:
        return f"exit {done.returncode} after {wall:.1f} s: {done.stdout[-300:]}{done.stderr[-300:]}"
    back = sum(1 for _ in os.scandir(to / str(src).lstrip("/")))
    return f"{wall:.1f} s wall ({back} entries back)"


def burnt(work: Path, files: int, tree: Path, per_dir: int | None = None, link: bool = False) -> tuple[Path, Path]:
    """(config, source directory): a local source of `files` files of a few bytes, in one directory
    or `per_dir` to a directory, and with `link` a symlink, backed up and burnt (and verified) by
    `tree` onto an `images:` drive in `work`."""
    src, medium, state, images = (work / n for n in ("src", "medium", "state", "iso"))
    for d in (src, medium, state, images):
        d.mkdir()
    for i in range(files):
        where = src if per_dir is None else src / f"d{i // per_dir:05d}"
        if per_dir is not None and i % per_dir == 0:
            where.mkdir()
        (where / f"file-{i:07d}.txt").write_bytes(b"%d\n" % i)
    if link:
        (src / "link").symlink_to("file-0000000.txt")
    config = work / "rabtui.toml"
    config.write_text(f'[rabtui]\nstate_dir = "{state}"\n\n[checkpoint]\ndisc = "dvd+r"\ndrive = "images:{images}"\n'
                      f'\n[[media]]\nid = "m1"\npath = "{medium}"\n\n'
                      f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{src}"\n')
    config.chmod(0o600)
    t0 = time.perf_counter()
    for argv in (("backup", "loc", "--medium", "m1"), ("checkpoint", "burn", "--now", "--yes")):
        done = subprocess.run([sys.executable, "-m", "rabtui", "--config", str(config), *argv], cwd=tree,
                              env={**os.environ, "PYTHONPATH": str(tree)}, capture_output=True, text=True)
        if done.returncode not in (0, 3):
            raise SystemExit(f"rabtui {' '.join(argv)} exited {done.returncode}: {done.stderr[-1500:]}")
    print(f"{files} files backed up and burnt in {time.perf_counter() - t0:.1f} s", flush=True)
    return config, src


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--limit", type=float, default=900)
    parser.add_argument("--tree", action="append", default=[], help="a rabtui tree to compare (default: this one)")
    args = parser.parse_args()
    trees = [Path(t).resolve() for t in args.tree] or [ROOT]
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-disc-restore-", dir=TMPFS))
    try:
        config, src = burnt(work, args.files, trees[-1])
        for tree in trees:
            print(f"{tree}: {restore(tree, config, src, work / 'out', work / 'runner.json', args.limit)}"
                  f" (load {os.getloadavg()[0]:.1f})", flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
