"""A directory the config made standard after it was an archive one: the backups made while it
was an archive directory hold only the files new then, and a file the source dropped since is in
no later backup. Retention judged them by the config's kinds (standard now) and deleted the only
copy of such a file; it judges each backup by the kind its directories had when it ran. A file the
later (standard) backups still hold is no copy that counts: once the archive backup went, the
catalog knew it as a version of a standard backup, deleted unguarded by a later cleanup. Real
backups (rsync)."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

import pytest

from rabtui.backup import deletion, retention
from rabtui.media import medium_layout
from tests import invariants
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
    # its files held by the standard backups after it or not: those are no copies that count
    assert [c.id for c in plan.delete] == [second]
    assert [(bid, why.startswith("holds the only copy of 2 archive files")) for bid, _, why in plan.guarded] == [
        (first, True)]
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    photos = medium_layout.backup_data_path(store.one("SELECT path FROM backups WHERE id=?", (first,))["path"],
                                            str(lab.src / "photos"))
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
    assert [(bid, why.startswith("holds the only copy of 1 archive file")) for bid, _, why in plan.guarded] == [
        (ids[2], True)]     # the first archive backup holds f, saved anew
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    newest = store.one("SELECT path FROM backups WHERE status='completed'")["path"]
    assert (medium_layout.backup_data_path(newest, str(lab.src / "photos")) / "f").read_bytes() == b"f"


def test_an_archive_directory_made_standard_keeps_the_views_of_its_archive_backups(tmp_path):
    """The backups made while the directory was archive show its union: each file's newest version
    saved up to them. One saving f's second version went (a later standard backup holds that
    version too) while an archive backup after it stayed (it alone holds g) and the first version
    stayed in the first: that backup then showed f's first version as its newest. Each holds the
    only copy of what it saved now (a standard backup's copy counts for nothing)."""
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
        (ids[0], "holds"), (ids[1], "holds"), (ids[2], "holds")]


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
    every cleanup of the source. A standard backup's copy counts for nothing now: the archive
    backups stay, each with the only copy of what it saved, and the standard one goes."""
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
    assert [c.id for c in plan.delete] == [ids[1]]
    assert [(bid, why.startswith("holds the only copy of 1 archive file")) for bid, _, why in plan.guarded] == [
        (ids[0], True), (ids[2], True)]
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    for n, name in ((0, "f"), (2, "h")):
        photos = medium_layout.backup_data_path(store.one("SELECT path FROM backups WHERE id=?", (ids[n],))["path"],
                                                str(lab.src / "photos"))
        assert (photos / name).read_bytes() == name.encode()


def _anywhere(root, content: bytes) -> bool:
    for top, _dirs, names in os.walk(root):
        for n in names:
            p = os.path.join(top, n)
            if os.path.isfile(p) and not os.path.islink(p) and open(p, "rb").read() == content:
                return True
    return False


@pytest.mark.parametrize("then", ["standard", "archive"])
def test_a_copy_in_a_standard_backup_is_no_copy_for_a_later_cleanup(tmp_path, then):
    """An archive version whose copy is in a backup that saved its directory as a standard one
    (the directory made standard after its archive backup, or standard before the archive backup
    that saved the file anew): the archive backup went on that copy, the catalog then knew it as
    the standard backup's version only, and a later cleanup, the source having dropped the file,
    deleted that backup unguarded; the union released, the file was gone from the medium. Such a
    copy counts for nothing: the archive backup stays."""
    lab = Lab(tmp_path, media_count=1)
    kinds = ("archive", "standard") if then == "standard" else ("standard", "archive")
    lab.local([("photos", kinds[0])])
    lab.keep_a_day()
    write_files(lab.src / "photos", {"f": b"saved by an archive backup", "g": b"g"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    lab.local([("photos", kinds[1])])
    lab.keep_a_day()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    if then == "archive":        # the second (archive) backup saved f anew; a standard one after it
        lab.local([("photos", "standard")])
        lab.keep_a_day()
        assert lab.backup(lab.load(), now=DAY + timedelta(days=2)).status == "completed"
    cfg, store = lab.load(), lab.store()
    assert deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=5))).failed == []
    (lab.src / "photos" / "f").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=6)).status == "completed"
    cfg, store = lab.load(), lab.store()
    assert deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=10))).failed == []
    assert _anywhere(lab.media[0][1], b"saved by an archive backup")


@pytest.mark.parametrize("kinds", [("archive", "standard", "archive"), ("standard", "archive", "standard", "archive")])
def test_find_says_what_the_backups_of_each_kind_hold(tmp_path, kinds):
    """`find` judged each version's backups by the config's kind now: made archive again, the
    standard backup that holds the archive backup's file (its range) was not listed as holding it,
    and a file only standard backups saved (dropped before the directory was made archive) was said
    to be in the union (its symlinks as well). Each backup is judged by the kind it saved the
    directory as."""
    lab = Lab(tmp_path, media_count=1)
    for n, kind in enumerate(kinds):
        lab.local([("photos", kind)])
        lab.keep_a_day()
        write_files(lab.src / "photos", {f"f{n}": b"%d" % n})
        if n == 0:
            os.symlink("f0", lab.src / "photos" / "l")
        if n == (2 if kinds[0] == "archive" else 1):     # in a standard backup, or only in the first
            (lab.src / "photos" / "f0").unlink()
        assert lab.backup(lab.load(), now=DAY + timedelta(days=n)).status == "completed"
        invariants.check_catalog_is_media(lab.load(), lab.store())
        invariants.check_views_are_media(lab.load(), lab.store())
    cfg, store = lab.load(), lab.store()
    assert deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9))).failed == []
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


@pytest.mark.parametrize("then", ["archive", "standard"])
def test_the_catalog_keeps_what_a_standard_backup_extended_when_the_archive_backup_goes(tmp_path, then):
    """An archive backup's file that the standard backup after it holds too (its range, extended),
    the directory made archive again (or left standard): the archive backup deleted (its copy on
    m2), the catalog dropped the version as that backup's archive one by the config's kind now,
    and no longer knew the file the standard backup holds. The versions a backup that goes saved
    first are judged by the kinds each backup saved the directory as."""
    lab = Lab(tmp_path, media_count=2)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    write_files(lab.src / "photos", {"f": b"f", "l": b"l"})
    os.symlink("f", lab.src / "photos" / "s")
    for k, medium in enumerate(("m1", "m2")):
        assert lab.backup(lab.load(), now=DAY + timedelta(hours=k), medium_id=medium).status == "completed"
    lab.local([("photos", "standard")])
    lab.keep_a_day()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1), medium_id="m1").status == "completed"
    lab.local([("photos", then)])
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    first = store.one("SELECT id FROM backups WHERE medium='m1' ORDER BY id")["id"]
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=5))
    assert [c.id for c in plan.delete] == [first]
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
