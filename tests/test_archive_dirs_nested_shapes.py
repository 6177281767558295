"""Shapes changed across an archive directory configured anew as one inside it or around it (/data,
then /data/photos; or the reverse; or /data/photos made standard): a file made a directory, a
directory made a file, a symlink made a file and back, a file made a symlink, a symlink the first
directory saved made a directory by the second. `find` marks `+ archive` exactly on what the `.archive/` view holds, diff says what each
backup shows. Real backups (rsync)."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta
from pathlib import Path

import pytest

from tests import invariants
from tests.test_checkpoint_kind_changed import DAY
from tests.trees import Lab, write_files

HISTORIES = {"narrowed": [("data", "archive"), ("data/photos", "archive")],
             "widened": [("data/photos", "archive"), ("data", "archive")],
             "narrowed to standard": [("data", "archive"), ("data/photos", "standard")],
             "the same directory": [("data/photos", "archive"), ("data/photos", "archive")]}


def _reshaped(photos, n: int) -> None:
    if n == 1:
        (photos / "k").unlink()
        shutil.rmtree(photos / "d")
        for name in ("l", "m"):
            (photos / name).unlink()
        write_files(photos, {b"k/y": b"y", b"d": b"now a file", b"l": b"file at l"})
        os.symlink("k", photos / "m")
    elif n == 2:
        for name in ("l", "s"):
            (photos / name).unlink()
        os.symlink("elsewhere", photos / "l")
        write_files(photos, {b"s/in": b"in"})
        shutil.rmtree(photos / "k")
        write_files(photos, {b"k": b"k back"})


@pytest.mark.parametrize("how", list(HISTORIES))
def test_find_and_diff_show_the_newest_shape(tmp_path, how):
    """Before: made standard, find marked no union entry of photos (the standard backup's shapes
    were taken as linked into the union); narrowed or widened, diff said the symlink l, a file in
    between, was there before it came back, and not that the symlink s went (a directory took
    its place); in one directory, diff never said l went when a file
    took its place."""
    lab = Lab(tmp_path, media_count=1)
    photos = lab.src / "data" / "photos"
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t", b"photos/d/x": b"x", b"photos/m": b"m"})
    os.symlink("k", photos / "l")
    os.symlink("m", photos / "s")
    first, second = HISTORIES[how]
    for n, d in enumerate([first, second, second]):
        _reshaped(photos, n)
        assert lab.backup(lab.local([d]), now=DAY + timedelta(days=n)).status in ("completed", "warnings")
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)


def test_the_inner_directory_made_a_symlink_by_the_outer_one(tmp_path):
    """data/photos (archive) saved k; the source made photos a symlink and the config names data
    (archive) since: its backup put the symlink in the union in place of the directory photos. find
    marked k `+ archive`, in the union no more (the place on the way to it was the inner
    directory itself, never looked at); nothing is written where the symlink points."""
    lab = Lab(tmp_path, media_count=1)
    outside, data = tmp_path / "outside", lab.src / "data"
    outside.mkdir()
    write_files(data, {b"top": b"t", b"photos/k": b"k"})
    assert lab.backup(lab.local([("data/photos", "archive")]), now=DAY).status == "completed"
    shutil.rmtree(data / "photos")
    os.symlink(outside, data / "photos")
    assert lab.backup(lab.local([("data", "archive")]), now=DAY + timedelta(days=1)).status == "warnings"
    assert list(outside.iterdir()) == []
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_found_restores(cfg, store, tmp_path / "found")


@pytest.mark.parametrize("what", ["file", "symlink", "fifo"])
def test_the_inner_directory_saved_as_another_entry_by_the_outer_one(tmp_path, what):
    """data (archive) saved photos as a file, a symlink or a FIFO; the source made it a directory and
    the config names data/photos since: its backups failed every night ("File exists", or "a
    symlink, which rabtui never makes"). The entry goes from the union, said, and the backup that
    saved it still gives it."""
    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {b"top": b"t"} | ({b"photos": b"a file"} if what == "file" else {}))
    if what == "symlink":
        os.symlink(tmp_path / "outside", data / "photos")
    elif what == "fifo":
        os.mkfifo(data / "photos")
    assert lab.backup(lab.local([("data", "archive")]), now=DAY).status == "completed"
    (data / "photos").unlink()
    write_files(data, {b"photos/k": b"k"})
    assert lab.backup(lab.local([("data/photos", "archive")]), now=DAY + timedelta(days=1)).status == "completed"
    assert [m for m in lab.messages("warning") if "holds it still (restore --backup backup-20260601033000" in m]
    assert not (tmp_path / "outside").exists()
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


def test_a_symlink_planted_at_the_inner_directory_is_refused(tmp_path):
    """A symlink no backup saved, put in the union where data/photos goes: refused as before,
    left where it is, nothing written where it points."""
    lab = Lab(tmp_path, media_count=1)
    outside = tmp_path / "outside"
    outside.mkdir()
    write_files(lab.src / "data", {b"top": b"t", b"photos/k": b"k"})
    assert lab.backup(lab.local([("data", "archive")]), now=DAY).status == "completed"
    from rabtui.media import medium_layout
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(lab.src / "data"))
    shutil.rmtree(union / "photos")
    os.symlink(outside, union / "photos")
    assert lab.backup(lab.local([("data/photos", "archive")]), now=DAY + timedelta(days=1)).status == "failed"
    assert [m for m in lab.messages() if "is a symlink, which rabtui never makes" in m]
    assert os.path.islink(union / "photos") and list(outside.iterdir()) == []


def test_odd_names_inside_the_directory_made_one_inside(tmp_path):
    """The inner directory's name with an escape sequence and a newline, files below it not UTF-8
    and of 255 bytes, the config narrowed to it and widened back: find, diff, restores agree with the
    media, and the union's entry in its way is said with its name escaped."""
    lab = Lab(tmp_path, media_count=1)
    inner = "ph\x1b[31mo\nt"
    data = lab.src / "data"
    write_files(data, {b"top": b"t", inner.encode(): b"was a file"})
    assert lab.backup(lab.local([("data", "archive")]), now=DAY).status == "completed"
    (data / inner).unlink()
    write_files(data / inner, {b"\xff\xfe": b"raw", b"L" * 255: b"long"})
    toml_inner = inner.replace("\x1b", "\\u001b").replace("\n", "\\n")
    cfg = lab.write(lab._local_source([("data", "archive")], "", "loc").replace(
        f'path = "{data}"', f'path = "{data}/{toml_inner}"'))
    assert cfg.source("loc").directories[0].path == f"{data}/{inner}"
    assert lab.backup(cfg, now=DAY + timedelta(days=1)).status == "completed"
    said = [m for m in lab.messages("warning") if "holds it still" in m]
    assert said and "\x1b" not in said[0] and "\n" not in said[0], said
    write_files(data / inner, {b"\xff\xfe": b"raw, longer now"})
    assert lab.backup(lab.local([("data", "archive")]), now=DAY + timedelta(days=2)).status == "completed"
    cfg, store = lab.load(), lab.store()
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


def test_the_outer_place_taken_out_after_a_backup_recording_no_kinds_leaves_its_files_kept(tmp_path):
    """data (archive) saved by an older version (no kinds recorded) with `first` (the source drops
    it since) and photos a FIFO; the config names data/photos since. Its backup took the FIFO out
    of the union before the medium was looked at for the backups that recorded no kinds: the look
    found the union lacking a file of that backup and judged it standard, and a cleanup deleted
    the only copy of `first` (left in a union no backup holds; find: nowhere)."""
    from rabtui.actions.find import find
    from rabtui.backup import deletion, retention

    lab, data, store = _an_old_backup_of_data_with_a_fifo_at_photos(tmp_path)
    lab.local([("data/photos", "archive")])
    lab.keep_a_day()
    cfg = lab.load()
    for n in (1, 2):
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status == "completed"
    deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9)))
    held = [store.one("SELECT path FROM backups WHERE name=? AND status<>'deleted'", (name,))
            for v in find(cfg, store, "first").versions for loc in v.locations for name in loc.backups]
    assert held and all((Path(r["path"]) / "data" / str(data / "first").lstrip("/")).read_bytes()
                        == b"held by the old backup alone" for r in held), "first is in no backup"
    invariants.check_catalog_is_media(cfg, store)


