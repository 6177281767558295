"""The nightly window (issue 19), over the loopback sshd, on tmpfs, alternating, medians and ratios.

    python benchmarks/bench_night.py [SECTION ...] [--reps N] [--small]

Sections: cpu (rabtui's own CPU per file), links (what a source's hard links cost a backup), slow (8 throttled sources at once against one after
another), busy (8 sources with max_parallel = 2 against bare rsyncs by `xargs -P 2`), peers
(rsnapshot, laravel-backup-server's steps by hand, rsync with rabtui's output options), year (a
year of catalog, night_year.py, at --year-files files). Each writes
benchmarks/results/night-<section>.json; the report (benchmarks/results/night.md) is made from
all of them that exist (`--report`: only the report).
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from night_lab import (ROOT, TMPFS, NightLab, bare_rsync, change_files, child_cpu, load, make_tree,  # noqa: E402
                       rsh_and_location, start_sshd)

import night_year  # noqa: E402
from results_file import write_kept  # noqa: E402
from rabtui import rsync  # noqa: E402
from rabtui.media.medium_layout import backup_data_path  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def _fresh(lab: NightLab) -> None:
    """No backups and no state: the next backup is an initial one."""
    for m in lab.media:
        shutil.rmtree(m)
        m.mkdir()
    for name in ("rabtui.db", "rabtui.db-wal", "rabtui.db-shm"):
        (lab.state / name).unlink(missing_ok=True)
    # the media's labels as rabtui kept them: emptied media with a copy there would be refused
    shutil.rmtree(lab.state / "media", ignore_errors=True)


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


LINKED_EVERY = 50       # one file in 50 has a second name


def links(work: Path, sshd, reps: int, files: int) -> dict:
    """What a source's hard links cost a backup (links_apart: after a base that holds some, the new
    copy's files of more than one name are listed and rsync is asked which are one file on the
    source): two trees of `files` files and one more name for every LINKED_EVERY-th, a hard link
    in one, a copy in the other; wall and CPU (rabtui and its children) of each backup, alternating."""
    trees = {"copied": work / "copied", "linked": work / "linked"}
    for kind, tree in trees.items():
        make_tree(tree, files, 1000)
        for i, p in enumerate(sorted(tree.rglob("*.bin"))):
            if i % LINKED_EVERY == 0:
                second = p.with_name(p.name + ".2")
                os.link(p, second) if kind == "linked" else shutil.copy2(p, second)
    labs = {k: NightLab(work / f"lab-{k}", sshd) for k in trees}
    for k, lab in labs.items():
        lab.configure({"src": trees[k]})
    runs: dict[str, list[dict]] = {f"{k} {phase}": [] for k in trees for phase in ("new", "unchanged")}
    for rep in range(reps):
        order = list(trees) if rep % 2 == 0 else list(reversed(trees))
        for k in order:
            _fresh(labs[k])
        for phase in ("new", "unchanged"):
            for k in order:
                before = child_cpu()
                r = labs[k].rabtui("backup", "src", "--medium", "m1")
                r["all_cpu"] = child_cpu() - before
                r["load"] = load()
                runs[f"{k} {phase}"].append(r)
                print(f"[links] rep {rep + 1} {k:6} {phase:9} wall {r['wall']:.2f} s cpu {r['all_cpu']:.2f} s"
                      f" ({r['load']})", flush=True)
    out = {"files": files, "every": LINKED_EVERY, "reps": reps, "runs": runs}
    for phase in ("new", "unchanged"):
        out[phase] = {f"{k}_{m}": _med([r[key] for r in runs[f"{k} {phase}"]])
                      for k in trees for m, key in (("wall", "wall"), ("cpu", "all_cpu"))}
    return out


def _copies(work: Path, count: int, files: int, avg: int) -> dict[str, Path]:
    """`count` source trees of `files` files: one made, the others hard-linked copies of it."""
    first = work / "src" / "s1"
    make_tree(first, files, avg)
    trees = {"s1": first}
    for n in range(2, count + 1):
        trees[f"s{n}"] = work / "src" / f"s{n}"
        subprocess.run(["cp", "-al", str(first), str(trees[f"s{n}"])], check=True)
    return trees


def _timed(argv: list[str], **kwargs) -> float:
    t0 = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, **kwargs)
    return time.perf_counter() - t0


def slow(work: Path, sshd, reps: int, files: int) -> dict:
    """8 sources of 2,000 files, each throttled at the source (`rsync_path = "rsync --bwlimit=..."`):
    all 8 with max_parallel = 8, one of them alone, and all 8 one after another."""
    bwlimit = 400                                   # KiB/s: about 5 s for one source's 2 MB
    trees = _copies(work, 8, 2_000, 1_000)
    lab = NightLab(work / "lab", sshd)
    keys = {sid: f'rsync_path = "rsync --bwlimit={bwlimit}"' for sid in trees}
    kinds = ["parallel", "alone", "serial"]
    out: dict = {"bwlimit_kib": bwlimit, "reps": reps, **{k: [] for k in kinds}}
    for rep in range(reps):
        for kind in kinds[rep % 3:] + kinds[:rep % 3]:
            _fresh(lab)
            lab.configure(trees, rabtui=f"max_parallel = {1 if kind == 'serial' else 8}", source_keys=keys)
            ids = [f"s{rep % 8 + 1}"] if kind == "alone" else ["--all"]
            r = lab.rabtui("backup", *ids, "--medium", "m1")
            out[kind].append(r["wall"])
            print(f"[slow] rep {rep + 1} {kind:8} {r['wall']:.2f} s ({load()})", flush=True)
    return out


def _short_path(dest: Path, sid: str, path: Path, n: int) -> Path:
    return dest / sid / f"b{n}"


def _rabtui_path(medium: Path, sid: str, path: Path, n: int) -> Path:
    """rabtui's own layout: <medium>/<source>/backup-<YmdHis>/data/<source dir>."""
    return backup_data_path(medium / sid / f"backup-20261201{n:06d}", str(path))


