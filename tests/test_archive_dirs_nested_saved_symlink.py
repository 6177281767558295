"""The symlink a backup of /data (archive) saved at photos' place in the union, the config naming
/data/photos again (test_archive_dirs_nested_checkpoint._another_entry_at_photos): Browse, `check`
and a cleanup take it as saved (medium_layout.saved_in_union), none planted, and read nothing
through it; one planted in its place is refused by each. Real rsync."""

from __future__ import annotations

import os
from datetime import timedelta

import pytest

from tests import invariants
from tests.test_archive_dirs_nested_checkpoint import _another_entry_at_photos
from tests.test_checkpoint_kind_changed import DAY
from tests.trees import write_files


def _saved(tmp_path, planted: bool = False):
    """The lab, config and store with the saved symlink at photos in the union (leading to a
    directory of files named as photos' own); `planted`: replaced by another of the same target."""
    from rabtui.media import medium_layout

    lab, cfg, store = _another_entry_at_photos(tmp_path, "narrowed", "symlink")
    write_files(tmp_path / "outside", {b"k": b"K", b"x": b"X"})
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(lab.src / "data" / "photos"))
    if planted:
        os.unlink(union)
        os.symlink(tmp_path / "outside", union)
    return lab, cfg, store


@pytest.mark.parametrize("planted", [False, True])
def test_browse_lists_the_inner_directorys_own_backups_as_a_restore_gives_them(tmp_path, planted):
    """Browse refused photos' own backup ("a symlink, which rabtui never makes") where a restore
    gives its k: it lists k, nothing of where the symlink points; one planted is refused."""
    from rabtui.actions import archive_view
    from rabtui.restore import run as restore_run

    lab, cfg, store = _saved(tmp_path, planted)
    own = store.one("SELECT * FROM backups ORDER BY id LIMIT 1 OFFSET 1")      # photos' own
    photos = os.fsencode(lab.src / "data" / "photos").lstrip(b"/")
    if planted:
        with pytest.raises(OSError, match="never makes"):
            archive_view.listing(cfg, store, "loc", own, photos)
        return
    for b in store.all("SELECT * FROM backups ORDER BY id")[:2]:     # data's first, photos' own
        listed = archive_view.listing(cfg, store, "loc", b, photos)
        restore_run.restore(cfg, store, "loc", "/" + os.fsdecode(photos), backup=b["name"], to=tmp_path / b["name"])
        given = tmp_path / b["name"] / os.fsdecode(photos)
        assert listed is not None and listed[0] == sorted(os.fsencode(n) for n in os.listdir(given)) == [b"k"], listed
        assert listed[2][b"k"][1] == (given / "k").stat().st_size == 1


@pytest.mark.parametrize("planted", [False, True])
def test_check_says_no_symlink_planted_where_a_backup_saved_it(tmp_path, planted):
    """`check` warned of the saved symlink as planted (symlink:loc:m1); it warns of one planted
    in its place only."""
    from rabtui.ops import health_layout

    _lab, cfg, store = _saved(tmp_path, planted)
    said = [p.check_id for p in health_layout.planted_symlinks(cfg, store)]
    assert said == (["symlink:loc:m1"] if planted else []), said


@pytest.mark.parametrize("planted", [False, True])
def test_a_cleanup_takes_the_saved_symlink_for_what_it_is(tmp_path, planted):
    """Every cleanup of the source's backups on the medium failed on the saved symlink ("a symlink,
    which rabtui never makes": nothing deleted, the medium filling up) until the next backup of
    photos. The backups retention lets go are deleted, none reading or removing through the symlink,
    and a version no other copy holds (photos/k, the source dropped it) stays in a backup; one
    planted in its place keeps them all (named, as before)."""
    from rabtui.actions.find import find
    from rabtui.backup import deletion, retention

    lab, _cfg, store = _saved(tmp_path, planted)
    lab.keep_a_day()
    cfg = lab.load()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9))
    done = deletion.apply_cleanup(cfg, store, plan)
    assert sorted(os.listdir(tmp_path / "outside")) == ["k", "x"]
    if planted:
        assert done.deleted == [] and done.failed and all("never makes" in line for line in done.failed), done.lines
        return
    assert done.failed == [] and done.deleted, (done.lines, plan.delete, plan.guarded)
    k = str(lab.src / "data" / "photos" / "k")
    held = [name for v in find(cfg, store, k).versions for loc in v.locations for name in loc.backups]
    assert held, "photos/k is in no backup"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


@pytest.mark.parametrize("which,planted", [(0, False), (1, False), (1, True)])
def test_a_checkpoint_settles_a_killed_deletion_beside_the_saved_symlink(tmp_path, which, planted):
    """A cleanup killed as it undid the links of data's first backup or photos' own (its undoing
    recorded, union_undo.begin), then a checkpoint of photos: it refused the saved symlink ("a
    symlink, which rabtui never makes") until the next backup of photos. It settles the undoing,
    nothing written through the symlink, and the disc holds photos as its backups saved it. One
    planted in its place is refused, the undoing left pending."""
    from rabtui.backup import union_undo
    from rabtui.checkpoint import prepare
    from rabtui.errors import WorkFailed
    from tests.trees import burn_due

    lab, cfg, store = _saved(tmp_path, planted)
    medium = cfg.media[0].path
    name = store.one("SELECT name FROM backups ORDER BY id LIMIT 1 OFFSET ?", (which,))["name"]
    union_undo.begin(medium, "loc", name)
    if planted:
        with pytest.raises(WorkFailed, match="never makes"):
            prepare.compute(cfg, store, asked={"*"})
        assert union_undo.pending(medium, "loc") == [name]
        return
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    assert not union_undo.pending(medium, "loc")
    assert sorted(os.listdir(tmp_path / "outside")) == ["k", "x"]
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    invariants.check_catalog_is_media(cfg, store)


