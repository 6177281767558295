"""A backup that recorded no kinds (made before they were recorded) is read by one rule everywhere
(saved_kinds.judged): find, what a backup shows, restore and checkpoints agree with the media
once the directory changed kind. Real backups (rsync), checked against the media."""

from __future__ import annotations

import json
import os
import shutil
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rabtui.actions.find import find
from rabtui.state import catalog
from tests import invariants
from tests.trees import Lab, closed, made_once, write_files

DAY = datetime(2026, 6, 1, 3, 30)


def _forget_kinds(lab: Lab, store, row) -> None:
    """`row` made as an older version made it: no kinds in the database nor in its backup.json."""
    store.execute("DELETE FROM backup_dirs WHERE backup_id=?", (row["id"],))
    bj = Path(row["path"]) / "backup.json"
    info = json.loads(bj.read_text())
    for d in info["directories"]:
        d.pop("kind", None)
    bj.write_text(json.dumps(info))


def _unrecorded_then_recorded(tmp_path):
    """An archive backup that recorded no kinds (`a` saved by it alone: the source drops it), one
    that recorded them, then the directory made standard in the config."""
    lab = Lab(tmp_path, media_count=1)
    photos = lab.src / "photos"
    lab.local([("photos", "archive")])
    write_files(photos, {"a": b"a, saved by the first only", "c": b"c1"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    first = lab.store().one("SELECT * FROM backups WHERE status='completed'")
    _forget_kinds(lab, lab.store(), first)
    (photos / "a").unlink()
    write_files(photos, {"b": b"b", "c": b"c2 longer"})
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    lab.local([("photos", "standard")])
    return lab, photos, first


def test_an_unrecorded_archive_backup_shows_in_the_next_after_the_directory_was_made_standard(tmp_path):
    lab, photos, first = _unrecorded_then_recorded(tmp_path)
    cfg, store = lab.load(), lab.store()
    second = store.one("SELECT * FROM backups WHERE status='completed' AND id<>? ", (first["id"],))
    shown = catalog.contents(store, second, cfg.source("loc").archive_paths)
    assert shown.get(str(photos / "a").lstrip("/").encode()) is not None, sorted(shown)
    found = {(bytes(v.path), name) for v in find(cfg, store, "a").versions
             for loc in v.locations for name in loc.backups}
    assert (str(photos / "a").lstrip("/").encode(), first["name"]) in found, found
    invariants.check_views_are_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "out")
    invariants.check_found_restores(cfg, store, tmp_path / "found")


def test_retention_keeps_the_only_copy_an_unrecorded_archive_backup_holds(tmp_path):
    """Its files `a` and `c` as it saved them are in the union alone: deleting it would lose them."""
    from rabtui.backup.retention_guard import ArchiveGuard

    lab, _photos, first = _unrecorded_then_recorded(tmp_path)
    cfg, store = lab.load(), lab.store()
    guard = ArchiveGuard(store, "loc", list(cfg.source("loc").archive_paths), [m.id for m in cfg.media])
    assert guard.only_copies(first["id"]) == 2     # a, and c as it saved it


def test_an_archive_backup_deleted_gives_the_union_back_what_an_unrecorded_one_saved(tmp_path):
    """test_union_kind_changed's history, its first archive backup recording no kinds: the second
    deleted puts back into the union the versions the first saved, as it left them."""
    from rabtui.backup import deletion, retention
    from tests.test_union_kind_changed import _held, _made_standard

    lab = Lab(tmp_path, media_count=2)
    cfg, store, union, (first, second) = _made_standard(lab)
    _forget_kinds(lab, store, store.one("SELECT * FROM backups WHERE id=?", (first,)))
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=8))
    assert plan.refused == [] and [c.id for c in plan.delete] == [second], (plan.refused, plan.guarded)
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    assert _held(union) == {"a": b"only in the first", "sub/c": b"c1"}     # as the first left it
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


def test_archive_backups_none_of_which_recorded_kinds_then_the_directory_made_standard(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    photos = lab.src / "photos"
    lab.local([("photos", "archive")])
    for n, (files, gone) in enumerate([({"a": b"a1", "c": b"c1"}, ()), ({"b": b"b"}, ("a",))]):
        write_files(photos, files)
        for name in gone:
            (photos / name).unlink()
        assert lab.backup(lab.load(), now=DAY + timedelta(days=n)).status == "completed"
        store = lab.store()
        _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    lab.local([("photos", "standard")])
    write_files(photos, {"d": b"d"})
    assert lab.backup(lab.load(), now=DAY + timedelta(days=3)).status == "completed"
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "out")
    invariants.check_found_restores(cfg, store, tmp_path / "found")


def test_an_unrecorded_standard_backup_of_a_directory_made_archive_then_standard(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    photos = lab.src / "photos"
    for n, (kind, files) in enumerate([("standard", {"p": b"p1", "q": b"q"}), ("archive", {"p": b"p2 longer"}),
                                       ("standard", {"r": b"r"})]):
        lab.local([("photos", kind)])
        write_files(photos, files)
        assert lab.backup(lab.load(), now=DAY + timedelta(days=n)).status == "completed"
        if n == 0:
            store = lab.store()
            _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "out")
    invariants.check_found_restores(cfg, store, tmp_path / "found")


