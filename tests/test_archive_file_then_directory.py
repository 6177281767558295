"""A name of an archive directory that a complete backup saved as a file (or FIFO) and the source
made a directory with entries since, or the reverse: the newest backup's shape takes its place in
the medium's union (the older one said as a warning, kept in its own backup), later backups go on,
restores of either backup give what it saved, a checkpoint of the archive is written and verified,
and a run killed after it changed the union is undone back to the older shape exactly."""

from __future__ import annotations

import os
import stat

import pytest

from rabtui.cli import main
from rabtui.media import medium_layout
from tests import invariants
from tests.test_kill_anywhere import _copy, _killed, rabtui
from tests.trees import Lab, burn_due, ssh_source_lines, write_files

T = 1_650_000_000


def _as_directory(path) -> None:
    """`path` (a file now) becomes a directory holding a file, a symlink and a FIFO."""
    os.unlink(path)
    os.mkdir(path)
    write_files(path, {"x": b"inside"})
    os.symlink("../elsewhere", path / "l")
    os.mkfifo(path / "f", 0o640)


def _restored(lab: Lab, path, backup: str, to, source: str = "web") -> None:
    code = main(["--config", str(lab.config_path), "restore", source, str(path), "--backup", backup, "--to", str(to)])
    assert code == 0


def _kinds(root) -> dict[str, str]:
    out = {}
    for dirpath, dirs, files in os.walk(root):
        for name in dirs + files:
            p = os.path.join(dirpath, name)
            mode = os.lstat(p).st_mode
            kind = ("link" if stat.S_ISLNK(mode) else "dir" if stat.S_ISDIR(mode)
                    else "fifo" if stat.S_ISFIFO(mode) else open(p, "rb").read().decode())
            out[os.path.relpath(p, root)] = kind
    return out


def test_a_file_that_became_a_directory_takes_its_place_in_the_union(tmp_path, sshd):
    lab = Lab(tmp_path, media_count=1)
    arch = lab.src / "arch"
    arch.mkdir()
    cfg = lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{arch}"\nkind = "archive"\n'
                    f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n')
    lab.trust(sshd)
    write_files(arch, {"b": b"the file b", "keep": b"k"})
    first = lab.backup(cfg, "web", medium_id="m1")
    assert first.status == "completed", first.reason
    _as_directory(arch / "b")

    second = lab.backup(cfg, "web", medium_id="m1")
    assert second.status == "warnings", second.reason
    assert "b" in second.reason and "replaced" in second.reason
    assert "replaced" in (second.path / "backup.log").read_text()
    third = lab.backup(cfg, "web", medium_id="m1")
    assert third.status == "completed", third.reason
    union = medium_layout.archive_root(lab.media[0][1], "web", str(arch))
    assert _kinds(union) == {"keep": "k", "b": "dir", "b/x": "inside", "b/l": "link", "b/f": "fifo"}
    assert os.readlink(union / "b" / "l") == "../elsewhere"
    old = medium_layout.backup_data_path(first.path, str(arch))
    assert (old / "b").read_bytes() == b"the file b"

    _restored(lab, arch, first.path.name, tmp_path / "r1")
    top = str(arch).lstrip("/")
    assert _kinds(tmp_path / "r1" / top) == {"keep": "k", "b": "the file b"}
    _restored(lab, arch, second.path.name, tmp_path / "r2")
    assert _kinds(tmp_path / "r2" / top) == _kinds(union)

    store = lab.store()
    number = burn_due(cfg, store, asked={"*"}, verified=True)
    from_discs = tmp_path / "from-discs"
    assert main(["--config", str(lab.config_path), "restore", "web", str(arch), "--checkpoint", str(number),
                 "--to", str(from_discs)]) == 0
    assert _kinds(from_discs / top) == _kinds(union)


@pytest.mark.parametrize("point", ["backup.union_reshaping", "backup.union_linking", "backup.archive_linked"])
def test_a_killed_run_that_replaced_a_file_by_a_directory_in_the_union_is_undone(tmp_path, point):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    arch = lab.src / "arch"
    write_files(arch, {"b": b"the file b", "keep": b"k"})
    os.utime(arch / "b", (T, T))
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    copies = {b1["id"]: _copy(lab, cfg)}
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(arch))
    before = os.lstat(union / "b")
    _as_directory(arch / "b")
    _killed(rabtui(lab, "backup", "loc", point=point))
    # the source has its file back as the first backup saved it: nothing is new for the next run
    os.unlink(arch / "b" / "x"), os.unlink(arch / "b" / "l"), os.unlink(arch / "b" / "f")
    os.rmdir(arch / "b")
    write_files(arch, {"b": b"the file b"})
    os.utime(arch / "b", (T, T))
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    now = os.lstat(union / "b")
    assert stat.S_ISREG(now.st_mode) and (now.st_dev, now.st_ino) == (before.st_dev, before.st_ino)
    assert sorted(os.listdir(union)) == ["b", "keep"]
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    copies[newest["id"]] = _copy(lab, cfg)
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)


def test_a_directory_that_became_a_file_takes_its_place_in_the_union(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    arch = lab.src / "arch"
    write_files(arch, {"b/x": b"inside", "b/d/y": b"deeper", "keep": b"k"})
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed", first.reason
    for rel in ("b/d/y", "b/x"):
        os.unlink(arch / rel)
    os.rmdir(arch / "b" / "d"), os.rmdir(arch / "b")
    write_files(arch, {"b": b"a file now"})
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "warnings", second.reason
    assert "replaced" in second.reason
    third = lab.backup(cfg, medium_id="m1")
    assert third.status == "completed", third.reason
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(arch))
    assert _kinds(union) == {"keep": "k", "b": "a file now"}


