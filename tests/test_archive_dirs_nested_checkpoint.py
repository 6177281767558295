"""Checkpoints of an archive directory configured anew as one inside it or around it (/data, then
/data/photos; or the reverse; or /data standard, then /data/photos archive): both unions are one
folder on the medium, so what a backup of the one saved is what the other shows, and its discs hold
it. Real backups (rsync), real xorriso (`images:` drive)."""

from __future__ import annotations

import os
import shutil
import threading
from datetime import timedelta

import pytest

from tests import invariants
from tests.test_checkpoint_kind_changed import DAY
from tests.trees import Lab, burn_due, write_files

HISTORIES = {"narrowed": [("data", "archive"), ("data/photos", "archive")],
             "widened": [("data/photos", "archive"), ("data", "archive")],
             "narrowed from standard": [("data", "standard"), ("data/photos", "archive")]}
M = 315_532_800          # 1980-01-01, as zip and many build tools set it


def _backup(lab: Lab, n: int, dirs: tuple[str, str], extra: str = "", status: str = "completed") -> None:
    lab.write(lab._local_source([dirs], extra, "loc")
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{lab.tmp / "iso"}"\nmax_changed_files = 0\n')
    assert lab.backup(lab.load(), now=DAY + timedelta(days=n)).status == status


def _photos_k_saved_by_both(tmp_path, how: str) -> Lab:
    """data/photos/k and data/top saved by a backup of the first directory of the history `how`,
    then by one of the second."""
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    first, second = HISTORIES[how]
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    _backup(lab, 0, first)
    _backup(lab, 1, second)
    return lab


@pytest.mark.parametrize("how", list(HISTORIES))
def test_kept_data_of_the_other_directory_goes_onto_the_discs(tmp_path, how):
    """photos/k saved by the first directory's backup; the second's backup, whose post-backup
    command failed (its data kept, not linked into the union), saved k changed; the source removed k
    before the next backup. The second directory's checkpoint holds k as kept data saved it (the
    newest saved on the medium): its discs held the union's older k, or (first saved standard) none.
    So are the symlink and the empty directory only kept data saved."""
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    first, second = HISTORIES[how]
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t", b"photos/sub/s": b"s"})
    _backup(lab, 0, first)
    write_files(lab.src / "data", {b"photos/n": b"new", b"photos/k": b"k changed"})
    photos = lab.src / "data" / "photos"
    os.symlink("n", photos / "sl")
    (photos / "empty").mkdir()
    _backup(lab, 1, second, 'post_backup_commands = ["exit 4"]', "failed")
    for gone in ("k", "sl"):
        (photos / gone).unlink()
    (photos / "empty").rmdir()
    _backup(lab, 2, second)
    cfg, store = lab.load(), lab.store()
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    invariants.check_views_are_media(cfg, store)


@pytest.mark.parametrize("how", list(HISTORIES))
def test_a_file_changed_after_the_directory_changed_counts_for_its_checkpoint(tmp_path, how):
    """The second directory checkpointed, then photos/k (which the first directory's backup saved
    first) changed: the second directory counts one changed file, and is due past
    max_changed_files 0. It counted none (the change went to the first directory, no longer
    configured), and the checkpoint waited for max_days."""
    from rabtui.checkpoint import triggers

    lab = _photos_k_saved_by_both(tmp_path, how)
    burn_due(lab.load(), lab.store(), asked={"*"})
    write_files(lab.src / "data", {b"photos/k": b"k changed"})
    _backup(lab, 2, HISTORIES[how][1])
    [st] = triggers.statuses(lab.load(), lab.store())
    assert (st.changed, st.due) == (1, True), st.reasons
    # the changes made again from the catalog (rebuild-state, a checkpoint abandoned) agree
    from rabtui.state import changes
    store = lab.store()
    with store.transaction() as conn:
        changes.rebuild(conn)
    [st] = triggers.statuses(lab.load(), store)
    assert (st.changed, st.due) == (1, True), st.reasons


@pytest.mark.parametrize("how", ["narrowed", "widened"])
def test_a_version_saved_again_with_the_same_size_and_time_is_read_by_its_content(tmp_path, how):
    """photos/f (A) saved by the first directory's backup and recorded by the second's checkpoint;
    before its disc is written, the second's backups save B, then C of A's size and mtime (a build
    tool's fixed date). The disc holds A, read by its content from the backup that saved it: it was
    read from C's (the first that saved a version of that size and mtime, newest first), as the
    catalog knew f in the other directory, and the disc failed its verification."""
    from rabtui.checkpoint import prepare, run
    from rabtui.events import READY, ScriptedPrompter
    from rabtui.restore import run as restore_run

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    first, second = HISTORIES[how]
    f = lab.src / "data" / "photos" / "f"

    def put(data: bytes) -> None:
        write_files(f.parent, {b"f": data})
        os.utime(f, (M, M))

    put(b"A" * 100)
    _backup(lab, 0, first)
    _backup(lab, 1, second)
    cfg, store = lab.load(), lab.store()
    number = prepare.record(cfg, store, prepare.compute(cfg, store, asked={"*"}), drive=cfg.checkpoint.drive)
    put(b"B" * 200)
    _backup(lab, 2, second)
    put(b"C" * 100)
    _backup(lab, 3, second)
    res = run.burn_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                              prompter=ScriptedPrompter(lambda q: READY))
    assert res.status == "completed", res.message
    out = tmp_path / "out"
    restore_run.restore(cfg, store, "loc", str(f), checkpoint=number, to=out)
    assert (out / invariants._prefix(str(f)).decode()).read_bytes() == b"A" * 100


