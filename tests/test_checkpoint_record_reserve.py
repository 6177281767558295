"""The room a disc keeps for the rows that record xattrs in its copy of the state (disc_xattrs_off,
disc_dir_attrs; reserve.records_room) is an upper bound of what those rows take there, and not far
above: 860 files with three empty-valued xattrs each (2,580 rows, which took two discs when a
row was counted about 600 bytes) fit on one 4 MiB disc, which burns and
verifies, and the rows in the copy of the state read back from the disc take no more than the room
kept for them (and at least half of it). Real backup, real xorriso onto an `images:` drive; the
rows measured with SQLite's dbstat on the copy extracted from the image."""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import tempfile
import threading
from pathlib import Path

import pytest

from rabtui.checkpoint import placement, prepare, questions, reserve, run
from rabtui.events import READY, ScriptedPrompter
from tests.trees import Lab, write_files

TABLES = ("disc_xattrs_off", "sqlite_autoindex_disc_xattrs_off_1",
          "disc_dir_attrs", "sqlite_autoindex_disc_dir_attrs_1")


@pytest.fixture
def short():
    """A directory of a short path: each row holds its entry's paths, and the test's own path
    (pytest's, of any length) would weigh on the plan more than the rows' bound does."""
    path = Path(tempfile.mkdtemp(prefix="rab", dir="/tmp"))
    try:
        os.setxattr(path, "user.a", b"")
    except OSError as exc:
        shutil.rmtree(path)
        pytest.skip(f"{path} takes no empty user. xattr here: {exc.strerror}")
    yield path
    shutil.rmtree(path)


def _lab(tmp_path, short, files: int):
    lab = Lab(tmp_path, media_count=1)
    data = short / "d"
    cfg = lab.with_discs("4MiB", [(str(data), "standard")])
    write_files(data, {f"d{i % 30:02d}/f{i:03d}": b"x" * 100 for i in range(files)})
    for i in range(files):
        for name in ("user.a", "user.b", "user.c"):
            os.setxattr(data / f"d{i % 30:02d}" / f"f{i:03d}", name, b"")
    for k in range(30):     # the directories' own xattrs and default ACLs, recorded too
        os.setxattr(data / f"d{k:02d}", "user.dir", b"v" * 40)
        subprocess.run(["setfacl", "-d", "-m", "u:1234:rwx", str(data / f"d{k:02d}")], check=True)
    assert lab.backup(cfg).status == "completed"
    return lab, cfg, lab.store()