def _xargs(work: Path, lab: NightLab, trees: dict[str, Path], dest: Path, n: int, parallel: int,
           options: tuple[str, ...] = ("-aH", "--numeric-ids"), path_of=_short_path) -> float:
    """The same sources as bare `rsync -aH --numeric-ids --link-dest` by `xargs -P` (`options`:
    rsync's other options; their output goes into /dev/null), backup `n` of each source into
    `path_of(dest, source, its directory, n)`."""
    lines = []
    for sid, path in trees.items():
        rsh, location = rsh_and_location(lab, sid, path)
        prev = path_of(dest, sid, path, n - 1) if n > 1 else None
        argv = bare_rsync(rsh, location, path_of(dest, sid, path, n), prev, options=options)
        lines.append(shlex.join(argv) + " >/dev/null")
        path_of(dest, sid, path, n).mkdir(parents=True, exist_ok=True)
    script = work / "bare.sh"
    script.write_text("\n".join(lines) + "\n")
    return _timed(["xargs", "-P", str(parallel), "-d", "\n", "-n", "1", "sh", "-c"], stdin=open(script, "rb"))


def busy(work: Path, sshd, reps: int, files: int) -> dict:
    """8 sources of 20,000 files, unthrottled: rabtui with max_parallel = 2 against the same 8 bare
    rsyncs run by `xargs -P 2`, initial and no-change."""
    trees = _copies(work, 8, 20_000, 1_000)
    lab = NightLab(work / "lab", sshd)
    lab.configure(trees, rabtui="max_parallel = 2", source_keys={sid: SAME_WORK for sid in trees})
    tools = ["rabtui", "bare", "flags", "layout"]
    out: dict = {"reps": reps, **{f"{t} {p}": [] for t in tools for p in ("initial", "no-change")}}
    for rep in range(reps):
        _fresh(lab)
        # layout: rabtui's own paths, the medium as deep as rabtui's (work/lab/medium-1)
        dests = {t: work / f"{t}-{rep}" / ("medium-1" if t == "layout" else "") for t in tools[1:]}
        for n, phase in enumerate(("initial", "no-change"), start=1):
            for tool in tools[rep % 4:] + tools[:rep % 4]:
                if tool == "rabtui":
                    wall = lab.rabtui("backup", "--all", "--medium", "m1")["wall"]
                elif tool == "bare":
                    wall = _xargs(work, lab, trees, dests[tool], n, 2)
                elif tool == "flags":
                    wall = _xargs(work, lab, trees, dests[tool], n, 2, RABTUI_OPTIONS)
                else:
                    wall = _xargs(work, lab, trees, dests[tool], n, 2, RABTUI_OPTIONS, _rabtui_path)
                out[f"{tool} {phase}"].append(wall)
                print(f"[busy] rep {rep + 1} {phase:9} {tool:6} {wall:.2f} s ({load()})", flush=True)
        for t in tools[1:]:
            shutil.rmtree(work / f"{t}-{rep}")
    return out


