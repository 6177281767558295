"""A backup whose transfer ended whole and whose step 7 then fails (a link into the archive union,
the catalog's write, the final backup.json) keeps its data as kept: restorable, retained, never a
--link-dest base, its archive files not linked into the union. Real rsync, real failures (an
immutable directory: chattr +i; a state directory on a full tmpfs)."""

from __future__ import annotations

import errno
import os
import subprocess
from contextlib import contextmanager

import pytest

from rabtui import faults
from rabtui.media import medium_layout
from tests import invariants
from tests.test_state_dir_full import _rabtui, _run_filling_at
from tests.trees import Lab, ext2_mounted, next_second, snapshot, write_files


@contextmanager
def _immutable(path):
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


def _two_kinds(tmp_path, extra=""):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("data", "standard"), ("arch", "archive")], extra=extra)
    write_files(lab.src / "data", {"a": b"a1"})
    write_files(lab.src / "arch", {"z/old": b"o1"})
    assert lab.backup(cfg).status == "completed", lab.messages()
    next_second()
    return lab, cfg, medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))


def _kept(lab, result, said: str, new: dict):
    store = lab.store()
    row = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "kept", (dict(row), result, lab.messages())
    assert said in row["reason"] and "the data is kept" in row["reason"], row["reason"]
    assert result.status == "failed" and result.exit_code == 1 and "the data is kept" in result.reason, result
    # an archive directory's backup holds what was new in it (--compare-dest with the union)
    assert snapshot(medium_layout.backup_data_path(row["path"], str(lab.src / "arch"))) == new
    assert store.one("SELECT COUNT(*) FROM versions WHERE first_backup=?", (row["id"],))[0] > 0
    return store, row


def test_a_link_into_the_union_that_fails_keeps_the_data_its_links_undone(tmp_path):
    lab, cfg, union = _two_kinds(tmp_path)
    write_files(lab.src / "arch", {"a/new": b"n1", "z/new": b"n2"})
    with _immutable(union / "z"):
        result = lab.backup(cfg)
    store, row = _kept(lab, result, "cannot link", {b"a/new": b"n1", b"z/new": b"n2"})
    assert medium_layout.read_backup_json(row["path"])["status"] == "kept"
    assert not (union / "a/new").exists() and not (union / "z/new").exists()    # a/new was linked, then undone
    assert (union / "z/old").read_bytes() == b"o1"
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    next_second()
    assert lab.backup(cfg).status == "completed"
    assert lab.store().one("SELECT link_dest FROM backups ORDER BY id DESC LIMIT 1")[0] != row["id"]
    assert (union / "a/new").read_bytes() == b"n1"


def _final_record_unwritable(lab, cfg, monkeypatch, cancel=None):
    """A backup of `cfg` whose directory is made immutable at backup.catalog: its final backup.json
    cannot be written (`cancel`, if given, set then too). Its result."""
    point = faults.point
    where = []

    def locked(name):
        point(name)
        if name == "backup.catalog" and not where:     # its directory made immutable: backup.json cannot be replaced
            where.append(lab.store().one("SELECT path FROM backups ORDER BY id DESC LIMIT 1")[0])
            subprocess.run(["chattr", "+i", where[0]], check=True)
            if cancel is not None:
                cancel.set()
    monkeypatch.setattr(faults, "point", locked)
    try:
        result = lab.backup(cfg, cancel=cancel)
    finally:
        for path in where:
            subprocess.run(["chattr", "-i", path], check=True)
        monkeypatch.setattr(faults, "point", point)
    return result


def test_a_final_record_that_cannot_be_written_keeps_the_data(tmp_path, monkeypatch):
    lab, cfg, union = _two_kinds(tmp_path)
    write_files(lab.src / "arch", {"a/new": b"n1"})
    result = _final_record_unwritable(lab, cfg, monkeypatch)
    store, row = _kept(lab, result, "cannot write its final record", {b"a/new": b"n1"})
    assert not (union / "a/new").exists()
    assert medium_layout.read_backup_json(row["path"])["status"] == "running"
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)
    next_second()     # the next backup's recovery writes its backup.json as its row says: kept
    assert lab.backup(cfg).status == "completed", lab.messages()
    assert lab.store().one("SELECT status FROM backups WHERE id=?", (row["id"],))[0] == "kept"
    record = medium_layout.read_backup_json(row["path"])
    assert record["status"] == "kept" and record["reason"] == row["reason"], record
    assert not os.path.exists(os.path.join(row["path"], "backup.json.tmp"))
    assert (union / "a/new").read_bytes() == b"n1"
    invariants.check_json_agrees(cfg, lab.store())
    invariants.check_catalog_is_media(cfg, lab.store())


def test_a_catalog_the_full_state_directory_cannot_take_keeps_the_data(tmp_path, tmpfs):
    lab = Lab(tmp_path, media_count=1)
    lab.state = tmpfs(tmp_path / "small", "size=8m") / "state"
    cfg = lab.local([("arch", "archive")])
    write_files(lab.src / "arch", {"z/old": b"o1"})
    assert _rabtui(lab, "backup", "loc", "--medium", "m1").returncode == 0
    next_second()
    write_files(lab.src / "arch", {f"a/{i}": 300 for i in range(200)})
    done = _run_filling_at(lab, "backup.archive_linked", "backup", "loc", "--medium", "m1")
    assert done.returncode == 1 and "Traceback" not in done.stderr, done.stderr
    os.unlink(lab.state.parent / "filler")
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert not (union / "a/new").exists()
    next_second()
    done = _rabtui(lab, "backup", "loc", "--medium", "m1")
    assert done.returncode == 0, done.stdout + done.stderr
    store = lab.store()
    kept = store.all("SELECT * FROM backups WHERE status='kept'")
    assert len(kept) == 1, [dict(r) for r in store.all("SELECT id, status, reason FROM backups")]
    held = snapshot(medium_layout.backup_data_path(kept[0]["path"], str(lab.src / "arch")))
    assert held == {k: v for k, v in snapshot(lab.src / "arch").items() if k.startswith(b"a/")}
    invariants.check_json_agrees(cfg, store)
    invariants.check_catalog_is_media(cfg, store)


