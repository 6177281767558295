"""The /run note of a lone restore's mount (alone_mounts.py) proves a mount rabtui's only when
rabtui wrote it: a note another user put in a runtime directory others may write in, naming the
operator's own read-only mount of the medium, does not make a backup take that mount over (made
writable, unmounted at its end). Real loop mounts of an ext2 image (root)."""

from __future__ import annotations

import os
import subprocess
from datetime import timedelta

from rabtui.media import alone_mounts, mount_notes
from tests.test_device_medium_mounts import T0, _old_on_m2_newest_on_device_m1
from tests.trees import unmounted, write_files

NOBODY = 65534


def test_a_note_another_user_planted_does_not_hand_the_operators_mount_to_a_backup(tmp_path, disk_image, monkeypatch):
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    run = tmp_path / "run" / "rabtui"      # a runtime directory left open to all (sticky, as /tmp)
    run.mkdir(parents=True)
    run.chmod(0o1777)
    monkeypatch.setattr(alone_mounts, "runtime_dir", lambda: run)
    note = alone_mounts.note_path(lab.state, "m1")
    subprocess.run(["mount", "-o", "ro", str(disk_image), str(m1)], check=True)     # the operator's, by hand
    try:
        medium = lab.load().medium("m1")
        # what any user can read: the boot id, the mount's ids
        note = note or run / os.path.basename(alone_mounts.note_path.__name__)
        with open(note, "w") as f:
            f.write(f"{mount_notes._boot()} {mount_notes.mount_at(m1)} {mount_notes.unique_mount_id(m1)}\n")
        os.chown(note, NOBODY, NOBODY)
        assert mount_notes.proves(note, medium)
        write_files(data, {"a.txt": b"newer"})
        done = lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1")
        assert done.status != "completed", lab.messages()[-6:]
        assert os.path.ismount(m1) and os.statvfs(m1).f_flag & os.ST_RDONLY, "the operator's mount was taken over"
        said = " ".join(lab.messages())
        assert "taken as rabtui's own" not in said and f"umount {m1}" in said, lab.messages()[-6:]
    finally:
        unmounted(m1)
