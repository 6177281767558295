"""A sparse file counts in a backup's sizes at what the medium holds of it, so that the forecast of
what the next backup needs (step 2) does not refuse a medium for good over holes: with real rsync
onto real small tmpfs media, a file of 48 MiB listed size that holds 4 KiB (a lastlog of large
uids, a disc image) on 16 MiB media."""

from __future__ import annotations

import json
import os

from rabtui.media import medium_layout
from tests.test_backup_failures import _row
from tests.trees import Lab, write_files

LISTED = 48 << 20


def _lab(tmp_path, tmpfs):
    lab = Lab(tmp_path)
    for _, path in lab.media:
        tmpfs(path, "size=16m")
    cfg = lab.local()
    write_files(lab.src / "data", {"small": 1000})
    with open(lab.src / "data" / "lastlog", "wb") as f:
        f.truncate(LISTED)
        f.seek(LISTED // 2)
        f.write(b"x" * 4096)
    return lab, cfg


def _completed(lab, cfg, medium_id):
    result = lab.backup(cfg, medium_id=medium_id)
    assert result.status == "completed", result.reason
    return result, _row(lab, result.backup_id)


def test_a_sparse_file_larger_than_the_medium_leaves_it_usable(tmp_path, tmpfs):
    lab, cfg = _lab(tmp_path, tmpfs)
    os.link(lab.src / "data" / "lastlog", lab.src / "data" / "lastlog.1")    # written once, counted once in new
    first, row = _completed(lab, cfg, "m1")
    held = os.lstat(medium_layout.backup_data_path(first.path, str(lab.src / "data")) / "lastlog")
    assert held.st_size == LISTED and held.st_blocks * 512 < 1 << 20 and held.st_nlink == 2    # kept sparse
    assert 0 < row["new_bytes"] <= row["total_bytes"] < 1 << 20
    with open(lab.src / "data" / "lastlog", "r+b") as f:    # a login: written again, sparse again
        f.seek(LISTED // 4)
        f.write(b"y" * 4096)
    _, row = _completed(lab, cfg, "m1")
    assert 0 < row["new_bytes"] < 1 << 20
    _, row = _completed(lab, cfg, "m1")          # unchanged: linked to the last, holes and all
    assert row["new_bytes"] == 0 and row["total_bytes"] < 1 << 20
    _completed(lab, cfg, "m2")                   # no base there: a whole copy, which fits
    assert lab.store().one("SELECT did_not_fit FROM dir_state WHERE source='loc'")["did_not_fit"] is None


def test_holes_are_found_once_below_a_base_whose_record_does_not_name_them(tmp_path, tmpfs):
    """A base made before its record named its files with holes: the next backup looks at its
    unchanged large files once."""
    lab, cfg = _lab(tmp_path, tmpfs)
    first, _ = _completed(lab, cfg, "m1")
    record = first.path / "backup.json"
    info = json.loads(record.read_text())
    for d in info["directories"]:
        assert d.pop("holes")
    record.write_text(json.dumps(info))
    _, row = _completed(lab, cfg, "m1")
    assert row["new_bytes"] == 0 and row["total_bytes"] < 1 << 20
    _completed(lab, cfg, "m2")


def test_a_dense_file_larger_than_the_medium_still_refuses_it(tmp_path, tmpfs):
    lab = Lab(tmp_path)
    tmpfs(lab.media[0][1], "size=32m")
    tmpfs(lab.media[1][1], "size=16m")
    cfg = lab.local()
    write_files(lab.src / "data", {"dense": os.urandom(20 << 20)})
    _, row = _completed(lab, cfg, "m1")
    assert row["total_bytes"] == 20 << 20
    result = lab.backup(cfg, medium_id="m2")
    assert result.status == "failed" and "medium too small: medium m2 has" in result.reason, result.reason
    assert lab.store().one("SELECT did_not_fit FROM dir_state WHERE source='loc'")["did_not_fit"]


def test_an_archive_directory_s_whole_copy_counts_its_holes_as_held(tmp_path, tmpfs):
    """A first backup of an archive directory onto a medium is forecast by the whole copy the
    newest first backup onto a medium made: that counted the lastlog's holes as held, and a medium
    smaller than its listed size takes the archive."""
    lab = Lab(tmp_path)
    for _, path in lab.media:
        tmpfs(path, "size=16m")
    cfg = lab.local([("arch", "archive")])
    write_files(lab.src / "arch", {"small": 1000})
    with open(lab.src / "arch" / "lastlog", "wb") as f:
        f.truncate(LISTED)
        f.seek(LISTED // 2)
        f.write(b"x" * 4096)
    _completed(lab, cfg, "m2")
    write_files(lab.src / "arch", {"c": 11})
    _completed(lab, cfg, "m2")
    _, row = _completed(lab, cfg, "m1")          # no base there: the whole archive, which fits
    assert 5000 < row["total_bytes"] < 1 << 20


def test_an_archive_directory_that_grew_is_forecast_by_its_growth_and_its_holes_as_held(tmp_path, tmpfs):
    """The archive's whole copy held 10 MiB of data and its lastlog's 48 MiB listed size as 4 KiB;
    10 MiB more came since, onto the same medium. A first backup onto a 16 MiB medium was forecast
    by the whole copy alone (rsync then filled that medium and failed); it is refused before rsync
    runs, by the copy as the medium would hold it: the data, not the holes."""
    lab = Lab(tmp_path)
    tmpfs(lab.media[0][1], "size=16m")
    tmpfs(lab.media[1][1], "size=64m")
    cfg = lab.local([("arch", "archive")])
    write_files(lab.src / "arch", {"old": 10 << 20})
    with open(lab.src / "arch" / "lastlog", "wb") as f:
        f.truncate(LISTED)
        f.seek(LISTED // 2)
        f.write(b"x" * 4096)
    _, full = _completed(lab, cfg, "m2")
    write_files(lab.src / "arch", {"grown": 10 << 20})
    _completed(lab, cfg, "m2")
    result = lab.backup(cfg, medium_id="m1")
    assert result.status == "failed" and "medium too small: medium m1 has" in result.reason, result.reason
    assert f"a whole copy needs {full['total_bytes'] + (10 << 20)} bytes" in result.reason, result.reason
    assert medium_layout.list_backups(lab.media[0][1], "loc") == []
