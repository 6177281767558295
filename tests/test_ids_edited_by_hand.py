"""Backup ids a backup.json on a medium was given by hand, high ones: the backups after it go on
above them (backup.history.highest_id), so the database holds ids far above those it gave itself.
Forgetting such a backup, and rebuild-state over such a medium, keep the catalog the media."""
import json
import os
import shutil

from rabtui.backup import catalog_forget
from rabtui.media import medium_layout
from tests import invariants
from tests.trees import Lab


def _first_edited(lab: Lab, cfg, backup_id: int) -> None:
    (lab.src / "data" / "f").write_bytes(b"first")
    assert lab.backup(cfg).status == "completed"
    (_, path, info), = medium_layout.list_backups(lab.media[0][1], "loc")
    (path / "backup.json").write_text(json.dumps({**info, "backup_id": backup_id}))


def _renumbered(store, was: int, bid: int) -> None:
    """Backup `was` under the id `bid` throughout the database."""
    with store.transaction() as conn:
        for table, column in (("backups", "id"), ("backups", "link_dest"), ("backup_steps", "backup_id"),
                              ("backup_dirs", "backup_id"), ("versions", "first_backup"),
                              ("versions", "last_backup"), ("changes", "backup")):
            conn.execute(f"UPDATE {table} SET {column}=? WHERE {column}=?", (bid, was))


def test_a_backup_with_an_id_from_2_62_up_is_forgotten_with_its_versions(tmp_path):
    """The medium's newest backup holds an id from 2**62 up in the database (rebuild-state kept
    such an id from a backup.json given it by hand, before it refused them) and saved a file anew:
    forgetting it drops that version (no backup after it holds it). It failed with 'NOT NULL
    constraint failed': the id was taken for 'no backup after it'."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    (lab.src / "data" / "f").write_bytes(b"first")
    assert lab.backup(cfg).status == "completed"
    (lab.src / "data" / "f").write_bytes(b"second")
    res = lab.backup(cfg)
    assert res.status == "completed"
    store = lab.store()
    _renumbered(store, res.backup_id, 2 ** 62 + 5)
    catalog_forget.forget_backups(store, [2 ** 62 + 5], cfg)
    (_, _, _), (_, newest, _) = medium_layout.list_backups(lab.media[0][1], "loc")
    shutil.rmtree(newest)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_json_agrees(cfg, store)


def test_a_backup_after_one_given_an_id_just_below_2_62_keeps_below_it(tmp_path):
    """A backup.json given 2**62-1 by hand: the backups after it keep ids below 2**62, those the
    database and rebuild-state hold as ids."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    _first_edited(lab, cfg, 2 ** 62 - 1)
    for i in range(2):
        (lab.src / "data" / "f").write_bytes(b"later %d" % i)
        res = lab.backup(cfg)
        assert res.status == "completed" and res.backup_id < 2 ** 62, (res.status, res.backup_id)


def test_rebuild_state_records_every_backup_after_one_given_an_id_near_sqlites_largest(tmp_path):
    """A backup.json given 2**63-2 by hand, two backups after it: rebuild-state records all three,
    the file as saved last is the newest in the catalog. It numbered the second above the edited one
    (2**63-1, written into its backup.json) and left the third out ('Python int too large')."""
    from tests.test_kill_anywhere import rabtui

    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local()
    _first_edited(lab, cfg, 2 ** 63 - 2)
    for i in range(2):
        (lab.src / "data" / "f").write_bytes(b"later %d" % i)
        assert lab.backup(cfg).status == "completed"
    done = rabtui(lab, "rebuild-state")
    assert "not recorded" not in done.stdout and "backup_id 9223372036854775806 is not an id" in done.stdout, done.stdout
    store = lab.store()
    assert store.one("SELECT COUNT(*) FROM backups WHERE status='completed'")[0] == 3
    assert store.one("SELECT MAX(id) FROM backups")[0] < 2 ** 62
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_json_agrees(cfg, store)
    ids = [info["backup_id"] for _, _, info in medium_layout.list_backups(lab.media[0][1], "loc")[1:]]
    assert ids == sorted(ids) and max(ids) < 2 ** 62, ids
    restored = tmp_path / "out"
    assert rabtui(lab, "restore", "loc", str(lab.src / "data" / "f"), "--to", str(restored)).returncode == 0
    assert (restored / str(lab.src / "data" / "f").lstrip("/")).read_bytes() == b"later 1"


def test_a_killed_run_is_undone_against_a_backup_given_an_id_out_of_reach_by_hand(tmp_path):
    """The medium's only complete backup, its backup.json given 10**30 by hand; a run after it killed
    as it links a new version of an archive file into the union: its undoing puts the version that
    backup saved back. It took that backup for one made after the killed run (by the ids), and the
    union lost the file."""
    from tests.test_kill_anywhere import _files, _killed, _local_lab, rabtui

    lab, cfg = _local_lab(tmp_path)
    assert rabtui(lab, "backup", "loc").returncode == 0
    (_, path, info), = medium_layout.list_backups(lab.media[0][1], "loc")
    (path / "backup.json").write_text(json.dumps({**info, "backup_id": 10 ** 30}))
    _files(lab.src / "arch", {"x": b"x2" * 120})
    _killed(rabtui(lab, "backup", "loc", point="backup.archive_linked"))
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "arch"))
    assert (union / "x").read_bytes() == b"x2" * 120
    os.unlink(lab.src / "arch" / "x")             # gone from the source: the union shows the one saved before
    done = rabtui(lab, "backup", "loc")
    assert done.returncode == 0 and "found an interrupted backup of loc" in done.stdout, done.stdout + done.stderr
    assert (union / "x").read_bytes() == b"x1" * 100
    invariants.check_catalog_is_media(cfg, lab.store())
