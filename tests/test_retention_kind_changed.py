"""A directory the config made standard after it was an archive one: the backups made while it
was an archive directory hold only the files new then, and a file the source dropped since is in
no later backup. Retention judged them by the config's kinds (standard now) and deleted the only
copy of such a file; it judges each backup by the kind its directories had when it ran. A file the
later (standard) backups still hold is a copy there (their catalog range), so such a backup still
goes when it holds no file of its own. Real backups (rsync)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from rabtui.backup import deletion, retention
from rabtui.media import medium_layout
from tests.trees import Lab, write_files

DAY = datetime(2026, 6, 1, 3, 30)


@pytest.mark.parametrize("dropped", [True, False])
def test_an_archive_directory_made_standard_keeps_its_only_copies(tmp_path, dropped):
    lab = Lab(tmp_path, media_count=1)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    write_files(lab.src / "photos", {"f": b"only here", "g": b"g"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    if dropped:
        (lab.src / "photos" / "f").unlink()
    lab.local([("photos", "standard")])
    lab.keep_a_day()
    cfg = lab.load()
    for n in (1, 2):
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status == "completed"
    store = lab.store()
    first, second, _ = (r["id"] for r in store.all("SELECT id FROM backups ORDER BY id"))
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=5))
    assert plan.refused == []
    if dropped:
        assert [c.id for c in plan.delete] == [second]
        assert [(bid, why.startswith("holds the only copy of 1 archive files")) for bid, _, why in plan.guarded] == [
            (first, True)]
        return
    assert [c.id for c in plan.delete] == [first, second]
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    newest = store.one("SELECT path FROM backups WHERE status='completed'")["path"]
    photos = medium_layout.backup_data_path(newest, str(lab.src / "photos"))
    assert (photos / "f").read_bytes() == b"only here" and (photos / "g").read_bytes() == b"g"


def test_a_standard_directory_made_archive_lets_its_backups_go(tmp_path):
    """The backups made while the directory was standard hold its whole tree, files saved first
    by the backups before them: judged as archive ones (the config's kind now), the catalog did
    not know them as theirs and every cleanup of the source was refused for good. A file the
    source dropped while the directory was standard was promised nothing and keeps none."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("photos", "standard")])
    lab.keep_a_day()
    write_files(lab.src / "photos", {"f": b"f", "dropped": b"d"})
    cfg = lab.load()
    assert lab.backup(cfg, now=DAY).status == "completed"
    (lab.src / "photos" / "dropped").unlink()
    assert lab.backup(cfg, now=DAY + timedelta(days=1)).status == "completed"
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    for n in (2, 3):
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status == "completed"
    store = lab.store()
    ids = [r["id"] for r in store.all("SELECT id FROM backups ORDER BY id")]
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=8))
    assert plan.refused == []
    assert [c.id for c in plan.delete] == ids[:2]
    assert [(bid, why.startswith("holds the only copy of 1 archive files")) for bid, _, why in plan.guarded] == [
        (ids[2], True)]     # the first archive backup holds f, saved anew
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    newest = store.one("SELECT path FROM backups WHERE status='completed'")["path"]
    assert (medium_layout.backup_data_path(newest, str(lab.src / "photos")) / "f").read_bytes() == b"f"


def test_an_archive_directory_made_standard_keeps_the_views_of_its_archive_backups(tmp_path):
    """The backups made while the directory was archive show its union: each file's newest version
    saved up to them. One saving f's second version went (a later standard backup holds that
    version too) while an archive backup after it stayed (it alone holds g) and the first version
    stayed in the first: that backup then showed f's first version as its newest."""
    lab = Lab(tmp_path, media_count=1)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    f = lab.src / "photos" / "f"
    for n, (content, mtime) in enumerate(((b"v1", 1_700_000_000), (b"v2", 1_700_100_000))):
        write_files(lab.src / "photos", {"f": content})
        os.utime(f, (mtime, mtime))
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status == "completed"
    write_files(lab.src / "photos", {"g": b"g only here"})
    assert lab.backup(cfg, now=DAY + timedelta(days=2)).status == "completed"
    (lab.src / "photos" / "g").unlink()
    lab.local([("photos", "standard")])
    lab.keep_a_day()
    cfg = lab.load()
    assert lab.backup(cfg, now=DAY + timedelta(days=3)).status == "completed"
    store = lab.store()
    ids = [r["id"] for r in store.all("SELECT id FROM backups ORDER BY id")]
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=8))
    assert plan.refused == [] and plan.delete == []
    assert [(bid, why.split(" ")[0]) for bid, _, why in plan.guarded] == [
        (ids[0], "holds"), (ids[1], "a"), (ids[2], "holds")]
    assert "an older version would show as the newest" in plan.guarded[1][2]


def test_an_archive_directory_added_to_the_source_leaves_the_backups_before_it_alone(tmp_path):
    """A backup made before the config added an archive directory saved nothing of it. Judged as
    holding it, the catalog knew none of its files there, and with that backup's medium away
    (offsite, in a rotation: always one of them) nothing of the source was deleted."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    write_files(lab.src / "photos", {"f": b"f"})
    for n in range(3):
        for k, medium in enumerate(("m1", "m2")):
            assert lab.backup(cfg, now=DAY + timedelta(days=n, hours=k), medium_id=medium).status == "completed"
    lab.local([("photos", "archive"), ("docs", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    write_files(lab.src / "docs", {"d": b"d"})
    m2 = lab.media[1][1]
    os.rename(m2, tmp_path / "offsite")
    assert lab.backup(cfg, now=DAY + timedelta(days=4), medium_id="m1").status == "completed"
    store = lab.store()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=8))
    assert plan.refused == []
    going = sorted((c.medium, c.name[11:15]) for c in plan.delete)
    assert going == [("m1", "0601"), ("m1", "0602"), ("m1", "0603"), ("m2", "0602")], going


def test_a_standard_backup_holding_the_copy_another_deletion_counts_on_is_kept(tmp_path):
    """Archive, standard, archive again: the standard backup holds the first's file (its catalog
    range), the only copy of it once the first goes. The guard let the first go on that copy, then
    let the standard one go (it saved no archive file of its own): the plan, proven unsafe, refused
    every cleanup of the source. The standard one stays now, the first goes."""
    lab = Lab(tmp_path, media_count=1)
    for n, kind in enumerate(("archive", "standard", "archive")):
        lab.local([("photos", kind)])
        lab.keep_a_day()
        cfg = lab.load()
        write_files(lab.src / "photos", {"f": b"f"} if n == 0 else {"h": b"h"} if n == 1 else {})
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status == "completed"
    (lab.src / "photos" / "h").unlink()
    assert lab.backup(cfg, now=DAY + timedelta(days=3)).status == "completed"
    store = lab.store()
    ids = [r["id"] for r in store.all("SELECT id FROM backups ORDER BY id")]
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=8))
    assert plan.refused == []
    assert [c.id for c in plan.delete] == [ids[0], ids[2]]
    assert [(bid, why.startswith("holds the only copy of 1 archive files")) for bid, _, why in plan.guarded] == [
        (ids[1], True)]
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    photos = medium_layout.backup_data_path(store.one("SELECT path FROM backups WHERE id=?", (ids[1],))["path"],
                                            str(lab.src / "photos"))
    assert (photos / "f").read_bytes() == b"f" and (photos / "h").read_bytes() == b"h"
