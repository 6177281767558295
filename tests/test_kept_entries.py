"""The symlinks, special files and empty directories of an archive directory that only kept data
saved (its post-backup command failed: never linked into the medium's union; the catalog records
regular files only), the source removing them before the next complete backup: a restore from the
medium and one from a checkpoint's discs give them alike, as the kept backup has them (modes,
owners, times, targets, xattrs), the medium gone for the latter; the verification of the disc
checks them, and rebuild-state reads them back from it. Over the test sshd, real rsync and
xorriso, an `images:` drive."""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
import threading
from datetime import datetime, timedelta

import pytest

from rabtui.checkpoint import run
from rabtui.checkpoint.content import MARKS
from rabtui.cli import main
from rabtui.events import READY, ScriptedPrompter
from rabtui.state.store import Store
from tests import fidelity
from tests.test_disc_verify_metadata import _verify, alter
from tests.trees import Lab, burn_due, closed, made_once, ssh_source_lines, write_files

T0 = datetime(2026, 7, 1, 3, 0)
SHORT = ("keep_all_days = 0\nkeep_daily_days = 0\nkeep_weekly_weeks = 0\n"
         "keep_monthly_months = 0\nkeep_yearly_years = 0\n")
# what only the kept backup holds (a device node only where root makes one)
ONLY_KEPT = ["link", "pipe", "empty", "2027", "2027/gone", "2027/gone/deep-link", "2028", "2028/inner",
             "e0/link-in-empty"] + (["null-like"] if fidelity.is_root() else [])


def _post(lab, on: bool):
    text = lab.config_path.read_text()
    off, failing = "post_backup_commands = []", 'post_backup_commands = ["exit 4"]'
    lab.config_path.write_text(text.replace(off, failing) if on else text.replace(failing, off))
    return lab.load()


def _kept(tmp_path, sshd):
    """A complete backup, a kept one adding what ONLY_KEPT names (copied aside as it was, into
    as-kept/), the source without it, a complete backup again. Returns (lab, photos, as-kept)."""
    lab = Lab(tmp_path, media_count=1)
    (tmp_path / "iso").mkdir()
    photos = lab.src / "photos"
    photos.mkdir()
    lab.write(ssh_source_lines(sshd) + "post_backup_commands = []\n"
              + f'[[sources.directories]]\npath = "{photos}"\nkind = "archive"\n'
              + f'\n[checkpoint]\ndisc = "cd-700"\ndrive = "images:{tmp_path / "iso"}"\n\n[retention]\n{SHORT}\n')
    lab.trust(sshd)
    write_files(photos, {"first.jpg": b"one", "2025/old.jpg": b"old"})
    os.symlink("first.jpg", photos / "old-link")
    (photos / "e0").mkdir()
    assert lab.backup(_post(lab, False), "web", now=T0).status == "completed"

    os.symlink("first.jpg", photos / "link")
    os.lchown(photos / "link", 12345, 23456)
    os.makedirs(photos / "2027/gone")
    os.symlink("../../first.jpg", photos / "2027/gone/deep-link")
    os.mkfifo(photos / "pipe", 0o640)
    os.chown(photos / "pipe", 12345, 23456)
    if fidelity.is_root():
        os.mknod(photos / "null-like", 0o600 | stat.S_IFCHR, os.makedev(1, 3))
    os.makedirs(photos / "empty")
    os.chmod(photos / "empty", 0o750)
    os.chown(photos / "empty", 12345, 23456)
    os.setxattr(photos / "empty", "user.note", b"kept only")
    os.makedirs(photos / "2028/inner")
    os.symlink("../first.jpg", photos / "e0/link-in-empty")
    for i, rel in enumerate(sorted(ONLY_KEPT, reverse=True)):
        os.utime(photos / rel, (1_600_000_000 + i, 1_600_000_000 + i), follow_symlinks=False)
    as_kept = tmp_path / "as-kept"
    subprocess.run(["rsync", "-aHAX", "--numeric-ids", f"{photos}/", f"{as_kept}/"], check=True)
    kept = lab.backup(_post(lab, True), "web", now=T0 + timedelta(days=1))
    assert (kept.status, kept.exit_code) == ("failed", 1) and "the data is kept" in kept.reason

    for rel in sorted(ONLY_KEPT, reverse=True):      # deepest first
        path = photos / rel
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    assert lab.backup(_post(lab, False), "web", now=T0 + timedelta(days=2)).status == "completed"
    return lab, photos, as_kept