def _held_anywhere(lab: Lab, data: bytes) -> bool:
    import os
    return any(open(os.path.join(top, n), "rb").read() == data
               for _, medium in lab.media for top, _d, names in os.walk(medium) for n in names
               if os.path.isfile(os.path.join(top, n)) and not os.path.islink(os.path.join(top, n)))


def test_an_unrecorded_standard_backup_counted_as_a_copy_while_the_config_said_archive_is_kept(tmp_path):
    """m2: a standard backup that recorded no kinds holds `x`; the directory made archive, m1's
    archive backup of `x` went (the config said archive: m2's was taken as its copy); the directory
    made standard again, m1's union released: m2's backup still holds the only copy of a version an
    archive backup saved."""
    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=2)
    photos = lab.src / "photos"

    def config(kind):
        lab.local([("photos", kind)])
        lab.keep_a_day()
        return lab.load()

    def cleanup(days):
        cfg, store = lab.load(), lab.store()
        plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=days))
        assert plan.refused == [], plan.refused
        assert deletion.apply_cleanup(cfg, store, plan).failed == []

    cfg = config("standard")
    write_files(photos, {"x": b"x, an archive version", "y": b"y"})
    assert lab.backup(cfg, now=DAY, medium_id="m2").status == "completed"
    store = lab.store()
    _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    cfg = config("archive")
    assert lab.backup(cfg, now=DAY + timedelta(days=1), medium_id="m1").status == "completed"
    (photos / "x").unlink()
    assert lab.backup(cfg, now=DAY + timedelta(days=2), medium_id="m1").status == "completed"
    cleanup(8)
    cfg = config("standard")
    for m in ("m1", "m2"):
        assert lab.backup(cfg, now=DAY + timedelta(days=9), medium_id=m).status == "completed"
    cleanup(12)
    cleanup(13)
    assert _held_anywhere(lab, b"x, an archive version")



def _unrecorded_standard_made_archive(tmp_path):
    """A standard backup that recorded no kinds (`gone` saved by it alone: the source drops it),
    then the directory made archive in the config, no archive backup on the medium yet."""
    lab = Lab(tmp_path, media_count=1)
    photos = lab.src / "photos"
    lab.local([("photos", "standard")])
    write_files(photos, {"gone": b"gone from the source", "sub/q": b"q"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    store = lab.store()
    old = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    _forget_kinds(lab, store, old)
    lab.local([("photos", "archive")])
    return lab, photos, old


@pytest.fixture(scope="module")
def _unrecorded_made(tmp_path_factory):
    def make(live):
        lab, photos, old = _unrecorded_standard_made_archive(live)
        closed(lab)
        return photos, dict(old)

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def unrecorded(_unrecorded_made):
    """What _unrecorded_standard_made_archive makes (lab, photos, the backup's row), anew for each
    test (made once for the module), in lab.tmp."""
    (photos, old), made = _unrecorded_made
    return Lab(made.anew(), media_count=1), photos, dict(old)


def _shows_its_own_gone_and_all_agree(lab, name: str, photos, tmp_path) -> None:
    """The backup `name` (standard, recording no kinds) shows `gone`, its own file, and the catalog,
    the views, the restores and every version find lists agree with the media."""
    cfg, store = lab.load(), lab.store()
    old = store.one("SELECT * FROM backups WHERE name=?", (name,))
    shown = catalog.contents(store, old, cfg.source("loc").archive_paths)
    assert str(photos / "gone").lstrip("/").encode() in shown, sorted(shown)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "out")
    invariants.check_found_restores(cfg, store, tmp_path / "found")


def test_a_whole_directory_restores_from_an_unrecorded_standard_backup_of_a_directory_made_archive(
        unrecorded, tmp_path):
    from rabtui.restore import run as restore_run

    lab, photos, old = unrecorded
    cfg, store = lab.load(), lab.store()
    out = tmp_path / "out"
    restore_run.restore(cfg, store, "loc", str(photos), backup=old["name"], to=out)
    got = out / str(photos).lstrip("/")
    assert (got / "gone").read_bytes() == b"gone from the source" and (got / "sub/q").read_bytes() == b"q"
    invariants.check_views_are_media(cfg, store)
    invariants.check_found_restores(cfg, store, tmp_path / "found")


def test_an_unrecorded_standard_backup_stays_standard_once_an_archive_backup_made_the_union(unrecorded, tmp_path):
    """The first archive backup on the medium makes the union: the backup that recorded no kinds
    was judged standard before (its medium held no union), and stays so: it holds its own tree."""
    lab, photos, old = unrecorded
    (photos / "gone").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    _shows_its_own_gone_and_all_agree(lab, old["name"], photos, tmp_path)


def test_a_medium_away_is_not_looked_at_for_its_unions(unrecorded):
    """A cleanup with the medium away (an empty directory where it is mounted) records nothing of
    its unions (an absent union there is no answer): the backups there stay judged as before it was
    looked at, until the medium is back."""
    import os

    from rabtui.backup import retention

    lab, photos, old = unrecorded
    lab.local([("photos", "standard")])
    _, path = lab.media[0]
    aside = path.with_name(path.name + "-away")
    os.rename(path, aside)
    os.mkdir(path)
    cfg, store = lab.load(), lab.store()
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    assert store.all("SELECT * FROM unrecorded_looks") == []
    os.rmdir(path)
    os.rename(aside, path)
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    looked = [tuple(r) for r in store.all("SELECT backup_id, path, kind FROM unrecorded_looks")]
    assert looked == [(old["id"], str(photos), "standard")]


def _database_lost(lab: Lab) -> None:
    """The state's database gone (the disk it was on died): rebuild-state from the media alone."""
    from rabtui.cli import main

    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) in (0, 3)


