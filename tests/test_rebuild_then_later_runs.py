"""What a rebuilt state lets the commands after it do: nothing rebuild-state cannot prove about a
backup may lead a later run to delete it, or to say a backup holds a file it does not hold."""

from __future__ import annotations

import os

from tests.test_rebuild_odd_records import _backups, _rabtui, _two_backups
from tests.trees import snapshot


def test_a_backup_whose_backup_json_went_missing_is_left_out_and_never_deleted(tmp_path):
    """rabtui writes backup.json before the first file of a backup: a backup directory holding
    files but no backup.json was not left so by a run (its record was lost, or moved by hand).
    rebuild-state says so and leaves it out; it is not taken for an interrupted run, which the next
    backup onto the medium would delete."""
    lab, _ = _two_backups(tmp_path)
    root = lab.media[0][1] / "loc"
    newest = root / sorted(os.listdir(root))[-1]
    (newest / "backup.json").unlink()
    held = snapshot(newest / "data")
    assert held

    done = _rabtui(lab, "rebuild-state")
    assert done.returncode == 3, done.stdout + done.stderr
    assert f"not matched: medium m1: {newest / 'backup.json'}: missing, but" in done.stdout, done.stdout
    assert [name for name, _, _ in _backups(lab)] == [sorted(os.listdir(root))[0]]

    done = _rabtui(lab, "backup", "loc")
    assert done.returncode == 0, done.stdout + done.stderr
    assert snapshot(newest / "data") == held
