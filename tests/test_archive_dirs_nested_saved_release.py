"""The symlink a backup of /data (archive) saved at photos' place in the union
(test_archive_dirs_nested_checkpoint.symlink_saved_on_the_way), met by the removal of a union no
backup needs (union_release.py) and by rebuild-state. Real rsync."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest

from tests import invariants
from tests.trees import write_files


@pytest.mark.parametrize("shape", ["symlink", "directory"])
def test_a_union_released_while_a_backup_around_it_ran_stays(tmp_path, shape):
    """The union of data/photos/sub, made standard, planned for removal with its archive backup;
    before the plan is done, data (archive) is backed up, saving photos as a symlink (or a
    directory and a new file n there: photos/sub's union is then inside data's). The cleanup
    refused the saved symlink as planted (failed), or removed data's backup's n from data's union
    (a checkpoint of data lacked it). The union stays, said kept for data's backup; nothing read through the
    symlink."""
    from rabtui.actions import cleanup as cleanup_actions
    from tests.test_union_release_attacks import DAY, NOW, _made_standard

    lab, cfg, union = _made_standard(tmp_path, "data/photos/sub", files={"k": b"k"})
    store = lab.store()
    plan = cleanup_actions.plan(cfg, store, now=NOW)
    assert [u.dir for u in plan.unions] == [str(lab.src / "data/photos/sub")], plan.unions
    if shape == "symlink":
        shutil.rmtree(lab.src / "data" / "photos")
        write_files(tmp_path / "outside", {b"sub/k": b"K", b"k": b"K"})
        os.symlink(tmp_path / "outside", lab.src / "data" / "photos")
    else:
        write_files(lab.src / "data", {b"photos/sub/n": b"n"})
    write_files(lab.src / "data", {b"top": b"t"})
    lab.local([("data", "archive")])
    assert lab.backup(lab.load(), medium_id="m1", now=DAY + timedelta(days=3)).status == \
        ("warnings" if shape == "symlink" else "completed")
    outer = store.one("SELECT name FROM backups ORDER BY id DESC LIMIT 1")["name"]
    done = cleanup_actions.apply(lab.load(), store, plan)
    assert done.failed == [] and done.unions == [], done.lines
    assert any(outer in line and "needs it" in line for line in done.kept), done.lines
    if shape == "symlink":
        assert os.path.islink(union.parent) and sorted(os.listdir(tmp_path / "outside")) == ["k", "sub"]
    else:
        assert (union / "n").read_bytes() == b"n"
    cfg = lab.load()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)


@pytest.mark.parametrize("inner", ["photos", "photos/sub"])
def test_rebuild_state_beside_the_saved_symlink_is_the_catalog_the_backups_built(tmp_path, inner):
    """rebuild-state with the saved symlink at photos in the union (the inner directory itself, or
    on the way to it): the catalog it makes is the one the backups made, none said planted."""
    from tests.test_archive_dirs_nested_checkpoint import symlink_saved_on_the_way
    from tests.test_rebuild_narrowed import _rebuilt_as_built

    lab, _cfg, store = symlink_saved_on_the_way(tmp_path, inner)
    store.close()
    with _rebuilt_as_built(lab) as (cfg, store):
        invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


@pytest.mark.parametrize("behind", [True, False])
def test_the_union_judged_there_whatever_lies_behind_the_saved_symlink(tmp_path, behind):
    """photos/sub's own backup (archive) made its union, then data's backup saved photos as a
    symlink on the way to it: a backup that recorded no kinds is judged by whether the medium
    holds photos/sub's union, and whether it lacks the backup's files (rebuild-state's kind_taken,
    retention's guard). Both were looked up through the symlink: the off-medium directory decided
    (standard where its target held no sub, or a sub without the backup's k). Nothing is followed: archive (it cannot be looked at), either way."""
    from rabtui.rebuild.record import kind_taken
    from tests.test_archive_dirs_nested_checkpoint import symlink_saved_on_the_way

    lab, cfg, store = symlink_saved_on_the_way(tmp_path, "photos/sub")
    if behind:
        os.unlink(tmp_path / "outside" / "sub" / "k")     # a sub there, without the backup's k
    else:
        shutil.rmtree(tmp_path / "outside" / "sub")
    d = str(lab.src / "data" / "photos" / "sub")
    own = store.one("SELECT path FROM backups ORDER BY id LIMIT 1")["path"]
    for backup in (None, own):      # compared with the union's files (union_lacks_tree) too
        assert kind_taken(cfg.media[0].path, "loc", d, "archive", backup_path=backup)[0] == "archive"


def test_the_merged_view_shows_the_saved_symlink_as_a_restore_from_it_gives_it(tmp_path):
    """Browse's merged view (the union tree, restored from the newest complete backup there) while
    the saved symlink stands at photos on the way to photos/sub: it lists photos as that symlink,
    adds nothing of photos/sub (merged_extra) and a restore of photos/sub from it gives nothing,
    saying why; nothing of where the symlink leads is shown or read."""
    from rabtui.actions import archive_view
    from rabtui.errors import WorkFailed
    from rabtui.restore import run as restore_run
    from rabtui.state import queries
    from tests.test_archive_dirs_nested_checkpoint import symlink_saved_on_the_way

    lab, cfg, store = symlink_saved_on_the_way(tmp_path, "photos/sub")
    root = archive_view.merged_root(cfg.media[0].path, "loc")
    photos = os.path.join(root, str(lab.src / "data" / "photos").lstrip("/"))
    assert os.readlink(photos) == str(tmp_path / "outside")
    sub = str(lab.src / "data" / "photos" / "sub")
    assert archive_view.merged_extra(cfg, store, "loc", "m1", os.fsencode(sub).lstrip(b"/")) == {}
    newest = queries.last_backup(store, "loc", complete=True, medium="m1")["name"]
    with pytest.raises(WorkFailed, match="is a symlink there"):
        restore_run.restore(cfg, store, "loc", sub, backup=newest, to=tmp_path / "r")
    assert not (tmp_path / "r").exists() or not any((tmp_path / "r").rglob("k"))