def test_rebuild_state_judges_an_unrecorded_standard_backup_as_the_look_did_once_a_union_came(unrecorded, tmp_path):
    """The backup that recorded no kinds was looked at (standard: no union) before the first
    archive backup made the union; the database lost, rebuild-state finds that union: the old
    backup holds its own tree still, which restore, find and views read."""
    lab, photos, old = unrecorded
    (photos / "gone").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    _database_lost(lab)
    _shows_its_own_gone_and_all_agree(lab, old["name"], photos, tmp_path)


def test_a_union_made_before_the_first_look_leaves_an_unrecorded_standard_backup_standard(unrecorded, tmp_path):
    """The database of a version that recorded kinds but kept no looks: the first archive backup
    made the union before the medium was first looked at. The backup that recorded no kinds holds
    files the union lacks (it linked none there): standard, its own tree restored."""
    from rabtui.restore import run as restore_run

    lab, photos, old = unrecorded
    (photos / "gone").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    store = lab.store()
    store.execute("DELETE FROM unrecorded_looks")
    cfg = lab.load()
    out = tmp_path / "out"
    restore_run.restore(cfg, store, "loc", str(photos), backup=old["name"], to=out)
    assert (out / str(photos).lstrip("/") / "gone").read_bytes() == b"gone from the source"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


def test_a_union_a_killed_cleanup_left_half_undone_is_not_looked_at_until_settled(tmp_path):
    """An archive backup that recorded no kinds (`a` saved by it alone), one that recorded them (the
    same `c`), and a
    cleanup killed as it undid the second's links, `c` out of the union: a backup looks at the
    union (the database of a version that kept no looks) before it settles it. The union lacks the
    first's `c` for that while only: the first stays an archive one."""
    from rabtui.backup import union_undo
    from rabtui.media import medium_layout

    lab = Lab(tmp_path, media_count=1)
    photos = lab.src / "photos"
    lab.local([("photos", "archive")])
    write_files(photos, {"a": b"a, saved by the first only", "c": b"c", "d": b"d1"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    store = lab.store()
    first = store.one("SELECT * FROM backups ORDER BY id LIMIT 1")
    _forget_kinds(lab, store, first)
    (photos / "a").unlink()
    write_files(photos, {"d": b"d2 longer"})
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    second = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    store.execute("DELETE FROM unrecorded_looks")
    _, medium = lab.media[0]
    union_undo.begin(medium, "loc", Path(second["path"]).name)
    (medium_layout.archive_root(medium, "loc", str(photos)) / "c").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=2)).status == "completed"
    cfg = lab.load()
    assert catalog.contents(store, first, cfg.source("loc").archive_paths).get(
        str(photos / "c").lstrip("/").encode()) is not None
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


@pytest.mark.parametrize("planted_as", ["file", "symlink"])
def test_a_file_planted_where_a_union_would_be_is_no_union_looked_at(unrecorded, tmp_path, planted_as):
    """A standard backup that recorded no kinds, its directory made archive since, and a file (or
    a symlink) planted at its union's place on the medium: no archive backup made that, the look
    records nothing of it (the backup stays standard once the first archive backup made the union,
    its directory restored as a whole from its own tree; taken for an archive one, it was listed in
    that union)."""
    from rabtui.errors import WorkFailed
    from rabtui.media import medium_layout
    from rabtui.restore import run as restore_run

    lab, photos, old = unrecorded
    _, medium = lab.media[0]
    planted = medium_layout.archive_root(medium, "loc", str(photos))
    planted.parent.mkdir(parents=True)
    if planted_as == "file":
        planted.write_bytes(b"planted")
    else:
        (tmp_path / "elsewhere").mkdir()
        planted.symlink_to(tmp_path / "elsewhere")
    cfg, store = lab.load(), lab.store()
    out = tmp_path / "out"
    if planted_as == "file":
        restore_run.restore(cfg, store, "loc", str(photos), backup=old["name"], to=out)
        assert (out / str(photos).lstrip("/") / "gone").read_bytes() == b"gone from the source"
    else:       # taken for the union until looked at (the config says archive): refused, said
        with pytest.raises(WorkFailed, match="is a symlink, which rabtui never makes"):
            restore_run.restore(cfg, store, "loc", str(photos), backup=old["name"], to=out)
    planted.unlink()            # found and removed; the first archive backup makes the union
    (photos / "gone").unlink()
    assert lab.backup(cfg, now=DAY + timedelta(days=1)).status == "completed"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "views")
    invariants.check_found_restores(cfg, store, tmp_path / "found")