@pytest.mark.parametrize("inner", ["photos/sub", "p" * 255])
def test_the_symlink_saved_on_the_way_or_at_a_long_name_is_taken_as_saved(tmp_path, inner):
    """The symlink data's backup saved at photos on the way to photos/sub, or at the inner
    directory's own 255-byte name: Browse lists the inner directory's own backup, `check` is
    silent, a cleanup deletes what retention lets go, nothing read or removed through it."""
    from rabtui.actions import archive_view
    from rabtui.backup import deletion, retention
    from rabtui.ops import health_layout
    from tests.test_archive_dirs_nested_checkpoint import symlink_saved_on_the_way
    from tests.trees import burn_due

    lab, cfg, store = symlink_saved_on_the_way(tmp_path, inner)
    own = store.one("SELECT * FROM backups ORDER BY id LIMIT 1")
    listed = archive_view.listing(cfg, store, "loc", own, os.fsencode(lab.src / "data" / inner).lstrip(b"/"))
    assert listed is not None and listed[0] == [b"k"], listed
    assert health_layout.planted_symlinks(cfg, store) == []
    burn_due(cfg, store, asked={"*"}, verified=True)    # the only copy of k on a disc: its backups may go
    lab.keep_a_day()
    cfg = lab.load()
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9))
    done = deletion.apply_cleanup(cfg, store, plan)
    assert done.failed == [] and own["id"] in [c.id for c in done.deleted], (done.lines, plan.delete, plan.guarded)
    assert sorted(os.listdir(tmp_path / "outside")) == ["k", *(["sub"] if "/" in inner else [])]
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


def _cleanup_killed_then_finished(lab, point: str):
    """Nine days on (a day kept), a cleanup killed (SIGKILL) at fault `point`, then another run to
    its end, which leaves no union undoing pending: (config, store, the second run)."""
    from rabtui.backup import union_undo
    from tests.test_kill_anywhere import _killed, rabtui

    lab.keep_a_day()
    later = (DAY + timedelta(days=9)).isoformat(timespec="minutes")
    _killed(rabtui(lab, "cleanup", "--now", later, point=point))
    done = rabtui(lab, "cleanup", "--now", later)
    assert done.returncode == 0, done.stdout + done.stderr
    cfg, store = lab.load(), lab.store()
    assert not union_undo.pending(cfg.media[0].path, "loc")
    return cfg, store, done


def test_a_cleanup_killed_beside_the_saved_symlink_is_finished_by_the_next(tmp_path):
    """As above (photos/sub), the cleanup killed (SIGKILL) once photos/sub's own backup's tree was
    emptied (it linked nothing the union still holds: no undoing there): the next cleanup finishes
    it, nothing read or removed through the symlink, and the medium is what the catalog says."""
    from tests.test_archive_dirs_nested_checkpoint import symlink_saved_on_the_way
    from tests.trees import burn_due

    lab, cfg, store = symlink_saved_on_the_way(tmp_path, "photos/sub")
    burn_due(cfg, store, asked={"*"}, verified=True)
    cfg, store, done = _cleanup_killed_then_finished(lab, "cleanup.trees_emptied")
    assert [r["status"] for r in store.all("SELECT status FROM backups ORDER BY id")] == \
        ["deleted", "completed", "warnings"], done.stdout
    assert not any(n.startswith(".deleting-") for n in os.listdir(lab.media[0][1] / "loc"))
    assert sorted(os.listdir(tmp_path / "outside")) == ["k", "sub"]
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


def test_a_cleanup_killed_as_it_undid_the_outer_ones_links_past_the_saved_symlink(tmp_path):
    """photos/k on a verified disc, so data's first backup and photos' own go: the cleanup killed
    (SIGKILL) as it undid data's backup's links in the union that holds the saved symlink at photos;
    the next cleanup finishes it, nothing read or removed through the symlink."""
    from tests.trees import burn_due

    from tests.test_archive_dirs_nested_checkpoint import _config_naming

    lab, cfg, store = _saved(tmp_path)
    burn_due(cfg, store, asked={"*"}, verified=True)
    burn_due(_config_naming(lab, tmp_path, lab.src / "data"), store, asked={"*"}, verified=True)    # top
    _config_naming(lab, tmp_path, lab.src / "data" / "photos")
    cfg, store, done = _cleanup_killed_then_finished(lab, "union.undoing")
    assert [r["status"] for r in store.all("SELECT status FROM backups ORDER BY id")] == \
        ["deleted", "deleted", "warnings"], done.stdout
    assert sorted(os.listdir(tmp_path / "outside")) == ["k", "x"]
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")