RSNAPSHOT_CONF = """config_version\t1.2
snapshot_root\t{root}/
no_create_root\t0
cmd_cp\t/bin/cp
cmd_rm\t/bin/rm
cmd_rsync\t/usr/bin/rsync
cmd_ssh\t{ssh}
rsync_short_args\t-aH
retain\tdaily\t100
link_dest\t1
lockfile\t{root}.pid
logfile\t{root}.log
backup\t{location}\tsrc/
"""

PEERS = ["rabtui", "rsnapshot", "laravel", "flags", "layout"]
# rabtui keeps ACLs and xattrs by default (-A -X, priced in "What keeping ACLs, xattrs and holes
# costs rsync"); against tools that keep neither, it is given the same work
SAME_WORK = "acls = false\nxattrs = false"
# what rabtui gives rsync then (on tmpfs, which keeps nanoseconds), but its output goes into /dev/null
RABTUI_OPTIONS = (*rsync.BASE_OPTIONS, *rsync.fidelity_options(acls=False, xattrs=False), "--modify-window=-1",
                  "--timeout=600")


class Peers:
    """One tree backed up by rabtui, rsnapshot, laravel-backup-server's steps by hand, and rsync
    with rabtui's output options (into /dev/null), each onto its own medium."""

    def __init__(self, work: Path, sshd, src: Path):
        self.work, self.src = work, src
        self.lab = NightLab(work / "rabtui", sshd)
        # the peers keep neither ACLs nor xattrs: rabtui is given the same work
        self.lab.configure({"src": src}, source_keys={"src": SAME_WORK})
        self.rsh, self.location = rsh_and_location(self.lab, "src", src)
        self.ssh = shlex.split(self.rsh)
        self.conf = work / "rsnapshot.conf"
        # rsnapshot splits ssh_args at blanks: the same ssh command as rabtui's, from a script
        wrapper = work / "ssh"
        wrapper.write_text(f"#!/bin/sh\nexec {self.rsh} \"$@\"\n")
        wrapper.chmod(0o755)
        self.conf.write_text(RSNAPSHOT_CONF.format(root=work / "rsnapshot", ssh=wrapper, location=self.location))
        self.n = 0

    def reset(self) -> None:
        _fresh(self.lab)
        for name in ("rsnapshot", "laravel", "flags", "layout"):
            shutil.rmtree(self.work / name, ignore_errors=True)
            (self.work / name).mkdir()
        self.n = 0

    def _rabtui_path(self, n: int) -> Path:
        return _rabtui_path(self.work / "layout" / "medium-1", "src", self.src, n)

    def run(self, tool: str) -> float:
        if tool == "rabtui":
            return self.lab.rabtui("backup", "src", "--medium", "m1")["wall"]
        if tool == "rsnapshot":
            return _timed(["rsnapshot", "-c", str(self.conf), "daily"])
        dest = self.work / tool / f"b{self.n}"
        prev = self.work / tool / f"b{self.n - 1}" if self.n else None
        if tool == "layout":
            # rabtui's own paths, at the same depth: <medium>/<source>/backup-<YmdHis>/data/<source dir>
            # (rsync walks every component of the --link-dest path, for every file)
            dest = self._rabtui_path(self.n)
            prev = self._rabtui_path(self.n - 1) if self.n else None
            dest.mkdir(parents=True)
        if tool in ("flags", "layout"):
            return _timed(bare_rsync(self.rsh, self.location, dest, prev, options=RABTUI_OPTIONS),
                          env={**os.environ, **rsync.ENV})
        target = self.location.split(":", 1)[0]
        t0 = time.perf_counter()
        subprocess.run([*self.ssh, target, "whoami"], check=True, capture_output=True)
        subprocess.run(bare_rsync(self.rsh, self.location, dest, prev, options=("-a", "-H", "--numeric-ids")),
                       check=True, stdout=subprocess.DEVNULL)
        subprocess.run(["du", "-s", str(dest)], check=True, capture_output=True)
        subprocess.run([*self.ssh, target, f"du -s {shlex.quote(str(self.src))}"], check=True, capture_output=True)
        return time.perf_counter() - t0