def test_a_look_goes_with_the_last_backup_it_was_taken_for(tmp_path):
    """A standard backup that recorded no kinds, looked at (standard: no union), deleted by a
    cleanup; the directory made archive, and an older version installed again makes an archive
    backup (no kinds recorded): that look says nothing of it, its files are in the union it made."""
    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=1)
    photos = lab.src / "photos"
    lab.local([("photos", "standard")])
    lab.keep_a_day()
    write_files(photos, {"p": b"p"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    store = lab.store()
    _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    assert store.all("SELECT kind FROM unrecorded_looks")[0]["kind"] == "standard"
    cfg = lab.load()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=8))
    assert len(plan.delete) == 1 and plan.refused == []
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    assert store.all("SELECT * FROM unrecorded_looks") == []
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    write_files(photos, {"only-archived": b"saved by the archive backup alone"})
    assert lab.backup(lab.load(), now=DAY + timedelta(days=9)).status == "completed"
    _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    (photos / "only-archived").unlink()
    cfg = lab.load()
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9))      # the newer version again
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


def test_an_unrecorded_archive_backup_made_after_the_look_by_an_older_version_again(unrecorded):
    """A standard backup that recorded no kinds, looked at (standard: no union); an older version
    installed again makes the directory archive and an archive backup (no kinds recorded), which
    makes the union; the newer version again judges it by the look taken before its union."""
    from rabtui.backup import retention

    lab, photos, _old = unrecorded
    cfg, store = lab.load(), lab.store()
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))     # the look: standard
    write_files(photos, {"only-archived": b"saved by the archive backup alone"})
    assert lab.backup(cfg, now=DAY + timedelta(days=1)).status == "completed"
    _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    (photos / "only-archived").unlink()
    invariants.check_catalog_is_media(cfg, store)


def test_an_archive_backup_deleted_gives_the_union_nothing_of_an_unrecorded_standard_backup(tmp_path):
    """A standard backup that recorded no kinds (judged standard: no union when looked at), then
    archive backups on its medium and on another; a cleanup deletes the first archive one there
    (its files have copies on the other medium): the undoing of its union links puts back nothing
    of the older standard backup, which linked nothing there (it put back `gone`, which the catalog
    did not list in the union)."""
    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=2)
    photos = lab.src / "photos"
    lab.local([("photos", "standard")])
    write_files(photos, {"gone": b"gone from the source", "sub/q": b"q"})
    assert lab.backup(lab.load(), now=DAY, medium_id="m1").status == "completed"
    store = lab.store()
    _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    for day, q in ((1, b"q2 longer"), (2, b"q")):
        write_files(photos, {"sub/q": q})
        for hour, m in enumerate(("m1", "m2")):
            assert lab.backup(lab.load(), now=DAY + timedelta(days=day, hours=hour), medium_id=m).status == "completed"
    cfg = lab.load()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9))
    assert ("m1", "backup-20260602033000") in [(c.medium, c.name) for c in plan.delete], plan.delete
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


def test_a_killed_cleanup_of_an_unrecorded_standard_backup_gives_the_union_nothing_of_it(unrecorded):
    """A cleanup killed as it deleted a standard backup that recorded no kinds (its undoing
    recorded on the medium), the union made since by an archive backup: the next backup settles
    that undoing as the look judged the backup, linking nothing of it into the union (it linked
    `gone`, which the catalog did not list there)."""
    from rabtui.backup import union_undo

    lab, photos, old = unrecorded
    (photos / "gone").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    _, medium = lab.media[0]
    union_undo.begin(medium, "loc", old["name"])
    assert lab.backup(lab.load(), now=DAY + timedelta(days=2)).status == "completed"
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


def test_a_checkpoint_settling_a_killed_cleanup_of_an_unrecorded_standard_backup_gives_the_union_nothing_of_it(
        unrecorded, tmp_path):
    """As above, the undoing settled by a checkpoint reading the union (not by the next backup):
    it too judges the backup as the look did, linking nothing of it into the union."""
    from rabtui.backup import union_undo
    from tests.trees import burn_due

    lab, photos, old = unrecorded
    (photos / "gone").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    _, medium = lab.media[0]
    union_undo.begin(medium, "loc", old["name"])
    lab.with_discs("cd-700", [("photos", "archive")])
    cfg, store = lab.load(), lab.store()
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    assert not union_undo.pending(medium, "loc")
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")


def _found(cfg, store) -> set:
    return {(bytes(v.path), v.size, loc.medium, loc.archive, tuple(loc.backups))
            for v in find(cfg, store, "*").versions for loc in v.locations}


def _old_standard_and_old_archive(tmp_path):
    """A standard backup (`gone` its own) and, the directory made archive, an archive backup
    (`only-archived` its own), neither recording kinds, not looked at."""
    lab, photos, old = _unrecorded_standard_made_archive(tmp_path)
    (photos / "gone").unlink()
    write_files(photos, {"only-archived": b"saved by the archive backup alone"})
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    store = lab.store()
    _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    (photos / "only-archived").unlink()
    store.execute("DELETE FROM unrecorded_looks")
    return lab, photos, old