def _another_entry_at_photos(tmp_path, how: str, what: str):
    """data/photos/k saved (by data's backups or photos' own), then data (archive) backed up with a
    file, a FIFO or a symlink at photos, and the config naming data/photos again: the lab, its
    config, the store."""
    lab = _photos_k_saved_by_both(tmp_path, how)
    photos = lab.src / "data" / "photos"
    shutil.rmtree(photos)
    if what == "file":
        photos.write_bytes(b"a file")
    elif what == "fifo":
        os.mkfifo(photos)
    else:
        os.symlink(tmp_path / "outside", photos)
    _backup(lab, 2, ("data", "archive"), status="warnings")     # the union's photos replaced, said
    cfg = lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{photos}"\nkind = "archive"\n'
                    f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
    return lab, cfg, lab.store()


@pytest.mark.parametrize("what", ["file", "fifo"])
@pytest.mark.parametrize("how", ["narrowed", "widened"])
def test_the_inner_directory_made_another_entry_by_the_outer_ones_backup_goes_onto_the_discs(tmp_path, how, what):
    """The union holds the file or FIFO data's backup saved at photos: the checkpoint read photos
    from the union alone and the whole plan failed ("... is not there (is medium m1 mounted?)", the
    medium mounted), every checkpoint while photos was due, the other directories due with it. A
    restore from photos' newest backup gave its files (the backups' own trees), and so do the discs."""
    lab, cfg, store = _another_entry_at_photos(tmp_path, how, what)
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


@pytest.mark.parametrize("how", ["narrowed", "widened"])
def test_the_inner_directory_made_a_symlink_by_the_outer_ones_backup_goes_onto_the_discs(tmp_path, how):
    """As above with a symlink at photos (leading to a directory holding a k of its own): the plan
    failed ("a symlink, which rabtui never makes"), and a restore of photos from its backups refused
    it too. Their files come back from the backups' own trees, nothing read through the symlink,
    and data's backup that saved it gives it back, a symlink."""
    from rabtui.restore import run as restore_run

    lab, cfg, store = _another_entry_at_photos(tmp_path, how, "symlink")
    write_files(tmp_path / "outside", {b"k": b"K", b"top": b"T"})      # what is there must not be read
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")
    photos = str(lab.src / "data" / "photos")
    outer = store.one("SELECT name FROM backups ORDER BY id DESC LIMIT 1")["name"]
    restore_run.restore(cfg, store, "loc", photos, backup=outer, to=tmp_path / "symlink")
    assert os.readlink(tmp_path / "symlink" / photos.lstrip("/")) == str(tmp_path / "outside")
    for r in store.all("SELECT name FROM backups WHERE name!=?", (outer,)):     # one file alone too
        restore_run.restore(cfg, store, "loc", photos + "/k", backup=r["name"], to=tmp_path / r["name"])
        assert (tmp_path / r["name"] / photos.lstrip("/") / "k").read_bytes() == b"k"