def peers(work: Path, sshd, reps: int, files: int) -> dict:
    """20,000 files of 4 KB and `files` files of 1 KB: initial, no-change, 200 changed."""
    out: dict = {"reps": reps, "trees": {}}
    # tmpfs charges an inode for every hard link: each tool's three backups of the big tree count whole
    needed = files * (len(PEERS) * 3 + 1) * 11 // 10
    free = os.statvfs(TMPFS).f_favail
    if free < needed:
        raise SystemExit(f"peers needs about {needed:,} inodes on {TMPFS} ({free:,} free; tmpfs counts every hard"
                         f" link): mount -o remount,nr_inodes={needed * 2} {TMPFS}")
    for count, avg in ((20_000, 4_000), (files, 1_000)):
        src = work / f"src-{count}"
        make_tree(src, count, avg)
        bench = Peers(work / f"peers-{count}", sshd, src)
        res = {f"{t} {p}": [] for t in PEERS for p in ("initial", "no-change", "changed")}
        for rep in range(reps):
            bench.reset()
            order = PEERS[rep % len(PEERS):] + PEERS[:rep % len(PEERS)]
            for phase in ("initial", "no-change", "changed"):
                if phase == "changed":
                    change_files(src, 200, seed=rep)
                for tool in order:
                    wall = bench.run(tool)
                    res[f"{tool} {phase}"].append(wall)
                    print(f"[peers {count}] rep {rep + 1} {phase:9} {tool:9} {wall:.2f} s ({load()})", flush=True)
                bench.n += 1
        out["trees"][str(count)] = res
        shutil.rmtree(bench.work)
        shutil.rmtree(src)
    return out


def _med(xs: list[float]) -> float:
    return statistics.median(xs)


def _ok(met: bool) -> str:
    return "met" if met else "not met"


