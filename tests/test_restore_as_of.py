"""Restoring an archive directory "as of" a backup, with real backups: every file saved on that
medium by a backup up to it, each in the newest version saved by then; nothing saved later."""

from __future__ import annotations

import os
import stat
from datetime import datetime, timedelta

import pytest

from rabtui.restore import run as R
from rabtui.errors import WorkFailed
from tests.trees import Lab, snapshot, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def test_archive_directory_restores_as_of_a_backup(tmp_path):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"2025/a.jpg": b"A" * 100, "2025/keep.jpg": b"K" * 30})
    b1 = lab.backup(cfg, now=T0)
    write_files(photos, {"2025/a.jpg": b"a" * 120, "2026/b.jpg": b"B" * 50})      # a.jpg edited
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1))
    write_files(photos, {"2026/c.jpg": b"C" * 40})
    (photos / "2025/keep.jpg").unlink()                  # gone from the source, kept by the archive
    b3 = lab.backup(cfg, now=T0 + timedelta(days=2))
    assert [b.status for b in (b1, b2, b3)] == ["completed"] * 3
    store = lab.store()

    def restored(backup, what: str = "") -> dict[bytes, bytes]:
        out = tmp_path / f"out-{backup.path.name}-{what.replace('/', '_')}"
        R.restore(cfg, store, "loc", str(photos / what) if what else str(photos), backup=backup.path.name, to=out)
        return snapshot(out / str(photos).lstrip("/"))

    assert restored(b1) == {b"2025/a.jpg": b"A" * 100, b"2025/keep.jpg": b"K" * 30}
    # b2 copied only a.jpg and b.jpg; as of b2 the medium also holds keep.jpg, saved by b1
    assert restored(b2) == {b"2025/a.jpg": b"a" * 120, b"2025/keep.jpg": b"K" * 30, b"2026/b.jpg": b"B" * 50}
    assert restored(b3) == {b"2025/a.jpg": b"a" * 120, b"2025/keep.jpg": b"K" * 30, b"2026/b.jpg": b"B" * 50,
                            b"2026/c.jpg": b"C" * 40}
    # a subdirectory and a single file: the same rule
    assert restored(b1, "2025") == {b"2025/a.jpg": b"A" * 100, b"2025/keep.jpg": b"K" * 30}
    assert restored(b3, "2025/keep.jpg") == {b"2025/keep.jpg": b"K" * 30}
    with pytest.raises(WorkFailed, match="not in that backup"):
        restored(b1, "2026/b.jpg")


def _dir_attrs(path) -> tuple:
    st = os.lstat(path)
    try:
        x = os.getxattr(path, "user.k", follow_symlinks=False)
    except OSError:
        x = None
    return stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid, st.st_mtime_ns, x


def test_an_archive_directorys_directories_come_back_as_the_backup_had_them(tmp_path):
    """The union's directories are rabtui's own, made as files were linked into it (its mode, owner
    and time of linking, no xattrs): each restored directory is the backup's own instead, with the
    mode, owner, time to the nanosecond and xattrs the source gave it then (a 0700 directory does
    not come back open to everyone), as of the newest backup and as of an older one."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"2025/a.jpg": b"A", "2025/deep/b.jpg": b"B"})
    owner = (1234, 4321) if os.geteuid() == 0 else (os.getuid(), os.getgid())

    def set_dirs(mode: int, when: int) -> dict[str, tuple]:
        for rel in ("2025/deep", "2025", ""):
            os.chmod(photos / rel, mode)
            os.chown(photos / rel, *owner)
            os.setxattr(photos / rel, "user.k", f"{rel}@{when}".encode())
            os.utime(photos / rel, ns=(when * 10**9 + 123, when * 10**9 + 123))
        return {rel: _dir_attrs(photos / rel) for rel in ("", "2025", "2025/deep")}

    then = set_dirs(0o700, 1_000_000_000)
    b1 = lab.backup(cfg, now=T0)
    now = set_dirs(0o750, 1_100_000_000)
    b2 = lab.backup(cfg, now=T0 + timedelta(days=1))
    assert (b1.status, b2.status) == ("completed", "completed")
    for backup, want in ((b2, now), (b1, then)):
        out = tmp_path / f"out-{backup.path.name}"
        R.restore(cfg, lab.store(), "loc", str(photos), backup=backup.path.name, to=out)
        got = {rel: _dir_attrs(out / str(photos / rel).lstrip("/")) for rel in want}
        assert got == want, backup.path.name


def test_a_symlink_put_in_the_backups_own_tree_gives_the_restore_nothing_of_where_it_points(tmp_path):
    """A directory of the backup's own tree on the way to the restored item replaced by a symlink on
    the medium (to a directory of the server's holding one of that name, open to all, with an
    xattr): no attribute is read through it; the restore says what it found and fails."""
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"2025/a.jpg": b"A"})
    os.chmod(photos, 0o700)
    b1 = lab.backup(cfg, now=T0)
    assert b1.status == "completed"
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "photos").mkdir(parents=True)
    os.chmod(elsewhere / "photos", 0o777)
    os.setxattr(elsewhere / "photos", "user.k", b"elsewhere")
    above = (b1.path / "data" / str(photos).lstrip("/")).parent    # a directory on the way to it
    os.rename(above, tmp_path / "own-aside")
    os.symlink(elsewhere, above)
    out = tmp_path / "out"
    # the restore refuses the backup's copy reached through it (restore.in_backup), naming it
    with pytest.raises(WorkFailed, match="is a symlink, which rabtui never makes"):
        R.restore(cfg, lab.store(), "loc", str(photos), backup=b1.path.name, to=out)
    there = out / str(photos).lstrip("/")
    if there.exists():
        mode, _, _, _, x = _dir_attrs(there)
        assert (mode, x) != (0o777, b"elsewhere") and mode != 0o777 and x is None