def _config_naming(lab: Lab, tmp_path, path) -> object:
    """The config naming `path` (archive) alone, no backup made: the config."""
    return lab.write(f'[[sources]]\nid = "loc"\n[[sources.directories]]\npath = "{path}"\nkind = "archive"\n'
                     f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')


def test_the_inner_directory_named_again_is_taken_from_the_outer_ones_newest_backup(tmp_path):
    """photos (archive) backed up, then the config naming data (archive) around it, whose backup
    saved photos/k changed (into the same union), then photos named again before its next backup.
    The checkpoint read the union as data's backup left it (k changed) but recorded photos' own
    older backup as the one it took: a restore of that backup (--backup) gave the old k, the disc
    the new one. It records data's backup, which holds what the disc holds."""
    from rabtui.restore import run as restore_run

    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    photos = lab.src / "data" / "photos"
    write_files(lab.src / "data", {b"photos/k": b"k", b"top": b"t"})
    _backup(lab, 0, ("data/photos", "archive"))
    write_files(lab.src / "data", {b"photos/k": b"k changed"})
    _backup(lab, 1, ("data", "archive"))
    cfg, store = _config_naming(lab, tmp_path, photos), lab.store()
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    [c] = store.all("SELECT * FROM checkpoint_dirs WHERE number=? AND role='data'", (number,))
    taken = store.one("SELECT name FROM backups WHERE id=?", (c["backup_id"],))["name"]
    restore_run.restore(cfg, store, "loc", str(photos), backup=taken, to=tmp_path / "r")
    assert (tmp_path / "r" / str(photos).lstrip("/") / "k").read_bytes() == b"k changed"
    restore_run.restore(cfg, store, "loc", str(photos), checkpoint=number, to=tmp_path / "d")
    assert (tmp_path / "d" / str(photos).lstrip("/") / "k").read_bytes() == b"k changed"
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")


def symlink_saved_on_the_way(tmp_path, inner: str):
    """data/<inner> (its k) backed up on its own, then data (archive) twice, the last backup saving
    the first part of <inner> as a symlink leading to a directory holding files of the same names;
    the config naming data/<inner> again: the lab, its config, the store."""
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    write_files(lab.src / "data", {f"{inner}/k".encode(): b"k", b"top": b"t"})
    _backup(lab, 0, (f"data/{inner}", "archive"))
    _backup(lab, 1, ("data", "archive"))
    first = inner.split("/")[0]
    shutil.rmtree(lab.src / "data" / first)
    write_files(tmp_path / "outside", {f"{inner}/k"[len(first) + 1:].encode(): b"K", b"k": b"K"})
    os.symlink(tmp_path / "outside", lab.src / "data" / first)
    _backup(lab, 2, ("data", "archive"), status="warnings")
    return lab, _config_naming(lab, tmp_path, lab.src / "data" / inner), lab.store()


@pytest.mark.parametrize("inner", ["photos/sub", "p" * 255])
def test_a_symlink_the_outer_ones_backup_saved_on_the_way_to_the_inner_directory_is_not_read_through(tmp_path, inner):
    """data/<inner> backed up on its own, then data (archive), whose last backup saved photos (on
    the way to photos/sub, or the inner directory itself of a 255-byte name) as a symlink leading to
    a directory holding files of the same names; the config naming data/<inner> again: the
    checkpoint and a restore give the files its own backups saved, none read through the symlink."""
    lab, cfg, store = symlink_saved_on_the_way(tmp_path, inner)
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")


def test_a_symlink_planted_in_place_of_the_one_the_outer_ones_backup_saved_is_refused(tmp_path):
    """The union's symlink at photos replaced by another of the same target (no backup holds that
    entry): the plan and a restore from photos' own backup refuse it, naming it, as any planted one."""
    from rabtui.checkpoint import prepare
    from rabtui.errors import WorkFailed
    from rabtui.media import medium_layout
    from rabtui.restore import run as restore_run

    lab, cfg, store = _another_entry_at_photos(tmp_path, "narrowed", "symlink")
    photos = lab.src / "data" / "photos"
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(photos))
    os.unlink(union)
    os.symlink(tmp_path / "outside", union)
    with pytest.raises(WorkFailed, match="never makes"):
        prepare.compute(cfg, store, asked={"*"})
    own = store.one("SELECT name FROM backups ORDER BY id LIMIT 1 OFFSET 1")["name"]     # photos' own
    with pytest.raises(WorkFailed, match="never makes"):
        restore_run.restore(cfg, store, "loc", str(photos), backup=own, to=tmp_path / "r")


@pytest.mark.parametrize("what", ["symlink", "fifo"])
def test_the_inner_directorys_place_left_empty_by_a_backup_killed_as_it_made_way(tmp_path, what):
    """As above, then a backup of photos killed between taking the outer one's entry out of the
    union and making the directory there (union_place: two calls): nothing at photos in the union.
    The plan failed ("... is not there (is medium m1 mounted?)", the medium mounted); the checkpoint
    and a restore read photos from its backups' own trees."""
    from rabtui.media import medium_layout

    lab, cfg, store = _another_entry_at_photos(tmp_path, "narrowed", what)
    os.unlink(medium_layout.archive_root(cfg.media[0].path, "loc", str(lab.src / "data" / "photos")))
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    invariants.check_checkpoint_is_view(cfg, store, number, tmp_path / "out")
    invariants.check_restores_are_views(cfg, store, tmp_path / "restored")