def test_a_backup_that_saved_the_inner_directory_as_a_symlink_is_deleted_in_its_turn(tmp_path):
    """data (archive) saved photos as a symlink to a directory outside, on two media; the config
    names data/photos since. The old backup of data on the first medium, its files on the second
    too, was never deleted: every cleanup failed on it ("a symlink, which rabtui never makes"),
    the symlink it saved taken for one planted on the way to its copy of data/photos. It goes,
    nothing is read or removed where the symlink points."""
    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=2)
    outside, data = tmp_path / "outside", lab.src / "data"
    write_files(outside, {b"keep": b"not the backup's"})
    write_files(data, {b"top": b"t"})
    os.symlink(outside, data / "photos")
    lab.local([("data", "archive")])
    for m, (medium, _) in enumerate(lab.media):
        assert lab.backup(lab.load(), now=DAY + timedelta(hours=m), medium_id=medium).status == "completed"
    (data / "photos").unlink()
    write_files(data, {b"photos/k": b"k"})
    lab.local([("data/photos", "archive")])
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    for n, medium in enumerate(["m1", "m2", "m1"]):
        assert lab.backup(cfg, now=DAY + timedelta(days=1 + n), medium_id=medium).status == "completed"
    plan = retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9))
    assert "backup-20260601033000" in [c.name for c in plan.delete], (plan.delete, plan.guarded)
    done = deletion.apply_cleanup(cfg, store, plan)
    assert done.failed == [] and len(done.deleted) == len(plan.delete), done.lines
    assert (outside / "keep").read_bytes() == b"not the backup's"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)


