"""What a restore of an archive directory names of other copies (restore/archive_elsewhere.py),
timed on large catalogs written through the real catalog spool: one backup of FILES files on each
of three media (each holding a tenth of its files alone, and as many symlinks), the restore's check
of the newest copy against the two others. `--empty-dirs N`: the second copy's own tree on its
medium holds N empty directories the others lack (named from that tree: its catalog records none).

    .venv/bin/python benchmarks/bench_archive_elsewhere.py [--files 20000 50000 100000 200000]
        [--empty-dirs 100000]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rabtui import rsync  # noqa: E402
from rabtui.backup.catalog_update import CatalogSpool  # noqa: E402
from rabtui.media import medium  # noqa: E402
from rabtui.restore import archive_elsewhere  # noqa: E402
from rabtui.restore.copies import copies_of  # noqa: E402
from rabtui.state import catalog  # noqa: E402
from rabtui.state.store import Store  # noqa: E402
from tests.trees import Lab  # noqa: E402

F, L = ord("f"), ord("L")


def build(lab: Lab, files: int, empty: int = 0) -> None:
    cfg = lab.load()
    d = cfg.sources[0].directories[0].path
    top = catalog.rel_path(d)
    store = Store(lab.state)
    for m in range(3):
        medium = f"m{m + 1}"
        bid = store.execute("INSERT INTO backups(source, medium, name, path, started, status) VALUES"
                            " ('loc', ?, ?, ?, ?, 'running')",
                            (medium, f"backup-2026030{m + 1}020000", str(lab.media[m][1] / "loc" / f"backup-2026030{m + 1}020000"),
                             1_772_330_400 + m * 86400)).lastrowid
        store.execute("INSERT INTO backup_dirs(backup_id, path, kind, state) VALUES (?, ?, 'archive', 'completed')",
                      (bid, d))
        spool = CatalogSpool(store)
        spool.target(source="loc", medium=medium, base_id=None)
        # the files all media hold, and a tenth this one alone holds
        names = [b"%s/d%03d/f%07d" % (top, i % 300, i) for i in range(files)]
        names += [b"%s/only-m%d/g%07d" % (top, m + 1, i) for i in range(files // 10)]
        rows = [(d, p, F, rsync.NEW, 100 + i % 1000, 1_700_000_000) for i, p in enumerate(names)]
        links = [(d, b"%s/links-m%d/l%07d" % (top, m + 1, i), L, rsync.NEW, 1_700_000_000) for i in range(files // 10)]
        for i in range(0, len(rows), 10_000):
            spool.add(d, rows[i:i + 10_000])
        spool.add(d, [(d, p, k, s, 0, t) for d, p, k, s, t in links], others=links)
        spool.apply(bid)
        store.execute("UPDATE backups SET status='completed' WHERE id=?", (bid,))
        tree = lab.media[m][1] / "loc" / f"backup-2026030{m + 1}020000" / "data" / top.decode()
        tree.mkdir(parents=True)
        for i in range(empty if m == 1 else 0):
            (tree / "empty-m2" / f"{i // 1000:03d}" / f"e{i:07d}").mkdir(parents=True)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, nargs="+", default=[20_000, 50_000, 100_000, 200_000])
    ap.add_argument("--empty-dirs", type=int, default=0)
    args = ap.parse_args()
    for files in args.files:
        with tempfile.TemporaryDirectory() as tmp:
            lab = Lab(Path(tmp), media_count=3)
            lab.local([("photos", "archive")])
            build(lab, files, args.empty_dirs)
            cfg, store = lab.load(), Store(lab.state)
            for m in cfg.media:     # at hand: their own trees are read
                medium.write_label(m)
            source = cfg.sources[0]
            rel = catalog.rel_path(source.directories[0].path)
            t = time.perf_counter()
            copies = copies_of(store, source, rel)
            listed = time.perf_counter() - t
            t = time.perf_counter()
            lines = archive_elsewhere.lacking(cfg, store, source, rel, copies[0], copies)
            took = time.perf_counter() - t
            print(f"{files} files per copy, {args.empty_dirs} empty directories, {len(copies)} copies: copies_of"
                  f" {listed:.2f} s, lacking {took:.2f} s ({len(lines)} lines)", flush=True)


if __name__ == "__main__":
    main()