def test_old_standard_and_old_archive_backups_of_one_directory_first_looked_at_together(tmp_path):
    """A standard backup and, the directory made archive, an archive backup, neither recording
    kinds, both on the medium before it is first looked at (the database of a version that kept no
    looks): the union lacks the first's `gone` (standard), not the second's files (archive, the
    union's files listed); find with the medium away says what it said with the medium here."""
    import os

    from rabtui.backup import retention

    lab, photos, old = _old_standard_and_old_archive(tmp_path)
    store, cfg = lab.store(), lab.load()
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))     # the first look
    assert sorted(r["kind"] for r in store.all("SELECT kind FROM unrecorded_looks")) == ["archive", "standard"]
    _shows_its_own_gone_and_all_agree(lab, old["name"], photos, tmp_path)
    here = _found(cfg, store)
    _, path = lab.media[0]
    aside = path.with_name(path.name + "-away")
    os.rename(path, aside)
    os.mkdir(path)
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    assert _found(cfg, store) == here


def _looks_kept_per_medium(store, looks) -> None:
    """The looks (medium, directory, kind) of source `loc` kept as a version before they were kept
    per backup kept them (table `unrecorded_kinds`), the database closed."""
    store.execute("CREATE TABLE unrecorded_kinds(source TEXT NOT NULL, medium TEXT NOT NULL, path TEXT NOT NULL,"
                  " kind TEXT NOT NULL, PRIMARY KEY(source, medium, path))")
    for look in looks:
        store.execute("INSERT INTO unrecorded_kinds VALUES ('loc', ?, ?, ?)", look)
    store.close()


def test_looks_kept_per_medium_are_each_unrecorded_backups_there_once_the_database_is_opened(tmp_path):
    """A database that kept one look per source, medium and directory (`unrecorded_kinds`): opened,
    each backup there that recorded no kinds is judged by it (the table emptied), one that recorded
    kinds has none."""
    from rabtui.state import saved_kinds
    from rabtui.state.store import Store

    store = Store(tmp_path / "state")
    rows = [("loc", "m1", "old-1", "completed"), ("loc", "m1", "old-2", "completed"), ("loc", "m2", "old-3", "completed"),
            ("loc", "m1", "new", "completed")]
    ids = [store.execute("INSERT INTO backups(source, medium, name, path, status, started) VALUES (?, ?, ?, '/x', ?, 0)",
                         r).lastrowid for r in rows]
    store.execute("INSERT INTO backup_dirs(backup_id, path, kind) VALUES (?, '/d', 'archive')", (ids[3],))
    _looks_kept_per_medium(store, [("m1", "/d", "archive"), ("m1", "/e", "standard")])
    store = Store(tmp_path / "state")
    # /e: standard, said of no backup in particular: looked at again
    assert sorted(tuple(r) for r in store.all("SELECT backup_id, path, kind FROM unrecorded_looks")) == [
        (i, d, kind) for i in ids[:2] for d, kind in [("/d", "archive"), ("/e", "unsure")]]
    assert store.all("SELECT * FROM unrecorded_kinds") == []
    assert saved_kinds.archive_in(store, {"id": ids[0]}, ["/e"]) == ("/d",)      # read as standard till then


def test_looks_kept_per_medium_moved_leave_their_table_to_a_run_of_the_older_version_under_way(tmp_path):
    """An older version's backup under way as the database is opened and its looks moved: it reads
    its table still (empty: each backup judged as not looked at), where it failed at step 7 with a
    traceback; its backup, made after the looks, and one that records no kinds made later are
    looked at on their own, not by them."""
    import sqlite3

    from rabtui.state.store import Store

    store = Store(tmp_path / "state")
    first, _under_way = (store.execute("INSERT INTO backups(source, medium, name, path, status, started)"
                                       " VALUES ('loc', 'm1', ?, '/x', ?, 0)", row).lastrowid
                         for row in [("old-1", "completed"), ("old-2", "running")])
    _looks_kept_per_medium(store, [("m1", "/d", "archive")])
    running = sqlite3.connect(tmp_path / "state" / "rabtui.db")
    store = Store(tmp_path / "state")
    assert running.execute("SELECT * FROM unrecorded_kinds").fetchall() == []
    store.execute("INSERT INTO backups(source, medium, name, path, status, started)"
                  " VALUES ('loc', 'm1', 'old-3', '/x', 'completed', 0)")
    running.close()
    store.close()
    store = Store(tmp_path / "state")
    looks = [tuple(r) for r in store.all("SELECT backup_id, path, kind FROM unrecorded_looks")]
    assert looks == [(first, "/d", "archive")]


@pytest.mark.parametrize("recorded_after", [False, True])
def test_a_standard_look_kept_per_medium_over_old_standard_and_old_archive_backups_is_taken_again(
        tmp_path, recorded_after):
    """The database of a version that kept one look per medium: over an old standard backup and an
    old archive backup of one directory it found the union lacking the first's `gone`, and took both
    for standard ones (the second's files, in the union alone, in no view), before or after an
    archive backup recording kinds. Each backup is looked at again once the medium is at hand (the
    second holds files that are the union's own: linked there), and is read as before until then."""
    from rabtui.backup import retention
    from rabtui.state import saved_kinds

    lab, photos, old = _old_standard_and_old_archive(tmp_path)
    if recorded_after:
        write_files(photos, {"new": b"new"})
        assert lab.backup(lab.load(), now=DAY + timedelta(days=2)).status == "completed"
    store, cfg = lab.store(), lab.load()
    store.execute("DELETE FROM unrecorded_looks")
    _looks_kept_per_medium(store, [("m1", str(photos), "standard")])
    store = lab.store()
    ids = [r["id"] for r in store.all("SELECT id FROM backups ORDER BY id")][:2]
    assert [saved_kinds.unrecorded(store, i, (str(photos),)) for i in ids] == [(), ()]     # as before
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=2))
    assert [tuple(r) for r in store.all("SELECT backup_id, kind FROM unrecorded_looks ORDER BY backup_id")] == [
        (ids[0], "standard"), (ids[1], "archive")]
    _shows_its_own_gone_and_all_agree(lab, old["name"], photos, tmp_path)


