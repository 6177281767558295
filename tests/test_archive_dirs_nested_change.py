"""An archive directory configured anew as one inside it, or around it (/data, then /data/photos;
or the reverse): both unions are the same folder on the medium, so a file the first saved into
it is not saved again by the second. What each backup shows (diff, find, Browse, a restore) is
what the medium holds, and a cleanup keeps every file. Real backups (rsync)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rabtui.state import backup_diff
from tests import invariants
from tests.test_checkpoint_kind_changed import DAY
from tests.trees import Lab, write_files


def _history(lab: Lab, how: str, more: int = 0) -> Lab:
    """Two backups: data/photos/k and data/top saved by the first, data/photos/n new for the second;
    `more` backups after them of the second's directory, the first changing k. "narrowed from
    standard": the first saved data as a standard directory."""
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    dirs = ["data/photos", "data"] if how == "widened" else ["data", "data/photos"]
    for n, d in enumerate(dirs + dirs[1:] * more):
        if n:
            write_files(lab.src / "data", {b"photos/n": b"new"} if n == 1 else {b"photos/k": b"k changed"} if n == 2 else {})
        kind = "standard" if n == 0 and how == "narrowed from standard" else "archive"
        assert lab.backup(lab.local([(d, kind)]), now=DAY + timedelta(days=n)).status == "completed"
    return lab


@pytest.fixture(scope="module", params=["narrowed", "widened", "narrowed from standard"])
def nested(tmp_path_factory, request):
    return _history(Lab(tmp_path_factory.mktemp("nested"), media_count=1), request.param, more=2)


def test_each_backup_shows_what_the_union_holds(nested, tmp_path):
    cfg, store = nested.load(), nested.store()
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "media")
    invariants.check_found_restores(cfg, store, tmp_path / "found")


def test_diff_says_only_what_came(nested):
    cfg, store = nested.load(), nested.store()
    rows = store.all("SELECT * FROM backups ORDER BY id")
    photos = invariants._prefix(str(nested.src / "data" / "photos"))
    said = []
    for a, b in zip(rows, rows[1:]):
        diff = backup_diff.diff(store, a, b, cfg.source("loc").archive_paths, photos)
        said.append((diff.removed, [e.path for e in diff.added], [c.path for c in diff.changed]))
    assert said == [([], [photos + b"/n"], []), ([], [], [photos + b"/k"]), ([], [], [])]


@pytest.mark.parametrize("how", ["narrowed", "widened"])
def test_a_cleanup_keeps_the_only_copy(how, tmp_path):
    from rabtui.backup import deletion, retention

    lab = _history(Lab(tmp_path, media_count=1), how)
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30))
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_found_restores(cfg, store, tmp_path / "found")


@pytest.mark.parametrize("how", ["narrowed", "widened"])
def test_a_cleanup_keeps_a_file_changed_after_the_directory_changed(how, tmp_path):
    """k changed and saved by a backup of the new directory, whose path the catalog knows from
    the old one: that backup holds its only copy, and stays."""
    from rabtui.backup import retention

    lab = _history(Lab(tmp_path, media_count=1), how, more=2)
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30))
    assert [c.id for c in plan.delete] == [] and sorted(g[0] for g in plan.guarded) == [1, 2, 3] and plan.refused == []
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_found_restores(cfg, store, tmp_path / "found")


@pytest.mark.parametrize("dirs", [["data", "data/photos"], ["data/photos", "data"]])
def test_a_cleanup_forgets_no_file_a_standard_backup_of_the_other_directory_holds(dirs, tmp_path):
    """Standard backups of data, then of data/photos (or the reverse), photos/k unchanged: the
    cleanup deleting the first backups left the catalog without k, which the newest holds (find
    said it was in no backup)."""
    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    for n, d in enumerate([dirs[0], dirs[1], dirs[1]]):
        if n == 2:
            write_files(lab.src / "data", {b"photos/z": b"z"})
        assert lab.backup(lab.local([(d, "standard")]), now=DAY + timedelta(days=n)).status == "completed"
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=2, hours=12))
    assert [c.id for c in plan.delete] == [1, 2]
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_found_restores(cfg, store, tmp_path / "found")


@pytest.mark.parametrize("how", ["narrowed", "narrowed from standard"])
def test_rebuild_state_catalogs_what_the_other_directory_saved(how, tmp_path):
    """The database lost after /data was made /data/photos: rebuild-state catalogued the
    config's directories only, so data/top, saved by /data's backup, was in no backup for find,
    and a cleanup after it was refused for good (its archive file "not in the catalog")."""
    from rabtui.backup import deletion, retention
    from tests.test_kinds_unrecorded import _database_lost

    lab = _history(Lab(tmp_path, media_count=1), how, more=1)
    _database_lost(lab)
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30))
    assert plan.refused == []
    assert deletion.apply_cleanup(cfg, store, plan).failed == []
    invariants.check_catalog_is_media(cfg, store)
