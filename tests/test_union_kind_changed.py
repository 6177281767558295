"""The archive union of a directory the config made standard, where an archive backup that stays
still needs it: another archive backup of it deleted (its files safe on another medium) left its
links there, naming files no backup that stays saved into the union (they went only with the
union). The union holds what the archive backups that stay saved: as if the deleted one never ran.
Real backups (rsync), checked against the media."""

from __future__ import annotations

import json
import os
from datetime import datetime, timedelta

from rabtui.backup import deletion, retention
from rabtui.media import medium_layout
from tests import invariants
from tests.test_kill_anywhere import _killed, rabtui
from tests.trees import Lab, write_files

DAY = datetime(2026, 6, 1, 3, 30)


def _made_standard(lab: Lab):
    """m1: an archive backup holding the only copy of `a`, a second one whose files m2 holds too
    (the guard lets it go), then the directory made standard and a standard backup. (cfg, store,
    union, the two archive backups' ids)."""
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    photos = lab.src / "photos"
    write_files(photos, {"a": b"only in the first", "sub/c": b"c1"})
    assert lab.backup(lab.load(), now=DAY, medium_id="m1").status == "completed"
    (photos / "a").unlink()
    write_files(photos, {"b": b"b, on m2 too", "sub/c": b"c2 longer"})
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1), medium_id="m1").status == "completed"
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1, hours=1), medium_id="m2").status == "completed"
    lab.local([("photos", "standard")])
    lab.keep_a_day()
    cfg = lab.load()
    assert lab.backup(cfg, now=DAY + timedelta(days=2), medium_id="m1").status == "completed"
    store = lab.store()
    ids = tuple(r["id"] for r in store.all("SELECT id FROM backups WHERE medium='m1' ORDER BY id LIMIT 2"))
    return cfg, store, medium_layout.archive_root(lab.media[0][1], "loc", str(photos)), ids


def _held(union) -> dict[str, bytes]:
    return {os.path.relpath(os.path.join(top, n), union): open(os.path.join(top, n), "rb").read()
            for top, _dirs, names in os.walk(union) for n in names}


def test_an_archive_backup_deleted_after_its_directory_was_made_standard_leaves_the_union(tmp_path):
    lab = Lab(tmp_path, media_count=2)
    cfg, store, union, (first, second) = _made_standard(lab)
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=8))
    assert plan.refused == [] and [c.id for c in plan.delete] == [second]
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    assert _held(union) == {"a": b"only in the first", "sub/c": b"c1"}     # as the first left it
    assert store.one("SELECT status FROM backups WHERE id=?", (first,))["status"] == "completed"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


def test_its_undoing_killed_then_the_backup_kept_gives_the_union_its_files_back(tmp_path):
    """The cleanup killed once it undid the first of its links, retention then changed to keep
    it: the next run that writes in the unions (a backup) goes back on that undoing in the union of
    the directory made standard too."""
    lab = Lab(tmp_path, media_count=2)
    cfg, store, union, (first, second) = _made_standard(lab)
    was = _held(union)
    later = (DAY + timedelta(days=8)).isoformat(timespec="seconds")
    _killed(rabtui(lab, "cleanup", "--now", later, point="union.undoing"))
    assert _held(union) != was
    lab.config_path.write_text(lab.config_path.read_text().replace("keep_all_days = 1\n", "keep_all_days = 900\n"))
    cfg = lab.load()
    kept = rabtui(lab, "cleanup", "--now", later)
    assert kept.returncode == 0, kept.stdout + kept.stderr
    assert lab.backup(cfg, now=DAY + timedelta(days=9), medium_id="m1").status == "completed"     # it settles
    assert store.one("SELECT status FROM backups WHERE id=?", (second,))["status"] == "completed"
    assert _held(union) == was
    invariants.check_views_are_media(cfg, store)


def test_an_archive_backup_undone_gets_back_what_an_archive_backup_saved_not_a_standard_one(tmp_path):
    """Archive, standard, archive, standard: the second archive backup undone (deleted, its copy
    on m2) put the first standard backup's version back into the union, a file the union never
    showed there; the first archive backup's comes back."""
    lab = Lab(tmp_path, media_count=2)
    photos = lab.src / "photos"
    steps = (("archive", {"p": b"v1"}, ("m1",)), ("standard", {"p": b"v2 longer"}, ("m1",)),
             ("archive", {}, ("m1", "m2")), ("standard", {"q": b"q"}, ("m1",)))
    for n, (kind, files, media) in enumerate(steps):
        lab.local([("photos", kind)])
        lab.keep_a_day()
        write_files(photos, files)
        for k, medium in enumerate(media):
            assert lab.backup(lab.load(), now=DAY + timedelta(days=n, hours=k), medium_id=medium).status == "completed"
    cfg, store = lab.load(), lab.store()
    third = store.all("SELECT id FROM backups WHERE medium='m1' ORDER BY id")[2]["id"]
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9))
    assert third in [c.id for c in plan.delete], plan.guarded
    plan.delete = [c for c in plan.delete if c.id == third]     # it alone, the standard one still there
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    assert _held(medium_layout.archive_root(lab.media[0][1], "loc", str(photos))) == {"p": b"v1"}
    invariants.check_views_are_media(cfg, store)