def test_a_standard_look_kept_per_medium_stays_where_a_backup_recorded_the_directory_archive(unrecorded, tmp_path):
    """The look kept per medium found no union over an old standard backup; an archive backup
    recording kinds made the union after it: the look stays that backup's (standard), though the
    union now lacks none of its files: none of them is the union's own (linked there)."""
    from rabtui.backup import retention

    lab, photos, old = unrecorded
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    store = lab.store()
    store.execute("DELETE FROM unrecorded_looks")
    _looks_kept_per_medium(store, [("m1", str(photos), "standard")])
    store, cfg = lab.store(), lab.load()
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    assert [tuple(r) for r in store.all("SELECT backup_id, kind FROM unrecorded_looks")] == [(old["id"], "standard")]
    _shows_its_own_gone_and_all_agree(lab, old["name"], photos, tmp_path)


def test_a_backup_whose_tree_is_not_at_its_place_is_not_looked_at(unrecorded, tmp_path):
    """A standard backup that recorded no kinds, its directory made archive and an archive backup
    made the union, the database's looks lost; its tree set aside (a cleanup killed as it renamed
    it, an operator's hand) when the medium is looked at: no answer (taken for an archive one that
    lacked nothing, it was recorded so for good), looked at once back."""
    import os

    from rabtui.backup import retention

    lab, photos, old = unrecorded
    (photos / "gone").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    store, cfg = lab.store(), lab.load()
    store.execute("DELETE FROM unrecorded_looks")
    aside = Path(old["path"]).with_name(".aside")
    os.rename(old["path"], aside)
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    assert store.all("SELECT * FROM unrecorded_looks") == []
    os.rename(aside, old["path"])
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    assert [tuple(r) for r in store.all("SELECT backup_id, kind FROM unrecorded_looks")] == [(old["id"], "standard")]
    _shows_its_own_gone_and_all_agree(lab, old["name"], photos, tmp_path)


def test_an_unrecorded_standard_backup_made_after_the_union_by_an_older_version_again(unrecorded):
    """A standard backup that recorded no kinds, looked at (standard); the directory made archive,
    an archive backup makes the union; an older version installed again, the directory made
    standard, makes a standard backup (no kinds recorded), nothing new in it: the union lacks
    none of its files, yet it holds them linked from the backup before (--link-dest), which no
    archive backup does: standard."""
    from rabtui.backup import retention

    lab, photos, _old = unrecorded
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    lab.local([("photos", "standard")])
    (photos / "gone").unlink()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=2)).status == "completed"
    store = lab.store()
    made = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    _forget_kinds(lab, store, made)
    cfg = lab.load()
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=2))     # the newer version again
    assert store.one("SELECT kind FROM unrecorded_looks WHERE backup_id=?", (made["id"],))["kind"] == "standard"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)
    _database_lost(lab)         # rebuild-state judges it so too
    store = lab.store()
    assert store.one("SELECT kind FROM backup_dirs WHERE backup_id=?", (made["id"],))["kind"] == "standard"
    invariants.check_catalog_is_media(cfg, store)


def test_a_medium_unplugged_while_its_union_is_looked_at_gives_no_answer(tmp_path, monkeypatch):
    """An archive backup that recorded no kinds, not looked at yet; the medium goes (an empty
    directory at its mount point) while the look reads the union: no answer (it lacked every file
    then: taken for a standard one, for good), the look taken once it is back."""
    import os

    from rabtui.backup import retention
    from rabtui.media import below, medium_layout

    lab = Lab(tmp_path, media_count=1)
    photos = lab.src / "photos"
    lab.local([("photos", "archive")])
    write_files(photos, {"a": b"a"})
    assert lab.backup(lab.load(), now=DAY).status == "completed"
    store, cfg = lab.store(), lab.load()
    made = store.one("SELECT * FROM backups")
    _forget_kinds(lab, store, made)
    store.execute("DELETE FROM unrecorded_looks")
    _, path = lab.media[0]
    union = os.fsencode(medium_layout.archive_root(path, "loc", str(photos)))
    aside = path.with_name(path.name + "-away")
    lstat = below.lstat

    def unplugged(root, rel):
        if root == union and not aside.exists():
            os.rename(path, aside)
            os.mkdir(path)
        return lstat(root, rel)
    monkeypatch.setattr(below, "lstat", unplugged)
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    assert aside.exists() and store.all("SELECT * FROM unrecorded_looks") == []
    monkeypatch.setattr(below, "lstat", lstat)
    os.rmdir(path)
    os.rename(aside, path)
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    assert [tuple(r) for r in store.all("SELECT backup_id, kind FROM unrecorded_looks")] == [(made["id"], "archive")]


