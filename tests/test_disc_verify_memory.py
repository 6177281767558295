"""Verifying a disc, and reading one back, holds what it compares, not its listings: a disc may
hold a million files (DESIGN.md: memory flat in the number of files)."""

from __future__ import annotations

import gzip
import subprocess
import tracemalloc

import pytest

from rabtui.checkpoint import disc_xattrs
from rabtui.checkpoint.as_backed_up import hard_links, unexpected
from rabtui.checkpoint.layout import Row
from rabtui.checkpoint.xorriso import attrs_argv
from rabtui.checkpoint.xorriso_output import ACL_KEY, AttrsListing, parse_getfattr
from rabtui.rebuild.disc_text import Catalog, parse_catalog_tsv

FILES = 5000


def _peak(run) -> int:
    """The most memory `run()` held at once beyond what it started with, in bytes."""
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        run()
        return tracemalloc.get_traced_memory()[1] - base
    finally:
        tracemalloc.stop()


@pytest.mark.slow      # tens of seconds: handed out first (conftest)
def test_the_acls_and_xattrs_of_a_disc_of_many_files_are_read_without_holding_its_listing(tmp_path):
    tree = tmp_path / "tree"
    tree.mkdir()
    for i in range(FILES):
        (tree / f"file-{i:05d}").write_bytes(b"")
    (tree / "with-xattr").write_bytes(b"x")
    iso = tmp_path / "RAB1D01.iso"
    subprocess.run(["xorriso", "-no_rc", "-outdev", f"stdio:{iso}", "-volid", "RAB1D01", "-acl", "on", "-xattr",
                    "any", "-map", str(tree), "/d", "-setfattr", "user.note", "kept", "/d/with-xattr", "--",
                    "-commit"], check=True, capture_output=True)
    listed = subprocess.run(attrs_argv("xorriso", str(iso), "RAB1D01"), check=True, capture_output=True).stdout
    assert listed.count(b"# file: ") > FILES and b"user::rw-" in listed    # an ACL listed for every entry
    problems: list[str] = []
    got: list = []
    peak = _peak(lambda: got.append(disc_xattrs.listed("xorriso", str(iso), "RAB1D01", problems, None)))
    assert not problems
    assert got[0] == ({b"d/with-xattr": {b"user.note": b"kept"}}, {})
    assert got[0][0] == parse_getfattr(listed.splitlines())
    # what one read of xorriso's output holds (64 KiB), not the listing of every file (850 bytes each)
    assert peak < 1 << 20, peak


def test_an_acl_that_says_no_more_than_the_mode_is_dropped_as_soon_as_its_entry_is_read():
    listing = AttrsListing()
    for i in range(1000):
        for line in (b"# file: d/f%d" % i, b"user::rw-", b"group::r--", b"other::r--", b""):
            listing.take(line)
        assert len(listing.attrs) <= 1
    for line in (b"# file: d/acl", b"user::rw-", b"user:1234:r--", b"group::r--", b"mask::r--", b"other::---",
                 b"# file: d/f0", b'user.a="1"'):
        listing.take(line)
    assert listing.done() == ({b"d/acl": {ACL_KEY: b"user::rw-\nuser:1234:r--\ngroup::r--\nmask::r--\nother::---"},
                               b"d/f0": {b"user.a": b"1"}}, {})


def test_the_entries_of_a_disc_are_judged_in_the_order_they_come():
    rows = [Row(1, "s", b"a/x", b"data/s/a/x", 1, 0, "0" * 64), Row(1, "s", b"b", b"data/s/b", 1, 0, "0" * 64)]
    walked = [(b"README.txt", False), (b"zz", True), (b"data", True), (b"zz/inner", True), (b"zz/inner/f", False),
              (b"data/s", True), (b"data/s/b", False), (b"data/s/odd", False), (b"data/s/a", True),
              (b"data/s/a/x", False), (b"data/s/new", True), (b"data/s/new/f", False), (b"a-file", False)]
    assert unexpected(rows, iter(walked)) == [b"a-file", b"data/s/new", b"data/s/odd", b"zz"]
    assert unexpected(rows, iter(walked)) == unexpected(rows, sorted(walked))


def test_files_with_one_name_each_are_not_held_in_lists_to_find_hard_links():
    one, two, three = (Row(1, "s", p, p, 1, 0, "0" * 64, mode=0o100644, link_group=g)
                       for p, g in ((b"one", None), (b"two", 7), (b"three", 7)))
    assert hard_links({1: one, 2: two, 3: three}) == {b"three": "not hard-linked to two on the disc as backed up"}
    assert hard_links({1: [one, two], 3: three}) == {b"two": "hard-linked to one on the disc, not so backed up",
                                                     b"three": "not hard-linked to two on the disc as backed up"}


