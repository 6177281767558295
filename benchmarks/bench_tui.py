#!/usr/bin/env python3
"""UI timings against the code before: first paint, key to screen, idle CPU.

    .venv/bin/python benchmarks/bench_tui.py --before DIR [--rounds N] [--idle SECONDS]

DIR is a checkout of the code to compare with (e.g. `git worktree add /tmp/ui-before b2d16ce`).
Each figure is measured for both trees in the same run, alternating (the tree that goes first
changes every round), each in its own interpreter with PYTHONPATH set to its tree, on a demo
sandbox built by that tree's own code. Writes benchmarks/results/ui_timings.md.

- first paint: from the launch of a fresh interpreter to the dashboard's source table holding its
  rows (headless, `App.run_test`, 80x24);
- key to screen: from a key (`App.simulate_key`) to the first frame the compositor draws after it
  took effect: a screen switch (first visits counted apart) or a cursor move in Runs;
- idle CPU: the CPU time of `rabtui` running on a pseudo-terminal (80x24, as over SSH) while
  nothing happens, on the dashboard and on Runs, divided by the wall time.
Goals (issue 17): key to screen < 100 ms at the median, first paint < 0.5 s, an idle UI next to
no CPU.
"""

from __future__ import annotations

import argparse
import fcntl
import json
import os
import pty
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import threading
import time
from pathlib import Path

from results_file import write_kept

ROOT = Path(__file__).resolve().parent.parent
PY = sys.executable

FIRST_PAINT = r"""
import asyncio, sys, time
t0 = float(sys.argv[2])
async def main():
    from rabtui.tui.app import make_app
    from textual.widgets import DataTable
    app = make_app(sys.argv[1], poll_interval=0)
    async with app.run_test(size=(80, 24)) as pilot:
        while True:
            t = app.screen.query("#sources")
            if t and t.first(DataTable).row_count:
                break
            await asyncio.sleep(0.002)
        print(time.time() - t0)
asyncio.run(main())
"""

# the floor any Textual UI pays: an interpreter, textual's import and an app with one Static
HELLO = r"""
import asyncio, sys, time
t0 = float(sys.argv[1])
async def main():
    from textual.app import App
    from textual.widgets import Static
    class Hello(App):
        def compose(self):
            yield Static("hello")
    async with Hello().run_test(size=(80, 24)) as pilot:
        await pilot.pause()
        print(time.time() - t0)
asyncio.run(main())
"""

KEYS = r"""
import asyncio, json, sys, time
config, rounds = sys.argv[1], int(sys.argv[2])
SCREENS = {"1": "DashboardScreen", "2": "SourcesScreen", "3": "MediaScreen", "4": "RunsScreen",
           "5": "CheckpointsScreen", "6": "BrowseScreen"}
ORDER = ["2", "3", "4", "5", "6", "1"]

async def main():
    from rabtui.tui.app import make_app
    app = make_app(config, poll_interval=0.5)
    frames = []
    out = {"first visit": [], "switch": [], "cursor": []}
    async with app.run_test(size=(80, 24)) as pilot:
        display = app._display

        def counting(screen, renderable):   # one call with a renderable = one frame
            if renderable is not None:
                frames.append(time.perf_counter())
            return display(screen, renderable)

        app._display = counting

        def on(name):
            return type(app.screen).__name__ == name

        while not (on("DashboardScreen") and app.screen.query("#sources").first().row_count):
            await asyncio.sleep(0.005)
        await asyncio.sleep(1.0)

        async def press(key, done):
            t0 = time.perf_counter()
            app.simulate_key(key)
            while not done():
                await asyncio.sleep(0.0005)
            changed = time.perf_counter()
            while not (frames and frames[-1] >= changed):
                await asyncio.sleep(0.0005)
            return next(f for f in frames if f >= changed) - t0

        for key in ORDER:
            out["first visit"].append(await press(key, lambda: on(SCREENS[key])))
            await asyncio.sleep(0.5)
        for _ in range(rounds):
            for key in ORDER:
                out["switch"].append(await press(key, lambda: on(SCREENS[key])))
                await asyncio.sleep(0.2)
            await press("4", lambda: on("RunsScreen"))
            await asyncio.sleep(0.3)
            table = app.screen.query_one("#runs-jobs")
            for key, step in (("down", 1), ("up", -1)):
                before = table.cursor_row
                out["cursor"].append(await press(key, lambda: table.cursor_row == before + step))
                await asyncio.sleep(0.2)
            await press("1", lambda: on("DashboardScreen"))
            await asyncio.sleep(0.2)
    print(json.dumps(out))

asyncio.run(main())
"""