def test_the_sql_of_the_rule_for_unrecorded_backups_says_what_the_rule_says(tmp_path):
    """saved_kinds.archive_sql (cleanups' SQL), saved_kinds.judged (the readers') and BackupRanges
    (many backups at once) take a backup that recorded no kinds alike, in every case: looked at
    (archive, standard) or not, the config saying archive or not, another backup there made before
    or after it recording the directory as an archive one or none (one made before says nothing
    of it: an older version installed again made it)."""
    import itertools

    from rabtui.state import saved_kinds
    from rabtui.state.backup_ranges import BackupRanges
    from rabtui.state.store import Store

    store = Store(tmp_path / "state")

    def backup(medium: str, name: str, kinds: bool) -> int:
        made = store.execute("INSERT INTO backups(source, medium, name, path, status, started)"
                             " VALUES ('s', ?, ?, '/x', 'completed', 0)", (medium, name)).lastrowid
        if kinds:
            store.execute("INSERT INTO backup_dirs(backup_id, path, kind) VALUES (?, '/d', 'archive')", (made,))
        return made

    cases = list(itertools.product([None, "archive", "standard", "unsure"], [False, True], [None, "before", "after"]))
    made = []
    for n, (looked, archive_now, recorded) in enumerate(cases):
        medium = f"m{n}"
        if recorded == "before":
            backup(medium, "a", True)
        bid = backup(medium, "b", False)
        if looked:
            store.execute("INSERT INTO unrecorded_looks VALUES (?, '/d', ?)", (bid, looked))
        if recorded == "after":
            backup(medium, "c", True)
        made.append(bid)
    ranges = BackupRanges(store, "s")
    for n, ((looked, archive_now, recorded), bid) in enumerate(zip(cases, made)):
        said = store.one(f"SELECT {saved_kinds.archive_sql('b', '?', '?')} AS a FROM backups b WHERE b.id=?",
                         ("/d", "/d", int(archive_now), "/d", bid))["a"]
        rule = saved_kinds.judged(looked, archive_now, recorded == "after")
        assert bool(said) == rule, (looked, archive_now, recorded)
        assert ("/d" in saved_kinds.archive_in(store, {"id": bid}, ["/d"] if archive_now else [])) == rule
        _names, in_union = ranges.holding("s", f"m{n}", "/d", bid, bid, archive_now)
        assert in_union == rule, (looked, archive_now, recorded)


def test_an_unrecorded_standard_backup_the_first_on_its_medium_first_looked_at_after_the_union(unrecorded):
    """A standard backup that recorded no kinds, the first on its medium (nothing linked from a
    backup before it), its files unchanged when the first archive backup makes the union (which
    lacks none of them): looked at only then (a database that kept no looks), and by rebuild-state,
    it is standard: the union's files of those paths, as it holds them, are another backup's
    (linked from there), not its own."""
    from rabtui.backup import retention

    lab, photos, old = unrecorded
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    store, cfg = lab.store(), lab.load()
    store.execute("DELETE FROM unrecorded_looks")
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=1))
    assert [tuple(r) for r in store.all("SELECT backup_id, kind FROM unrecorded_looks")] == [(old["id"], "standard")]
    _database_lost(lab)
    store = lab.store()
    assert store.one("SELECT kind FROM backup_dirs WHERE backup_id=?", (old["id"],))["kind"] == "standard"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store)


def test_directories_a_backup_record_names_that_no_path_can_be_are_not_looked_at(tmp_path):
    """The record of a backup that recorded no kinds names, besides its directory, ones no config
    takes (a lone surrogate, a NUL, `..`, not absolute, no text): the look takes its directory and
    leaves those, no traceback."""
    from rabtui.backup import retention

    lab, _photos, first = _unrecorded_then_recorded(tmp_path)
    bj = Path(first["path"]) / "backup.json"
    info = json.loads(bj.read_text())
    info["directories"] += [{"path": p} for p in ("/x\udc80", "/x\0y", "/a/../b", "rel", 7, "/")] + [None]
    bj.write_text(json.dumps(info))
    cfg, store = lab.load(), lab.store()
    store.execute("DELETE FROM unrecorded_looks")
    retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=2))
    looked = {r["path"]: r["kind"] for r in store.all("SELECT path, kind FROM unrecorded_looks")}
    assert looked.keys() == {str(lab.src / "photos"), "/"}, looked
    assert looked[str(lab.src / "photos")] == "archive"