@pytest.mark.parametrize("point", ["backup.union_reshaping", "backup.archive_linked"])
def test_a_killed_run_that_replaced_a_directory_by_a_file_in_the_union_is_undone(tmp_path, point):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    arch = lab.src / "arch"
    inside = {"b/x": b"inside", "b/d/y": b"deeper"}
    write_files(arch, {**inside, "keep": b"k"})
    for rel in inside:
        os.utime(arch / rel, (T, T))
    assert rabtui(lab, "backup", "loc").returncode == 0
    store = lab.store()
    b1 = store.one("SELECT * FROM backups")
    copies = {b1["id"]: _copy(lab, cfg)}
    union = medium_layout.archive_root(cfg.media[0].path, "loc", str(arch))
    before = {rel: os.lstat(union / rel).st_ino for rel in inside}
    os.unlink(arch / "b/d/y"), os.rmdir(arch / "b/d"), os.unlink(arch / "b/x"), os.rmdir(arch / "b")
    write_files(arch, {"b": b"a file now"})
    _killed(rabtui(lab, "backup", "loc", point=point))
    os.unlink(arch / "b")
    write_files(arch, inside)
    for rel in inside:
        os.utime(arch / rel, (T, T))
    after = rabtui(lab, "backup", "loc")
    assert after.returncode == 0, after.stdout + after.stderr
    assert {rel: os.lstat(union / rel).st_ino for rel in inside} == before
    assert _kinds(union) == {"keep": "k", "b": "dir", "b/x": "inside", "b/d": "dir", "b/d/y": "deeper"}
    newest = store.one("SELECT * FROM backups ORDER BY id DESC LIMIT 1")
    copies[newest["id"]] = _copy(lab, cfg)
    invariants.check_backups_hold(cfg, store, copies)
    invariants.check_catalog_is_media(cfg, store)


def test_a_symlink_or_a_file_that_became_a_directory_is_replaced_in_the_union_with_a_warning(tmp_path):
    """A symlink of the union (one pointing into the directory, one at an empty directory that
    became one) and a file that became an empty directory (no new file below it makes it one in the
    union): each said as a warning naming it, as for a file that became a directory with files; the
    union holds the directories, the older backup its symlinks and file. The symlinks were said in
    the backup's log only; the file stayed in the union, and checkpoints held it."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("arch", "archive")])
    arch = lab.src / "arch"
    write_files(arch, {"sub/x": b"inside", "keep": b"k", "n": b"a file"})
    os.symlink("sub", arch / "a")
    os.symlink("sub", arch / "e")
    first = lab.backup(cfg, medium_id="m1")
    assert first.status == "completed", first.reason
    os.unlink(arch / "a"), os.unlink(arch / "e"), os.unlink(arch / "n")
    write_files(arch, {"a/g": b"in a directory now"})
    os.mkdir(arch / "e"), os.mkdir(arch / "n")
    second = lab.backup(cfg, medium_id="m1")
    assert second.status == "warnings", second.reason
    said = second.reason.split("3 entries of the archive", 1)[1]
    assert all(f" {name}," in said or f" {name};" in said for name in "aen"), second.reason
    union = medium_layout.archive_root(lab.media[0][1], "loc", str(arch))
    assert _kinds(union) == {"keep": "k", "sub": "dir", "sub/x": "inside", "a": "dir", "a/g": "in a directory now",
                             "e": "dir", "n": "dir"}
    top = str(arch).lstrip("/")
    _restored(lab, arch, first.path.name, tmp_path / "r1", "loc")
    assert _kinds(tmp_path / "r1" / top) == {"keep": "k", "sub": "dir", "sub/x": "inside", "a": "link", "e": "link",
                                             "n": "a file"}


def test_a_directory_made_a_fifo_then_a_directory_again_shows_its_files_once_the_fifo_backup_goes(tmp_path):
    """photos (a directory holding k), then a FIFO, then a directory holding k2: the backup that
    saved the FIFO deleted, the union kept k out while find marked it `+ archive` and every
    backup's view showed it (the directory the newest backup has there took no older entries)."""
    from datetime import datetime, timedelta
    import shutil

    from rabtui.backup import deletion, retention

    lab = Lab(tmp_path, media_count=1)
    data = lab.src / "data"
    photos = data / "photos"
    write_files(data, {"top": b"t", "photos/k": b"k"})
    lab.local([("data", "archive")])
    lab.keep_a_day()
    cfg, store = lab.load(), lab.store()
    day = datetime(2026, 6, 1, 3, 30)
    for n in range(3):
        if n == 1:
            shutil.rmtree(photos)
            os.mkfifo(photos)
        elif n == 2:
            os.unlink(photos)
            write_files(data, {"photos/k2": b"k2"})
        assert lab.backup(cfg, now=day + timedelta(days=n)).status in ("completed", "warnings")
    plan = retention.plan_cleanup(cfg, store, now=day + timedelta(days=9))
    fifo = store.one("SELECT name FROM backups ORDER BY id LIMIT 1 OFFSET 1")["name"]
    plan.delete = [c for c in plan.delete if c.name == fifo]
    assert plan.delete and deletion.apply_cleanup(cfg, store, plan).failed == []
    assert (medium_layout.archive_root(lab.media[0][1], "loc", str(data)) / "photos" / "k").read_bytes() == b"k"
    invariants.check_catalog_is_media(cfg, store)
    invariants.check_views_are_media(cfg, store, all_pairs=True)
