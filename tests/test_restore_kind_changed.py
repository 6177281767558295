"""A restore from a backup that saved a directory as another kind than the config's now gives
what that backup holds, by the kind it recorded: an archive backup's directory made standard since
is the union as that backup left it (files older archive backups saved too), a standard backup's
directory made archive since is its own tree (not the union, which holds only what the archive
backups saved). Real backups (rsync), checked against the media."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rabtui.restore import run as restore_run
from tests import invariants
from tests.trees import Lab, write_files

DAY = datetime(2026, 6, 1, 3, 30)


def _steps(lab: Lab, steps) -> None:
    photos = lab.src / "photos"
    for n, (kind, files, gone) in enumerate(steps):
        lab.local([("photos", kind)])
        write_files(photos, files)
        for name in gone:
            (photos / name).unlink()
        assert lab.backup(lab.load(), now=DAY + timedelta(days=n)).status == "completed"


def test_an_archive_backup_of_a_directory_made_standard_restores_as_its_union(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    _steps(lab, [("archive", {"a": b"a, only in the first", "sub/c": b"c1"}, ()),
                 ("archive", {"b": b"b", "sub/c": b"c2 longer"}, ("a",)),
                 ("standard", {"d": b"d"}, ())])
    cfg, store = lab.load(), lab.store()
    invariants.check_views_are_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "out")


def test_a_standard_backup_of_a_directory_made_archive_restores_as_its_tree(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    _steps(lab, [("standard", {"p": b"p1", "q": b"q", "sub/r": b"r"}, ()),
                 ("archive", {"p": b"p2 longer"}, ("q",)),
                 ("archive", {"s": b"s"}, ())])
    cfg, store = lab.load(), lab.store()
    invariants.check_views_are_media(cfg, store)
    invariants.check_restores_are_views(cfg, store, tmp_path / "out")


def test_a_file_restored_naming_no_copy_is_what_find_lists(tmp_path):
    """Archive, then standard: the file only the archive backup saved, the source having dropped
    it, is restored from that backup (find lists it there) as it saved it."""
    lab = Lab(tmp_path, media_count=1)
    _steps(lab, [("archive", {"a": b"only archived"}, ()), ("archive", {"b": b"b"}, ("a",)),
                 ("standard", {"c": b"c"}, ())])
    cfg, store = lab.load(), lab.store()
    path = str(lab.src / "photos" / "a")
    got = restore_run.restore(cfg, store, "loc", path, to=tmp_path / "one")
    assert "backup 2026-06-02" in got.origin or "backup" in got.origin
    assert (tmp_path / "one" / path.lstrip("/")).read_bytes() == b"only archived"


@pytest.mark.parametrize("kinds", [("archive", "archive", "standard"), ("standard", "archive", "archive"),
                                   ("archive", "standard", "archive")])
def test_each_file_restored_alone_from_each_backup_is_what_it_shows(tmp_path, kinds):
    import os

    lab = Lab(tmp_path, media_count=1)
    _steps(lab, [(kinds[0], {"a": b"a1", "sub/c": b"c1"}, ()),
                 (kinds[1], {"b": b"b", "sub/c": b"c2 longer"}, ("a",)),
                 (kinds[2], {"d": b"d"}, ("b",))])
    cfg, store = lab.load(), lab.store()
    d = cfg.source("loc").directories[0]
    for row in store.all("SELECT * FROM backups WHERE status='completed' ORDER BY id"):
        for path, (kind, _size, _mtime) in invariants._view(cfg, store, row, d).items():
            into = tmp_path / f"one-{row['id']}"
            restore_run.restore(cfg, store, "loc", b"/" + path, backup=row["name"], to=into)
            got = (into / os.fsdecode(path)).read_bytes()
            assert got == invariants._saved_bytes(cfg, store, row, d, path), (row["name"], path)
    invariants.check_found_restores(cfg, store, tmp_path / "found")


@pytest.mark.parametrize("kinds", [("archive", "standard"), ("standard", "archive")])
def test_restored_onto_an_ssh_source_as_the_backup_saved_it(tmp_path, sshd, kinds):
    """Over SSH, back onto the source: the newest backup's directory, saved as the other kind than
    the config's now, comes back as that backup shows it (the union as it left it, or its own tree)."""
    import shutil

    from tests.trees import ssh_source_lines

    lab = Lab(tmp_path, media_count=1)
    lab.trust(sshd)
    photos = lab.src / "photos"

    def backed_up(n: int, kind: str) -> None:
        lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{photos}"\nkind = "{kind}"\n')
        assert lab.backup(lab.load(), "web", now=DAY + timedelta(days=n)).status == "completed"

    write_files(photos, {"a": b"a", "sub/c": b"c1"})
    backed_up(0, kinds[0])
    (photos / "a").unlink()
    write_files(photos, {"b": b"b", "sub/c": b"c2 longer"})
    backed_up(1, kinds[0])
    lab.write(ssh_source_lines(sshd) + f'[[sources.directories]]\npath = "{photos}"\nkind = "{kinds[1]}"\n')
    cfg, store = lab.load(), lab.store()
    second = store.all("SELECT * FROM backups ORDER BY id")[1]
    shutil.rmtree(photos)
    photos.mkdir()
    restore_run.restore(cfg, store, "web", str(photos), backup=second["name"], to_source=True)
    got = {str(p.relative_to(photos)): p.read_bytes() for p in photos.rglob("*") if p.is_file()}
    shown = {"b": b"b", "sub/c": b"c2 longer"}
    assert got == ({**shown, "a": b"a"} if kinds[0] == "archive" else shown)
