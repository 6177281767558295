"""A restore of an archive directory as of a backup gives the shape that backup saved at each path
(its own tree holds every directory the source had and each entry it saved), whatever an older or
newer backup, complete or kept, put at that path in the medium's union: a file where it had a
directory, a directory's entries where it had a file, a file where it had a symlink. A backup
deleted in the middle of the medium's history does not bring an older shape back over a newer
backup's directory. Real rsync and xorriso, an `images:` drive, a local source."""

from __future__ import annotations

import os
import shutil
from datetime import timedelta

import pytest

from rabtui.cli import main
from tests.test_kept_data import _post_commands
from tests.test_kept_entries_attacks import T0, _lab, _tree
from tests.trees import write_files


def _restored(lab, tmp_path, photos, backup, to: str) -> dict[bytes, str]:
    out = tmp_path / to
    code = main(["--config", str(lab.config_path), "restore", "loc", str(photos), "--backup", backup.path.name,
                 "--to", str(out)])
    assert code == 0, to
    return _tree(os.fsencode(out / str(photos).lstrip("/")))


def _backed_up(lab, kept: bool, day: int, *statuses: str):
    done = lab.backup(_post_commands(lab, kept), now=T0 + timedelta(days=day))
    assert done.status in (statuses or (("failed",) if kept else ("completed",))), done.reason
    return done


@pytest.mark.parametrize("kept", [False, True], ids=["complete", "kept"])
def test_the_backup_between_gives_the_file_it_saved_not_the_older_directorys_entries(tmp_path, kept):
    """`d` a directory with entries (b1), a file (b2), a directory again (b3): a restore of b2 gave
    the older directory's entries too, refused below its file (complete: exit 3), or the directory
    with its file refused (kept)."""
    lab = _lab(tmp_path)
    photos = lab.src / "photos"
    write_files(photos, {"first.jpg": b"one", "d/e/f": b"deep", "d/g": b"g"})
    _backed_up(lab, False, 0)
    shutil.rmtree(photos / "d")
    write_files(photos, {"d": b"d, a file"})
    between = _backed_up(lab, kept, 1, *(() if kept else ("warnings",)))
    os.unlink(photos / "d")
    write_files(photos, {"d/h": b"h"})
    _backed_up(lab, False, 2, "completed", "warnings")
    assert _restored(lab, tmp_path, photos, between, "r") == {b"first.jpg": oct(0o100644), b"d": oct(0o100644)}
    assert (tmp_path / "r" / str(photos).lstrip("/") / "d").read_bytes() == b"d, a file"