def test_kept_data_whose_final_record_cannot_be_written_keeps_both_reasons(tmp_path, monkeypatch):
    """A post-backup command fails (the data kept), then its final backup.json cannot be written:
    its reason names both."""
    mark = tmp_path / "fail-post"
    lab, cfg, _ = _two_kinds(tmp_path, extra=f'post_backup_commands = ["test ! -e {mark}"]')
    mark.touch()
    write_files(lab.src / "arch", {"a/new": b"n1"})
    result = _final_record_unwritable(lab, cfg, monkeypatch)
    _, row = _kept(lab, result, "cannot write its final record", {b"a/new": b"n1"})
    assert "post-backup command failed" in row["reason"], row["reason"]
    assert "post-backup command failed" in result.reason, result


def test_a_cancel_that_stopped_the_post_commands_keeps_the_run_cancelled_as_its_final_record_fails(
        tmp_path, monkeypatch):
    """A cancel stops the post-backup command of a whole transfer (the data to be kept, the run
    cancelled), then its final backup.json cannot be written: the data is kept all the same and the
    run stays cancelled (it read failed), its reason naming the cancel and the record's failure."""
    import threading

    from tests.test_post_commands_after_a_failure import _set_when

    pid_file, mark = tmp_path / "post-pid", tmp_path / "hang-post"
    lab, cfg, _ = _two_kinds(tmp_path, extra=f'post_backup_commands = ["test ! -e {mark} || {{ echo $$ > {pid_file};'
                                             f' exec sleep 600; }}"]')
    mark.touch()
    write_files(lab.src / "arch", {"a/new": b"n1"})
    cancel = threading.Event()
    threading.Thread(target=_set_when, args=(pid_file, cancel), daemon=True).start()
    result = _final_record_unwritable(lab, cfg, monkeypatch, cancel)
    row = lab.store().one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    assert row["status"] == "kept", (dict(row), result, lab.messages())
    assert result.status == "cancelled" and result.exit_code == 1, result
    for said in ("stopped by a cancel", "cannot write its final record", "the data is kept"):
        assert said in row["reason"] and said in result.reason, (said, row["reason"], result.reason)
    assert snapshot(medium_layout.backup_data_path(row["path"], str(lab.src / "arch"))) == {b"a/new": b"n1"}
    invariants.check_json_agrees(cfg, lab.store())
    invariants.check_catalog_is_media(cfg, lab.store())


def test_a_link_into_the_union_past_the_file_system_s_link_limit_keeps_the_data(tmp_path, monkeypatch):
    """A new archive file of the backup already has as many links as the medium's file system
    allows (others link it there too; 65,000 links take under 2 s): its link into the union fails with EMLINK, a real
    "Too many links" from the kernel, and the data is kept as after any failing link (its links in
    the union undone), the next backup linking its own copies."""
    lab = Lab(tmp_path, media_count=1)
    # an ext2 file system: at most 65,000 links to an inode (the kernel's ext4 driver mounts it:
    # EXT4_LINK_MAX; 32,000 with the old ext2 driver)
    with ext2_mounted(lab.media[0][1]) as medium:
        cfg = lab.local([("data", "standard"), ("arch", "archive")])
        write_files(lab.src / "data", {"a": b"a1"})
        write_files(lab.src / "arch", {"z/old": b"o1"})
        assert lab.backup(cfg).status == "completed", lab.messages()
        union = medium_layout.archive_root(medium, "loc", str(lab.src / "arch"))
        next_second()
        write_files(lab.src / "arch", {"a/new": b"n1", "z/new": b"n2"})
        point, held = faults.point, medium / "held-links"

        def at_the_limit(name):      # once the transfer ended: z/new linked up to the limit elsewhere
            point(name)
            if name == "backup.step6" and not held.exists():
                new = medium_layout.backup_data_path(
                    lab.store().one("SELECT path FROM backups ORDER BY id DESC LIMIT 1")[0], str(lab.src / "arch"))
                held.mkdir()
                with pytest.raises(OSError) as full:
                    for n in range(1 << 16):
                        os.link(new / "z/new", held / str(n))
                assert full.value.errno == errno.EMLINK, full.value
        monkeypatch.setattr(faults, "point", at_the_limit)
        result = lab.backup(cfg)
        monkeypatch.setattr(faults, "point", point)
        store, row = _kept(lab, result, "Too many links", {b"a/new": b"n1", b"z/new": b"n2"})
        assert medium_layout.read_backup_json(row["path"])["status"] == "kept"
        assert not (union / "a/new").exists() and not (union / "z/new").exists(), lab.messages()
        assert (union / "z/old").read_bytes() == b"o1"
        invariants.check_json_agrees(cfg, store)
        invariants.check_catalog_is_media(cfg, store)
        next_second()
        assert lab.backup(cfg).status == "completed", lab.messages()
        assert (union / "a/new").read_bytes() == b"n1" and (union / "z/new").read_bytes() == b"n2"
