"""A medium's `device` an image file: a loop device of it that an unmount left bound (another
process had it open then: it is released as that one closes it) met by the next mount of the image,
which used it again as it was. Real loop mounts (root)."""

from __future__ import annotations

import os
import subprocess

from rabtui.media.device_mounts import devices_of
from tests.test_short_commands_that_hang import device_lab


def _unmounted_but_held(disk_image, mount_point, *options: str) -> int:
    """The image mounted (`options`) at `mount_point` and unmounted while this process holds its loop
    device open: the device stays bound to the image until the descriptor returned is closed."""
    subprocess.run(["mount", *options, str(disk_image), str(mount_point)], check=True)
    (dev,) = devices_of(str(disk_image))
    name = os.path.basename(os.path.realpath(f"/sys/dev/block/{os.major(dev)}:{os.minor(dev)}"))
    held = os.open(f"/dev/{name}", os.O_RDONLY | os.O_CLOEXEC)
    subprocess.run(["umount", str(mount_point)], check=True)
    assert devices_of(str(disk_image)) == {dev}
    return held


def test_a_backup_after_a_read_only_mount_whose_loop_device_is_released_late_mounts_it_read_write(tmp_path,
                                                                                                 disk_image):
    """The loop device a read-only mount (a look's) left, read-only: mount used it again for the
    backup's mount, which was made read-only ("source write-protected"), and the backup failed."""
    lab, cfg, mount_point = device_lab(tmp_path, disk_image)
    held = [_unmounted_but_held(disk_image, mount_point, "-o", "ro")]

    def release_when_waited_for(event) -> None:
        lab.events.append(event)
        if "being released" in event.message and held:
            os.close(held.pop())

    lab.emit = release_when_waited_for
    try:
        result = lab.backup(cfg, medium_id="m1")
    finally:
        for fd in held:
            os.close(fd)
    assert result.status == "completed", lab.messages()
    assert any("is being released: waiting for it" in m for m in lab.messages()), lab.messages()
    assert not os.path.ismount(mount_point)