def _rows_on_disc(tmp_path, iso) -> int:
    """Bytes the recording rows take in the copy of the state on the disc image `iso`."""
    copy = tmp_path / "copy.db"
    subprocess.run(["xorriso", "-no_rc", "-osirrox", "on", "-indev", f"stdio:{iso}", "-extract", "/rabtui/rabtui.db",
                    str(copy)], check=True, capture_output=True)
    conn = sqlite3.connect(f"file:{copy}?immutable=1", uri=True)
    try:
        return sum(r[0] or 0 for r in conn.execute(
            f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({','.join('?' * len(TABLES))})", TABLES))
    finally:
        conn.close()


def test_many_empty_valued_xattrs_fit_one_disc_and_their_rows_stay_within_the_room_kept(tmp_path, short):
    lab, cfg, store = _lab(tmp_path, short, 860)
    c = prepare.compute(cfg, store)
    assert len(c.plan.discs) == 1, c.plan.summary()
    kept = placement.records_bytes(c.data, c.filler)
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    prompter = ScriptedPrompter(lambda q: READY if q.kind == questions.INSERT else "abort")
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    assert res.status == "completed", [q.text[:300] for q in prompter.asked]
    iso = tmp_path / "iso" / f"RAB{number}D01.iso"
    assert iso.stat().st_size <= c.disc_sectors * 2048
    taken = _rows_on_disc(tmp_path, iso)
    assert store.one("SELECT COUNT(*) FROM disc_xattrs_off")[0] == 2580
    assert taken <= kept <= 2 * taken, (taken, kept)
    print(f"rows recording xattrs: {taken} bytes in the copy on the disc, {kept} kept for them")


def test_the_bound_counts_each_row_whole_and_the_pages_it_may_spill_into():
    short = reserve.records_room([reserve.row_payloads("loc", b"a/b", b"data/loc/a/b", b"user.x")])
    assert short <= 8 * reserve.PAGE
    long_value = reserve.records_room([reserve.row_payloads("loc", b"a/b", b"data/loc/a/b", b"user.x", b"v" * 60_000)])
    assert long_value >= 60_000 + reserve.PAGE


def test_rows_of_400_byte_paths_stay_within_the_room_kept(tmp_path, short):
    """Rows of 700-900 bytes leave up to one row's length empty at the end of each page (five to
    a page), far more than a fragment: the room kept counts the pages they take, not their bytes."""
    lab = Lab(tmp_path, media_count=1)
    data = short / "d"
    cfg = lab.with_discs("4MiB", [(str(data), "standard")])
    deep = "y" * 200 + "/" + "z" * 170     # rows of 830 bytes: paths of 394 and 403 bytes
    write_files(data, {f"{deep}/f{i:03d}": b"x" for i in range(120)})
    for i in range(120):
        for k in range(12):
            os.setxattr(data / deep / f"f{i:03d}", f"user.e{k:02d}", b"")
    assert lab.backup(cfg).status == "completed"
    store = lab.store()
    c = prepare.compute(cfg, store)
    kept = placement.records_bytes(c.data, c.filler)
    number = prepare.record(cfg, store, c, drive=cfg.checkpoint.drive)
    prompter = ScriptedPrompter(lambda q: READY if q.kind == questions.INSERT else "abort")
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(), prompter=prompter)
    assert res.status == "completed", [q.text[:300] for q in prompter.asked]
    taken = sum(_rows_on_disc(tmp_path, tmp_path / "iso" / f"RAB{number}D{k:02d}.iso")
                for k in range(1, len(c.plan.discs) + 1)) // len(c.plan.discs)
    assert store.one("SELECT COUNT(*) FROM disc_xattrs_off")[0] == 1440
    assert taken <= kept <= 2 * taken, (taken, kept)


def _taken_by(tmp_path, off: list[tuple], dirs: list[tuple]) -> int:
    """Bytes the rows take in a database of the state's schema once inserted as a checkpoint does."""
    from rabtui.state.schema import SCHEMA

    conn = sqlite3.connect(tmp_path / "rows.db")
    try:
        conn.executescript(SCHEMA)
        conn.executemany("INSERT OR IGNORE INTO disc_xattrs_off VALUES (1,'loc',?,?,?)", off)
        conn.executemany("INSERT OR IGNORE INTO disc_dir_attrs VALUES (1,'loc',?,?,16877,?,?)", dirs)
        conn.commit()
        return conn.execute(f"SELECT SUM(pgsize) FROM dbstat WHERE name IN ({','.join('?' * len(TABLES))})",
                            TABLES).fetchone()[0]
    finally:
        conn.close()


@pytest.mark.parametrize("shape", ["400-byte paths", "4,000-byte paths", "255-byte names", "non-UTF-8 names",
                                   "one long path among short ones", "large values", "values of a page"])
def test_the_room_is_within_twice_what_the_rows_take(tmp_path, shape):
    def row(rel: bytes, name: bytes = b"user.a") -> tuple:
        return rel, b"data/loc/" + rel, name
    deep = b"/".join([b"d" * 200] * 19)
    off, dirs = {
        "400-byte paths": ([row(b"y" * 380 + b"/f%05d" % i) for i in range(1500)], []),
        "4,000-byte paths": ([row(deep + b"/f%05d" % i, n) for i in range(100) for n in (b"user.a", b"user.b")], []),
        "255-byte names": ([row(b"x/" + b"n" * 249 + b"%05d" % i, b"user." + b"m" * 250) for i in range(800)], []),
        "non-UTF-8 names": ([row(b"x/\xff\xfe%04d" % i * 40, b"user.\xff") for i in range(800)], []),
        "one long path among short ones": ([row(b"s/f%05d" % i) for i in range(3000)] + [row(b"q" * 2000)], []),
        "large values": ([], [(*row(b"d%04d" % i, b"user.v%02d" % k)[:2], b"user.v%02d" % k, b"v" * 3000)
                              for i in range(40) for k in range(20)]),
        "values of a page": ([], [(*row(b"d%04d" % i)[:2], b"user.v", b"v" * 4030) for i in range(300)]),
    }[shape]
    kept = (reserve.records_room([reserve.row_payloads("loc", *r) for r in off])
            + reserve.records_room([reserve.row_payloads("loc", *r) for r in dirs]))
    taken = _taken_by(tmp_path, off, dirs)
    assert taken <= kept <= 2 * taken, (taken, kept)
