"""A restore of an archive directory reads the medium's union tree while a backup of the same
source onto the same medium links new versions into it (nothing keeps them apart: a backup never
changes what a backup holds, only which file the union names). A file replaced in the union between
the restore's look at it and its read is never written as a mix of the two (the new bytes under
the old version's size and time): it fails the restore by name. Real backups, rsync included."""

from __future__ import annotations

import os
from datetime import datetime, timedelta

from rabtui.restore import run as R
from rabtui.restore.write import SafeWriter
from tests.trees import Lab, write_files

T0 = datetime(2026, 3, 1, 2, 0, 0)


def test_a_file_the_running_backup_replaces_in_the_union_is_never_restored_mixed(tmp_path, monkeypatch):
    lab = Lab(tmp_path, media_count=1)
    cfg = lab.local([("photos", "archive")])
    photos = lab.src / "photos"
    write_files(photos, {"a.jpg": b"old" * 10})
    b1 = lab.backup(cfg, now=T0)
    assert b1.status == "completed"
    write_files(photos, {"a.jpg": b"NEW" * 20})
    os.utime(photos / "a.jpg", (1_800_000_000, 1_800_000_000))
    real_file = SafeWriter._file
    ran = []

    def backup_meanwhile(self, src, fd, tmp, rel, st):
        if not ran:    # the next backup, between the restore's look at the file and its read
            ran.append(lab.backup(cfg, now=T0 + timedelta(days=1)))
        return real_file(self, src, fd, tmp, rel, st)

    monkeypatch.setattr(SafeWriter, "_file", backup_meanwhile)
    out = tmp_path / "out"
    try:
        result = R.restore(cfg, lab.store(), "loc", str(photos), backup=b1.path.name, to=out)
    except R.RestoreIncomplete as exc:
        result = exc.result
    assert ran and ran[0].status == "completed"
    restored = out / str(photos).lstrip("/") / "a.jpg"
    if restored.exists():     # only as backup b1 had it
        assert restored.read_bytes() == b"old" * 10
    else:
        assert any("a.jpg" in p and "replaced" in p for p in result.written.problems()), result.summary
