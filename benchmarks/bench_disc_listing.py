"""The listings a restore from a disc and a disc's verification ask xorriso for, timed on an image of
FILES files of one byte: all in one directory, and spread over directories of SPREAD files each.

The image is made with `xorriso -as mkisofs -R` from a tree on /dev/shm. Timed, each alone (one
xorriso run, its output counted): the `-find -exec lsdl` that disc_extract.xorriso_extract_argv,
disc_dirs and the verification (xorriso.py) run; the same directory listed by `-cd DIR -lsl`; the
`-find` of the names alone, and with `-exec report_lba`. A run past --limit seconds is stopped and
its lines per second reported.

    .venv/bin/python benchmarks/bench_disc_listing.py [--files 20000 100000] [--spread 100] [--limit 120]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import tempfile
import time

WAYS = {
    "-find -exec lsdl": lambda d: ["-find", d, "-exec", "lsdl", "--"],
    "-cd DIR -lsl": lambda d: ["-cd", d, "-lsl"],
    "-find (names)": lambda d: ["-find", d],
    "-find -exec report_lba": lambda d: ["-find", d, "-exec", "report_lba", "--"],
}


def make_image(work: str, files: int, spread: int | None) -> str:
    tree = os.path.join(work, "tree")
    shutil.rmtree(tree, ignore_errors=True)
    for i in range(files):
        sub = os.path.join(tree, "d") if spread is None else os.path.join(tree, "d", f"s{i // spread:05d}")
        if i % (spread or files) == 0:
            os.makedirs(sub)
        with open(os.path.join(sub, f"f{i:07d}"), "wb") as f:
            f.write(b"x")
    image = os.path.join(work, "image.iso")
    subprocess.run(["xorriso", "-as", "mkisofs", "-R", "-quiet", "-o", image, tree], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    shutil.rmtree(tree)
    return image


def timed(image: str, words: list[str], limit: float) -> tuple[float, int, bool]:
    """(seconds, lines printed, stopped at the limit)"""
    argv = ["xorriso", "-no_rc", "-iso_rr_pattern", "off", "-backslash_codes", "encode_output", "-indev", "stdio:" + image] + words
    start = time.monotonic()
    with subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL) as p:
        lines, stopped = 0, False
        for _ in p.stdout:
            lines += 1
            if time.monotonic() - start > limit:
                p.kill()
                stopped = True
                break
    return time.monotonic() - start, lines, stopped


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, nargs="+", default=[20000, 100000])
    ap.add_argument("--spread", type=int, default=100)
    ap.add_argument("--limit", type=float, default=120)
    args = ap.parse_args()
    work = tempfile.mkdtemp(prefix="bench-disc-listing-", dir="/dev/shm")
    try:
        print("| files | layout | listing | seconds | lines | lines/s |\n|---|---|---|---|---|---|")
        for files in args.files:
            for spread in (None, args.spread):
                image = make_image(work, files, spread)
                layout = "one directory" if spread is None else f"{files // spread} directories"
                for name, words in WAYS.items():
                    secs, lines, stopped = timed(image, words("/d"), args.limit)
                    where = f"{secs:.1f} (stopped)" if stopped else f"{secs:.2f}"
                    print(f"| {files:,} | {layout} | `{name}` | {where} | {lines:,} | {lines / secs:,.0f} |", flush=True)
                os.unlink(image)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
