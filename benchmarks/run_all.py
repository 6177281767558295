"""Run every benchmark (each writes benchmarks/results/<area>.md), then rebuild RESULTS.md.

They move gigabytes and take a long while: run them on an idle machine.
`python benchmarks/run_all.py --assemble-only` only rebuilds RESULTS.md from the results.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
SCRIPTS = ["bench_backup.py", "rsync_output.py", "ssh_step.py", "bench_plan.py", "bench_find.py", "bench_night.py",
           "bench_tui_streaming.py", "bench_tui.py"]
# the pages of results/ in the order they appear (any other page goes last, by name)
ORDER = ["summary", "backup", "backup_ab", "rsync_output", "remote", "checkpoint", "lifecycle", "night", "rebuild", "restore",
         "tui", "fidelity_cost", "trust_round", "links", "ui_timings"]

HEADER = """# Benchmark results

Each section below is a page of `benchmarks/results/`, put together here by `benchmarks/run_all.py`
(`make bench` runs every benchmark first). A benchmark writes the tables of its page; what follows
its notes line (`<!-- notes: ... -->`) is written by hand and kept when the tables are made again,
and the summary, `rebuild`, `restore`, `trust_round` and `links` pages are written by hand: edit the pages, not
this file. The machine is shared (2 cores): every comparison is measured against the real
alternative in the same run, alternating, and reported as medians and ratios.

"""


def assembled() -> str:
    """RESULTS.md's text from the pages of results/."""
    results = HERE / "results"
    names = sorted(results.glob("*.md"), key=lambda p: (ORDER.index(p.stem) if p.stem in ORDER else 99, p.stem))
    parts = [HEADER]
    for path in names:
        # every heading of a section goes one level down, under this page's title
        lines = ["#" + line if line.startswith("#") else line for line in path.read_text().strip().splitlines()]
        parts.append("\n".join(lines) + "\n\n")
    return "".join(parts).rstrip() + "\n"


def assemble() -> Path:
    out = HERE / "RESULTS.md"
    out.write_text(assembled())
    return out


def main() -> int:
    if "--assemble-only" not in sys.argv:
        for script in SCRIPTS:
            print(f"== {script}", flush=True)
            code = subprocess.call([sys.executable, str(HERE / script)])
            if code:
                print(f"{script} exited {code}", file=sys.stderr)
    print(assemble())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
