"""A medium mounted by one process alone, its users not counted (mounting.mounted without a state
directory: a restore whose mounting lock files cannot be made, or a look): at its end only its own
mount is unmounted. Real loop mounts of an ext2 image (root)."""

from __future__ import annotations

import os
import subprocess

from rabtui.config import Medium
from rabtui.events import WARNING
from rabtui.media import mounting


def test_a_mount_made_by_hand_over_a_lone_users_mount_is_left_and_named(tmp_path, disk_image):
    path = tmp_path / "m1"
    medium = Medium(id="m1", path=path, device=str(disk_image))
    said = []
    try:
        with mounting.mounted(medium, said.append, read_only=True):
            subprocess.run(["mount", "-t", "tmpfs", "by-hand", str(path)], check=True)
            (path / "the operator's").write_bytes(b"x")
        assert os.path.ismount(path) and (path / "the operator's").exists(), "the mount made by hand was unmounted"
        assert any(e.kind == WARNING and f"umount {path}" in e.message for e in said), said
    finally:
        while os.path.ismount(path):
            subprocess.run(["umount", str(path)], check=True)