@pytest.fixture(scope="module")
def _kept_made(tmp_path_factory, sshd):
    def make(live):
        lab, photos, as_kept = _kept(live, sshd)
        closed(lab)
        return photos, as_kept

    yield from made_once(tmp_path_factory, make)


@pytest.fixture
def kept(_kept_made):
    """What _kept makes, anew for each test (made once for the module): its lab is in lab.tmp,
    its images in lab.tmp / "iso"."""
    (photos, as_kept), made = _kept_made
    return Lab(made.anew(), media_count=1), photos, as_kept


def _restore(lab, photos, out, *more: str) -> os.PathLike:
    assert main(["--config", str(lab.config_path), "restore", "web", str(photos), "--to", str(out), *more]) == 0
    return out / str(photos).lstrip("/")


def _as_kept(got, as_kept) -> None:
    """Each entry only kept data saved is in `got` as it was on the source then."""
    for rel in ONLY_KEPT:
        want, have = os.lstat(as_kept / rel), os.lstat(got / rel)
        shown = [(oct(st.st_mode), st.st_uid, st.st_gid, int(st.st_mtime), st.st_rdev) for st in (want, have)]
        assert shown[1] == shown[0], rel
        if stat.S_ISLNK(want.st_mode):
            assert os.readlink(got / rel) == os.readlink(as_kept / rel), rel
    assert os.getxattr(got / "empty", "user.note") == b"kept only"
    assert os.listdir(got / "empty") == [] and os.listdir(got / "2028/inner") == []


def _burnt(lab) -> int:
    cfg = lab.load()
    store = lab.store()
    number = burn_due(cfg, store, asked={"*"})
    checked = run.verify_checkpoint(cfg, store, number, emit=lambda e: None, cancel=threading.Event(),
                                    prompter=ScriptedPrompter(lambda q: READY))
    assert (checked.verified, checked.unchecked) == ([1], {}), checked.message
    return number


def test_a_restore_from_the_discs_gives_what_only_kept_data_saved_as_one_from_the_medium(kept, tmp_path):
    lab, photos, as_kept = kept
    from_medium = _restore(lab, photos, tmp_path / "from-medium")
    _as_kept(from_medium, as_kept)
    number = _burnt(lab)
    store = lab.store()
    top = str(photos).lstrip("/").encode() + b"/"
    rows = {bytes(r["path"])[len(top):]: r["sha256"] if r["sha256"] in MARKS else "file" for r in store.all(
        "SELECT path, sha256 FROM disc_files WHERE number=?", (number,))}
    assert rows == {b"first.jpg": "file", b"2025/old.jpg": "file", b"old-link": "symlink", b"link": "symlink",
                    b"2027/gone/deep-link": "symlink", b"e0/link-in-empty": "symlink", b"pipe": "special",
                    b"empty": "dir", b"2028/inner": "dir",   # e0, empty in the union, holds a link now
                    **({b"null-like": "special"} if fidelity.is_root() else {})}
    # the medium gone: the discs alone
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    from_discs = _restore(lab, photos, tmp_path / "from-discs", "--checkpoint", str(number))
    _as_kept(from_discs, as_kept)
    assert fidelity.differences(from_medium, from_discs) == []


def test_what_only_kept_data_saved_is_restored_from_the_medium_by_itself(kept, tmp_path):
    lab, photos, as_kept = kept
    _as_kept(_restore(lab, photos, tmp_path / "whole"), as_kept)
    kept_name = sorted(p.name for p in (lab.media[0][1] / "web").glob("backup-*"))[1]
    n = 0
    for rel in ("link", "pipe", "empty", "2027", "2028/inner", "e0"):
        for how in ([], ["--backup", kept_name]):
            n += 1
            out = tmp_path / f"out{n}"
            assert main(["--config", str(lab.config_path), "restore", "web", str(photos / rel), "--to", str(out),
                         *how]) == 0, (rel, how)
            got = out / str(photos / rel).lstrip("/")
            if got.is_dir() and not got.is_symlink():
                assert fidelity.differences(as_kept / rel, got) == [], (rel, how)
            else:
                want, have = os.lstat(as_kept / rel), os.lstat(got)
                assert (have.st_mode, have.st_uid, int(have.st_mtime)) == \
                       (want.st_mode, want.st_uid, int(want.st_mtime)), (rel, how)


