"""A cleanup, run-due's cleanup and rebuild-state waiting for a device medium's mount lock (another
process mounting or unmounting it, hung: up to ten minutes) end that wait on SIGTERM: cancelled,
said, nothing deleted. Before, the cleanup and rebuild-state were killed by it mid-way, run-due's
cleanup waited on (systemd's stop kills it a moment later). Real rsync, a real loop mount of an
ext2 image (root), a holder of the lock in another process, runs stopped at fault points."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.test_medium_identity import _killed, _stopped_at
from tests.test_state_dir_full import _rabtui
from tests.trees import Lab, write_files

_HOLDER = """
import sys, time
from rabtui.state import locks
with locks.mounting_lock(sys.argv[1], "m1"):
    print("holding", flush=True)
    time.sleep(600)
"""


@pytest.mark.parametrize("argv, point", [(("cleanup",), "lock.waiting"),
                                         (("run-due",), "lock.waiting"),
                                         (("rebuild-state",), "rebuild.locked")])
def test_a_wait_for_a_mediums_mount_lock_ends_on_sigterm(tmp_path, disk_image, argv, point):
    lab = Lab(tmp_path, media_count=1)
    lab.local()
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    write_files(lab.src / "data", {"a": b"on the disk"})
    assert _rabtui(lab, "backup", "loc").returncode == 0
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, str(lab.state)], stdout=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(Path(__file__).parent.parent)})
    running = None
    try:
        assert holder.stdout.readline() == b"holding\n"
        running = _stopped_at(lab, point, *argv)
        running.send_signal(signal.SIGTERM)      # handled once it goes on, as it waits
        running.send_signal(signal.SIGCONT)
        out = running.communicate(timeout=120)[0].decode()
    finally:
        _killed(running)
        holder.kill()
        holder.wait()
    assert running.returncode == 1 and "Traceback" not in out, out
    assert "cancelled while waiting for the lock of mounting or unmounting medium m1" in out, out
    assert not os.path.ismount(m1)


def test_media_label_stopped_by_sigterm_after_its_mount_writes_no_label(tmp_path, disk_image):
    """SIGTERM once `media label` had mounted the medium's disk: it went on and labelled it, exit 0,
    as if never sent. Now it stops before it writes: cancelled, said, the disk unmounted unlabelled."""
    from rabtui.media.medium import read_label

    lab = Lab(tmp_path, media_count=1)
    lab.local()
    m1 = lab.media[0][1]
    lab.on_device(m1, disk_image)
    running = None
    try:
        running = _stopped_at(lab, "medium.mounted", "media", "label", "m1")
        running.send_signal(signal.SIGTERM)      # handled once it goes on
        running.send_signal(signal.SIGCONT)
        out = running.communicate(timeout=120)[0].decode()
    finally:
        _killed(running)
    assert running.returncode == 1 and "Traceback" not in out, out
    assert "the labelling of medium m1: cancelled before anything was written" in out, out
    assert not os.path.ismount(m1)
    probe = tmp_path / "probe-after"
    probe.mkdir()
    subprocess.run(["mount", "-o", "ro", str(disk_image), str(probe)], check=True)
    try:
        assert read_label(probe) is None
    finally:
        subprocess.run(["umount", str(probe)], check=True)
