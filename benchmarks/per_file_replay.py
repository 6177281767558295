"""rabtui's own work per file, in instructions (callgrind): load-independent, for comparing code.

    python benchmarks/per_file_replay.py [--files 20000] [--code DIR ...]

Captures rsync's output from two real backups of a tree of small files over the loopback sshd
(the first: every file new; the second: every file unchanged), then replays it, a read of 256 KiB at
a time, through the real stream (rsync_stream.Stream), spool (CatalogSpool) and step 7
(CatalogSpool.apply) of each code tree given (`--code`: a worktree of another revision, say;
default this one), under valgrind's callgrind, each backup on a connection of its own as in a
backup's own process. Prints the instructions per new and per unchanged file, and their split:
the stream (rsync's output read, the rows made), the spool (the rows staged while rsync runs) and
step 7. Needs valgrind. The time of the same work in a real backup: `bench_night.py cpu`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHUNK = 256 * 1024
PHASES = ("new", "unchanged")


def replay(work: Path, state: Path, phases: int, part: str) -> None:
    """In the process of a code tree (on sys.path first): `phases` backups replayed from `work`'s
    captures; the last one only up to `part` ("stream": its rows handed to no spool; "spool": no
    step 7; "all")."""
    from rabtui.backup.catalog_update import CatalogSpool
    from rabtui.backup.rsync_stream import Stream
    from rabtui.backup.sizes import DirSizes
    from rabtui.state.store import Store

    tree = (work / "tree").read_text()
    store = Store(state)
    base = None
    for i in range(phases):
        if i:
            store.close()
            store = Store(state)
        last = i == phases - 1
        backup = store.execute("INSERT INTO backups(source, medium, name, path, status, started)"
                               " VALUES ('src', 'm1', ?, ?, 'running', ?)", (f"b{i}", f"/m/{i}", 1.7e9 + i)).lastrowid
        spool = CatalogSpool(store)
        spool.target(source="src", medium="m1", base_id=base)
        if last and part == "stream":
            spool.add = lambda *args, **kwargs: None
        basis = work / "no-basis" if base is not None else None
        stream = Stream(DirSizes(tree, "standard"), spool, lambda event: None, archive=False, index=0, count=1,
                        basis=basis, sender_names=False)
        data = (work / f"{PHASES[i]}.out").read_bytes()
        for at in range(0, len(data), CHUNK):
            stream.data(data[at:at + CHUNK])
        stream.finish()
        if last and part != "all":
            break
        spool.apply(backup)
        store.execute("UPDATE backups SET status='completed', finished=? WHERE id=?", (1.7e9 + i + 60, backup))
        base = backup
    store.close()


def capture(work: Path, files: int) -> None:
    """rsync's stdout in rabtui's two backups of `files` small files: work/new.out, work/unchanged.out."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from night_lab import NightLab, make_tree, start_sshd

    real = shutil.which("rsync")
    bin_dir = work / "bin"
    bin_dir.mkdir()
    # the local rsync's stdout kept (the remote side, `--server`, runs as it is)
    wrapper = bin_dir / "rsync"
    wrapper.write_text(f'#!/bin/bash\ncase " $* " in *" --server "*) exec {real} "$@";; esac\n'
                       f'{real} "$@" | tee "{work}/out-$(date +%s%N)"\nexit ${{PIPESTATUS[0]}}\n')
    wrapper.chmod(0o755)
    tree = work / "data"
    make_tree(tree, files, 1000)
    (work / "tree").write_text(str(tree))
    sshd = start_sshd(work / "sshd")
    try:
        lab = NightLab(work / "lab", sshd)
        lab.configure({"src": tree})
        lab.env["PATH"] = f"{bin_dir}:{lab.env['PATH']}"
        for phase in PHASES:
            lab.rabtui("backup", "src", "--medium", "m1")
            outs = sorted(work.glob("out-*"), key=lambda p: p.stat().st_size)
            outs[-1].rename(work / f"{phase}.out")    # the transfer's (the largest output)
            for p in outs[:-1]:
                p.unlink()
    finally:
        sshd.stop()


def instructions(code: Path, work: Path, phases: int, part: str = "all", reopen: bool = False) -> int:
    """callgrind's count of the whole replay in `code`'s tree."""
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        argv = ["valgrind", "--tool=callgrind", f"--callgrind-out-file={tmp}/callgrind.out", sys.executable,
                __file__, "--replay", str(code), str(work), f"{tmp}/state", str(phases), part]
        if reopen:
            argv.append("--reopen")
        done = subprocess.run(argv, capture_output=True, text=True, env={**os.environ, "PYTHONHASHSEED": "0"})
        found = re.search(r"Collected : (\d+)", done.stderr)
        if done.returncode or not found:
            raise SystemExit(f"the replay in {code} failed:\n{done.stderr[-3000:]}")
        return int(found.group(1))


def per_file(code: Path, work: Path, files: int) -> dict[str, float]:
    subprocess.run([sys.executable, "-m", "compileall", "-q", str(code / "rabtui")], check=True, capture_output=True)
    n = {(p, part): instructions(code, work, p, part) for p in (1, 2) for part in ("stream", "spool", "all")}
    start = instructions(code, work, 0)
    # a second backup's own connection (as in its own process), apart from its files
    reopen = instructions(code, work, 0, reopen=True) - start
    one = n[1, "all"] + reopen
    return {"new": (n[1, "all"] - start) / files, "new stream": (n[1, "stream"] - start) / files,
            "new spool": (n[1, "spool"] - n[1, "stream"]) / files, "new step 7": (n[1, "all"] - n[1, "spool"]) / files,
            "unchanged": (n[2, "all"] - one) / files, "unchanged stream": (n[2, "stream"] - one) / files,
            "unchanged spool": (n[2, "spool"] - n[2, "stream"]) / files,
            "unchanged step 7": (n[2, "all"] - n[2, "spool"]) / files}


def main() -> None:
    if sys.argv[1:2] == ["--replay"]:
        code, work, state, phases, part = sys.argv[2:7]
        sys.path.insert(0, code)
        if "--reopen" in sys.argv:
            from rabtui.state.store import Store
            Store(Path(state)).close()
        replay(Path(work), Path(state), int(phases), part)
        return
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=20_000)
    parser.add_argument("--code", type=Path, action="append", help="a code tree to measure (default: this one)")
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        raise SystemExit("valgrind is not installed: sudo apt-get install valgrind")
    codes = args.code or [Path(__file__).resolve().parent.parent]
    work = Path(tempfile.mkdtemp(prefix="rabtui-per-file-", dir="/dev/shm"))
    try:
        capture(work, args.files)
        for code in codes:
            got = per_file(code.resolve(), work, args.files)
            print(f"{code}: " + ", ".join(f"{k} {v:,.0f}" for k, v in got.items()), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