def test_a_disc_without_what_only_kept_data_saved_fails_its_verification(kept):
    lab, photos, _as_kept_dir = kept
    number = _burnt(lab)
    prefix = "/data/web/" + str(photos).lstrip("/")
    alter(lab.tmp / "iso" / f"RAB{number}D01.iso", "-rm", f"{prefix}/pipe", "--",
          "-chmod", "0700", f"{prefix}/empty", "--", "-rm", f"{prefix}/2027/gone/deep-link", "--")
    said = _verify(lab.load(), lab.store(), number)
    assert "pipe" in said and "deep-link" in said and "/empty (mode 0700, backed up 0750)" in said, said


def test_rebuild_state_reads_back_what_only_kept_data_saved_from_the_discs(kept, tmp_path):
    lab, photos, as_kept = kept
    number = _burnt(lab)
    view = ("SELECT disc_path, size, mtime, sha256, mode, link, uid, gid FROM disc_files WHERE number=?"
            " ORDER BY disc_path")
    store = lab.store()
    before = [tuple(r) for r in store.all(view, (number,))]
    store.close()
    shutil.move(lab.media[0][1], tmp_path / "medium-away")
    lab.media[0][1].mkdir()
    lab.lose_database()
    assert main(["--config", str(lab.config_path), "rebuild-state"]) in (0, 3)
    store = Store(lab.state)
    assert [tuple(r) for r in store.all(view, (number,))] == before
    disc = store.one("SELECT state, message FROM discs WHERE number=? AND disc=1", (number,))
    assert disc["state"] == "verified", dict(disc)      # against what it read back
    _as_kept(_restore(lab, photos, tmp_path / "from-discs", "--checkpoint", str(number)), as_kept)


def test_what_only_kept_data_saved_goes_back_onto_the_source_over_ssh(kept):
    lab, photos, as_kept = kept
    argv = ["--config", str(lab.config_path), "restore", "web", str(photos), "--to-source", "--overwrite"]
    assert main(argv) == 0
    _as_kept(photos, as_kept)
    for rel in sorted(ONLY_KEPT, reverse=True):
        path = photos / rel
        path.rmdir() if path.is_dir() and not path.is_symlink() else path.unlink()
    number = _burnt(lab)
    assert main([*argv, "--checkpoint", str(number)]) == 0
    _as_kept(photos, as_kept)


def test_the_newest_of_what_kept_backups_saved_at_one_path_is_taken_whatever_its_kind(kept, tmp_path):
    """A file one kept backup saved, then a symlink in its place that the next one saved (neither
    linked into the union, the file in the catalog, the symlink not): the symlink, from the medium
    and from the discs; and the other way round, the file."""
    lab, photos, _as_kept_dir = kept
    write_files(photos, {"x": b"a file first"})
    os.symlink("first.jpg", photos / "y")
    assert lab.backup(_post(lab, True), "web", now=T0 + timedelta(days=3)).status == "failed"
    os.unlink(photos / "x")
    os.symlink("first.jpg", photos / "x")
    os.unlink(photos / "y")
    write_files(photos, {"y": b"a file after"})
    assert lab.backup(lab.load(), "web", now=T0 + timedelta(days=4)).status == "failed"
    os.unlink(photos / "x")
    os.unlink(photos / "y")
    assert lab.backup(_post(lab, False), "web", now=T0 + timedelta(days=5)).status == "completed"
    number = _burnt(lab)
    for how in ([], ["--checkpoint", str(number)]):
        got = _restore(lab, photos, tmp_path / f"out{len(how)}", *how)
        assert os.readlink(got / "x") == "first.jpg", how
        assert (got / "y").read_bytes() == b"a file after" and not (got / "y").is_symlink(), how
