"""An archive directory configured in place of one around it (/data made /data/photos, or back):
the directories of its `.archive/` view that only backups of the other directory hold in their own
trees (removed from the source before the change) come back from the medium, and go onto the discs,
with the source's mode and times as those backups saved them, not those rabtui gave the union's
(0755, the time of linking). Real rsync, real xorriso."""

from __future__ import annotations

import os
import stat
from datetime import timedelta

import pytest

from rabtui.restore import run as restore_run
from tests import invariants
from tests.test_checkpoint_kind_changed import DAY
from tests.trees import Lab, burn_due, write_files

OLD = 1_500_000_000


def _history(lab: Lab, dirs: list[str], discs: bool = False) -> tuple:
    """data/photos/d/f (d: mode 0750, an old time) saved by a backup of dirs[0], d then removed
    from the source; a backup of dirs[1]. The config names dirs[1] (`discs`: and an images: drive)."""
    write_files(lab.src / "data", {b"photos/d/f": b"f", b"top": b"t"})
    d = lab.src / "data" / "photos" / "d"
    d.chmod(0o750)
    os.utime(d, (OLD, OLD))
    assert lab.backup(lab.local([(dirs[0], "archive")]), now=DAY).status == "completed"
    (d / "f").unlink()
    d.rmdir()
    if discs:
        (lab.tmp / "iso").mkdir()
    cfg = lab.with_discs("cd-700", [(dirs[1], "archive")]) if discs else lab.local([(dirs[1], "archive")])
    last = lab.backup(cfg, now=DAY + timedelta(days=1))
    assert last.status == "completed"
    return cfg, last


@pytest.mark.parametrize("dirs", [["data", "data/photos"], ["data/photos", "data"]])
def test_a_restore_gives_the_saved_directory_its_own_mode_and_times(dirs, tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg, last = _history(lab, dirs)
    store = lab.store()
    try:
        restore_run.restore(cfg, store, "loc", str(lab.src / dirs[1]), backup=last.path.name, to=tmp_path / "out")
    finally:
        store.close()
    st = os.lstat(tmp_path / "out" / str(lab.src / "data" / "photos" / "d").lstrip("/"))
    assert (stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (0o750, OLD)


def test_a_directory_on_the_way_to_an_inner_one_is_not_taken_from_its_backup(tmp_path):
    """data saved photos (0750); a backup of data/photos/sub holds photos only on the way, made by
    rabtui; photos removed, data configured again: a restore gives photos as data's backup saved it."""
    lab = Lab(tmp_path, media_count=1)
    write_files(lab.src / "data", {b"photos/sub/f": b"f", b"top": b"t"})
    photos = lab.src / "data" / "photos"
    photos.chmod(0o750)
    os.utime(photos, (OLD, OLD))
    for n, d in enumerate(["data", "data/photos/sub"]):
        assert lab.backup(lab.local([(d, "archive")]), now=DAY + timedelta(days=n)).status == "completed"
    (photos / "sub" / "f").unlink()
    (photos / "sub").rmdir()
    photos.rmdir()
    cfg = lab.local([("data", "archive")])
    last = lab.backup(cfg, now=DAY + timedelta(days=2))
    store = lab.store()
    try:
        restore_run.restore(cfg, store, "loc", str(lab.src / "data"), backup=last.path.name, to=tmp_path / "out")
    finally:
        store.close()
    st = os.lstat(tmp_path / "out" / str(photos).lstrip("/"))
    assert (stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (0o750, OLD)


def test_the_discs_give_the_saved_directory_its_own_mode_and_times(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg, _ = _history(lab, ["data", "data/photos"], discs=True)
    store = lab.store()
    try:
        number = burn_due(cfg, store, asked={"*"}, verified=True)
        restore_run.restore(cfg, store, "loc", str(lab.src / "data" / "photos"), checkpoint=number, to=tmp_path / "out")
    finally:
        store.close()
    st = os.lstat(tmp_path / "out" / str(lab.src / "data" / "photos" / "d").lstrip("/"))
    assert (stat.S_IMODE(st.st_mode), int(st.st_mtime)) == (0o750, OLD)


@pytest.mark.parametrize("dirs, holds", [(["data", "data/photos"], True), (["data/photos", "data"], False)])
def test_a_backup_that_recorded_no_kinds_holds_the_directory_inside_the_one_it_saved(dirs, holds, tmp_path):
    """A backup an older version made (no kinds recorded) of /data, the config naming /data/photos
    since: it holds photos, and a checkpoint asked for before the next backup takes photos from it
    (it said "no complete backup on a configured medium"). One of /data/photos holds no /data."""
    from rabtui.checkpoint import triggers
    from tests.test_kinds_unrecorded import _forget_kinds

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    assert lab.backup(lab.local([(dirs[0], "archive")]), now=DAY).status == "completed"
    store = lab.store()
    try:
        first = store.one("SELECT * FROM backups")
        _forget_kinds(lab, store, first)
        cfg = lab.with_discs("cd-700", [(dirs[1], "archive")])
        assert triggers.newest_backup(store, "loc", str(lab.src / dirs[1])) == (first["id"] if holds else None)
        if holds:
            number = burn_due(cfg, store, asked={"*"}, verified=True)
            invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    finally:
        store.close()


def test_a_backup_that_recorded_no_kinds_and_saved_a_fifo_at_the_inner_directory_holds_none(tmp_path):
    """Two backups an older version made of /data (no kinds recorded), the second with a FIFO at
    photos, the config naming /data/photos since: the second holds no directory photos (the newest
    shape there up to it is the FIFO); the checkpoint takes photos from the first. It took the second
    and the whole plan failed ("... is not there (is medium m1 mounted?)", the medium mounted)."""
    from rabtui.checkpoint import triggers
    from tests.test_kinds_unrecorded import _forget_kinds

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    photos = lab.src / "data" / "photos"
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    assert lab.backup(lab.local([("data", "archive")]), now=DAY).status == "completed"
    (photos / "k").unlink()
    photos.rmdir()
    os.mkfifo(photos)
    assert lab.backup(lab.local([("data", "archive")]), now=DAY + timedelta(days=1)).status == "warnings"
    store = lab.store()
    try:
        first, second = store.all("SELECT * FROM backups ORDER BY id")
        for row in (first, second):
            _forget_kinds(lab, store, row)
        cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{photos}"\nkind = "archive"\n'
                        f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
        assert triggers.newest_backup(store, "loc", str(photos)) == first["id"]
        number = burn_due(cfg, store, asked={"*"}, verified=True)
        invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    finally:
        store.close()