def test_the_outer_place_taken_out_then_the_database_lost_leaves_the_old_backups_files_kept(tmp_path):
    """As above, the inner directory's first backup failing after it took the FIFO out of the union
    (its union not made yet), then the database lost: rebuild-state found the union lacking the
    old backup's FIFO and recorded it a standard one, and a cleanup deleted the only copy of
    `first`."""
    from rabtui.actions.find import find
    from rabtui.backup import deletion, retention
    from tests.test_kinds_unrecorded import _database_lost

    lab, data, store = _an_old_backup_of_data_with_a_fifo_at_photos(tmp_path)
    store.close()
    failing = lab.local([("data/photos", "archive")], extra='pre_backup_commands = ["exit 3"]')
    assert lab.backup(failing, now=DAY + timedelta(hours=12)).status == "failed"
    _database_lost(lab)
    lab.local([("data/photos", "archive")])
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    for n in (1, 2):
        assert lab.backup(cfg, now=DAY + timedelta(days=n)).status == "completed"
    deletion.apply_cleanup(cfg, store, retention.plan_cleanup(cfg, store, now=DAY + timedelta(days=9)))
    assert [name for v in find(cfg, store, "first").versions for loc in v.locations for name in loc.backups], \
        "first is in no backup"
    invariants.check_catalog_is_media(cfg, store)


def _an_old_backup_of_data_with_a_fifo_at_photos(tmp_path):
    """An archive backup of data that recorded no kinds (an older version's), holding `first` and a
    FIFO at photos; the source since lost both and holds a directory photos/ of one file."""
    from tests.test_kinds_unrecorded import _forget_kinds

    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    write_files(data, {b"first": b"held by the old backup alone"})
    os.mkfifo(data / "photos")
    assert lab.backup(lab.local([("data", "archive")]), now=DAY).status == "completed"
    store = lab.store()
    _forget_kinds(lab, store, store.one("SELECT * FROM backups"))
    (data / "first").unlink()
    (data / "photos").unlink()
    write_files(data, {b"photos/k": b"k"})
    return lab, data, store
