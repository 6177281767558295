"""A year of catalog: 365 daily backups of one source over 4 media in rotation, with `churn` of
its files changed every day, driven through the real catalog code (CatalogSpool: the rows step 5
hands on while rsync runs, step 7's apply, the changed-files count) with generated rsync items
instead of rsync. Measures step 7's catalog time per backup, `find` for one file name, the
cleanup of a month of backups (catalog_forget.forget_backups, the catalog's part), and the database size
per stored version, every `every` days (the growth curve).

    python benchmarks/night_year.py [--files N] [--days D]   (writes benchmarks/results/night-year.json)
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from night_lab import ROOT, TMPFS, load  # noqa: E402

from rabtui import rsync  # noqa: E402
from rabtui.backup.catalog_update import CatalogSpool  # noqa: E402
from rabtui.backup.catalog_forget import forget_backups  # noqa: E402
from rabtui.state import catalog  # noqa: E402
from rabtui.state.store import Store  # noqa: E402

MEDIA = 4
READ = 700            # items per read of rsync's stream (what the spool gets at a time)
DIR = "/srv/data"


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _name(i: int) -> bytes:
    return b"srv/data/d%05d/f%07d.bin" % (i // 200, i)


def year(work: Path, files: int, days: int, churn: float, every: int) -> dict:
    store = Store(work / "state")
    rng = random.Random(7)
    changed_on = [0] * files            # the day each file last changed (0: before the first backup)
    last_on: dict[str, tuple[int, int]] = {}   # medium -> (its last backup id, that backup's day)
    t0 = time.time() - days * 86400
    curve, step7, step7_cpu, spool_cpu = [], [], [], []
    for day in range(1, days + 1):
        for i in rng.sample(range(files), int(files * churn)):
            changed_on[i] = day
        medium = f"m{day % MEDIA + 1}"
        started = t0 + day * 86400
        cur = store.execute("INSERT INTO backups(source, medium, name, path, status, started) VALUES"
                            " ('src', ?, ?, ?, 'running', ?)", (medium, f"backup-{day:04d}", f"/m/{day}", started))
        backup_id = cur.lastrowid
        base_id, base_day = last_on.get(medium, (None, -1))
        spool = CatalogSpool(store)
        spool.target(source="src", medium=medium, base_id=base_id)
        c0 = _cpu()
        rows, same = [], []
        for i in range(files):
            size, mtime = 1000 + changed_on[i], 1_600_000_000 + changed_on[i]
            if changed_on[i] <= base_day:     # unchanged since the base: linked, a row of `same`
                same.append((DIR, _name(i), size, mtime))
            else:
                rows.append((DIR, _name(i), ord("f"), rsync.NEW if base_id is None else rsync.CHANGED, size, mtime))
            if len(rows) + len(same) == READ:
                spool.add(DIR, rows, same)
                rows, same = [], []
        spool.add(DIR, rows, same)
        c1 = _cpu()
        t, c2 = time.perf_counter(), _cpu()
        spool.apply(backup_id)
        store.execute("UPDATE backups SET status='completed', finished=? WHERE id=?", (started + 60, backup_id))
        step7.append(time.perf_counter() - t)
        step7_cpu.append(_cpu() - c2)
        spool_cpu.append(c1 - c0)
        last_on[medium] = (backup_id, day)
        print(f"[year] day {day} step 7 {step7[-1]:.3f} s CPU {step7_cpu[-1]:.3f} s, spool CPU"
              f" {spool_cpu[-1]:.3f} s ({load()})", flush=True)
        if day % every == 0 or day == days:
            t = time.perf_counter()
            found = catalog.find(store, f"f{rng.randrange(files):07d}.bin")
            find_s = time.perf_counter() - t
            versions = store.one("SELECT COUNT(*) AS n FROM versions")["n"]
            store.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            size = (work / "state" / "rabtui.db").stat().st_size
            curve.append({"day": day, "step7_s": step7[-1], "step7_cpu_s": step7_cpu[-1], "find_s": find_s,
                          "found": len(found),
                          "versions": versions, "db_bytes": size, "bytes_per_version": size / versions,
                          "spool_us_per_file": spool_cpu[-1] / files * 1e6, "load": load()})
            print(f"[year] day {day}: step 7 {step7[-1]:.3f} s (CPU {step7_cpu[-1]:.3f} s),"
                  f" spool {spool_cpu[-1] / files * 1e6:.2f} us per file, find {find_s * 1000:.0f} ms ({len(found)} versions),"
                  f" {versions} versions, {size / 1e6:.0f} MB ({size / versions:.0f} B per version) ({load()})",
                  flush=True)
    ids = [r["id"] for r in store.all("SELECT id FROM backups ORDER BY id LIMIT 30")]
    t = time.perf_counter()
    forget_backups(store, ids)
    cleanup = time.perf_counter() - t
    print(f"[year] cleanup of a month ({len(ids)} backups): {cleanup:.2f} s", flush=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"[year] peak RSS {peak / 1024:.0f} MB", flush=True)
    store.close()
    return {"files": files, "days": days, "churn": churn, "media": MEDIA, "curve": curve,
            "step7_max_s": max(step7), "step7_median_s": sorted(step7)[len(step7) // 2],
            "cleanup_month_s": cleanup, "cleanup_backups": len(ids), "peak_rss_kb": peak}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=1_000_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--churn", type=float, default=0.005)
    parser.add_argument("--every", type=int, default=30)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="rabtui-night-year-", dir=TMPFS))
    try:
        result = year(work, args.files, args.days, args.churn, args.every)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    result["when"] = time.strftime("%Y-%m-%d %H:%M")
    out = ROOT / "benchmarks" / "results" / f"night-year-{args.files}-{args.days}d.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
