"""A complete backup whose copy of a directory is no longer on the medium (removed by hand, lost to
a damaged file system), its record saying it held files: rebuild-state recorded it complete with no
word, exit 0, and `find` and the newest backup's restore then found nothing of it there. It names
the directory and the backup (not matched, exit 3); the backup stays recorded as its record says.
Real rsync, the real command line."""

from __future__ import annotations

import shutil

from tests import test_rebuild_odd_records as odd
from tests.test_rebuild_odd_records import _backups, _rabtui

_two_backups_made, two_backups = odd._two_backups_made, odd.two_backups     # its fixtures, here too


def test_a_complete_backup_whose_tree_is_gone_is_said_by_rebuild_state(two_backups):
    lab, first = two_backups
    directory = str(lab.src / "data")
    shutil.rmtree(first.parent / "data" / directory.lstrip("/"))
    before = _backups(lab)

    done = _rabtui(lab, "rebuild-state")
    out = done.stdout + done.stderr
    assert "Traceback" not in out
    assert done.returncode == 3, out
    said = [line for line in done.stdout.splitlines() if line.startswith("not matched:")]
    assert len(said) == 1 and str(first.parent) in said[0] and directory in said[0], out
    assert [(n, s) for n, s, _ in _backups(lab)] == [(n, s) for n, s, _ in before]

