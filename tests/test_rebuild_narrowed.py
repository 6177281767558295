"""rebuild-state after the config named another directory in place of one inside or around it
(/data made /data/photos, or back): the catalog is rebuilt from what each backup's record says it
saved, as the backups recorded it when they ran, not from the config's directories only. Before,
the files old backups of /data hold outside /data/photos were in no catalog: find did not list
them, and every later cleanup of the source was refused ("not in the catalog") for good. Real
rsync, the real command line in process."""

from __future__ import annotations

import os
from contextlib import contextmanager
from datetime import timedelta

import pytest

from rabtui.actions.find import find
from rabtui.backup import deletion, retention
from rabtui.cli import main
from tests import invariants
from tests.test_archive_dirs_nested_change import _history
from tests.test_checkpoint_kind_changed import DAY
from tests.test_rebuild import _catalog_view
from tests.trees import Lab, write_files


def _others_view(store):
    rows = store.all("SELECT o.source, o.dir, o.path, o.kind, o.medium, o.mtime, f.name AS first, l.name AS last"
                     " FROM others o JOIN backups f ON f.id=o.first_backup JOIN backups l ON l.id=o.last_backup")
    return sorted(tuple(bytes(v) if isinstance(v, bytes) else v for v in r) for r in rows)


def _rebuilt(lab: Lab, codes: tuple[int, ...] = (0,)) -> tuple[list, list]:
    """The catalog (versions, others) the backups built, then the state database deleted and
    rebuilt by `rabtui rebuild-state`."""
    store = lab.store()
    try:
        before = _catalog_view(store), _others_view(store)
    finally:
        store.close()
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) in codes
    return before


@contextmanager
def _rebuilt_as_built(lab: Lab):
    """Rebuilt (`_rebuilt`): the catalog is the one the backups built and what the media hold; the
    config and the rebuilt state within the block."""
    before = _rebuilt(lab)
    cfg, store = lab.load(), lab.store()
    try:
        assert (_catalog_view(store), _others_view(store)) == before
        invariants.check_catalog_is_media(cfg, store)
        invariants.check_views_are_media(cfg, store, all_pairs=True)
        yield cfg, store
    finally:
        store.close()


@pytest.mark.parametrize("how", ["narrowed", "widened", "narrowed from standard"])
def test_the_rebuilt_catalog_is_the_one_the_backups_built(how, tmp_path):
    lab = Lab(tmp_path, media_count=1)
    (lab.src / "data" / "photos").mkdir(parents=True)
    (lab.src / "data" / "s").symlink_to("top")          # outside photos: `others` of data only
    (lab.src / "data" / "photos" / "s").symlink_to("k")
    _history(lab, how, more=1)
    with _rebuilt_as_built(lab) as (cfg, store):
        invariants.check_change_counters(store)
        top = os.fsencode(lab.src / "data" / "top").lstrip(b"/")
        assert [v.path for v in find(cfg, store, "top").versions] == [top]


def test_standard_backups_of_the_outer_directory_then_the_inner_one(tmp_path):
    """data/photos/k unchanged through both: one version from the first backup to the newest, as
    the backups recorded it; data/top in the first only."""
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    (lab.src / "data" / "photos" / "s").symlink_to("k")
    for n, d in enumerate(["data", "data/photos", "data/photos"]):
        assert lab.backup(lab.local([(d, "standard")]), now=DAY + timedelta(days=n)).status == "completed"
    with _rebuilt_as_built(lab):
        pass


def _versions(cfg, store) -> set[tuple]:
    """(path, size, mtime) of every file `find` lists in some backup."""
    return {(bytes(v.path), v.size, v.mtime) for v in find(cfg, store, "*").versions
            if v.kind == "file" and any(loc.kind == "backup" and loc.backups for loc in v.locations)}