def med(xs):
    return statistics.median(xs) if xs else float("nan")


def env_for(tree: Path, home: Path) -> dict:
    env = dict(os.environ, PYTHONPATH=str(tree), HOME=str(home), TERM="xterm-256color")
    for var, sub in (("XDG_CONFIG_HOME", ".config"), ("XDG_STATE_HOME", ".local/state"),
                     ("XDG_DATA_HOME", ".local/share"), ("XDG_CACHE_HOME", ".cache")):
        env[var] = str(home / sub)
    return env


def build_demo(tree: Path, base: Path, env: dict) -> Path:
    out = subprocess.run([PY, "-c", "import sys; from rabtui import demo; print(demo.build(sys.argv[1]))", str(base)],
                         cwd=tree, env=env, capture_output=True, text=True, check=True)
    return Path(out.stdout.strip().splitlines()[-1])


def first_paint(tree: Path, config: Path, env: dict) -> float:
    t0 = time.time()
    r = subprocess.run([PY, "-c", FIRST_PAINT, str(config), repr(t0)], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=120, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def hello_paint(env: dict) -> float:
    t0 = time.time()
    r = subprocess.run([PY, "-c", HELLO, repr(t0)], env=env, capture_output=True, text=True, timeout=120, check=True)
    return float(r.stdout.strip().splitlines()[-1])


def keys(tree: Path, config: Path, env: dict, rounds: int) -> dict:
    r = subprocess.run([PY, "-c", KEYS, str(config), str(rounds)], cwd=tree, env=env,
                       capture_output=True, text=True, timeout=600)
    if r.returncode:
        raise SystemExit(f"key timings failed in {tree}:\n{r.stderr[-3000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def cpu_seconds(pid: int) -> float:
    """User + system CPU of the process (all its threads) so far."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def idle_cpu(tree: Path, config: Path, env: dict, seconds: float, settle: float = 5.0) -> dict:
    """`rabtui` on a pseudo-terminal of 80x24: CPU share while idle on the dashboard, then on Runs."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
    p = subprocess.Popen([PY, "-m", "rabtui", "--config", str(config)], stdin=slave, stdout=slave, stderr=slave,
                         cwd=tree, env=env, start_new_session=True)
    os.close(slave)

    def drain():
        while True:
            try:
                if not os.read(master, 65536):
                    return
            except OSError:
                return

    threading.Thread(target=drain, daemon=True).start()
    out = {}
    try:
        for screen, key in (("dashboard", None), ("runs", b"4")):
            if key:
                os.write(master, key)
            time.sleep(settle)
            c0, t0 = cpu_seconds(p.pid), time.monotonic()
            time.sleep(seconds)
            out[screen] = (cpu_seconds(p.pid) - c0) / (time.monotonic() - t0)
    finally:
        os.write(master, b"q")
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        os.close(master)
    return out


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--before", required=True, type=Path, help="checkout of the code to compare with")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle CPU measured per screen")
    parser.add_argument("--idle-rounds", type=int, default=2)
    args = parser.parse_args()
    trees = {"before": args.before.resolve(), "after": ROOT}
    work = Path(tempfile.mkdtemp(prefix="rabtui-bench-ui-"))
    envs, configs = {}, {}
    for name, tree in trees.items():
        envs[name] = env_for(tree, work / name / "home")
        print(f"{name}: demo sandbox ...", file=sys.stderr)
        configs[name] = build_demo(tree, work / name / "demo", envs[name])

    paint = {n: [] for n in trees}
    hello: list[float] = []
    key = {n: {"first visit": [], "switch": [], "cursor": []} for n in trees}
    idle = {n: {"dashboard": [], "runs": []} for n in trees}
    for r in range(args.rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        print(f"round {r + 1} of {args.rounds}: first paint, keys", file=sys.stderr)
        for name in order:
            paint[name].append(first_paint(trees[name], configs[name], envs[name]))
        hello.append(hello_paint(envs["after"]))
        for name in order:
            for what, xs in keys(trees[name], configs[name], envs[name], 2).items():
                key[name][what] += xs
    for r in range(args.idle_rounds):
        order = list(trees) if r % 2 == 0 else list(trees)[::-1]
        for name in order:
            print(f"idle CPU round {r + 1}: {name}", file=sys.stderr)
            for screen, share in idle_cpu(trees[name], configs[name], envs[name], args.idle).items():
                idle[name][screen].append(share)

    def ms(xs):
        return f"{1000 * med(xs):.1f} ms"

    def p95(xs):
        return f"{1000 * sorted(xs)[max(0, int(0.95 * len(xs)) - 1)]:.0f} ms"

    def pct(xs):
        return f"{100 * med(xs):.2f} %"

    rows = [
        ("first paint (dashboard with its rows, 80x24)", lambda n: f"{med(paint[n]):.2f} s", "< 0.5 s",
         med(paint["after"]) < 0.5),
        ("first paint of an empty Textual app (the floor, same interpreter)", lambda n: f"{med(hello):.2f} s", "", None),
        ("key to screen: screen switch, median (p95)",
         lambda n: f"{ms(key[n]['switch'])} ({p95(key[n]['switch'])})", "< 100 ms", med(key["after"]["switch"]) < 0.1),
        ("key to screen: first visit of a screen, median", lambda n: ms(key[n]["first visit"]), "< 100 ms",
         med(key["after"]["first visit"]) < 0.1),
        ("key to screen: cursor in Runs, median", lambda n: ms(key[n]["cursor"]), "< 100 ms",
         med(key["after"]["cursor"]) < 0.1),
        ("idle CPU on the dashboard (pty 80x24)", lambda n: pct(idle[n]["dashboard"]), "next to none", None),
        ("idle CPU on Runs (pty 80x24)", lambda n: pct(idle[n]["runs"]), "next to none", None),
    ]
    lines = [
        "# UI timings",
        "",
        f"`python benchmarks/bench_tui.py --before {args.before}`: this tree against the code before",
        f"({subprocess.run(['git', '-C', str(trees['before']), 'rev-parse', '--short', 'HEAD'], capture_output=True, text=True).stdout.strip()}),",
        f"alternating, each in its own interpreter on its own demo sandbox. Machine: {os.cpu_count()} cores shared with other",
        f"work (load average {os.getloadavg()[0]:.1f} at the end); Python {sys.version.split()[0]}, textual"
        f" {__import__('textual').__version__}. Medians of {args.rounds} first paints, {len(key['after']['switch'])}"
        f" switches, {len(key['after']['first visit'])} first visits and {len(key['after']['cursor'])} cursor moves per tree;"
        f" idle CPU over {args.idle:.0f} s per screen, {args.idle_rounds} rounds.",
        "",
        "| what | before | after | goal | met |",
        "|---|---|---|---|---|",
    ]
    for what, fmt, goal, met in rows:
        lines.append(f"| {what} | {fmt('before')} | {fmt('after')} | {goal} |"
                     f" {'-' if met is None else ('yes' if met else 'no')} |")
    lines += ["", "Raw figures (seconds; CPU as a share of one core):", "",
              f"- empty Textual app: first paint {[round(x, 3) for x in hello]}"]
    for n in trees:
        lines.append(f"- {n}: first paint {[round(x, 3) for x in paint[n]]}; switches"
                     f" {[round(x, 3) for x in key[n]['switch']]}; first visits {[round(x, 3) for x in key[n]['first visit']]};"
                     f" cursor {[round(x, 3) for x in key[n]['cursor']]}; idle dashboard"
                     f" {[round(x, 4) for x in idle[n]['dashboard']]}, runs {[round(x, 4) for x in idle[n]['runs']]}")
    out = ROOT / "benchmarks" / "results" / "ui_timings.md"
    write_kept(out, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
