"""The /run note of a lone restore's mount (alone_mounts.py) proves a mount rabtui's only when
rabtui wrote it: a note another user put in a runtime directory others may write in, naming the
operator's own read-only mount of the medium, does not make a backup take that mount over (made
writable, unmounted at its end). Real loop mounts of an ext2 image (root)."""

from __future__ import annotations

import os
import subprocess
from contextlib import contextmanager
from datetime import timedelta

from rabtui.media import alone_mounts, mount_notes
from tests.test_device_medium_mounts import T0, _old_on_m2_newest_on_device_m1
from tests.test_mounted_alone import _KILLED_ALONE_NOTED, _reading_alone
from tests.trees import Lab, unmounted, write_files

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


@contextmanager
def _killed_alone(lab, tmp_path):
    """A lone restore's read-only mount of m1, noted in /run, its process SIGKILLed: the note's path
    (the mount and the note gone at the end)."""
    m1 = lab.media[0][1]
    note = alone_mounts.note_path(lab.state, "m1")
    try:
        restore = _reading_alone(lab, tmp_path, _KILLED_ALONE_NOTED)
        restore.kill()
        restore.wait()
        assert mount_notes.proves(note, lab.load().medium("m1"))
        yield note
    finally:
        unmounted(m1)
        alone_mounts.remove(note)


def _left_to_the_operator(lab, data, m1) -> None:
    write_files(data, {"a.txt": b"newer"})
    done = lab.backup(lab.load(), now=T0 + timedelta(days=2), medium_id="m1")
    assert done.status != "completed", lab.messages()[-6:]
    assert os.path.ismount(m1) and os.statvfs(m1).f_flag & os.ST_RDONLY, "a mount not rabtui's was taken over"
    assert not any("taken as rabtui's own" in m for m in lab.messages()), lab.messages()[-6:]


def test_a_note_of_a_previous_boot_proves_nothing(tmp_path, disk_image):
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    with _killed_alone(lab, tmp_path) as note:
        _, ids = note.read_text().split(" ", 1)
        note.write_text(f"0123456789abcdef {ids}")
        _left_to_the_operator(lab, data, lab.media[0][1])
        assert not note.exists()


def test_a_note_of_a_mount_the_operator_made_again_by_hand_proves_nothing(tmp_path, disk_image):
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    with _killed_alone(lab, tmp_path):
        subprocess.run(["umount", str(m1)], check=True)
        subprocess.run(["mount", "-o", "ro", str(disk_image), str(m1)], check=True)
        _left_to_the_operator(lab, data, m1)


def test_a_note_of_another_state_directory_on_the_same_medium_path_is_not_taken(tmp_path, disk_image):
    """Two configs (two state directories) name the same medium path and device: the mount one's
    lone restore left is not taken over by the other's backup, only by its own."""
    lab, data = _old_on_m2_newest_on_device_m1(tmp_path, disk_image)
    m1 = lab.media[0][1]
    (tmp_path / "other").mkdir()
    other = Lab(tmp_path / "other", media_count=2)
    other.config_path.write_text(lab.config_path.read_text().replace(str(lab.state), str(other.state)))
    other.config_path.chmod(0o600)
    other.src = lab.src
    with _killed_alone(lab, tmp_path) as note:
        _left_to_the_operator(other, data, m1)
        assert note.exists()
        done = lab.backup(lab.load(), now=T0 + timedelta(days=3), medium_id="m1")
        assert done.status == "completed", lab.messages()[-6:]
        assert not os.path.ismount(m1) and not note.exists()