@pytest.mark.parametrize("dirs, guarded", [(["data", "data/photos"], 1), (["data/photos", "data"], 2)])
def test_a_cleanup_after_the_rebuild_runs_and_keeps_the_only_copies(dirs, guarded, tmp_path):
    """Two media, each with an archive backup of the first directory (data/top and photos/k, or
    photos/k), then three of the second (the first of those on each medium saves data/top when
    widened): the cleanup deletes one of each pair saving the same files, not both. Before, the
    rebuilt catalog lacked data/top (narrowed): the guard let the first backup go, and the plan was
    refused (its archive file not in the catalog) at every cleanup after."""
    lab = Lab(tmp_path, media_count=2)
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    for n, d in enumerate([dirs[0]] * 2 + [dirs[1]] * 6):
        cfg = lab.local([(d, "archive")])
        assert lab.backup(cfg, now=DAY + timedelta(days=n), medium_id=f"m{n % 2 + 1}").status == "completed"
    lab.keep_a_day()
    _rebuilt(lab)
    cfg, store = lab.load(), lab.store()
    try:
        plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30))
        assert plan.refused == []
        held = _versions(cfg, store)
        top = os.fsencode(lab.src / "data" / "top").lstrip(b"/")
        assert top in {p for p, _, _ in held}
        assert deletion.apply_cleanup(cfg, store, plan).failed == []
        assert (len(plan.guarded), len(plan.delete)) == (guarded, 6 - guarded), plan.guarded
        assert _versions(cfg, store) == held        # every version saved still has a copy
        invariants.check_catalog_is_media(cfg, store)
        invariants.check_views_are_media(cfg, store, all_pairs=True)
        invariants.check_found_restores(cfg, store, tmp_path / "found")
    finally:
        store.close()


def test_a_directory_made_standard_then_archive_again(tmp_path):
    """Each backup's files in the kind it saved them as (its record's), not the config's now: the
    standard backup's unchanged files extend the versions of the archive one before it."""
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {b"k": b"k", b"s/t": b"t"})
    for n, kind in enumerate(["archive", "standard", "standard", "archive"]):
        if n == 2:
            write_files(lab.src / "data", {b"k": b"k changed"})
        assert lab.backup(lab.local([("data", kind)]), now=DAY + timedelta(days=n)).status == "completed"
    with _rebuilt_as_built(lab):
        pass


def test_a_record_edited_to_name_odd_directories(tmp_path):
    """A backup.json edited by hand to name data/photos beside data (each file walked once), a
    directory with a NUL, one with a lone surrogate and one with a trailing slash: the catalog is
    the one the backup built, the odd names said or left out, never a traceback."""
    import json

    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    assert lab.backup(lab.local([("data", "archive")]), now=DAY).status == "completed"
    (bj,) = (lab.media[0][1] / "loc").glob("backup-*/backup.json")
    original = bj.read_text()
    info = json.loads(original)
    (d,) = info["directories"]
    info["directories"] += [{**d, "path": d["path"] + "/photos", "kind": "standard"},
                            {**d, "path": "/x\x00y"}, {**d, "path": "/x\ud800y"}, {**d, "path": d["path"] + "/"}]
    bj.write_text(json.dumps(info))
    before = _rebuilt(lab, codes=(0, 3))
    cfg, store = lab.load(), lab.store()
    try:
        assert (_catalog_view(store), _others_view(store)) == before
        bj.write_text(original)      # (the invariants walk what a record names: no NUL)
        invariants.check_catalog_is_media(cfg, store)
    finally:
        store.close()


def test_old_backups_that_recorded_no_kinds_then_the_directory_narrowed(tmp_path):
    """Backups an older version made of the archive directory data (no kinds recorded), the first
    alone holding data/top (the source dropped it), then data/photos configured and backed up:
    rebuilt, the catalog holds top, and a cleanup keeps its only copy."""
    from tests.test_kinds_unrecorded import _forget_kinds

    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    for n in range(2):
        assert lab.backup(lab.local([("data", "archive")]), now=DAY + timedelta(days=n)).status == "completed"
        store = lab.store()
        _forget_kinds(lab, store, store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1"))
        store.close()
        (lab.src / "data" / "top").unlink(missing_ok=True)
    for n in range(2, 5):
        assert lab.backup(lab.local([("data/photos", "archive")]), now=DAY + timedelta(days=n)).status == "completed"
    lab.keep_a_day()
    _rebuilt(lab, codes=(3,))          # the kinds taken are said
    cfg, store = lab.load(), lab.store()
    try:
        held = _versions(cfg, store)
        assert os.fsencode(lab.src / "data" / "top").lstrip(b"/") in {p for p, _, _ in held}
        plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=30))
        assert plan.refused == [] and plan.delete
        assert deletion.apply_cleanup(cfg, store, plan).failed == []
        assert _versions(cfg, store) == held
        invariants.check_catalog_is_media(cfg, store)
    finally:
        store.close()