def test_a_catalog_is_gone_through_again_each_time_and_by_disc():
    text = (b"disc\tpath\tsize\tmtime\tsha256\n1\tdata/s/a\\tb\t3\t100\t-\n2\tdata/s/big.part02-of-03\t9\t5\tab12\n"
            b"1\tdata/s/c\t1\t7\tcd34")
    catalog = Catalog(text)
    assert list(catalog) == list(catalog) == parse_catalog_tsv(text)
    assert [r["disc_path"] for r in catalog.of_disc(1)] == [b"data/s/a\tb", b"data/s/c"]
    assert [r["sha256"] for r in catalog.of_disc(2)] == ["ab12"]
    compressed = Catalog(gzip.compress(text))      # as the discs hold it: decompressed as it is read
    assert list(compressed) == list(catalog) and list(compressed.of_disc(1)) == list(catalog.of_disc(1))


@pytest.mark.slow
def test_the_catalog_is_recorded_again_from_a_backup_of_many_files_without_listing_them_whole(tmp_path):
    from rabtui.backup.catalog_walk import catalog_backups
    from rabtui.state.store import Store

    data = tmp_path / "m" / "b1" / "data" / "srv"
    data.mkdir(parents=True)
    for i in range(FILES):
        (data / f"file-{i:05d}-{'x' * 40}").write_bytes(b"")
    store = Store(tmp_path / "state")
    got: list[int] = []
    peak = _peak(lambda: got.append(catalog_backups(store, "s", "m1", [(1, tmp_path / "m" / "b1", [("/srv", "standard")])])))
    assert got == [FILES]
    assert store.one("SELECT COUNT(*) FROM versions")[0] == FILES
    # what the next backup is compared with (each file's inode and version), not every file listed
    # twice over besides (about 500 bytes a file)
    assert peak < 400 * FILES, peak


def _disc_files(conn, root: bytes) -> None:
    """FILES rows of disc 1 of checkpoint 1, below `root`, 200 to a directory."""
    conn.executemany("INSERT INTO disc_files(number, disc, source, path, disc_path, size, mtime, sha256, mode,"
                     " uid, gid) VALUES (1, 1, 'loc', ?, ?, 3, 1764800000, ?, 33188, 1000, 1000)",
                     [(b"%s/d%05d/file-%07d.txt" % (root, i // 200, i),
                       b"data/loc/%s/d%05d/file-%07d.txt" % (root, i // 200, i), "%064x" % i)
                      for i in range(FILES)])


def test_the_rows_of_a_disc_hold_no_more_than_a_verification_needs(tmp_path):
    """Each file's original path, and where it is read on the medium (paths as long as the one on
    the disc), are not held while a disc is verified: only to write it (read_from.load_rows)."""
    from rabtui.checkpoint import read_from
    from rabtui.state.store import Store

    store = Store(tmp_path)
    root = b"srv/backups/of-this-host/home/someone/projects/rabtui"
    with store.transaction() as conn:
        _disc_files(conn, root)
    got: list = []
    peak = _peak(lambda: got.append(read_from.load_rows(store, 1, 1)))
    assert len(got[0]) == FILES and got[0][7].disc_path.endswith(b"/d00000/file-0000007.txt")
    # the row, its path on the disc, its sha256 as text and its mtime: about 430 bytes (its
    # original path and its disk: 230 more)
    assert peak / FILES < 480, peak / FILES
    assert got[0][7].path is None and got[0][7].disk == b""
    rows = read_from.load_rows(store, 1, 1, to_write=True)
    assert rows[7].path == b"%s/d00000/file-0000007.txt" % root
    plan = {"dirs": [{"prefix": "data/loc/" + root.decode(), "root": "/media/m1/union/" + root.decode()}]}
    read_from.with_disk(plan, rows)
    assert rows[7].disk == b"/media/m1/union/%s/d00000/file-0000007.txt" % root


def test_the_record_of_a_state_copy_holds_each_sha256_as_its_bytes_and_each_path_once(tmp_path):
    import sqlite3

    from rabtui.rebuild import disc_state
    from rabtui.state.store import Store

    Store(tmp_path).close()
    conn = sqlite3.connect(tmp_path / "rabtui.db")
    root = b"srv/backups/of-this-host/home/someone/projects/rabtui"
    _disc_files(conn, root)
    got: list = []
    peak = _peak(lambda: got.append(disc_state._files(conn, 1)))
    # its path, the tuple of what it recorded, the sha256's 32 bytes: about 350 bytes (450 with the
    # sha256 as text and a (disc, path) key to each)
    assert peak / FILES < 400, peak / FILES
    path = b"data/loc/%s/d00000/file-0000007.txt" % root
    assert disc_state.of(got[0], 1, path, 3, 1764800000, "%064x" % 7) == (33188, None, None, 1000, 1000, None, None, None)
    assert disc_state.of(got[0], 1, path, 3, 1764800000, "%064x" % 8) == (None,) * 8
    assert disc_state.of(got[0], 1, path, 3, 1764800000, "%064x" % 7, take=True) == \
        (33188, None, None, 1000, 1000, None, None, None)
    assert disc_state.of(got[0], 1, path, 3, 1764800000, "%064x" % 7) == (None,) * 8