def test_a_file_of_an_unrecorded_backups_directory_no_longer_configured_restores(tmp_path):
    """An archive backup of data that recorded no kinds holds `first` alone; the config names
    data/photos since. find listed `first` in that backup, and its restore said it is "not in a
    directory of source loc" (the directories a restore takes from the backups came from the
    recorded kinds only)."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {"first": b"held by the old backup alone", "photos/j": b"j"})
    assert lab.backup(lab.local([("data", "archive")]), now=DAY).status == "completed"
    store = lab.store()
    _forget_kinds(lab, store, store.one("SELECT * FROM backups"))
    (data / "first").unlink()
    cfg = lab.local([("data/photos", "archive")])
    assert lab.backup(cfg, now=DAY + timedelta(days=1)).status == "completed"
    invariants.check_found_restores(cfg, store, tmp_path / "found")
    assert list((tmp_path / "found").glob(f"*/{str(data / 'first').lstrip('/')}"))


def test_a_directory_a_later_backup_made_a_symlink_leaves_an_unrecorded_archive_backup_archive(tmp_path):
    """Two archive backups that recorded no kinds: the first alone holds `z` (the source drops it)
    and d/y; the second saved d made a dangling symlink, which took the directory's place in the
    union. The look (of a database that kept none) followed that symlink, found no d/y there and
    judged the first a standard backup; the directory made standard, a cleanup deleted the second
    and the next one the only copy of `z`."""
    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=1)
    arc = lab.src / "arc"
    write_files(arc, {"z": b"held by the first backup alone", "d/y": b"y"})
    store, cfg = lab.store(), lab.local([("arc", "archive")])
    for n in (0, 1):
        if n:
            (arc / "z").unlink()
            shutil.rmtree(arc / "d")
            os.symlink("nowhere", arc / "d")
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status in ("completed", "warnings")
        _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC"))
    store.execute("DELETE FROM unrecorded_looks")
    lab.local([("arc", "standard")])
    lab.keep_a_day()
    cfg = lab.load()
    assert lab.backup(cfg, now=DAY + timedelta(days=2)).status == "completed"
    for n in (9, 10):
        deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=n)))
    z = str(arc / "z").lstrip("/").encode()
    assert [name for v in find(cfg, store, "z").versions if bytes(v.path) == z
            for loc in v.locations for name in loc.backups], "z is in no backup"
    invariants.check_catalog_is_media(cfg, store)


def test_rebuild_state_takes_kept_data_that_recorded_no_kinds_by_the_config_not_by_the_union(tmp_path):
    """Kept data (the post-backup command failed) an older version made of an archive directory,
    the only backup holding `c`; a complete backup after it made the union. Kept data links nothing
    into the union, so the union lacking `c` says nothing of it: rebuild-state took it for a
    standard backup, and a cleanup deleted the only copy of `c`."""
    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "photos"
    write_files(data, {"c": b"held by the kept data alone", "k": b"k"})
    lab.backup(lab.local([("photos", "archive")], extra='post_backup_commands = ["exit 3"]'), now=DAY)
    store = lab.store()
    kept = store.one("SELECT * FROM backups")
    assert kept["status"] == "kept"
    _forget_kinds(lab, store, kept)
    store.close()
    (data / "c").unlink()
    lab.local([("photos", "archive")])
    lab.keep_a_day()
    assert lab.backup(lab.load(), now=DAY + timedelta(days=1)).status == "completed"
    _database_lost(lab)
    cfg, store = lab.load(), lab.store()
    deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30)))
    assert _held_anywhere(lab, b"held by the kept data alone"), "the only copy of c deleted"
    invariants.check_catalog_is_media(cfg, store)


def test_kept_data_of_a_standard_source_that_recorded_no_kinds_goes_past_its_retention(tmp_path):
    """Kept data (the post-backup command failed) an older version made of a source whose every
    directory is standard, no union on the medium: past the retention periods a cleanup deletes it,
    as it does a complete one. Kept data is never looked at (it links nothing into a union), so its
    files were counted as archive versions with no other copy for ever: no cleanup ever freed it."""
    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {"a": b"a"})
    lab.backup(lab.local([("data", "standard")], extra='post_backup_commands = ["exit 3"]'), now=DAY)
    store = lab.store()
    kept = store.one("SELECT * FROM backups")
    assert kept["status"] == "kept"
    _forget_kinds(lab, store, kept)
    lab.local([("data", "standard")])
    lab.keep_a_day()
    for days in (1, 2):
        assert lab.backup(lab.load(), now=DAY + timedelta(days=days)).status == "completed"
    cfg = lab.load()
    done = deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30)))
    assert kept["id"] in {c.id for c in done.deleted}, done.lines
    assert not os.path.lexists(kept["path"])
    invariants.check_catalog_is_media(cfg, store)



def test_the_views_checked_are_those_of_the_directories_a_record_without_kinds_names(tmp_path):
    """Backups an older version made of data (no kinds recorded), the first alone holding data/top,
    then the config naming data/photos. The checker views those backups in data too, as their
    backup.json names it (it viewed the config's photos only, and took a catalog that lost top for
    right); so viewed, Browse listed nothing of data in the second (it read its own tree, which
    lacks top: saved by the first, in the union), where find and a restore give top."""
    from rabtui.actions import archive_view

    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    store = lab.store()
    for n in range(2):
        assert lab.backup(lab.local([("data", "archive")]), now=DAY + timedelta(days=n)).status == "completed"
        _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
    (lab.src / "data" / "top").unlink()
    cfg = lab.local([("data/photos", "archive")])
    assert lab.backup(cfg, now=DAY + timedelta(days=2)).status == "completed"
    second = store.one("SELECT * FROM backups ORDER BY id LIMIT 1 OFFSET 1")
    data = os.fsencode(lab.src / "data").lstrip(b"/")
    listed = archive_view.listing(cfg, store, "loc", second, data)
    assert listed is not None and b"top" in listed[0], listed
    invariants.check_views_are_media(cfg, store)
    top = os.fsencode(lab.src / "data" / "top").lstrip(b"/")
    store.execute("DELETE FROM versions WHERE path_id=(SELECT id FROM paths WHERE CAST(path AS BLOB)=?)", (top,))
    with pytest.raises(AssertionError, match="contents"):
        invariants.check_views_are_media(cfg, store)