def report() -> str:
    """The tables of benchmarks/results/night.md, from the sections' JSON files that exist."""
    got = {p.stem.removeprefix("night-"): json.loads(p.read_text()) for p in RESULTS.glob("night-*.json")}
    lines = ["# Nightly window", "",
             "`python benchmarks/bench_night.py` and `python benchmarks/night_year.py` (issue 19): over the loopback"
             " sshd, trees and media on tmpfs (/dev/shm), tools alternating in one run, medians. The machine has 2"
             " cores shared with other work; the load average while each ran is given with it.", ""]
    if "cpu" in got:
        c = got["cpu"]
        lines += [f"## rabtui's own CPU per file ({c['when']}, {c['reps']} repetitions)", "",
                  f"A backup of {c['files']:,} small files against one of 10 files (start-up, login, database: the"
                  " fixed cost), CPU time of rabtui's Python process (all its threads; rsync and ssh are its"
                  " children, not counted), read inside it with getrusage(RUSAGE_SELF).", "",
                  "| backup | CPU s, big / tiny | per file | peak RSS, big / tiny | goal under 5 us |", "|---|---|---|---|---|"]
        for phase in ("new", "unchanged"):
            r = c[phase]
            lines.append(f"| {phase} | {r['cpu_big']:.3f} / {r['cpu_tiny']:.3f} | {r['us_per_file']:.2f} us |"
                         f" {r['rss_big_kb'] / 1024:.0f} / {r['rss_tiny_kb'] / 1024:.0f} MiB |"
                         f" {_ok(r['us_per_file'] < 5)} |")
        lines.append("")
    if "links" in got:
        c = got["links"]
        lines += [f"## Hard links in the source ({c['when']}, {c['reps']} repetitions)", "",
                  f"Two trees of {c['files']:,} small files and a second name for one file in {c['every']}: a hard"
                  " link in one, a copy in the other (the same names and bytes to read). After a backup whose copy"
                  " holds hard links, the next lists the new copy's files of more than one name (`find`) and asks"
                  " rsync which are one file on the source (links_apart); wall seconds and CPU seconds of rabtui"
                  " and its children on the server's side (rsync, ssh, find), medians.", "",
                  "| backup | copies: wall / CPU | links: wall / CPU | links / copies, wall |", "|---|---|---|---|"]
        for phase in ("new", "unchanged"):
            r = c[phase]
            lines.append(f"| {phase} | {r['copied_wall']:.2f} / {r['copied_cpu']:.2f} s |"
                         f" {r['linked_wall']:.2f} / {r['linked_cpu']:.2f} s | {r['linked_wall'] / r['copied_wall']:.3f} |")
        lines.append("")
    if "slow" in got:
        c = got["slow"]
        par, alone, serial = (_med(c[k]) for k in ("parallel", "alone", "serial"))
        lines += [f"## Slow links ({c['when']}, {c['reps']} repetitions)", "",
                  f"8 sources of 2,000 files (2 MB each), each throttled at the source (`rsync_path = \"rsync"
                  f" --bwlimit={c['bwlimit_kib']}\"`), initial backups.", "",
                  "| all 8, max_parallel = 8 | one source alone | all 8 one after another (max_parallel = 1) |"
                  " 8 at once / one alone (goal <= 1.15) | one after another / 8 at once |", "|---|---|---|---|---|",
                  f"| {par:.2f} s | {alone:.2f} s | {serial:.2f} s | {par / alone:.3f} ({_ok(par / alone <= 1.15)}) |"
                  f" {serial / par:.2f}x |", ""]
    if "busy" in got:
        c = got["busy"]
        lines += [f"## Busy server ({c['when']}, {c['reps']} repetitions)", "",
                  "8 sources of 20,000 files (1 KB average), unthrottled: `rabtui backup --all` with max_parallel = 2"
                  " (`acls = false`, `xattrs = false`: the same work as the bare rsync)"
                  " against the same 8 bare `rsync -aH --numeric-ids [--link-dest]` run by `xargs -P 2`, and"
                  " against those 8 rsyncs given rabtui's own options (the itemized output, progress2, --stats,"
                  " `--sparse`, `--timeout`; their output into /dev/null): what rsync itself pays for the output"
                  " the design asks of it, before rabtui reads a byte; and those into rabtui's own paths"
                  " (`<medium>/<source>/backup-<YmdHis>/data/<source dir>`, the medium as deep as rabtui's): what"
                  " rsync pays for the output and the layout together, the floor of any tool that keeps both.", "",
                  "| run | rabtui | bare rsync, xargs -P 2 | rsync + rabtui's options | the same, rabtui's paths"
                  " | rabtui / bare (goal <= 1.10) | rsync + options / bare | rabtui's paths / bare"
                  " | rabtui / rsync + options, rabtui's paths |", "|---|---|---|---|---|---|---|---|---|"]
        for phase in ("initial", "no-change"):
            a, b = _med(c[f"rabtui {phase}"]), _med(c[f"bare {phase}"])
            f, g = (_med(c[f"{t} {phase}"]) if c.get(f"{t} {phase}") else float("nan") for t in ("flags", "layout"))
            lines.append(f"| {phase} | {a:.2f} s | {b:.2f} s | {f:.2f} s | {g:.2f} s | {a / b:.3f} ({_ok(a / b <= 1.10)})"
                         f" | {f / b:.3f} | {g / b:.3f} | {a / g:.3f} |")
        lines.append("")
    if "peers" in got:
        c = got["peers"]
        lines += [f"## Against the peers ({c['when']}, {c['reps']} repetitions)", "",
                  "rabtui (`acls = false`, `xattrs = false`: the same work as the others); rsnapshot 1.4.5 (`link_dest 1`, `rsync_short_args -aH`, its other defaults, the same ssh"
                  " command); laravel-backup-server's steps by hand (`ssh whoami`, `rsync -a -H --numeric-ids"
                  " --link-dest`, `du -s` of the new backup, `ssh ... du -s` of the source's folder); rsync with"
                  " the options rabtui gives it (`-aH --numeric-ids`, the itemized output, progress2, --stats,"
                  " `--sparse`, `--timeout`), its output into /dev/null, into short paths (`<dir>/b<n>`) and into"
                  " rabtui's own (`<medium>/<source>/backup-<YmdHis>/data/<source dir>`, the medium as deep as"
                  " rabtui's). Wall seconds; ratios are rabtui / the other (below 1: rabtui ahead).", "",
                  "| tree | run | rabtui | rsnapshot | laravel steps | rsync + options | rsync + options, rabtui's paths |"
                  " / rsnapshot | / laravel | / rsync + options | / rsync + options, rabtui's paths (goal <= 1.05) |",
                  "|---|---|---|---|---|---|---|---|---|---|---|"]
        for tree, res in c["trees"].items():
            for phase in ("initial", "no-change", "changed"):
                a, r, lv, f, lay = (_med(res.get(f"{t} {phase}") or [float("nan")]) for t in PEERS)
                lines.append(f"| {int(tree):,} files | {phase} | {a:.2f} | {r:.2f} | {lv:.2f} | {f:.2f} | {lay:.2f} |"
                             f" {a / r:.3f} | {a / lv:.3f} | {a / f:.3f} | {a / lay:.3f} |")
        lines.append("")
    for key in sorted(k for k in got if k.startswith("year")):
        c = got[key]
        lines += [f"## The catalog over {c['days']} days: {c['files']:,} files ({c['when']})", "",
                  f"{c['days']} daily backups over {c['media']} media in rotation, {c['churn'] * 100:.1f} % of the files"
                  " changed every day, through the real catalog code with generated items (night_year.py). Step 7"
                  f" (the catalog's part): median {c['step7_median_s']:.3f} s, worst {c['step7_max_s']:.3f} s; cleanup of"
                  f" the {c.get('cleanup_backups', 30)} oldest backups (catalog_forget.forget_backups, the catalog's part):"
                  f" {c['cleanup_month_s']:.2f} s.", "",
                  "| day | step 7 s | find ms | versions | database MB | bytes per version | spool us per file |",
                  "|---|---|---|---|---|---|---|"]
        for r in c["curve"]:
            lines.append(f"| {r['day']} | {r['step7_s']:.3f} | {r['find_s'] * 1000:.0f} | {r['versions']:,} |"
                         f" {r['db_bytes'] / 1e6:.0f} | {r['bytes_per_version']:.0f} | {r['spool_us_per_file']:.2f} |")
        lines.append("")
    return "\n".join(lines)


def year_of_catalog(work: Path, sshd, reps: int, files: int) -> dict:
    """night_year.py's year, at YEAR_FILES files (no rsync, no sshd: generated items)."""
    return night_year.year(work, YEAR_FILES, 365, 0.005, 30)


YEAR_FILES = 1_000_000
SECTIONS = {"cpu": cpu, "links": links, "slow": slow, "busy": busy, "peers": peers, "year": year_of_catalog}


def main() -> None:
    global YEAR_FILES
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sections", nargs="*", default=list(SECTIONS))
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--files", type=int, default=200_000)
    parser.add_argument("--year-files", type=int, default=YEAR_FILES, help="the year of catalog's file count")
    parser.add_argument("--report", action="store_true", help="only write results/night.md from the JSON files")
    args = parser.parse_args()
    YEAR_FILES = args.year_files
    if args.report:
        write_kept(RESULTS / "night.md", report())
        return
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
    write_kept(RESULTS / "night.md", report())


if __name__ == "__main__":
    main()
