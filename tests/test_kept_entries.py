"""The symlinks, special files and empty directories of an archive directory that only kept data
saved (its post-backup command failed: never linked into the medium's union; the catalog records
regular files only), the source removing them before the next complete backup: a restore from the
medium gives them as the kept backup has them (modes, owners, times, targets, xattrs). Over the
test sshd, real rsync."""

from __future__ import annotations

import os
import stat
import subprocess
from datetime import datetime, timedelta

from rabtui.cli import main
from tests import fidelity
from tests.trees import Lab, ssh_source_lines, write_files

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
    photos = lab.src / "photos"
    photos.mkdir()
    lab.write(ssh_source_lines(sshd) + "post_backup_commands = []\n"
              + f'[[sources.directories]]\npath = "{photos}"\nkind = "archive"\n'
              + f'\n[retention]\n{SHORT}\n')
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


def test_what_only_kept_data_saved_is_restored_from_the_medium_by_itself(tmp_path, sshd):
    lab, photos, as_kept = _kept(tmp_path, sshd)
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