def test_a_restore_from_an_archive_backup_of_a_directory_made_standard_names_nothing_lost(tmp_path, capsys):
    """The directory standard now, a restore from a backup that saved it as an archive one looks
    for the files its own tree holds on the medium: taken for the union's (what the backup shows),
    the files only an older backup saved were named as lost from the medium."""
    from rabtui.cli import main

    lab = Lab(tmp_path, media_count=1)
    lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"a": b"a"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    (photos / "a").unlink()
    write_files(photos, {"b": b"b"})
    second = lab.backup(lab.load(), now=DAY + timedelta(days=1))
    lab.local([("photos", "standard")])
    args = ["--config", str(lab.config_path), "restore", "loc", str(photos), "--backup", second.path.name,
            "--to", str(tmp_path / "out"), "--json"]
    code = main(args)
    got = json.loads(capsys.readouterr().out)
    assert code == 0 and got["not_restored"] == [], got
    assert (tmp_path / "out" / str(photos).lstrip("/") / "b").read_bytes() == b"b"


def test_a_cleanup_killed_once_it_emptied_an_archive_backup_leaves_no_file_of_it_in_the_union(tmp_path):
    """The directory made standard, its union needed by no backup but the archive backup deleted:
    that backup's links were left for the union's removal, later in the cleanup. Killed before it,
    the union named a file no backup held; the directory made archive again, the next backup took
    the file for saved (it was in the union) and did not save it, and the next cleanup took it out of
    the union with the deleted backup: that backup lacked it on its medium. The deleted backup is
    undone in the union first."""
    lab = Lab(tmp_path, media_count=2)
    photos = lab.src / "photos"
    write_files(photos, {"f": b"v1", "g": b"g1"})
    for kind, files, at in (("archive", {}, DAY), ("standard", {"g": b"g2, standard"}, DAY + timedelta(days=1))):
        lab.local([("photos", kind)])
        lab.keep_a_day()
        write_files(photos, files)
        for k, medium in enumerate(("m1", "m2")):
            assert lab.backup(lab.load(), now=at + timedelta(hours=k), medium_id=medium).status == "completed"
    later = (DAY + timedelta(days=8)).isoformat(timespec="seconds")
    _killed(rabtui(lab, "cleanup", "--now", later, point="cleanup.trees_emptied"))
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    assert lab.backup(cfg, now=DAY + timedelta(days=3), medium_id="m1").status == "completed"
    invariants.check_catalog_is_media(cfg, store)
    assert deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=8))).failed == []
    assert _held(medium_layout.archive_root(lab.media[0][1], "loc", str(photos)))["f"] == b"v1"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


def test_what_a_backup_shows_of_a_file_made_a_directory_is_the_union_after_it(tmp_path):
    """A file of an archive directory made a directory: the union gave its place to the newer
    backup's directory, but what that backup shows (diff) named the older file too."""
    from rabtui.state import catalog

    lab = Lab(tmp_path, media_count=1)
    lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"x": b"x", "p": b"p, a file"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    (photos / "p").unlink()
    write_files(photos, {"p/q": b"q"})
    second = lab.backup(lab.load(), now=DAY + timedelta(days=1))
    cfg, store = lab.load(), lab.store()
    shown = catalog.contents(store, store.one("SELECT * FROM backups WHERE id=?", (second.backup_id,)),
                             cfg.sources[0].archive_paths)
    top = os.fsencode(str(photos).lstrip("/"))
    assert sorted(shown) == [top + b"/p/q", top + b"/x"]
    invariants.check_views_are_media(cfg, store)


def test_a_cleanup_beside_a_backup_of_a_directory_made_archive_again_keeps_what_it_compared_with(tmp_path):
    """Archive, standard (the newest), archive again: a backup under way has compared the source
    with the union (--compare-dest) and leaves out the files it holds; a cleanup then deleted the
    archive backup that saved them (no archive backup after it shows them: the standard one does
    not count), its undoing put the older versions back, and the backup completed showing them,
    not the source's. The cleanup keeps the archive backups it would undo for a later one while a
    backup of the source onto that medium is under way."""
    import signal

    from tests.test_medium_identity import _killed as _ended_all, _stopped_at

    lab = Lab(tmp_path, media_count=2)
    cfg, store, union, (first, second) = _made_standard(lab)
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    write_files(lab.src / "photos", {"new": b"new"})
    run = _stopped_at(lab, "backup.rsync_ended", "backup", "loc", "--medium", "m1")
    try:
        cleanup = rabtui(lab, "cleanup", "--now", (DAY + timedelta(days=8)).isoformat(timespec="seconds"))
        assert cleanup.returncode == 0, cleanup.stdout + cleanup.stderr
        run.send_signal(signal.SIGCONT)
        assert run.wait(timeout=60) == 0
    finally:
        _ended_all(run)
    assert store.one("SELECT status FROM backups WHERE id=?", (second,))["status"] == "completed"
    assert _held(union)["sub/c"] == b"c2 longer"      # the source's, as the backup saw it
    invariants.check_views_are_media(lab.load(), store)
